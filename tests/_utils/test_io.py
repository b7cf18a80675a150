"""A full disk (ENOSPC) while writing a cache file leaves no temporary file behind."""

from __future__ import annotations

import errno
import os

import numpy as np
import pytest

from moo_compress._utils.io import atomic_save_npy, atomic_write


def _disk_full(*_args, **_kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_atomic_write_removes_its_temporary_file_when_the_disk_is_full(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "fsync", _disk_full)
    target = tmp_path / "baselines" / "model.mcz"
    with pytest.raises(OSError, match="No space left"):
        atomic_write(target, b"x" * 1000)
    assert list(target.parent.iterdir()) == []


def test_npy_save_removes_its_temporary_file_when_the_disk_is_full(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "fsync", _disk_full)
    with pytest.raises(OSError, match="No space left"):
        atomic_save_npy(tmp_path / "fog.npy", np.zeros((2, 4, 4, 3), np.uint8))
    assert list(tmp_path.iterdir()) == []


def test_both_write_complete_files(tmp_path):
    atomic_write(tmp_path / "a" / "b.bin", b"abc")
    assert (tmp_path / "a" / "b.bin").read_bytes() == b"abc"
    atomic_save_npy(tmp_path / "x.npy", np.arange(3))
    assert np.load(tmp_path / "x.npy").tolist() == [0, 1, 2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "x.npy"]
