"""GET /v1/uploads on every ledger backend (SQLite, Redis, Tablestore on its fake), through the app."""

from __future__ import annotations

from tests.functional import ledger_helpers
from tests.functional.test_list_uploads import all_pages, create_video

# The ledger tests' overrides of tests/conftest.py's fixtures, for this module only (module attributes, so
# pytest finds them). ledger_url comes from tests/functional/conftest.py.
auth = ledger_helpers.auth
broker = ledger_helpers.broker
clock = ledger_helpers.clock
config_overrides = ledger_helpers.config_overrides
settings = ledger_helpers.settings


def test_paging_and_the_status_filter(client, auth, broker, clock):
    ids = []
    for _ in range(12):
        ids.append(create_video(client, auth))
        clock.advance(1)
    for video_id in ids[::3]:
        broker.ledger.mark_completed(provider="vod", resource_id=video_id, at=clock.now)

    everything = all_pages(client, auth, MaxResults="5")
    pending = all_pages(client, auth, MaxResults="2", Status="pending")
    completed = all_pages(client, auth, Status="completed")

    assert [u["Id"] for u in everything] == ids[::-1]
    assert [u["Id"] for u in pending] == [i for i in ids[::-1] if i not in ids[::3]]
    assert all(u["Status"] == "pending" for u in pending)
    assert [u["Id"] for u in completed] == ids[::3][::-1]


def test_a_refused_token_of_another_user_on_this_backend(client, auth):
    for _ in range(3):
        create_video(client, auth, "alice")
    token = client.get("/v1/uploads?MaxResults=1", headers=auth("alice")).json["NextToken"]
    response = client.get("/v1/uploads", query_string={"NextToken": token}, headers=auth("mallory"))
    assert response.status_code == 400 and response.json["Field"] == "NextToken"
