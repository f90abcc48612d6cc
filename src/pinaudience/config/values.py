"""Coercers from TOML, flag and Meiro parameter values to typed settings values.

Each takes the raw value, the setting's name and where it came from (a file, a table, "settings", a
Meiro config), and raises a `ConfigError` that names all three when the value does not fit.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import TypeVar

from pinaudience.errors import ConfigError
from pinaudience.pinterest import limits
from pinaudience.support.secret import Secret

E = TypeVar("E", bound=enum.Enum)


def as_str(value: object, name: str, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ConfigError(f"{where}: `{name}` must be a string")
    return str(value).strip()


def as_id(value: object, name: str, where: str) -> str:
    text = as_str(value, name, where)
    if not limits.ID_PATTERN.match(text):
        raise ConfigError(f"{where}: `{name}` must be digits only, at most 18 (got {len(text)} characters)")
    return text


def as_int(value: object, name: str, where: str, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ConfigError(f"{where}: `{name}` must be a whole number")
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(f"{where}: `{name}` must be a whole number, got {value!r}") from None
    if number < minimum:
        raise ConfigError(f"{where}: `{name}` must be at least {minimum}, got {number}")
    return number


def as_float(value: object, name: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigError(f"{where}: `{name}` must be a number")
    try:
        return float(value)
    except ValueError:
        raise ConfigError(f"{where}: `{name}` must be a number, got {value!r}") from None


def as_bool(value: object, name: str, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "false", "1", "0", "yes", "no"}:
        return value.strip().lower() in {"true", "1", "yes"}
    raise ConfigError(f"{where}: `{name}` must be true or false")


def as_path(value: object, name: str, where: str, base_dir: Path | None) -> Path:
    """A path from a flag (a Path) is relative to the working directory; one from the file, to the file."""
    if isinstance(value, Path):
        return value.expanduser()
    path = Path(as_str(value, name, where)).expanduser()
    return base_dir / path if base_dir is not None and not path.is_absolute() else path


def as_enum(enum_type: type[E], value: object, name: str, where: str) -> E:
    text = as_str(value, name, where).lower()
    try:
        return enum_type(text)
    except ValueError:
        choices = ", ".join(member.value for member in enum_type)
        raise ConfigError(f"{where}: `{name}` must be one of {choices}, got {text!r}") from None


def as_rate(value: object, name: str, where: str) -> limits.RateLimit:
    if isinstance(value, limits.RateLimit):
        return value
    try:
        return limits.RateLimit.parse(as_str(value, name, where))
    except ValueError as exc:
        raise ConfigError(f"{where}: `{name}`: {exc}") from None


def as_secret(value: object, name: str, where: str) -> Secret | None:
    if value is None:
        return None
    if isinstance(value, Secret):
        return value
    if not isinstance(value, str):
        raise ConfigError(f"{where}: `{name}` must be a string")
    return Secret(value.strip()) if value.strip() else None
