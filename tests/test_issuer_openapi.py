"""Schemathesis against the issuer's own OpenAPI: no input it can generate makes a 500."""

from __future__ import annotations

import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from issuer_support import initialise, settings_for

from issuer.app import create_app

_DATA = Path(tempfile.mkdtemp(prefix="cityid-openapi-"))
_SETTINGS = settings_for(_DATA)
APP = create_app(_SETTINGS, engine=initialise(_SETTINGS))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.parametrize()
@settings(max_examples=40, suppress_health_check=list(HealthCheck), deadline=None)
def test_no_request_makes_a_server_error(case: schemathesis.Case) -> None:
    response = case.call()
    assert response.status_code < 500, (case.method, case.path, response.status_code, response.text[:200])
