"""Validation of user-facing numbers, choices and paths, done once where the CLI parses them.

Every function here is a typer callback (``typer.Option(..., callback=int_range(1))``) or a
small check a command calls before it imports torch or creates anything: a bad value is one
:class:`~latentmusic.errors.InputError` sentence naming the option, raised before any work,
so nothing is left behind. Only the stdlib is imported (``latentmusic --help`` stays fast).
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import typer

from latentmusic.errors import InputError

# Upper bounds on work one command line can ask for (a typo must not run for days).
MAX_STEPS = 10_000_000  # training steps
MAX_BATCH = 65_536
MAX_THREADS = 1024
MAX_SAMPLES = 1_000  # musicvae sample / similar -n, codes decoded at once
MAX_INTERPOLATION_STEPS = 256  # nsynth interpolate --steps
MAX_GRID_STEPS = 32  # musicvae interpolate of 4 corners: steps x steps results
MAX_PATH_STEPS = 1_000  # musicvae interpolate of 2 ends
MAX_GAP_BARS = 64
MIN_QPM, MAX_QPM = 10.0, 1000.0
MAX_TEMPERATURE = 100.0
MAX_SEED = 2**32 - 1

PRECISIONS = (
    "32-true",
    "32",
    "16-mixed",
    "16",
    "bf16-mixed",
    "bf16",
    "16-true",
    "bf16-true",
    "64-true",
    "64",
)
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps")


def option_name(param: Any) -> str:
    """How the user spelled the option: its first long name (``--batch-size``), or the
    argument's name in capitals."""
    opts = [o for o in (getattr(param, "opts", None) or []) if o.startswith("--")]
    if opts:
        return opts[0]
    name = getattr(param, "name", None) or "value"
    return name.upper() if getattr(param, "param_type_name", "") == "argument" else f"--{name}"


def _whole(value: int, what: str, low: int, high: int | None) -> int:
    if value < low or (high is not None and value > high):
        bound = f"between {low:,} and {high:,}" if high is not None else f"at least {low:,}"
        raise InputError(f"{what} must be {bound}, not {value}.")
    return value


def int_range(low: int, high: int | None = None) -> Callable[..., Any]:
    """A callback accepting whole numbers in [low, high] (None passes)."""

    def check(param: typer.CallbackParam, value: int | None) -> int | None:
        if value is None:
            return None
        return _whole(value, option_name(param), low, high)

    return check


def float_range(
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
) -> Callable[..., Any]:
    """A callback accepting finite numbers in [low, high] (``low_open``: > low); None passes."""

    def check(param: typer.CallbackParam, value: float | None) -> float | None:
        if value is None:
            return None
        return check_float(value, option_name(param), low, high, low_open=low_open)

    return check


def check_float(
    value: float,
    what: str,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
) -> float:
    """``value`` if finite and within bounds, else one sentence naming ``what``."""
    if not math.isfinite(value):
        raise InputError(f"{what} must be a finite number, not {value}.")
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and value > high
    if too_low or too_high:
        if low is not None and high is not None:
            side = "greater than" if low_open else "at least"
            bound = f"{side} {low:g} and at most {high:g}"
        elif low is not None:
            bound = f"greater than {low:g}" if low_open else f"at least {low:g}"
        else:
            bound = f"at most {high:g}"
        raise InputError(f"{what} must be {bound}, not {value:g}.")
    return value


def temperature(param: typer.CallbackParam, value: float | None) -> float | None:
    """Sampling temperature: finite, >= 0 (0 = greedy), at most MAX_TEMPERATURE."""
    if value is None:
        return None
    return check_float(value, option_name(param), 0.0, MAX_TEMPERATURE)


def qpm(param: typer.CallbackParam, value: float | None) -> float | None:
    """Tempo in quarter notes per minute, in the range MIDI files and players handle."""
    if value is None:
        return None
    return check_float(value, option_name(param), MIN_QPM, MAX_QPM)


def seed(param: typer.CallbackParam, value: int | None) -> int | None:
    if value is None:
        return None
    return _whole(value, option_name(param), 0, MAX_SEED)


