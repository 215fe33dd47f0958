"""Fixtures of the mapping tests. Each module names its source: ``MAPPING`` (a mapping of
``mappings/``) and ``FILE`` (its fixture under ``shared/fixtures/institutions``), and gets
``mapping``, the file's ``data`` (skipped, with the reason, on a machine without the
institutions' fixtures), its ``results`` through the engine, and ``stored``: a store
``amparo init`` has prepared, to ingest into."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import mappings
from server.config import Settings
from server.loading import initialise
from server.store import Store, open_store
from tests.mappings.records import EXTRACTED
from tests.stores import TEST_STORE, drop_store, new_store_url


@pytest.fixture(scope="module")
def mapping(request: pytest.FixtureRequest) -> dict:
    return mappings.load(request.module.MAPPING)


@pytest.fixture(scope="module")
def data(request: pytest.FixtureRequest) -> bytes:
    file: Path = request.module.FILE
    if not file.exists():
        pytest.skip(f"{file} is absent: the institutions' fixtures are not on this machine")
    return file.read_bytes()


@pytest.fixture(scope="module")
def results(request: pytest.FixtureRequest, mapping: dict, data: bytes
            ) -> list[mappings.Result]:
    return list(mappings.convert(mapping, data, request.module.FILE.name, EXTRACTED))


@pytest.fixture(scope="module")
def stored(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
           data: bytes) -> Iterator[tuple[Store, Settings]]:
    url = new_store_url(TEST_STORE, tmp_path_factory.mktemp(request.module.MAPPING))
    settings = Settings(store=url)
    initialise(settings)
    store = open_store(url)
    try:
        yield store, settings
    finally:
        store.close()
        drop_store(url)
