"""A function's two entry points, called the way Function Compute and API Gateway call them."""

from __future__ import annotations

import base64
import io
import json
from types import SimpleNamespace

import pytest

from tests.conftest import TEST_KEY_ID, TEST_KEY_SECRET
from upload_broker.runtime import Broker, entry_points

BODY = json.dumps({"Title": "t", "FileName": "a.mp4"}).encode()


@pytest.fixture
def video_handlers(config, broker):
    from functions.create_upload_video.operation import operation as create
    from functions.refresh_upload_video.operation import operation as refresh

    return entry_points(create, broker=broker), entry_points(refresh, broker=broker)


def wsgi_call(handler, method, path, body=b"", headers=None, context=None):
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "wsgi.input": io.BytesIO(body),
               "CONTENT_LENGTH": str(len(body)), "CONTENT_TYPE": "application/json", "REMOTE_ADDR": "10.0.0.9"}
    for name, value in (headers or {}).items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    if context is not None:
        environ["fc.context"] = context
    seen = {}
    chunks = handler(environ, lambda status, hdrs: seen.update(status=status, headers=dict(hdrs)))
    body = b"".join(chunks)
    return int(seen["status"].split()[0]), seen["headers"], json.loads(body) if body else None


def test_wsgi_handler_creates_a_video(video_handlers, auth, fake_vod):
    (handler, _), _ = video_handlers
    status, headers, body = wsgi_call(handler, "POST", "/v1/videos", BODY, auth())
    assert status == 200 and body["VideoId"] in fake_vod.videos
    assert headers["Cache-Control"] == "no-store" and int(headers["Content-Length"]) > 0


def test_wsgi_handler_uses_the_fc_request_id_and_proxy_path(video_handlers, auth):
    (handler, _), _ = video_handlers
    context = SimpleNamespace(request_id="fc-req-1", credentials=None)
    status, headers, body = wsgi_call(handler, "POST", "/2016-08-15/proxy/upload-broker/create-upload-video/v1/videos",
                                      BODY, auth(), context)
    assert status == 200 and headers["X-Request-Id"] == "fc-req-1"


def test_fc_role_credentials_from_the_context_are_used_when_env_has_none(fake_vod, config, auth):
    from dataclasses import replace

    from functions.create_upload_video.operation import operation

    fake_vod.add_access_key("STS.role-key", ("role-secret", "role-token"))
    broker = Broker(replace(config, credentials=None))
    handler, _ = entry_points(operation, broker=broker)
    context = SimpleNamespace(request_id="r", credentials=SimpleNamespace(
        access_key_id="STS.role-key", access_key_secret="role-secret", security_token="role-token"))

    status, _, body = wsgi_call(handler, "POST", "/v1/videos", BODY, auth(), context)

    assert status == 200, body
    sent = fake_vod.last_call("CreateUploadVideo")
    assert sent["AccessKeyId"] == "STS.role-key" and sent["SecurityToken"] == "role-token"


def test_no_credentials_anywhere_is_a_clear_502(config, auth, fake_vod):
    from dataclasses import replace

    from functions.create_upload_video.operation import operation

    handler, _ = entry_points(operation, broker=Broker(replace(config, credentials=None)))
    status, _, body = wsgi_call(handler, "POST", "/v1/videos", BODY, auth(), SimpleNamespace(request_id="r"))
    assert (status, body["Code"]) == (502, "UpstreamError")
    assert fake_vod.call_count() == 0


def test_event_handler_speaks_api_gateway(video_handlers, auth, fake_vod):
    (_, event_handler), (_, refresh_event_handler) = video_handlers
    event = {"path": "/v1/videos", "httpMethod": "POST", "headers": {**auth(), "Content-Type": "application/json"},
             "queryParameters": {}, "pathParameters": {}, "body": base64.b64encode(BODY).decode(),
             "isBase64Encoded": True}

    result = json.loads(event_handler(json.dumps(event).encode(), SimpleNamespace(request_id="gw-1")))

    assert result["statusCode"] == 200 and result["isBase64Encoded"] is False
    assert result["headers"]["X-Request-Id"] == "gw-1"
    video_id = json.loads(result["body"])["VideoId"]

    refresh = {"path": "/v1/videos/[VideoId]/refresh", "httpMethod": "POST", "headers": auth(),
               "pathParameters": {"VideoId": video_id}, "body": "", "isBase64Encoded": "false"}
    refreshed = json.loads(refresh_event_handler(json.dumps(refresh), None))
    assert refreshed["statusCode"] == 200
    assert json.loads(refreshed["body"])["VideoId"] == video_id


@pytest.mark.parametrize("event", [b"not json", b"[1,2]", b"\xff\xfe"])
def test_a_malformed_event_is_a_400_not_a_crash(video_handlers, event):
    (_, event_handler), _ = video_handlers
    result = json.loads(event_handler(event, None))
    assert result["statusCode"] == 400
    assert json.loads(result["body"])["Code"] == "InvalidJSON"


def test_oversize_body_is_refused_before_it_is_read(video_handlers, auth):
    (handler, _), _ = video_handlers

    class Unreadable(io.BytesIO):
        def read(self, *args):
            raise AssertionError("the body must not be read")

    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/v1/videos", "wsgi.input": Unreadable(),
               "CONTENT_LENGTH": str(10 * 1024 * 1024), "CONTENT_TYPE": "application/json",
               "HTTP_AUTHORIZATION": auth()["Authorization"]}
    seen = {}
    body = b"".join(handler(environ, lambda status, headers: seen.update(status=status)))
    assert seen["status"].startswith("413") and json.loads(body)["Code"] == "PayloadTooLarge"


def test_server_credentials_never_reach_the_response(video_handlers, auth):
    (handler, _), _ = video_handlers
    _, _, body = wsgi_call(handler, "POST", "/v1/videos", BODY, auth())
    assert TEST_KEY_SECRET not in json.dumps(body) and TEST_KEY_ID not in json.dumps(body)
