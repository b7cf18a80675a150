from __future__ import annotations

import json
import struct

import pytest

from moo_compress.artifact import MAGIC, decode_model, encode_model
from moo_compress.errors import ArtifactError
from moo_compress.models.small_cnn import SmallCNN


def test_rejects_garbage_and_pickles():
    import pickle

    with pytest.raises(ArtifactError, match="bad magic"):
        decode_model(pickle.dumps({"x": 1}))
    with pytest.raises(ArtifactError, match="truncated"):
        decode_model(MAGIC + struct.pack("<Q", 10_000) + b"{}")


def test_rejects_out_of_range_offsets():
    blob = encode_model(
        SmallCNN(10, width=0.25),
        {"name": "small_cnn", "kwargs": {"num_classes": 10, "width": 0.25}},
    )
    (n,) = struct.unpack("<Q", blob[8:16])
    header = json.loads(blob[16 : 16 + n])
    first = next(iter(header["tensors"]))
    header["tensors"][first]["offset"] = 10**9
    new = json.dumps(header).encode()
    with pytest.raises(ArtifactError, match="outside the file's payload"):
        decode_model(MAGIC + struct.pack("<Q", len(new)) + new + blob[16 + n :])
