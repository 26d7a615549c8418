"""A function's ``handler(event, context)``, called the way Function Compute 3.0 and API Gateway call it.

FC 3.0's HTTP-trigger request and response structs: "Use an HTTP trigger to invoke a function"
(https://www.alibabacloud.com/help/en/functioncompute/fc/http-trigger-invoking-function). The Python
runtime hands the event over as the JSON text's bytes.
"""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from types import SimpleNamespace

import pytest

from tests.conftest import TEST_KEY_ID, TEST_KEY_SECRET
from upload_broker.http import MAX_BODY_BYTES
from upload_broker.runtime import Broker, entry_point

BODY = json.dumps({"Title": "t", "FileName": "a.mp4"})


def fc_event(method, path, body="", headers=None, *, raw_path=None, base64_body=False, request_id="1-abc-def",
             source_ip="198.51.100.4", query=None):
    """An FC 3.0 HTTP-trigger event as the documented request struct."""
    if base64_body:
        body = base64.b64encode(body.encode() if isinstance(body, str) else body).decode()
    return {
        "version": "v1",
        "rawPath": raw_path if raw_path is not None else path,
        "body": body,
        "isBase64Encoded": base64_body,
        "headers": {"Content-Type": "application/json", **(headers or {})},
        "queryParameters": query or {},
        "requestContext": {
            "accountId": "1234567890",
            "domainName": "broker.example.com",
            "domainPrefix": "broker",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": source_ip,
                     "userAgent": "test-agent/1.0"},
            "requestId": request_id,
            "time": "2026-11-30T10:00:00Z",
            "timeEpoch": "1796032800000",
        },
    }


def call(handler, event, context=None):
    """Invoke as the runtime does (JSON bytes in), and check the response struct's shape on the way out."""
    result = handler(json.dumps(event).encode("utf-8") if not isinstance(event, bytes) else event, context)
    assert isinstance(result, dict), result
    assert set(result) == {"statusCode", "headers", "body", "isBase64Encoded"}
    assert isinstance(result["statusCode"], int) and result["isBase64Encoded"] is False
    assert isinstance(result["body"], str) and all(isinstance(v, str) for v in result["headers"].values())
    return result["statusCode"], result["headers"], json.loads(result["body"]) if result["body"] else None


@pytest.fixture
def create_handler(broker):
    from functions.create_upload_video.operation import operation

    return entry_point(operation, broker=broker)


@pytest.fixture
def refresh_handler(broker):
    from functions.refresh_upload_video.operation import operation

    return entry_point(operation, broker=broker)


def test_an_fc_http_event_creates_a_video(create_handler, auth, fake_vod):
    status, headers, body = call(create_handler, fc_event("POST", "/v1/videos", BODY, auth()))

    assert status == 200 and body["VideoId"] in fake_vod.videos and body["UploadAuth"]
    assert headers["X-Request-Id"] == "1-abc-def"  # the platform's requestId
    assert headers["Cache-Control"] == "no-store" and headers["Content-Type"].startswith("application/json")


@pytest.mark.parametrize("as_type", [bytes, str, dict])
def test_the_event_may_arrive_as_bytes_text_or_an_object(create_handler, auth, as_type):
    event = fc_event("POST", "/v1/videos", BODY, auth())
    raw = json.dumps(event)
    delivered = raw.encode() if as_type is bytes else raw if as_type is str else event
    result = create_handler(delivered, None)
    assert result["statusCode"] == 200


def test_a_base64_body_is_decoded(create_handler, auth):
    status, _, body = call(create_handler, fc_event("POST", "/v1/videos", BODY, auth(), base64_body=True))
    assert status == 200 and body["VideoId"]


