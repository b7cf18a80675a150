"""Exceptions that carry the exit code the CLI uses for them."""

from __future__ import annotations

__all__ = ["ArtifactError", "ConfigError", "DataError", "MooCompressError"]


class MooCompressError(Exception):
    """Base class of errors the CLI reports in one line (exit code 1)."""

    exit_code = 1


class ConfigError(MooCompressError):
    """Bad user input: a study or search-space file, or a command-line value (exit code 2).

    The message names the file, the key path, what is allowed and the bad value, in the
    scikit-learn style: ``studies/x.yaml: budget.n_trials: must be an int >= 1. Got 0 instead.``

    Args:
        source: The file (or ``"command line"``-like origin) the bad value came from.
        key: The key path of the bad value; empty when the whole source is at fault.
        message: What is allowed and what was given.
    """

    exit_code = 2

    def __init__(self, source: str, key: str, message: str) -> None:
        self.source = source
        self.key = key
        self.message = message
        where = f"{source}: {key}" if key else source
        super().__init__(f"{where}: {message}")


class ArtifactError(MooCompressError):
    """An exported model directory or artifact file is missing, malformed or changed."""

    exit_code = 2


class DataError(MooCompressError):
    """A dataset folder is missing or its files are not in the expected format (exit code 2).

    The message says what was expected where, e.g.
    ``/data/CIFAR-10-C/fog.npy: expected uint8 array (50000, 32, 32, 3), got (100, 32, 32)``.
    """

    exit_code = 2
