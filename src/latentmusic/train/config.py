"""Frozen config dataclasses with named presets and validated ``key=value`` overrides.

Every family declares ``PRESETS: dict[str, Config]``; the CLI resolves
``--preset NAME --set key=value`` through :func:`resolve_config`, so an unknown
preset or key fails with one sentence that lists the valid ones.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from latentmusic.errors import ConfigError

C = TypeVar("C")


def require_positive(config: Any, names: Iterable[str]) -> None:
    """Every named field of ``config`` must be > 0: one sentence for the first that is not.
    The sizes of every family's networks are checked with this one rule."""
    for name in names:
        value = getattr(config, name)
        if value <= 0:
            raise ConfigError(f"'{name}' must be positive, got {value}.")


def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _coerce(value: Any, annotation: Any, key: str) -> Any:
    """Convert a JSON or command-line value to the field's declared type."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        is_none = value is None or (isinstance(value, str) and value.lower() in ("none", "null"))
        if is_none and type(None) in args:
            return None
        last: Exception | None = None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except ConfigError as exc:
                last = exc
        raise last or ConfigError(f"'{key}' cannot be {value!r}.")
    if origin is typing.Literal:
        if value in args:
            return value
        raise ConfigError(f"'{key}' must be one of {', '.join(map(str, args))}, not {value!r}.")
    if origin in (tuple, list):
        if isinstance(value, str):
            text = value.strip()
            try:
                value = json.loads(text if text.startswith("[") else f"[{text}]")
            except json.JSONDecodeError as exc:
                raise ConfigError(f"'{key}' expects a list like 1,2,3, not {value!r}.") from exc
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"'{key}' expects a list, not {value!r}.")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(f"'{key}' expects {len(args)} values, not {len(value)}.")
            items = [_coerce(v, a, key) for v, a in zip(value, args, strict=True)]
        else:
            inner = args[0] if args else Any
            items = [_coerce(v, inner, key) for v in value]
        return tuple(items) if origin is tuple else list(items)
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "on"):
            return True
        if isinstance(value, str) and value.lower() in ("false", "0", "no", "off"):
            return False
        raise ConfigError(f"'{key}' must be true or false, not {value!r}.")
    if annotation is int:
        if isinstance(value, bool):
            raise ConfigError(f"'{key}' must be an integer, not {value!r}.")
        try:
            as_float = float(value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"'{key}' must be an integer, not {value!r}.") from exc
        if not as_float.is_integer():
            raise ConfigError(f"'{key}' must be an integer, not {value!r}.")
        return int(as_float)
    if annotation is float:
        try:
            return float(value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"'{key}' must be a number, not {value!r}.") from exc
    if annotation is str:
        return str(value)
    return value


def parse_overrides(pairs: Iterable[str]) -> dict[str, str]:
    """Split ``["a=1", "b=x"]`` into a dict; a pair without '=' is an error."""
    out: dict[str, str] = {}
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(f"Override {pair!r} must look like key=value.")
        key, value = pair.split("=", 1)
        out[key.strip()] = value.strip()
    return out


def apply_overrides(config: C, overrides: Mapping[str, Any] | Iterable[str]) -> C:
    """Return a copy of ``config`` with fields replaced, validated against the field types."""
    if not isinstance(overrides, Mapping):
        overrides = parse_overrides(overrides)
    overrides = _renamed(type(config), overrides)
    types_ = _field_types(type(config))
    changes: dict[str, Any] = {}
    for key, value in overrides.items():
        if key not in types_:
            valid = ", ".join(sorted(types_))
            raise ConfigError(f"Unknown config key '{key}'; valid keys are: {valid}.")
        changes[key] = _coerce(value, types_[key], key)
    new = dataclasses.replace(config, **changes)
    validate = getattr(new, "validate", None)
    if callable(validate):
        validate()
    if changes:
        _check_size(new)
    return new


def _warn_missing(cls: type, missing: set[str]) -> None:
    """A checkpoint's config without some hyperparameters is read with this version's
    defaults for them: said once, never silently (a default ``hop`` changes the output)."""
    if not missing:
        return
    import warnings

    from latentmusic.errors import LatentMusicWarning

    defaults = {
        f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        for f in dataclasses.fields(cls)
        if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
    }
    shown = ", ".join(f"{k}={defaults[k]!r}" for k in sorted(missing) if k in defaults)
    warnings.warn(
        f"The checkpoint's config does not set {len(missing)} {cls.__name__} value(s); "
        f"using this version's defaults: {shown}.",
        LatentMusicWarning,
        stacklevel=3,
    )


def _check_size(config: Any) -> None:
    """Sizes no model could have, or a model larger than this machine's memory, are refused
    before anything is built (see :mod:`latentmusic.limits`)."""
    from latentmusic.limits import check_config_size

    check_config_size(config)


def resolve_config(presets: Mapping[str, C], preset: str, overrides: Iterable[str] = ()) -> C:
    """Look up a named preset and apply ``key=value`` overrides."""
    if preset not in presets:
        raise ConfigError(f"Unknown preset '{preset}'; choose one of: {', '.join(presets)}.")
    return apply_overrides(presets[preset], list(overrides))


def config_to_dict(config: Any) -> dict[str, Any]:
    """Every hyperparameter as JSON-ready values (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


def _renamed(cls: type, data: Mapping[str, Any]) -> dict[str, Any]:
    """Keys a config class has renamed (its ``RENAMED_KEYS``, old -> new) under their new names,
    so checkpoints and ``--set`` written with the old name keep working."""
    renames: Mapping[str, str] = getattr(cls, "RENAMED_KEYS", {})
    out: dict[str, Any] = {}
    for key, value in data.items():
        new = renames.get(key, key)
        if new != key and new in data:
            raise ConfigError(f"'{key}' is the old name of '{new}'; give only '{new}'.")
        out[new] = value
    return out


def config_from_dict(cls: type[C], data: Mapping[str, Any]) -> C:
    """Rebuild a config from ``config_to_dict`` output; unknown keys are an error."""
    data = _renamed(cls, data)
    types_ = _field_types(cls)
    unknown = set(data) - set(types_)
    if unknown:
        raise ConfigError(f"Config has keys {sorted(unknown)} that {cls.__name__} does not know.")
    values = {k: _coerce(v, types_[k], k) for k, v in data.items()}
    _warn_missing(cls, set(types_) - set(data))
    try:
        config = cls(**values)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"Config values do not make a {cls.__name__}: {exc}") from exc
    _check_size(config)
    return config


def parse_options(cls: type[C], options: Mapping[str, Any], what: str) -> C:
    """A frozen dataclass of options (an eval's ``--option key=value``) from strings, coerced
    by the code that coerces ``--set``; the class's ``validate()`` runs last. Every failure
    is one InputError sentence (``what`` names the options, e.g. "nsynth eval option")."""
    from latentmusic.errors import InputError

    types_ = _field_types(cls)
    unknown = sorted(set(options) - set(types_))
    if unknown:
        raise InputError(f"Unknown {what} '{unknown[0]}'; known options: {', '.join(types_)}.")
    try:
        parsed = cls(**{k: _coerce(v, types_[k], k) for k, v in options.items()})
    except ConfigError as exc:
        raise InputError(f"The {what} {exc}") from exc
    validate = getattr(parsed, "validate", None)
    if callable(validate):
        validate()
    return parsed