def test_the_decoded_path_routes_and_raw_path_is_the_fallback(create_handler, refresh_handler, auth):
    _, _, created = call(create_handler, fc_event("POST", "/v1/videos", BODY, auth()))
    video_id = created["VideoId"]
    path = f"/v1/videos/{video_id}/refresh"
    status, _, body = call(refresh_handler, fc_event("POST", path, "", auth(), raw_path=path.replace("/v1", "/%76%31")))
    assert status == 200 and body["VideoId"] == video_id

    # Without requestContext.http.path, rawPath is URL-decoded (it is URL-encoded by the platform).
    event = fc_event("POST", path, "", auth(), raw_path=path.replace("/v1", "/%76%31"))
    del event["requestContext"]["http"]["path"]
    status, _, body = call(refresh_handler, event)
    assert status == 200 and body["VideoId"] == video_id


def test_a_comma_joined_multi_value_header_is_read_as_one_value(create_handler, auth):
    # FC joins a header sent twice with a comma; an Origin so joined is not an allowed origin.
    headers = {**auth(), "Origin": "https://app.example.com,https://evil.example"}
    status, response_headers, _ = call(create_handler, fc_event("POST", "/v1/videos", BODY, headers))
    assert status == 200 and "Access-Control-Allow-Origin" not in response_headers


def test_the_audit_records_the_platforms_source_ip_not_a_forwarded_header(create_handler, auth, broker):
    headers = {**auth("alice"), "X-Forwarded-For": "203.0.113.66"}
    status, _, _ = call(create_handler, fc_event("POST", "/v1/videos", BODY, headers, source_ip="198.51.100.4"))
    assert status == 200
    assert broker.ledger.audit_history("alice")[0].source_ip == "198.51.100.4"


def test_an_api_gateway_event_is_still_served(create_handler, refresh_handler, auth, fake_vod):
    event = {"path": "/v1/videos", "httpMethod": "POST", "headers": {**auth(), "Content-Type": "application/json"},
             "queryParameters": {}, "pathParameters": {}, "body": base64.b64encode(BODY.encode()).decode(),
             "isBase64Encoded": True}

    result = json.loads(create_handler(json.dumps(event).encode(), SimpleNamespace(request_id="gw-1")))

    assert result["statusCode"] == 200 and result["isBase64Encoded"] is False
    assert result["headers"]["X-Request-Id"] == "gw-1"
    video_id = json.loads(result["body"])["VideoId"]

    refresh = {"path": "/v1/videos/[VideoId]/refresh", "httpMethod": "POST", "headers": auth(),
               "pathParameters": {"VideoId": video_id}, "body": "", "isBase64Encoded": "false"}
    refreshed = json.loads(refresh_handler(json.dumps(refresh), None))
    assert refreshed["statusCode"] == 200
    assert json.loads(refreshed["body"])["VideoId"] == video_id


