"""``amparo serve``: the production WSGI server (gunicorn, threaded workers, one process
per core by default). SIGTERM/SIGINT stop gracefully: in-flight requests finish.

The access log is off by default and, when on, logs the path without the query string:
search parameters carry personal data (a RUN in ``identifier=``), which must not reach
logs.
"""

from __future__ import annotations

import os

from gunicorn.app.base import BaseApplication

from server.config import Settings

ACCESS_LOG_FORMAT = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'


class AmparoServer(BaseApplication):
    def __init__(self, settings: Settings, options: dict):
        self.settings = settings
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        from server.app import create_app

        return create_app(self.settings)


def serve(settings: Settings, host: str, port: int, workers: int | None = None,
          threads: int = 8) -> None:
    """Serve until SIGTERM/SIGINT."""
    access_log = os.environ.get("AMPARO_ACCESS_LOG") in ("1", "true", "yes")
    options = {
        "bind": f"{host}:{port}",
        "workers": workers or os.cpu_count() or 2,
        "worker_class": "gthread",
        "threads": threads,
        "graceful_timeout": 30,
        "timeout": 120,
        "keepalive": 30,
        "accesslog": "-" if access_log else None,
        "access_log_format": ACCESS_LOG_FORMAT,
        "errorlog": "-",
        "loglevel": os.environ.get("AMPARO_LOG_LEVEL", "info"),
        "proc_name": "amparo",
    }
    AmparoServer(settings, options).run()
