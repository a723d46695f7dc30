"""The API against its own OpenAPI document, driven by schemathesis with a real token:
whatever it is sent, it answers as documented and never with a 500."""

from __future__ import annotations

import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings

from qunzhu.store import accounts, db
from qunzhu.web.app import create_app
from tests.web.conftest import PASSWORD, fill


def _app_and_token():  # type: ignore[no-untyped-def]
    """Built when the module loads: schemathesis reads the schema to make the tests."""
    engine = db.open_store(f"sqlite:///{Path(tempfile.mkdtemp()) / 'api.db'}")
    fill(engine)
    with engine.begin() as conn:
        user = accounts.authenticate(conn, "ops", PASSWORD)
        assert user is not None
        token = accounts.new_token(conn, user.id, "schemathesis")
    return create_app(engine, "schema-secret"), token


APP, TOKEN = _app_and_token()
schema = schemathesis.openapi.from_asgi("/api/openapi.json", APP)


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_follows_its_schema(case) -> None:  # type: ignore[no-untyped-def]
    response = case.call(headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code < 500, response.text[:300]
    case.validate_response(response)