MALFORMED = [
    (b"not json", "InvalidJSON"),
    (b"[1,2]", "InvalidJSON"),
    (b"\xff\xfe", "InvalidJSON"),
    (b"null", "InvalidJSON"),
    (b"5", "InvalidJSON"),
    (b'"a string"', "InvalidJSON"),
    (b"[" * 100000, "InvalidJSON"),
    ({}, "MalformedEvent"),
    ({"headers": "x"}, "MalformedEvent"),
    ({"pathParameters": [1]}, "MalformedEvent"),
    ({"path": 5}, "MalformedEvent"),
    ({"path": "/v1/videos", "httpMethod": 5}, "MalformedEvent"),
    ({"path": "/v1/videos", "httpMethod": "POST", "headers": ["Authorization"]}, "MalformedEvent"),
    ({"path": "/v1/videos", "httpMethod": "POST", "headers": {"A": {"b": 1}}}, "MalformedEvent"),
    ({"path": "/v1/videos", "httpMethod": "POST", "pathParameters": {"VideoId": None}}, "MalformedEvent"),
    ({"requestContext": "x"}, "MalformedEvent"),
    ({"requestContext": {"http": "x"}}, "MalformedEvent"),
    ({"requestContext": {"http": {"method": 5, "path": "/v1/videos"}}}, "MalformedEvent"),
    ({"requestContext": {"http": {"path": "/v1/videos"}}}, "MalformedEvent"),
    ({"requestContext": {"http": {"method": "POST"}}}, "MalformedEvent"),
    ({"version": "v2", "rawPath": "/v1/videos", "requestContext": {"http": {"method": "POST"}}}, "MalformedEvent"),
    ({"version": 1, "rawPath": "/v1/videos"}, "MalformedEvent"),
    ({"rawPath": 7, "requestContext": {"http": {"method": "POST"}}}, "MalformedEvent"),
    ({"rawPath": "/v1/videos", "requestContext": {"http": {"method": "POST"}, "requestId": 9}}, "MalformedEvent"),
    ({"rawPath": "/v1/videos", "body": {"Title": "t"}, "requestContext": {"http": {"method": "POST"}}},
     "MalformedEvent"),
    ({"rawPath": "/v1/videos", "body": "e30=", "isBase64Encoded": "yes",
      "requestContext": {"http": {"method": "POST"}}}, "MalformedEvent"),
    ({"rawPath": "/v1/videos", "body": "!!notbase64", "isBase64Encoded": True,
      "requestContext": {"http": {"method": "POST"}}}, "MalformedEvent"),
    ({"rawPath": "/v1/videos", "queryParameters": {"a": ["b"]}, "requestContext": {"http": {"method": "POST"}}},
     "MalformedEvent"),
    ({"rawPath": "/v1/videos", "headers": {"X": True}, "requestContext": {"http": {"method": "POST"}}},
     "MalformedEvent"),
]


@pytest.mark.parametrize(("event", "code"), MALFORMED, ids=[str(i) for i in range(len(MALFORMED))])
def test_a_malformed_event_is_a_json_4xx_never_an_exception(create_handler, event, code, fake_vod):
    raw = event if isinstance(event, bytes) else json.dumps(event).encode()
    result = create_handler(raw, SimpleNamespace(request_id="1-platform-id"))
    if isinstance(result, str):  # an event that looked like API Gateway's is answered as API Gateway reads it
        result = json.loads(result)
    assert 400 <= result["statusCode"] < 500
    body = json.loads(result["body"])
    assert body["Code"] == code and body["RequestId"] == "1-platform-id" and body["Message"]
    assert result["headers"]["X-Request-Id"] == "1-platform-id"
    assert result["headers"]["Content-Type"].startswith("application/json")
    assert fake_vod.call_count() == 0


def test_a_malformed_event_without_a_context_still_gets_a_request_id(create_handler):
    result = create_handler(b'{"headers": "x"}', None)
    assert result["statusCode"] == 400 and len(result["headers"]["X-Request-Id"]) == 36


@pytest.mark.parametrize("sent", ["abc\n", "abc\r\nSet-Cookie: a=b", "abc\r", "a b", "", "x" * 129, "é"])
def test_a_request_id_is_echoed_only_when_it_fully_matches(create_handler, auth, sent):
    status, headers, _ = call(create_handler, fc_event("POST", "/v1/videos", BODY, {**auth(), "X-Request-Id": sent}))
    assert status == 200 and headers["X-Request-Id"] == "1-abc-def"


def test_a_sane_request_id_is_echoed(create_handler, auth):
    _, headers, _ = call(create_handler, fc_event("POST", "/v1/videos", BODY, {**auth(), "X-Request-Id": "req-1.a"}))
    assert headers["X-Request-Id"] == "req-1.a"


def test_an_insane_platform_request_id_is_replaced(create_handler, auth):
    _, headers, _ = call(create_handler, fc_event("POST", "/v1/videos", BODY, auth(), request_id="x\ny"))
    assert "\n" not in headers["X-Request-Id"] and len(headers["X-Request-Id"]) == 36