def choice(*allowed: str, message: str | None = None) -> Callable[..., Any]:
    """A callback accepting one of ``allowed``; the message lists them (or is ``message``,
    formatted with ``value``)."""

    def check(param: typer.CallbackParam, value: str | None) -> str | None:
        if value is None or value in allowed:
            return value
        if message is not None:
            raise InputError(message.format(value=value))
        raise InputError(
            f"{option_name(param)} must be one of {', '.join(allowed)}, not {value!r}."
        )

    return check


def devices(param: typer.CallbackParam, value: str | None) -> str | None:
    """Lightning's devices: 'auto', a positive count, -1 (all), or a list of indices '0,2'."""
    if value is None:
        return None
    text = value.strip()
    if text == "auto" or text == "-1":
        return text
    if text.isdigit():
        if int(text) < 1:
            raise InputError(f"{option_name(param)} must be at least 1, not {value!r}.")
        return text
    parts = [p.strip() for p in text.split(",")]
    if len(parts) > 1 and all(p.isdigit() for p in parts):
        return text
    raise InputError(
        f"{option_name(param)} must be auto, a number of devices (1, 4) or a list of "
        f"device indices (0,2), not {value!r}."
    )


def existing_dir(param: typer.CallbackParam, value: Path | None) -> Path | None:
    """An input folder that must exist and be a readable directory."""
    if value is None:
        return None
    what = option_name(param)
    if not value.exists():
        raise InputError(f"{what}: directory {value} does not exist.")
    if not value.is_dir():
        raise InputError(f"{what}: {value} is a file, not a directory.")
    if not os.access(value, os.R_OK | os.X_OK):
        raise InputError(f"{what}: directory {value} cannot be read (permission denied).")
    return value


def family(value: str) -> str:
    """Typer callback for a model family argument: one sentence listing the known ones."""
    from latentmusic.registry import check_family

    check_family(value)
    return value


def input_file(path: Path, what: str = "Input file") -> Path:
    """A file to read: exists, is a file, is readable; one sentence otherwise."""
    if not path.exists():
        raise InputError(f"{what} {path} does not exist.")
    if path.is_dir():
        raise InputError(f"{what} {path} is a directory, not a file.")
    if not os.access(path, os.R_OK):
        raise InputError(f"{what} {path} cannot be read (permission denied).")
    return path


def _nearest_existing(path: Path) -> Path:
    current = path.absolute()
    while not current.exists() and current != current.parent:
        current = current.parent
    return current


def writable_location(path: Path, what: str) -> None:
    """``path`` (a file or folder to be created) can be written: the nearest existing
    folder above it is a writable directory. Checked before any work starts."""
    parent = _nearest_existing(path.parent if str(path.parent) else Path("."))
    if not parent.is_dir():
        raise InputError(f"Cannot write {what} {path}: {parent} is a file, not a directory.")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"Cannot write {what} {path}: {parent} is not writable.")


def output_file(path: Path, suffixes: tuple[str, ...], what: str = "output") -> Path:
    """An output file: ends in one of ``suffixes`` (nothing is appended silently), is not an
    existing folder, and lies in a writable place."""
    if path.exists() and path.is_dir():
        raise InputError(f"The {what} {path} is an existing directory; give a file name.")
    if path.suffix.lower() not in suffixes:
        ends = suffixes[0] if len(suffixes) == 1 else "one of " + ", ".join(suffixes)
        raise InputError(f"The {what} {path} must end in {ends}.")
    writable_location(path, what)
    return path


def output_dir(path: Path, what: str = "output directory") -> Path:
    """A folder to be created or filled: not an existing file, in a writable place."""
    if path.exists() and not path.is_dir():
        raise InputError(f"The {what} {path} is an existing file, not a directory.")
    if path.exists():
        if not os.access(path, os.W_OK | os.X_OK):
            raise InputError(f"The {what} {path} is not writable.")
    else:
        writable_location(path, what)
    return path


