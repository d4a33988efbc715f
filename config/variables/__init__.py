"""The one registry of environment variables, and the typed readers the settings take them through.

Adding a variable is one ``Variable`` entry in the module of its group (``service.py``, ``newsletter.py``,
``mail.py``, ``clicks.py``, ``tooling.py``), one ``read_*("NAME")`` where the settings take it, and ``make docs`` to
regenerate the README's tables, ``.env.example`` and ``deploy/env.example``. ``tests/config/test_variables.py`` fails
until the three agree with the code.

Each reader takes the type, bounds and default from the entry, so the default the README shows is the one the code
uses; only a default the settings compute (``Computed``) is passed in, and must be. A bad value raises
``ImproperlyConfigured`` naming the variable (``config/env.py``).
"""

from __future__ import annotations

from enum import Enum
from typing import TypeVar

from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_float, env_int, env_list, env_str
from config.variables.clicks import CLICKS
from config.variables.mail import EMAIL, ESP_KEYS
from config.variables.newsletter import NEWSLETTER_VARIABLES
from config.variables.service import SERVICE
from config.variables.spec import Computed, Group, Kind, Reader, Variable
from config.variables.tooling import TOOLING

__all__ = [
    "REGISTRY",
    "Group",
    "Kind",
    "Reader",
    "Variable",
    "read_bool",
    "read_float",
    "read_int",
    "read_list",
    "read_str",
    "variable",
]

REGISTRY: tuple[Variable, ...] = (*SERVICE, *EMAIL, *ESP_KEYS, *NEWSLETTER_VARIABLES, *CLICKS, *TOOLING)
_BY_NAME: dict[str, Variable] = {}
for _entry in REGISTRY:
    if _entry.name in _BY_NAME:
        raise ImproperlyConfigured(f"{_entry.name} is registered twice in config/variables/.")
    _BY_NAME[_entry.name] = _entry


class _Unset(Enum):
    UNSET = "unset"


UNSET = _Unset.UNSET


def variable(name: str) -> Variable:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise LookupError(
            f"{name} is not in the registry: add an entry to config/variables/ and run `make docs`."
        ) from None


T = TypeVar("T")


def _default(name: str, kind: Kind, given: T | _Unset) -> tuple[Variable, T]:
    entry = variable(name)
    if entry.kind is not kind:
        raise TypeError(f"{name} is registered as {entry.kind.name}, not read as {kind.name}.")
    if isinstance(entry.default, Computed):
        if given is UNSET:
            raise TypeError(f"{name}'s default is computed ({entry.default.text}): the caller passes it.")
        return entry, given
    if given is not UNSET:
        raise TypeError(f"{name}'s default is the registry's ({entry.default!r}); do not pass another.")
    # The entry's kind (checked above) fixes the default's type; the registry's own test covers each entry.
    return entry, entry.default  # type: ignore[return-value]


def read_str(name: str, *, default: str | _Unset | None = UNSET) -> str:
    """A text variable; a computed default of None makes it required."""
    entry, fallback = _default(name, Kind.TEXT, default)
    value = env_str(name, fallback)
    if entry.choices and value not in entry.choices:
        raise ImproperlyConfigured(f"{name}={value!r} must be one of: {', '.join(entry.choices)}.")
    return value


def read_bool(name: str, *, default: bool | _Unset = UNSET) -> bool:
    _entry, fallback = _default(name, Kind.BOOL, default)
    return env_bool(name, default=fallback)


def read_int(name: str, *, default: int | _Unset = UNSET) -> int:
    entry, fallback = _default(name, Kind.INT, default)
    minimum = None if entry.minimum is None else int(entry.minimum)
    maximum = None if entry.maximum is None else int(entry.maximum)
    return env_int(name, fallback, minimum=minimum, maximum=maximum)


def read_float(name: str, *, default: float | _Unset = UNSET) -> float:
    entry, fallback = _default(name, Kind.FLOAT, default)
    return env_float(name, fallback, minimum=entry.minimum)


def read_list(name: str, *, default: list[str] | _Unset = UNSET) -> list[str]:
    _entry, fallback = _default(name, Kind.LIST, default)
    return env_list(name, list(fallback))
