"""The stores the benchmarks run on (``--store`` of ``bench/core.py`` and
``bench/search.py``): a fresh, empty store for each run, of one of three kinds.

- ``sqlite`` (the default): a file in the benchmark's temporary directory.
- ``mongomock``: the MongoDB adapter on mongomock (``mongomock://bench/<fresh name>``):
  in memory, in one process, pure Python. Only the process that wrote the data sees
  them, so the benchmarks serve it from one process; its figures say what the adapter's
  code costs on an imitation of MongoDB, not how MongoDB performs.
- ``mongodb://host/db...`` (or ``mongodb+srv://``): a real MongoDB replica set or
  sharded cluster. Each run writes to a fresh database on that server, named after
  ``db`` (``<db>_bench_<run>_<random>``), and drops it when the run ends. The database
  the URL names is only checked: the benchmark refuses to run when it holds data, so
  that it is never pointed at a server in use by mistake.

Store URLs can carry credentials: nothing here prints one.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

STORE_HELP = ("sqlite (default), mongomock (in memory, one serving process; not "
              "representative), or the URL of an empty database on a MongoDB replica set, "
              "mongodb://host/db?replicaSet=rs0 (each run uses a fresh database on that "
              "server and drops it at the end)")
KINDS = {"sqlite": "SQLite", "mongodb": "MongoDB",
         "mongomock": "Mongo adapter on mongomock: in memory, pure Python, not representative"}
#: MongoDB database names: at most 63 characters, none of /\\. "$*<>:|? and no spaces.
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def store_kind(spec: str) -> str:
    """``sqlite``, ``mongomock`` or ``mongodb``; SystemExit on anything else."""
    if spec in ("sqlite", "mongomock"):
        return spec
    if spec.startswith(("mongodb://", "mongodb+srv://")):
        return "mongodb"
    raise SystemExit(f"--store: expected sqlite, mongomock or a mongodb:// URL, not {spec!r}")


def database_name(url: str) -> str:
    """The database a MongoDB store URL names (the adapter's default when none)."""
    from server.store.mongo import DEFAULT_DATABASE

    return urlsplit(url).path.strip("/").split("/")[0] or DEFAULT_DATABASE


class Stores:
    """Fresh stores of the kind ``spec`` names (see the module's docstring)."""

    def __init__(self, spec: str, work: Path):
        self.kind = store_kind(spec)
        self.spec, self.work = spec, work
        self.title = KINDS[self.kind]
        self._created: list[str] = []  # MongoDB databases not dropped yet (URLs)
        if self.kind == "mongodb":
            self.title = f"MongoDB at {urlsplit(spec).hostname or 'the given server'}"
            _check_empty(spec)

    @classmethod
    @contextmanager
    def open(cls, spec: str, work: Path) -> Iterator[Stores]:
        """The stores; on exit, the MongoDB databases not dropped yet are."""
        stores = cls(spec, work)
        try:
            yield stores
        finally:
            for url in list(stores._created):
                stores.drop(url)

    def fresh(self, name: str) -> str:
        """The URL of a fresh, empty store for the run ``name``."""
        if self.kind == "sqlite":
            return f"sqlite:///{self.work / (name + '.db')}"
        suffix = f"_bench_{_UNSAFE.sub('_', name)}_{uuid.uuid4().hex[:8]}"
        if self.kind == "mongomock":
            return f"mongomock://bench/amparo{suffix}"
        parts = urlsplit(self.spec)
        database = _UNSAFE.sub("_", database_name(self.spec))[:63 - len(suffix)] + suffix
        query = parse_qsl(parts.query, keep_blank_values=True)
        if "@" in parts.netloc and not any(k.lower() == "authsource" for k, _ in query):
            # credentials are checked against the URL's database (else admin): keep it so
            query.append(("authSource", urlsplit(self.spec).path.strip("/") or "admin"))
        url = urlunsplit((parts.scheme, parts.netloc, f"/{database}", urlencode(query), ""))
        self._created.append(url)
        return url

    def drop(self, url: str) -> None:
        """Drop the MongoDB database of a run (SQLite files go with the temporary
        directory; mongomock databases with the process that held them)."""
        if url not in self._created:
            return
        client = _client(url)
        try:
            client.drop_database(database_name(url))
        finally:
            client.close()
        self._created.remove(url)


def _check_empty(url: str) -> None:
    """SystemExit unless the server runs transactions and the URL's database is empty."""
    from pymongo.errors import PyMongoError

    from server.store.mongo import check_transactions

    where = urlsplit(url).hostname or "the given server"
    name = database_name(url)
    client = _client(url)
    try:
        check_transactions(client.admin.command("hello"), where)
        db = client[name]
        full = [c for c in db.list_collection_names() if db[c].estimated_document_count()]
    except (PyMongoError, ValueError) as exc:
        message = str(exc).split(", Timeout:")[0]  # not pymongo's topology description
        raise SystemExit(f"--store: MongoDB at {where}: {message}") from None
    finally:
        client.close()
    if full:
        raise SystemExit(
            f"--store: database {name!r} on {where} already holds data ({', '.join(full)}): "
            "refusing to benchmark a server in use. Give the URL of an empty database; each "
            "run writes to a fresh database beside it and drops it at the end.")


def _client(url: str):
    """A pymongo client that fails fast on an unreachable server, unless the URL sets its
    own timeout (as the adapter does)."""
    import pymongo

    timeout = {} if "serverselectiontimeoutms" in url.lower() \
        else {"serverSelectionTimeoutMS": 10_000}
    return pymongo.MongoClient(url, **timeout)
