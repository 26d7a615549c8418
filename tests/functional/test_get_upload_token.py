"""POST /v1/wangsu/upload-tokens end to end: HTTP → broker → WangsuClient (V3 signature) → fake Wangsu."""

from __future__ import annotations

import base64
import json
import logging
import time
from datetime import datetime, timezone

import pytest

TOKEN_BODY = {"originFileName": "uploadtest.mp4"}
ROUTE = "/v1/wangsu/upload-tokens"


def get_token(client, auth, user="alice", **fields):
    return client.post(ROUTE, json={**TOKEN_BODY, **fields}, headers=auth(user))


def put_policy_deadline(upload_token: str) -> datetime:
    encoded = upload_token.split(":")[2]
    policy = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    return datetime.fromtimestamp(int(policy["deadline"]) / 1000, tz=timezone.utc)


def test_returns_the_data_object_and_its_expiration(client, auth, fake_wangsu, broker):
    before = time.time()
    response = get_token(client, auth, categoryNames=[{"parentName": "travel", "childName": "summer"}])

    assert response.status_code == 200, response.json
    body = response.json
    assert {"videoId", "uploadUrl", "uploadToken", "fileKey", "Expiration"} <= set(body)
    deadline = put_policy_deadline(body["uploadToken"])
    assert body["Expiration"] == deadline.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert before + 3600 - 2 <= deadline.timestamp() <= time.time() + 3600 + 2  # the fake's token lifetime
    sent = fake_wangsu.calls[-1].params
    assert sent == {"originFileName": "uploadtest.mp4",
                    "categoryNames": '[{"childName":"summer","parentName":"travel"}]'}
    record = broker.ledger.find("wangsu", body["videoId"])
    assert record is not None and record.owner == "alice" and record.kind == "video"


WANGSU_POLICY = dict(
    wangsu_domain="play.example.com",
    wangsu_workflow_id="wf-9",
    wangsu_watermark_name="logo",
    wangsu_transcode_combine_name="hls-all",
    wangsu_subtitle_id="sub-1",
)


@pytest.mark.parametrize("config_overrides", [WANGSU_POLICY])
def test_operator_policy_reaches_wangsu(client, auth, fake_wangsu):
    response = get_token(client, auth)

    assert response.status_code == 200, response.json
    sent = fake_wangsu.calls[-1].params
    assert {k: sent[k] for k in ("domain", "workflowId", "waterMarkName", "transCodeCombineName", "subtitleId")} == {
        "domain": "play.example.com", "workflowId": "wf-9", "waterMarkName": "logo",
        "transCodeCombineName": "hls-all", "subtitleId": "sub-1",
    }


# --- fileId ownership --------------------------------------------------------------------------------


def test_the_owner_resumes_a_file_id_and_gets_the_same_video(client, auth, fake_wangsu, broker):
    first = get_token(client, auth, fileId="part-1").json
    again = get_token(client, auth, fileId="part-1")

    assert again.status_code == 200, again.json
    assert again.json["videoId"] == first["videoId"]
    assert broker.ledger.find("wangsu-file", "part-1").owner == "alice"


@pytest.mark.parametrize("overwrite", ["1", 1])
def test_the_owner_may_overwrite_their_own_file_id(client, auth, fake_wangsu, overwrite):
    first = get_token(client, auth, fileId="part-1").json
    response = get_token(client, auth, fileId="part-1", overwrite=overwrite)

    assert response.status_code == 200, response.json
    assert response.json["videoId"] != first["videoId"]
    # The API Center types overwrite as Integer: the broker sends the number, whichever way the client spelled it
    # (the fake answers a string with 1608, as a faithful Wangsu would).
    sent = fake_wangsu.calls[-1].params["overwrite"]
    assert sent == 1 and type(sent) is int


@pytest.mark.parametrize("overwrite", ["0", 0])
def test_overwrite_zero_is_sent_as_the_number_zero_and_resumes(client, auth, fake_wangsu, overwrite):
    first = get_token(client, auth, fileId="part-1").json
    response = get_token(client, auth, fileId="part-1", overwrite=overwrite)

    assert response.status_code == 200, response.json
    assert response.json["videoId"] == first["videoId"]
    sent = fake_wangsu.calls[-1].params["overwrite"]
    assert sent == 0 and type(sent) is int


@pytest.mark.parametrize("extra", [{}, {"overwrite": "1"}, {"overwrite": 0}])
def test_another_users_file_id_is_not_found_and_wangsu_is_never_called(client, auth, fake_wangsu, extra):
    get_token(client, auth, "alice", fileId="part-1")
    calls = fake_wangsu.call_count()

    response = get_token(client, auth, "mallory", fileId="part-1", **extra)

    assert response.status_code == 404
    assert response.json["Code"] == "NotFound"
    assert fake_wangsu.call_count() == calls


