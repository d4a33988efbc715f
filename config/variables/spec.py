"""What one environment variable is: the shape of every entry in the registry (``config/variables/``).

An entry is the single statement of a variable's name, type, bounds, default, meaning and readers. The settings read
through it (``config/variables/__init__.py``), the README's tables and the example environment files are generated
from it (``config/variables/docs.py``), and ``tests/config/test_variables.py`` checks the code reads nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, StrEnum


class Kind(StrEnum):
    """How the value is parsed (by the typed readers in ``config/env.py``)."""

    TEXT = "text"
    BOOL = "on/off"
    INT = "integer"
    FLOAT = "number"
    LIST = "list"


class Reader(StrEnum):
    """Who acts on a variable: restart these after changing it.

    Every Django process loads the whole settings module, so a bad value stops any of them at start-up; the readers
    are the processes whose behaviour the value changes.
    """

    WEB = "web"
    WORKER = "worker"
    BEAT = "beat"
    COMMANDS = "manage.py"
    GUNICORN = "gunicorn"
    PROCFILE = "Procfile"
    SYSTEMD = "systemd units"
    MAKE = "make"
    CI = ".ci"
    TESTS = "tests"
    BENCH = "bench"


# The Django processes; a variable all of them act on is shown as read by "all".
DJANGO_PROCESSES = (Reader.WEB, Reader.WORKER, Reader.BEAT, Reader.COMMANDS)
ALL = DJANGO_PROCESSES
# Everything that sends email: the web process sends curators' test emails itself.
SENDERS = (Reader.WEB, Reader.WORKER, Reader.COMMANDS)


class Group(Enum):
    """Headings of the README's tables and of ``.env.example``, in this order."""

    CORE = "Core"
    HTTPS = "HTTPS behind a proxy"
    DATABASE = "Database, broker, cache"
    BEAT = "Beat and health checks"
    LOGGING = "Logging"
    EMAIL = "Email: the sender and the ESP"
    ESP_KEYS = "ESP keys (only the chosen ESP's are read; names as in Anymail's settings)"
    NEWSLETTER = "The newsletter"
    INGESTION = "Ingestion"
    SENDING = "Sending"
    BRAKE = "Complaint-rate brake"
    SUBSCRIPTIONS = "Subscriptions"
    CLICKS = "Clicks"
    PROCESSES = "Process managers (make run, Procfile, systemd, gunicorn)"
    DEVELOPMENT = "Development, tests and benchmarks"

    @property
    def in_env_file(self) -> bool:
        """Development variables are documented in the README only: a deployment never sets them."""
        return self is not Group.DEVELOPMENT


@dataclass(frozen=True)
class Computed:
    """A default the settings compute from other values (DEBUG, SITE_URL, VAR_DIR); ``text`` says how."""

    text: str


Value = bool | int | float | str | tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class Variable:
    name: str
    kind: Kind
    # The default the code uses, typed; ``Computed`` when the settings derive it (they must then pass it).
    default: Value | Computed
    # What the variable really does, read from the code that uses it. One or two sentences.
    meaning: str
    readers: tuple[Reader, ...]
    group: Group
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    # Shown instead of the default where the raw default would mislead (e.g. "" meaning "derived elsewhere").
    default_text: str = ""
    # In .env.example: ``example`` is shown instead of the default; ``fill_in`` writes the line uncommented, as a
    # value a production deployment must set.
    example: str | None = None
    fill_in: bool = False
    # The value written to deploy/env.example (the production file to start from); None leaves it out.
    production: str | None = None
    # For an ESP's key: the ESP= value whose Anymail backend takes it (required or not comes from config/esp.py).
    esp: str = ""
    # A third-party module that reads the variable itself (gunicorn reads WEB_CONCURRENCY), checked by the tests.
    external: str = ""

    def shown_default(self) -> str:
        """The default as the README shows it."""
        if self.default_text:
            return self.default_text
        if isinstance(self.default, Computed):
            return self.default.text
        if self.default in ("", ()):
            return "unset"
        if isinstance(self.default, bool):
            return f"`{env_text(self.default)}` ({'on' if self.default else 'off'})"
        return f"`{env_text(self.default)}`"

    def env_line_value(self) -> str:
        """The value on this variable's line in .env.example."""
        if self.example is not None:
            return self.example
        if isinstance(self.default, Computed):
            return ""
        return env_text(self.default)

    def default_env_text(self) -> str | None:
        """The default as written in an environment file; None when the settings compute it."""
        return None if isinstance(self.default, Computed) else env_text(self.default)

    def value_text(self) -> str:
        """The values it takes, with the bounds the code enforces."""
        if self.choices:
            return "one of " + ", ".join(f"`{choice}`" if choice else "unset" for choice in self.choices)
        text = str(self.kind)
        if self.kind is Kind.LIST:
            return "comma-separated list"
        if self.minimum is not None and self.maximum is not None:
            return f"{text} {_number(self.minimum)}-{_number(self.maximum)}"
        if self.minimum is not None:
            return f"{text} ≥ {_number(self.minimum)}"
        return text

    def readers_text(self) -> str:
        names = [str(reader) for reader in self.readers]
        if all(reader in self.readers for reader in DJANGO_PROCESSES):
            names = ["all", *(str(reader) for reader in self.readers if reader not in DJANGO_PROCESSES)]
        return ", ".join(names)


def env_text(value: Value) -> str:
    """A typed value as it is written in an environment file."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, tuple):
        return ",".join(value)
    if isinstance(value, float):
        return _number(value)
    return str(value)


def _number(value: float) -> str:
    return f"{value:g}"
