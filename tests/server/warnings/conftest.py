"""The live server of the access tests: the institutions ``amparo init`` loads, profiles
checked where claimed (``tests/server/access/conftest.py``)."""

from tests.server.access.conftest import live  # noqa: F401 (the fixture)