def test_overwrite_of_a_file_id_nobody_used_is_not_found_without_a_call(client, auth, fake_wangsu, broker):
    response = get_token(client, auth, fileId="never-used", overwrite="1")

    assert response.status_code == 404
    assert fake_wangsu.call_count() == 0
    assert broker.ledger.find("wangsu-file", "never-used") is None


def test_overwrite_needs_a_file_id(client, auth, fake_wangsu):
    response = get_token(client, auth, overwrite="1")

    assert response.status_code == 400
    assert (response.json["Code"], response.json["Field"]) == ("MissingParameter", "fileId")
    assert fake_wangsu.call_count() == 0


def test_a_file_id_is_claimed_by_its_first_user_even_if_the_call_failed(client, auth, fake_wangsu):
    fake_wangsu.inject(status=500)
    assert get_token(client, auth, "alice", fileId="part-1").status_code == 502

    response = get_token(client, auth, "mallory", fileId="part-1")

    assert response.status_code == 404
    assert fake_wangsu.call_count() == 1


# --- the error matrix --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({}, 400, "MissingParameter", "originFileName"),
        ({"originFileName": "  "}, 400, "MissingParameter", "originFileName"),
        ({"originFileName": 5}, 400, "InvalidParameter", "originFileName"),
        ({"originFileName": "noextension"}, 400, "InvalidParameter", "originFileName"),
        ({"originFileName": ".mp4"}, 400, "InvalidParameter", "originFileName"),
        ({"originFileName": "dir/a.mp4"}, 400, "InvalidParameter", "originFileName"),
        ({"originFileName": "a" * 37 + ".mp4"}, 400, "InvalidParameter", "originFileName"),
        ({**TOKEN_BODY, "fileId": "f" * 33}, 400, "InvalidParameter", "fileId"),
        ({**TOKEN_BODY, "fileId": "a b"}, 400, "InvalidParameter", "fileId"),
        ({**TOKEN_BODY, "fileId": 7}, 400, "InvalidParameter", "fileId"),
        ({**TOKEN_BODY, "overwrite": "2"}, 400, "InvalidParameter", "overwrite"),
        ({**TOKEN_BODY, "overwrite": True}, 400, "InvalidParameter", "overwrite"),
        ({**TOKEN_BODY, "overwrite": "yes"}, 400, "InvalidParameter", "overwrite"),
        ({**TOKEN_BODY, "categoryNames": "films"}, 400, "InvalidParameter", "categoryNames"),
        ({**TOKEN_BODY, "categoryNames": [{}]}, 400, "InvalidParameter", "categoryNames"),
        ({**TOKEN_BODY, "categoryNames": [{"parentName": "p"}]}, 400, "InvalidParameter", "categoryNames"),
        ({**TOKEN_BODY, "categoryNames": [{"parentName": "p", "childName": "c", "x": 1}]}, 400, "InvalidParameter",
         "categoryNames"),
        ({**TOKEN_BODY, "categoryNames": [{"parentName": "", "childName": "c"}]}, 400, "InvalidParameter",
         "categoryNames"),
        ({**TOKEN_BODY, "fileMd5": "abc"}, 400, "InvalidParameter", "fileMd5"),
        ({**TOKEN_BODY, "domain": "x.example.com"}, 400, "ForbiddenParameter", "domain"),
        ({**TOKEN_BODY, "workflowId": "wf"}, 400, "ForbiddenParameter", "workflowId"),
        ({**TOKEN_BODY, "waterMarkName": "logo"}, 400, "ForbiddenParameter", "waterMarkName"),
        ({**TOKEN_BODY, "transCodeCombineName": "t"}, 400, "ForbiddenParameter", "transCodeCombineName"),
        ({**TOKEN_BODY, "subtitleId": "s"}, 400, "ForbiddenParameter", "subtitleId"),
        # API Center GetUploadToken: "subtitle ... up to 13 subtitles ... [{"lang":...,"subtitleId":...}] Base64".
        ({**TOKEN_BODY, "subtitle": "W3sibGFuZyI6ImNuIn1d"}, 400, "ForbiddenParameter", "subtitle"),
        ({**TOKEN_BODY, "cmd": "x"}, 400, "ForbiddenParameter", "cmd"),
        ({**TOKEN_BODY, "overwrite": 1.0}, 400, "InvalidParameter", "overwrite"),
    ],
)
def test_refuses_bad_input_before_calling_wangsu(client, auth, fake_wangsu, body, status, code, field):
    response = client.post(ROUTE, json=body, headers=auth())

    assert response.status_code == status, response.json
    assert response.json["Code"] == code
    assert response.json["Field"] == field
    assert fake_wangsu.call_count() == 0


