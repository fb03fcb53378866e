"""User-facing errors: one clear sentence, caught by the CLI and printed without a traceback."""

from __future__ import annotations


class LatentMusicError(Exception):
    """Base class for errors caused by the user's input (files, options, checkpoints)."""


class InputError(LatentMusicError, ValueError):
    """A file or argument the user gave cannot be used (missing, undecodable, empty, out of range).

    Also a ValueError, so callers that caught the plain error before keep working."""


class ConfigError(LatentMusicError, ValueError):
    """An unknown preset or configuration key, or a value of the wrong type (a ValueError too)."""


class SizeError(ConfigError):
    """A config describes a model too large to build here (see ``latentmusic.limits``)."""


class CheckpointError(LatentMusicError):
    """A checkpoint directory is missing, corrupt, truncated or of another family."""


class DependencyError(LatentMusicError):
    """A system library the command needs (e.g. FluidSynth) is not installed."""


class LatentMusicWarning(UserWarning):
    """Something the user chose works but works badly (e.g. emulated bf16); the CLI prints
    it as one ``warning:`` line."""
