"""Fixtures and Hypothesis settings for the whole suite."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings
from support import Keys, make_keys

settings.register_profile("default", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("default")


@pytest.fixture(scope="session")
def keys() -> Keys:
    """An ES256 issuer (kid "k1"), a holder key, and a key set trusting the issuer."""
    return make_keys()


@pytest.fixture(scope="session")
def ed_keys() -> Keys:
    """The same with EdDSA (Ed25519) keys."""
    return make_keys("EdDSA")