def holds_run(directory: Path) -> bool:
    """Whether a run folder holds something worth keeping (a model or a resumable state)."""
    if (directory / "model.safetensors").exists():
        return True
    lightning = directory / "lightning"
    return lightning.is_dir() and any(lightning.glob("*.ckpt"))


def holds_files(directory: Path) -> bool:
    """Whether a folder holds any finished file (temporary ``.*.tmp*`` ones do not count)."""
    return any(
        p.is_file() and not (p.name.startswith(".") and ".tmp" in p.name)
        for p in directory.rglob("*")
    )


@contextlib.contextmanager
def removed_on_failure(
    directory: Path | None, keep: Callable[[Path], bool] = holds_files
) -> Iterator[None]:
    """A folder this command creates is removed again if the command fails before it
    holds work worth keeping (``keep``; by default any finished file): a failed command
    leaves no empty or half-made folder, an interrupted long one keeps what it made."""
    created = None  # the topmost folder this command will create (parents included)
    if directory is not None and not directory.exists():
        created = directory.absolute()
        while not created.parent.exists() and created.parent != created:
            created = created.parent
    try:
        yield
    except BaseException:
        if created is not None and created.is_dir():
            assert directory is not None
            if not (directory.is_dir() and keep(directory)):
                shutil.rmtree(created, ignore_errors=True)
        raise


_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.+")


def domain_name(param: typer.CallbackParam | None, value: str | None) -> str | None:
    """A translation domain's name: it becomes a folder and a ``--to`` choice, so letters,
    digits and ``_ - . +`` only, not 'all', at most 64 characters."""
    if value is None:
        return None
    what = "--name" if param is not None else f"The data folder's name {value!r}"
    problem = None
    if not value or value.startswith(".") or len(value) > 64:
        problem = "must be 1 to 64 characters and not start with '.'"
    elif not set(value) <= _NAME_CHARS:
        problem = "may hold only letters, digits and _ - . + (no '/', ',' or spaces)"
    elif value == "all":
        problem = "cannot be 'all' (it means every domain in --to)"
    if problem is None:
        return value
    if param is None:
        raise InputError(f"{what} cannot name a domain: it {problem}; pass --name.")
    raise InputError(f"--name {problem}, not {value!r}.")


def npz_file(path: Path, what: str) -> Path:
    """A NumPy ``.npz`` archive (a zip file) we wrote: anything else is one sentence,
    before numpy guesses at it."""
    input_file(path, what)
    try:
        with open(path, "rb") as handle:
            magic = handle.read(4)
    except OSError as exc:
        raise InputError(f"{what} {path} cannot be read ({exc.strerror or exc}).") from exc
    if magic != b"PK\x03\x04":
        kind = "a .npy array" if magic.startswith(b"\x93NUM") else "not a .npz archive"
        raise InputError(f"{what} {path} is {kind}; expected the .npz file latentmusic writes.")
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise InputError(f"{what} {path} is damaged or truncated.") from exc
    if damaged is not None:
        raise InputError(f"{what} {path} is damaged or truncated ({damaged} does not check).")
    return path


def numeric_array(array: Any, path: Path, what: str, max_dims: int = 2) -> Any:
    """A non-empty, finite, numeric array of at most ``max_dims`` dimensions."""
    import numpy as np

    if not isinstance(array, np.ndarray) or not (
        np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)
    ):
        raise InputError(f"{path} does not hold numbers; it is not {what}.")
    if array.ndim > max_dims or array.size == 0:
        raise InputError(
            f"{path} holds an array of shape {array.shape}; {what} is a non-empty array of "
            f"at most {max_dims} dimensions."
        )
    if not np.isfinite(array).all():
        raise InputError(f"{path} contains NaN or infinite values.")
    return array


@contextlib.contextmanager
def files_removed_on_failure(paths: list[Path]) -> Iterator[None]:
    """Files among ``paths`` that did not exist before are deleted if the block fails:
    a command that fails half-way leaves none of its outputs."""
    new = [p for p in paths if not p.exists()]
    try:
        yield
    except BaseException:
        for path in new:
            if path.is_file():
                path.unlink(missing_ok=True)
        raise
