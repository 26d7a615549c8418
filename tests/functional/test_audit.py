"""The audit trail: every issuance and refusal, in the ledger (both backends) and as JSON log lines."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.functional import ledger_helpers
from tests.functional.ledger_helpers import VIDEO, create
from upload_broker import audit_cli
from upload_broker.runtime import JsonLogFormatter

# The ledger tests' overrides of tests/conftest.py's fixtures, for this module only (module attributes, so
# pytest finds them). ledger_url and redis_ledger_url come from tests/functional/conftest.py.
auth = ledger_helpers.auth
broker = ledger_helpers.broker
clock = ledger_helpers.clock
config_overrides = ledger_helpers.config_overrides
settings = ledger_helpers.settings

# The source address is the platform's (FC's requestContext.http.sourceIp, here the shim's peer address);
# an X-Forwarded-For that any client can write is not trusted for the audit trail.
CLIENT = {"User-Agent": "holiday-app/2.1", "X-Forwarded-For": "192.0.2.66, 10.0.0.1"}


@pytest.fixture(autouse=True)
def client_address(client):
    client.environ_base["REMOTE_ADDR"] = "203.0.113.7"


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonLogFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def records(self) -> list[dict]:
        return [json.loads(line) for line in self.lines]


@pytest.fixture
def audit_log():
    handler = Lines()
    logger = logging.getLogger("upload_broker.audit")
    logger.addHandler(handler)
    previous = logger.level
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(previous)


def test_an_issuance_is_recorded_with_who_what_and_where(client, auth, broker, audit_log):
    created = create(client, auth, headers={**CLIENT, "X-Request-Id": "req-create-1"})
    video_id = created.json["VideoId"]
    refreshed = client.post(f"/v1/videos/{video_id}/refresh", headers={**auth("alice"), **CLIENT,
                                                                        "X-Request-Id": "req-refresh-1"})
    assert refreshed.status_code == 200

    history = broker.ledger.audit_history("alice")

    assert [(r.outcome, r.operation, r.resource_id, r.request_id, r.upstream_request_id) for r in history] == [
        ("issued", "RefreshUploadVideo", video_id, "req-refresh-1", refreshed.json["RequestId"]),
        ("issued", "CreateUploadVideo", video_id, "req-create-1", created.json["RequestId"]),
    ]
    first = history[-1]
    assert (first.user, first.source_ip, first.user_agent, first.status, first.code) == (
        "alice", "203.0.113.7", "holiday-app/2.1", 200, None)
    logged = [r for r in audit_log.records() if r["outcome"] == "issued"]
    assert [r["request_id"] for r in logged] == ["req-create-1", "req-refresh-1"]
    assert logged[0]["logger"] == "upload_broker.audit"
    assert logged[0]["user"] == "alice" and logged[0]["resource_id"] == video_id
    assert logged[0]["at"].endswith("Z")


def test_no_secret_reaches_the_trail_or_the_log(client, auth, broker, audit_log):
    headers = {**auth("alice"), "Idempotency-Key": "secret-ish-key-123"}
    first = client.post("/v1/videos", json=VIDEO, headers=headers)
    replay = client.post("/v1/videos", json=VIDEO, headers=headers)
    assert replay.headers["Idempotent-Replayed"] == "true"

    token = headers["Authorization"].split()[1]
    stored = json.dumps([r.to_dict() for r in broker.ledger.audit_history("alice")])
    for text in (stored, *audit_log.lines):
        assert first.json["UploadAuth"] not in text
        assert first.json["UploadAddress"] not in text
        assert token not in text
        assert "secret-ish-key-123" not in text
        assert "test-secret-not-real" not in text
    assert [r.outcome for r in broker.ledger.audit_history("alice")] == ["replayed", "issued"]


def test_refusals_are_recorded_with_the_user_once_the_token_is_verified(client, auth, broker, audit_log):
    missing = client.post("/v1/videos/nope/refresh", headers={**auth("alice"), **CLIENT, "X-Request-Id": "r-404"})
    no_token = client.post("/v1/videos", json=VIDEO, headers={**CLIENT, "X-Request-Id": "r-401"})
    bad_body = client.post("/v1/videos", json={"Title": "t"}, headers={**auth("alice"), "X-Request-Id": "r-400"})
    assert (missing.status_code, no_token.status_code, bad_body.status_code) == (404, 401, 400)

    history = broker.ledger.audit_history("alice")

    assert [(r.outcome, r.request_id, r.code, r.status, r.resource_id) for r in history] == [
        ("refused", "r-400", "MissingParameter", 400, None),
        ("refused", "r-404", "InvalidVideo.NotFound", 404, "nope"),
    ]
    anonymous = [r for r in audit_log.records() if r["request_id"] == "r-401"]
    assert len(anonymous) == 1
    assert anonymous[0]["user"] is None and anonymous[0]["code"] == "Unauthorized"
    assert anonymous[0]["operation"] == "CreateUploadVideo" and anonymous[0]["source_ip"] == "203.0.113.7"


@pytest.mark.parametrize("settings", [{"quota_creates_per_day": 1}])
def test_a_quota_refusal_is_recorded(client, auth, broker):
    create(client, auth)
    create(client, auth)
    assert [(r.outcome, r.code) for r in broker.ledger.audit_history("alice")] == [
        ("refused", "QuotaExceeded"), ("issued", None)]


def test_the_cli_prints_one_users_history_newest_first(client, auth, ledger_url, capsys):
    first = create(client, auth, headers={"X-Request-Id": "cli-1"}).json["VideoId"]
    second = create(client, auth, headers={"X-Request-Id": "cli-2"}).json["VideoId"]
    create(client, auth, user="bob")

    assert audit_cli.main(["--user", "alice", "--ledger-url", ledger_url]) == 0
    header, *lines = capsys.readouterr().out.splitlines()
    assert header.split("\t") == ["time", "outcome", "status", "code", "operation", "resource_id", "request_id",
                                  "upstream_request_id", "source_ip", "user_agent"]
    assert [line.split("\t")[5] for line in lines] == [second, first]
    assert lines[0].split("\t")[1:3] == ["issued", "200"]

    assert audit_cli.main(["--user", "alice", "--limit", "1", "--json", "--ledger-url", ledger_url]) == 0
    (only,) = capsys.readouterr().out.splitlines()
    assert json.loads(only)["request_id"] == "cli-2"


CALLBACK_URL = "https://broker.example.com/v1/callbacks/vod"


@pytest.mark.parametrize("settings", [{"vod_callback_url": CALLBACK_URL, "vod_callback_auth_keys": ("Audit1Key",)}])
def test_the_cli_shows_a_completion_and_the_refusals_it_causes(client, auth, ledger_url, clock, capsys):
    import hashlib

    video_id = create(client, auth).json["VideoId"]
    timestamp = str(int(clock.now))
    signature = hashlib.md5(f"{CALLBACK_URL}|{timestamp}|Audit1Key".encode()).hexdigest()
    locked = client.post("/v1/callbacks/vod", json={"EventType": "FileUploadComplete", "Status": "success",
                                                    "VideoId": video_id},
                         headers={"X-VOD-TIMESTAMP": timestamp, "X-VOD-SIGNATURE": signature})
    assert locked.status_code == 200
    assert client.post(f"/v1/videos/{video_id}/refresh", headers=auth()).status_code == 409

    assert audit_cli.main(["--user", "alice", "--ledger-url", ledger_url]) == 0
    _, *lines = capsys.readouterr().out.splitlines()
    columns = [line.split("\t") for line in lines]
    assert [(c[1], c[2], c[3], c[4], c[5]) for c in columns] == [
        ("refused", "409", "UploadAlreadyCompleted", "RefreshUploadVideo", video_id),
        ("completed", "200", "-", "FileUploadComplete", video_id),
        ("issued", "200", "-", "CreateUploadVideo", video_id),
    ]


def test_the_cli_runs_as_a_module_with_the_configured_ledger(client, auth, ledger_url):
    create(client, auth, headers={"X-Request-Id": "module-1"})
    env = {**os.environ, "BROKER_LEDGER_URL": ledger_url, "PYTHONPATH": "shared:."}
    result = subprocess.run([sys.executable, "-m", "upload_broker.audit_cli", "--user", "alice"],
                            capture_output=True, text=True, env=env, timeout=30, check=True)
    assert "module-1" in result.stdout


def test_the_cli_says_when_the_ledger_cannot_be_reached(capsys):
    from tests.ledger_fixtures import free_port

    assert audit_cli.main(["--user", "alice", "--ledger-url", f"redis://127.0.0.1:{free_port()}/0"]) == 1
    assert "cannot be reached" in capsys.readouterr().err


def test_make_audit_takes_sub_not_the_shells_user(client, auth, ledger_url):
    create(client, auth, headers={"X-Request-Id": "make-1"})
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "BROKER_LEDGER_URL": ledger_url, "USER": "alice"}

    usage = subprocess.run(["make", "-s", "audit"], cwd=root, capture_output=True, text=True, env=env, timeout=60)
    assert usage.returncode == 2 and "usage: make audit SUB=" in usage.stderr and "make-1" not in usage.stdout

    done = subprocess.run(["make", "-s", "audit", "SUB=alice"], cwd=root, capture_output=True, text=True, env=env,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    header, *rows = done.stdout.splitlines()
    assert header.startswith("time\toutcome") and len(rows) == 1 and "make-1" in rows[0]
