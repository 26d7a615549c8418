"""Idempotent creates (``Idempotency-Key``), end to end on both ledger backends."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.functional import ledger_helpers
from tests.functional.ledger_helpers import VIDEO, create
from upload_broker import idempotency
from upload_broker.call import Call
from upload_broker.errors import IdempotencyConflict

# The ledger tests' overrides of tests/conftest.py's fixtures, for this module only (module attributes, so
# pytest finds them). ledger_url, redis_ledger_url and live_server come from tests/functional/conftest.py.
auth = ledger_helpers.auth
broker = ledger_helpers.broker
clock = ledger_helpers.clock
config_overrides = ledger_helpers.config_overrides
settings = ledger_helpers.settings


def keyed(key="key-1", **extra):
    return {"Idempotency-Key": key, **extra}


def test_the_same_key_and_body_replay_the_first_answer_without_an_upstream_call(client, auth, fake_vod):
    first = create(client, auth, headers=keyed(**{"X-Request-Id": "first-request"}))
    second = create(client, auth, headers=keyed(**{"X-Request-Id": "second-request"}))

    assert first.status_code == second.status_code == 200
    assert second.json == first.json
    assert second.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert second.headers["X-Request-Id"] == "second-request"
    assert fake_vod.call_count("CreateUploadVideo") == 1


def test_key_order_and_spacing_of_the_body_do_not_matter(client, auth, fake_vod):
    first = create(client, auth, headers=keyed())
    body = b'{ "FileSize": 1000, "FileName": "holiday.mp4", "Title": "Holiday" }'
    second = client.post("/v1/videos", data=body, content_type="application/json",
                         headers={**auth("alice"), **keyed()})
    assert second.json == first.json
    assert fake_vod.call_count("CreateUploadVideo") == 1


def test_the_same_key_with_another_body_is_a_conflict(client, auth, fake_vod):
    assert create(client, auth, headers=keyed()).status_code == 200

    conflict = create(client, auth, body={**VIDEO, "Title": "Other"}, headers=keyed())

    assert (conflict.status_code, conflict.json["Code"]) == (409, "IdempotencyConflict")
    assert "UploadAuth" not in conflict.json
    assert fake_vod.call_count("CreateUploadVideo") == 1


def test_keys_are_scoped_to_the_user(client, auth, fake_vod):
    alice = create(client, auth, user="alice", headers=keyed())
    bob = create(client, auth, user="bob", headers=keyed())
    assert alice.json["VideoId"] != bob.json["VideoId"]
    assert "Idempotent-Replayed" not in bob.headers
    assert fake_vod.call_count("CreateUploadVideo") == 2


def test_without_a_key_every_create_is_new(client, auth, fake_vod):
    assert create(client, auth).json["VideoId"] != create(client, auth).json["VideoId"]


@pytest.mark.parametrize("key", ["x" * 129, "", "naïve-key", "tab\tkey"])
def test_a_malformed_key_is_refused(client, auth, fake_vod, key):
    headers = {**auth("alice"), "Idempotency-Key": key}
    response = client.post("/v1/videos", json=VIDEO, headers=headers)
    assert response.status_code == 400
    assert (response.json["Code"], response.json["Field"]) == ("InvalidParameter", "Idempotency-Key")
    assert fake_vod.call_count() == 0


def test_a_key_of_128_printable_characters_is_fine(client, auth):
    assert create(client, auth, headers=keyed("~" * 64 + " " + "A" * 63)).status_code == 200


def test_an_error_answer_is_not_kept(client, auth, fake_vod):
    fake_vod.inject("CreateUploadVideo", status=500)
    assert create(client, auth, headers=keyed()).status_code == 502

    retried = create(client, auth, headers=keyed())

    assert retried.status_code == 200
    assert "Idempotent-Replayed" not in retried.headers
    assert fake_vod.call_count("CreateUploadVideo") == 2


@pytest.mark.parametrize("settings", [{"quota_creates_per_day": 1}])
def test_a_replay_does_not_spend_quota(client, auth, fake_vod):
    first = create(client, auth, headers=keyed())
    assert create(client, auth, headers=keyed()).json == first.json
    assert create(client, auth, headers=keyed("key-2")).status_code == 429


def test_twenty_parallel_requests_with_one_key_make_one_upstream_call(live_server, auth, fake_vod):
    headers = {**auth("alice"), **keyed("parallel")}
    fake_vod.latency = 0.3  # the first call is still in flight when the others arrive

    def post(_: int) -> requests.Response:
        return requests.post(f"{live_server.url}/v1/videos", json=VIDEO, headers=headers, timeout=30)

    with ThreadPoolExecutor(20) as pool:
        responses = list(pool.map(post, range(20)))

    assert [r.status_code for r in responses] == [200] * 20
    bodies = [r.json() for r in responses]
    assert all(body == bodies[0] for body in bodies)
    assert len({(b["VideoId"], b["UploadAuth"]) for b in bodies}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == 19
    assert fake_vod.call_count("CreateUploadVideo") == 1


def test_a_request_still_in_progress_after_the_budget_is_a_conflict(broker, auth, ledger_url):
    """Given another request holds the key, when it never finishes, then the waiter gives up with 409."""
    from functions.create_upload_video.operation import operation
    from upload_broker.auth import Principal
    from upload_broker.http import Headers, Request

    request = Request("POST", "/v1/videos", Headers([("Idempotency-Key", "slow")]))
    call = Call(broker, request, Principal("alice", frozenset(), {}), dict(VIDEO), {}, "req-waiter")
    store_key = idempotency.scoped_key("alice", operation.function, "slow")
    broker.ledger.claim_idempotency(store_key, idempotency.fingerprint(VIDEO), owner="other", at=broker.clock(),
                                    pending_seconds=60)
    moments = iter([0.0] + [0.5 * n for n in range(1, 100)])
    sleeps = []

    with pytest.raises(IdempotencyConflict) as conflict:
        idempotency.claim(call, operation, "slow", sleep=sleeps.append, monotonic=lambda: next(moments))

    assert "still in progress" in conflict.value.message
    assert len(sleeps) == int(broker.config.upstream_budget_seconds / 0.5) - 1
