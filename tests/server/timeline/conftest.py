"""Fixtures of the timeline tests: the live server of the access tests (the institutions
``amparo init`` loads, profiles checked where claimed) and the story of ``story.py``."""

from __future__ import annotations

import pytest

from tests.server.access.conftest import live  # noqa: F401 (the fixture)
from tests.server.timeline.story import Story, write_story


@pytest.fixture
def story(live) -> Story:  # noqa: F811
    return write_story(live)
