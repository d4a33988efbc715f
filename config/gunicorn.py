"""gunicorn's settings, used as ``gunicorn -c python:config.gunicorn config.wsgi:application``.

gunicorn's own lines and its access lines go through the service's logging (``config/logs.py``), so in production
they are JSON lines like those of Django and Celery, with the request's method, path, status and duration as fields.
Bind address, worker count (``WEB_CONCURRENCY``) and trusted proxies stay on the command line and in gunicorn's own
environment variables.
"""

from __future__ import annotations

from config.logs import logging_config
from config.variables import read_bool, read_str

_config = logging_config(
    fmt=read_str("LOG_FORMAT", default="plain" if read_bool("DEBUG") else "json"),
    level=read_str("LOG_LEVEL").upper(),
)
# No handlers of their own: both propagate to the root handler, which Django's LOGGING later replaces with the same.
_config["loggers"] = {
    **_config["loggers"],
    "gunicorn.error": {"level": "INFO", "handlers": [], "propagate": True},
    "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": True},
}
logconfig_dict = _config
