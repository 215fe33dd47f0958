"""Fixtures of the referral workflow tests: the live server of the access tests (the
institutions ``amparo init`` loads, profiles checked where claimed) and the two sides of
a referral, each with its own token: the women's centre refers a survivor to the
shelter."""

from __future__ import annotations

import pytest

from tests.server.access.conftest import live  # noqa: F401 (the fixture)
from tests.server.access.institutions import Institution
from tests.server.referrals.referrals import HEALTH, SHELTER, WOMENS_CENTRE, Referral


@pytest.fixture
def centre(live) -> Institution:  # noqa: F811
    """The requester."""
    return Institution(live, WOMENS_CENTRE, "TREAT")


@pytest.fixture
def shelter(live) -> Institution:  # noqa: F811
    """The owner."""
    return Institution(live, SHELTER, "COC")


@pytest.fixture
def health(live) -> Institution:  # noqa: F811
    """An institution outside the referral."""
    return Institution(live, HEALTH, "COC")


@pytest.fixture
def referral(centre, shelter) -> Referral:
    """A survivor of the centre's, and its urgent referral to the shelter (no task yet)."""
    return Referral.new(centre, shelter)