@pytest.mark.parametrize("base64_body", [False, True])
def test_an_oversize_body_is_a_413(create_handler, auth, fake_vod, base64_body):
    big = json.dumps({"Title": "t", "FileName": "a.mp4", "Description": "x" * (MAX_BODY_BYTES + 10)})
    status, _, body = call(create_handler, fc_event("POST", "/v1/videos", big, auth(), base64_body=base64_body))
    assert (status, body["Code"]) == (413, "PayloadTooLarge") and fake_vod.call_count() == 0


def test_a_declared_oversize_length_is_a_413_even_with_no_body(create_handler, auth, fake_vod):
    event = fc_event("POST", "/v1/videos", "", {**auth(), "Content-Length": "300000000"})
    status, _, body = call(create_handler, event)
    assert (status, body["Code"]) == (413, "PayloadTooLarge") and fake_vod.call_count() == 0


def test_query_parameters_reach_the_request():
    from upload_broker.http import request_from_event

    request = request_from_event(fc_event("GET", "/v1/uploads", query={"MaxResults": "10", "Status": "a,b"}))
    assert dict(request.query) == {"MaxResults": "10", "Status": "a,b"}


# --- credentials: python3.12 has them in the environment; python3.10's context carries fresher ones -----


def test_the_contexts_credentials_win_when_present(fake_vod, config, auth):
    from functions.create_upload_video.operation import operation

    fake_vod.add_access_key("STS.role-key", ("role-secret", "role-token"))
    handler = entry_point(operation, broker=Broker(config))  # config has the environment's key too
    context = SimpleNamespace(request_id="r", credentials=SimpleNamespace(
        access_key_id="STS.role-key", access_key_secret="role-secret", security_token="role-token"))

    status, _, body = call(handler, fc_event("POST", "/v1/videos", BODY, auth()), context)

    assert status == 200, body
    sent = fake_vod.last_call("CreateUploadVideo")
    assert sent["AccessKeyId"] == "STS.role-key" and sent["SecurityToken"] == "role-token"


def test_without_context_credentials_the_environments_are_used(fake_vod, config, auth):
    from functions.create_upload_video.operation import operation

    fake_vod.add_access_key("STS.env-key", ("env-secret", "env-token"))
    from upload_broker.config import Config

    env_config = Config.from_env({
        "ALIBABA_CLOUD_ACCESS_KEY_ID": "STS.env-key", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "env-secret",
        "ALIBABA_CLOUD_SECURITY_TOKEN": "env-token", "VOD_ENDPOINT": fake_vod.url,
        "BROKER_JWT_SECRET": config.jwt_secret, "BROKER_LEDGER_URL": config.ledger_url,
    })
    handler = entry_point(operation, broker=Broker(env_config))
    python312_context = SimpleNamespace(request_id="r")  # no credentials attribute at all

    status, _, body = call(handler, fc_event("POST", "/v1/videos", BODY, auth()), python312_context)

    assert status == 200, body
    sent = fake_vod.last_call("CreateUploadVideo")
    assert sent["AccessKeyId"] == "STS.env-key" and sent["SecurityToken"] == "env-token"


def test_no_credentials_anywhere_is_a_clear_502(config, auth, fake_vod):
    from functions.create_upload_video.operation import operation

    handler = entry_point(operation, broker=Broker(replace(config, credentials=None)))
    status, _, body = call(handler, fc_event("POST", "/v1/videos", BODY, auth()), SimpleNamespace(request_id="r"))
    assert (status, body["Code"]) == (502, "UpstreamError")
    assert fake_vod.call_count() == 0


def test_server_credentials_never_reach_the_response(create_handler, auth):
    _, headers, body = call(create_handler, fc_event("POST", "/v1/videos", BODY, auth()))
    text = json.dumps(body) + json.dumps(headers)
    assert TEST_KEY_SECRET not in text and TEST_KEY_ID not in text
