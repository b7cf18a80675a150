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
    WorkersConfig,
)
from moo_compress.settings.reader import Section, read_settings

READ_AS_DATA = (AdversarialConfig, DetectionConfig, LatencyConfig, ProxyConfig, WorkersConfig)


@pytest.mark.parametrize("cls", READ_AS_DATA)
def test_every_field_states_its_type_and_range_and_an_empty_section_gives_the_defaults(cls):
    for f in dataclasses.fields(cls):
        assert f.metadata.get("kind") in ("int", "float", "bool"), (cls.__name__, f.name)
    assert read_settings(Section({}, "s.yaml", "x"), cls) == cls()


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
