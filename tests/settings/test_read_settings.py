"""Settings as data: a section's default, type and range are stated once on its dataclass
fields, and one generic reader reads the section with the study file's messages."""

from __future__ import annotations

import dataclasses

import pytest

from moo_compress.errors import ConfigError
from moo_compress.settings import (
    AdversarialConfig,
    DetectionConfig,
    LatencyConfig,
    ProxyConfig,
    TrainConfig,
    WorkersConfig,
)
from moo_compress.settings.reader import Section, read_settings

KINDS = ("int", "float", "bool", "choice", "target")
READ_AS_DATA = (
    AdversarialConfig,
    DetectionConfig,
    LatencyConfig,
    ProxyConfig,
    TrainConfig,
    WorkersConfig,
)


@pytest.mark.parametrize("cls", READ_AS_DATA)
def test_every_field_states_its_type_and_range_and_an_empty_section_gives_the_defaults(cls):
    for f in dataclasses.fields(cls):
        assert f.metadata.get("kind") in KINDS, (cls.__name__, f.name)
    # fine-tuning's epochs (0: the search variable finetune_epochs) are not a setting
    skip = ("epochs",) if cls is TrainConfig else ()
    assert read_settings(Section({}, "s.yaml", "x"), cls, skip=skip) == cls()


@pytest.mark.parametrize(
    "cls,data,message",
    [
        (
            LatencyConfig,
            {"threads": 0},
            "s.yaml: x.threads: must be an int in [1, 1024]. Got 0 instead.",
        ),
        (
            AdversarialConfig,
            {"eps": 0.0},
            "s.yaml: x.eps: must be a number in (0.0, 1.0]. Got 0.0 instead.",
        ),
        (
            AdversarialConfig,
            {"random_start": "yes"},
            "s.yaml: x.random_start: must be true or false.",
        ),
        (
            WorkersConfig,
            {"max_retry": 101},
            "s.yaml: x.max_retry: must be an int in [0, 100]. Got 101 instead.",
        ),
        (ProxyConfig, {"points": 5}, "s.yaml: x.points: is not a known key"),
        (
            DetectionConfig,
            {"nms_iou": 0.0},
            "s.yaml: x.nms_iou: must be a number in (0.0, 1.0]. Got 0.0 instead.",
        ),
    ],
)
def test_a_bad_value_gets_the_study_files_message(cls, data, message):
    with pytest.raises(ConfigError) as info:
        read_settings(Section(data, "s.yaml", "x"), cls)
    assert str(info.value).startswith(message), str(info.value)


def test_a_value_in_range_is_read():
    got = read_settings(Section({"eps": 0.1, "n_images": 64}, "s.yaml", "x"), AdversarialConfig)
    assert got == AdversarialConfig(eps=0.1, n_images=64)


def test_a_class_read_by_two_sections_takes_each_ones_defaults():
    from moo_compress.settings import BASELINE_TRAINING, FINETUNING

    sec = Section({"lr": 0.5}, "s.yaml", "baseline")
    assert read_settings(sec, TrainConfig, defaults=BASELINE_TRAINING).weight_decay == 5e-4
    with pytest.raises(ConfigError, match="finetune.epochs: is not a known key"):
        read_settings(
            Section({"epochs": 3}, "s.yaml", "finetune"),
            TrainConfig,
            defaults=FINETUNING,
            skip=("epochs",),
        )