def test_a_name_of_exactly_40_characters_is_accepted(client, auth, fake_wangsu):
    response = client.post(ROUTE, json={"originFileName": "a" * 36 + ".mp4"}, headers=auth())
    assert response.status_code == 200, response.json


# --- upstream errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "status", "code", "field"),
    [
        (dict(code=1500), 400, "InvalidParameter", "originFileName"),
        (dict(code=1608), 400, "InvalidParameter", "overwrite"),
        (dict(code=1607), 400, "InvalidParameter", None),
        # Codes outside getUploadToken's own error table are not the caller's fault.
        (dict(code=1599), 502, "UpstreamError", None),
        (dict(code=1004), 502, "UpstreamError", None),
        (dict(status=401, code=401), 502, "UpstreamError", None),
        (dict(status=403, code=403), 502, "UpstreamError", None),
        (dict(status=500, code=500), 502, "UpstreamError", None),
        (dict(status=429, code=429, retry_after=3), 429, "Throttling", None),
    ],
)
def test_upstream_errors_map_to_the_contract(client, auth, fake_wangsu, broker, fault, status, code, field):
    fake_wangsu.inject(**fault)

    response = get_token(client, auth)

    assert response.status_code == status, response.json
    assert response.json["Code"] == code
    assert response.json.get("Field") == field
    assert "uploadToken" not in response.json


def test_a_wrong_secret_is_a_502_not_the_callers_fault(client, auth, fake_wangsu):
    fake_wangsu.access_keys = {next(iter(fake_wangsu.access_keys)): "another-secret"}

    response = get_token(client, auth)

    assert response.status_code == 502 and response.json["Code"] == "UpstreamError"


def test_a_documented_code_keeps_the_contracts_code_and_cites_the_wangsu_number(client, auth, fake_wangsu):
    fake_wangsu.inject(code=1500)

    response = get_token(client, auth)

    assert (response.status_code, response.json["Code"], response.json["Field"]) == (400, "InvalidParameter",
                                                                                     "originFileName")
    assert "(Wangsu code 1500)" in response.json["Message"]


UNREADABLE_TOKENS = ["garbage", "ak:sign:!!!", "ak:sign:" + base64.urlsafe_b64encode(b'{"x":1}').decode()]


@pytest.mark.parametrize("upload_token", UNREADABLE_TOKENS)
def test_a_token_whose_put_policy_cannot_be_read_is_still_returned_with_a_conservative_expiration(
        client, auth, fake_wangsu, broker, caplog, upload_token):
    from upload_broker.upstream_wangsu import FALLBACK_TOKEN_SECONDS

    body = json.dumps({"code": 200, "message": "ok", "data": {"videoId": "v1", "uploadToken": upload_token}})
    fake_wangsu.inject(body=body.encode())
    caplog.set_level(logging.WARNING, logger="upload_broker.upstream_wangsu")
    before = time.time()

    response = get_token(client, auth)

    # Wangsu issued it: the caller gets it (not a 502 that would only make them ask for another) ...
    assert response.status_code == 200, response.json
    assert response.json["uploadToken"] == upload_token and response.json["videoId"] == "v1"
    # ... with an Expiration that errs short, counted from the request ...
    expires = datetime.strptime(response.json["Expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    assert before + FALLBACK_TOKEN_SECONDS - 2 <= expires.timestamp() <= time.time() + FALLBACK_TOKEN_SECONDS
    # ... recorded as theirs like any other upload ...
    record = broker.ledger.find("wangsu", "v1")
    assert record is not None and record.owner == "alice"
    # ... and the operator is told, in a line that names the video and never carries the token.
    lines = [r.getMessage() for r in caplog.records if r.name == "upload_broker.upstream_wangsu"
             and r.levelno == logging.WARNING]
    assert len(lines) == 1 and "v1" in lines[0]
    assert all(upload_token not in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("config_overrides", [dict(wangsu_access_key=None, wangsu_secret_key=None)])
def test_an_unconfigured_wangsu_is_a_502(client, auth, fake_wangsu):
    response = get_token(client, auth)
    assert response.status_code == 502 and response.json["Code"] == "UpstreamError"
    assert fake_wangsu.call_count() == 0
