"""Fuzz the broker from its own contract: openapi.yaml drives schemathesis against the app and the fakes.

Every generated request (valid and invalid bodies, headers and path ids; with a valid token and with none)
goes through the real pipeline, the real SDKs and the fake upstreams, and every answer must:

- not be a 5xx (the fakes are healthy while fuzzing, so not even 502/503 is expected);
- use a status, headers, content type and body that openapi.yaml documents for that operation;
- refuse data that the schema calls invalid (``negative_data_rejection``): the broker is at least as strict
  as its published contract.

Bounded inside ``make test`` (a few examples per operation and mode); ``BROKER_FUZZ_EXAMPLES=500 pytest
tests/functional/test_fuzz.py`` is the long run (``make fuzz``).
"""

from __future__ import annotations

import os
from pathlib import Path

import jsonschema_rs
import pytest
import yaml

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis import checks as st_checks  # noqa: E402
from schemathesis.config import SchemathesisConfig  # noqa: E402
from schemathesis.specs.openapi import checks as oas_checks  # noqa: E402

from tests.conftest import TEST_KEY_ID, TEST_KEY_SECRET, WANGSU_TEST_KEY, WANGSU_TEST_SECRET  # noqa: E402
from tests.fakes.aliyun_rpc import FakeIce, FakeVod  # noqa: E402
from tests.fakes.wangsu import FakeWangsu  # noqa: E402
from tests.jwt_helpers import HS256_SECRET, hs256  # noqa: E402
from upload_broker.config import Config, Credentials  # noqa: E402
from upload_broker.local import create_app  # noqa: E402
from upload_broker.runtime import Broker  # noqa: E402

SPEC = Path(__file__).resolve().parents[2] / "openapi.yaml"
EXAMPLES = int(os.environ.get("BROKER_FUZZ_EXAMPLES", "8"))
CHECKS = [
    st_checks.not_a_server_error,
    oas_checks.status_code_conformance,
    oas_checks.content_type_conformance,
    oas_checks.response_headers_conformance,
    oas_checks.response_schema_conformance,
    oas_checks.negative_data_rejection,
]

CONFIG = SchemathesisConfig.from_dict(
    {
        "generation": {"mode": "all", "max-examples": EXAMPLES, "deterministic": False},
        # Examples and coverage phases are deterministic and cheap; fuzzing adds the random cases.
        "phases": {"examples": {"enabled": True}, "coverage": {"enabled": True}, "stateful": {"enabled": False}},
    }
)


class _AppSlot:
    """The WSGI app schemathesis calls; the module fixture puts the real one in (fakes must run first)."""

    app = None

    def __call__(self, environ, start_response):
        assert self.app is not None, "the fuzz_app fixture did not run"
        return self.app(environ, start_response)


APP = _AppSlot()
schema = schemathesis.openapi.from_path(SPEC, config=CONFIG)
schema.app = APP


@pytest.fixture(scope="module", autouse=True)
def fuzz_app(tmp_path_factory):
    """One broker against healthy fakes for the whole module (the fuzz makes hundreds of calls)."""
    tmp = tmp_path_factory.mktemp("fuzz")
    with FakeVod({TEST_KEY_ID: TEST_KEY_SECRET}) as vod, FakeIce({TEST_KEY_ID: TEST_KEY_SECRET}) as ice, \
            FakeWangsu({WANGSU_TEST_KEY: WANGSU_TEST_SECRET}) as wangsu:
        config = Config(
            credentials=Credentials(TEST_KEY_ID, TEST_KEY_SECRET),
            vod_endpoint=vod.url,
            ice_endpoint=ice.url,
            wangsu_access_key=WANGSU_TEST_KEY,
            wangsu_secret_key=WANGSU_TEST_SECRET,
            wangsu_endpoint=wangsu.url,
            jwt_secret=HS256_SECRET,
            allowed_origins=("https://app.example.com",),
            ledger_url=f"sqlite:///{tmp / 'ledger.sqlite3'}",
            upstream_connect_timeout=1.0,
            upstream_read_timeout=2.0,
            upstream_budget_seconds=4.0,
        )
        broker = Broker(config)
        APP.app = create_app(broker=broker)
        yield APP.app
        APP.app = None
        broker.ledger.close()


def bearer(sub: str = "fuzzer") -> str:
    import time

    now = int(time.time())
    return "Bearer " + hs256(HS256_SECRET, {"sub": sub, "iat": now, "exp": now + 3600})


FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=False,
    suppress_health_check=list(HealthCheck),
    database=None,
)


RAW = yaml.safe_load(SPEC.read_text(encoding="utf-8"))


def _without_blanks(value):
    """The body as the broker reads it: a field that is null, blank or [] is a field not sent (validation.validate)."""
    if isinstance(value, dict):
        return {
            key: _without_blanks(member)
            for key, member in value.items()
            if not (member is None or member == [] or (isinstance(member, str) and member.strip() == ""))
        }
    return value


def checks_for(case) -> list:
    """All checks, except ``negative_data_rejection`` for a body the broker reads as valid: one whose only
    schema violation is a blank optional field, which the broker treats as not sent."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_negative or not isinstance(case.body, dict):
        return CHECKS
    media = RAW["paths"][case.operation.path][case.operation.method.lower()].get("requestBody", {})
    body_schema = media.get("content", {}).get("application/json", {}).get("schema")
    if body_schema is None:
        return CHECKS
    validator = jsonschema_rs.Draft202012Validator({**body_schema, "components": RAW["components"]})
    if validator.is_valid(_without_blanks(case.body)) and not validator.is_valid(case.body):
        return [check for check in CHECKS if check is not oas_checks.negative_data_rejection]
    return CHECKS


@schema.parametrize()
@FUZZ_SETTINGS
def test_with_a_valid_token(case):
    """Valid and invalid requests of a signed-in user: documented answers only, never a 5xx."""
    case.call_and_validate(headers={"Authorization": bearer()}, checks=checks_for(case))


@schema.parametrize()
@FUZZ_SETTINGS
def test_without_a_token(case):
    """The same requests without a token: 401 (or an earlier protocol refusal), documented, never a 5xx."""
    response = case.call_and_validate(checks=checks_for(case))
    if case.operation.path == "/v1/callbacks/vod" and case.operation.method.upper() == "POST":
        # No token is asked for here: VOD's signature is, and the fuzzer has no key (none is configured).
        assert response.status_code in (403, 405, 413), response.text
    elif case.operation.method.upper() == "POST":
        assert response.status_code in (400, 401, 404, 405, 413, 415), response.text
