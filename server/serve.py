"""``amparo serve``: the production server: Granian (a Rust HTTP server) running the WSGI
app in one process per core by default, each with a pool of threads.

Granian rather than gunicorn: on this project's read workload it answered about a fifth
more requests per second on the same two cores, because HTTP parsing and connection
handling happen in Rust outside the GIL (bench/core.py; numbers in the README).
SIGTERM/SIGINT stop it gracefully: workers finish in-flight requests (up to
``KILL_TIMEOUT`` seconds) before they exit.

Each worker builds the app from the environment (``server.wsgi``), so the settings given
on the command line are handed over as environment variables. The access log is off by
default and, when on, logs the path without the query string: search parameters carry
personal data (a RUN in ``identifier=``), which must not reach logs.

Granian serves WSGI without websockets, so each worker process also runs the websocket
channel of subscriptions (``server/subscriptions/websocket.py``) on ``ws_port`` of the
same host (every process binds it with ``SO_REUSEPORT``; 0: none).
"""

from __future__ import annotations

import os

from granian import Granian
from granian.constants import Interfaces

from server.config import Settings

ACCESS_LOG_FORMAT = '[%(time)s] %(addr)s "%(method)s %(path)s" %(status)d %(dt_ms).1fms'
KILL_TIMEOUT = 30


def serve(settings: Settings, host: str, port: int, workers: int | None = None,
          threads: int = 2, ws_port: int = 0) -> None:
    """Serve until SIGTERM/SIGINT."""
    os.environ["AMPARO_STORE"] = settings.store
    os.environ["AMPARO_WS_PORT"] = str(ws_port)
    os.environ["AMPARO_WS_HOST"] = host
    if settings.base_url:
        os.environ["AMPARO_BASE_URL"] = settings.base_url
    Granian(
        "server.wsgi:application",
        address=host,
        port=port,
        interface=Interfaces.WSGI,
        websockets=False,
        factory=True,
        workers=workers or os.cpu_count() or 2,
        blocking_threads=threads,
        log_access=os.environ.get("AMPARO_ACCESS_LOG") in ("1", "true", "yes"),
        log_access_format=ACCESS_LOG_FORMAT,
        respawn_failed_workers=True,
        workers_kill_timeout=KILL_TIMEOUT,
    ).serve()
