"""WangsuClient against FakeWangsu: a real HTTP server that checks the real V3 signature.

Each upstream answer the broker can get is produced by the fake (by its own validation, or by an injected
fault) and must come out as exactly one broker error.
"""

from __future__ import annotations

import socket
import time
from datetime import datetime, timedelta, timezone

import pytest
import requests

from tests.fakes.wangsu import FakeWangsu
from upload_broker.errors import InvalidParameter, Throttling, UpstreamError, UpstreamUnavailable
from upload_broker.upstream_wangsu import PARAMETER_ERRORS, WangsuClient, decode_put_policy_deadline

ACCESS_KEY = "AK-broker-test"
SECRET_KEY = "SK-very-secret-do-not-leak-0123456789"
CREDENTIALS_REFUSED = "The upstream refused the broker's credentials."
FAILED = "Wangsu Cloud VoD failed to issue an upload token."
THROTTLED = "Wangsu Cloud VoD is throttling requests; retry after the time in Retry-After."


@pytest.fixture
def fake():
    with FakeWangsu({ACCESS_KEY: SECRET_KEY}) as server:
        yield server


@pytest.fixture
def client(fake):
    with WangsuClient(ACCESS_KEY, SECRET_KEY, fake.url, connect_timeout=1.0, read_timeout=2.0) as wangsu:
        yield wangsu


def _refused(exc: BaseException) -> None:
    """Whatever went wrong, the message never carries the secret or the signature."""
    text = f"{exc} {exc!r}"
    assert SECRET_KEY not in text
    assert "WS3-HMAC" not in text and "Signature=" not in text


# --- happy path ------------------------------------------------------------------------------------


def test_issues_an_upload_token(fake, client):
    data = client.get_upload_token({"originFileName": "uploadtest.mp4", "categoryNames": None})

    assert set(data) >= {"videoId", "uploadUrl", "uploadToken", "fileKey", "bucketName", "httpDnsServer"}
    assert len(data["videoId"]) == 32 and int(data["videoId"], 16) >= 0
    assert data["uploadToken"].startswith(ACCESS_KEY + ":")
    expires = decode_put_policy_deadline(data["uploadToken"])
    assert abs(expires - (datetime.now(timezone.utc) + timedelta(hours=1))) < timedelta(seconds=5)

    (call,) = fake.calls
    assert call.method == "POST" and call.path == "/vod/videoManage/getUploadToken"
    assert call.headers["content-type"] == "application/json; charset=utf-8"
    assert call.params == {"originFileName": "uploadtest.mp4"}  # None values are not sent
    assert call.headers["authorization"].startswith(
        f"WS3-HMAC-SHA256 Credential={ACCESS_KEY}, SignedHeaders=content-type;host, Signature="
    )
    assert call.status == 200


def test_non_ascii_file_names_are_signed_over_their_utf8_bytes(fake, client):
    data = client.get_upload_token({"originFileName": "测试视频.mp4"})
    assert data["videoId"]
    assert fake.calls[0].params == {"originFileName": "测试视频.mp4"}


def test_a_file_id_resume_returns_the_same_video(fake, client):
    first = client.get_upload_token({"originFileName": "a.mp4", "fileId": "breakpoint-1"})
    again = client.get_upload_token({"originFileName": "a.mp4", "fileId": "breakpoint-1"})
    other = client.get_upload_token({"originFileName": "a.mp4", "fileId": "breakpoint-2"})
    overwritten = client.get_upload_token({"originFileName": "a.mp4", "fileId": "breakpoint-1", "overwrite": 1})

    assert again["videoId"] == first["videoId"] and again["fileKey"] == first["fileKey"]
    assert other["videoId"] != first["videoId"]
    assert overwritten["videoId"] != first["videoId"]


def test_without_a_file_id_every_call_is_a_new_video(client):
    ids = {client.get_upload_token({"originFileName": "a.mp4"})["videoId"] for _ in range(3)}
    assert len(ids) == 3


def test_keep_alive_reuses_one_connection(fake, client):
    for _ in range(4):
        client.get_upload_token({"originFileName": "a.mp4"})
    assert fake.call_count() == 4
    assert fake.connection_count == 1
    assert {c.connection_id for c in fake.calls} == {1}


# --- the error matrix ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "upstream_code", "field"),
    [
        ({"originFileName": "x" * 37 + ".mp4"}, 1500, "originFileName"),
        ({}, 1606, "originFileName"),
        ({"originFileName": "  "}, 1606, "originFileName"),
        ({"originFileName": "a.mp4", "overwrite": 2}, 1608, "overwrite"),
        # overwrite is an Integer (API Center, documents.cdnetworks.com/document/api-doc/26505): in a JSON body the
        # string "1" is not 0 or 1, so the broker must send the number.
        ({"originFileName": "a.mp4", "overwrite": "1"}, 1608, "overwrite"),
        ({"originFileName": "a.mp4", "overwrite": True}, 1608, "overwrite"),
        ({"originFileName": "a.mp4", "fileMd5": ""}, 1604, "fileMd5"),
        ({"originFileName": "a.mp4", "fileMd5": "0" * 33}, 1605, "fileMd5"),
        ({"originFileName": "a.mp4", "fileSize": "-1"}, 1609, "fileSize"),
        ({"originFileName": "a.mp4", "fileSize": 1.5}, 1609, "fileSize"),
        ({"originFileName": "a.mp4", "fileSize": 10**15}, 1610, "fileSize"),
    ],
)
def test_documented_parameter_errors_name_the_field(fake, client, params, upstream_code, field):
    with pytest.raises(InvalidParameter) as caught:
        client.get_upload_token(params)
    assert fake.calls[0].response["code"] == upstream_code  # the fake's own validation produced it
    assert (caught.value.status, caught.value.code, caught.value.field) == (400, "InvalidParameter", field)
    assert caught.value.message.endswith(f"(Wangsu code {upstream_code}).")  # the number, never as the Code
    assert caught.value.upstream_request_id
    _refused(caught.value)


def test_overwrite_goes_as_a_json_number(fake, client):
    client.get_upload_token({"originFileName": "a.mp4", "fileId": "f1", "overwrite": 1})
    assert b'"overwrite":1' in fake.calls[0].body and fake.calls[0].params["overwrite"] == 1


@pytest.mark.parametrize("code", sorted(PARAMETER_ERRORS))
def test_every_documented_code_is_the_callers_fault_and_says_its_number(fake, client, code):
    fake.inject(code=code)
    with pytest.raises(InvalidParameter) as caught:
        client.get_upload_token({"originFileName": "a.mp4"})
    assert (caught.value.status, caught.value.code, caught.value.field) == (400, "InvalidParameter",
                                                                           PARAMETER_ERRORS[code][0])
    assert f"Wangsu code {code}" in caught.value.message


@pytest.mark.parametrize("code", [1501, 1555, 1599, 1603, 1611, 1000, 1004, 1301, 500, 0, -1])
def test_an_undocumented_code_is_an_upstream_error_not_the_callers_fault(fake, client, code):
    fake.inject(code=code)
    with pytest.raises(UpstreamError) as caught:
        client.get_upload_token({"originFileName": "a.mp4"})
    assert (caught.value.status, caught.value.code, caught.value.message) == (502, "UpstreamError", FAILED)
    assert str(code) not in caught.value.message


@pytest.mark.parametrize(("raw_code", "error"), [('"1500"', InvalidParameter), ('" 1608 "', InvalidParameter),
                                                 ('"\u0661\u0665\u0660\u0660"', UpstreamError),  # Arabic-Indic
                                                 ('"1500; DROP"', UpstreamError), ("1500.0", UpstreamError),
                                                 ("true", UpstreamError), ('"InvalidParameter"', UpstreamError)])
def test_only_a_plain_integer_code_is_read_as_one(fake, client, raw_code, error):
    fake.inject(body=b'{"code": ' + raw_code.encode() + b', "message": "<script>x</script>"}')
    with pytest.raises(error) as caught:
        client.get_upload_token({"originFileName": "a.mp4"})
    assert type(caught.value) is error
    assert "<script>" not in caught.value.message and "DROP" not in caught.value.message


def test_40_characters_is_still_accepted(client):
    assert client.get_upload_token({"originFileName": "x" * 36 + ".mp4"})["videoId"]


@pytest.mark.parametrize(
    ("inject", "error", "status", "code", "field", "message"),
    [
        ({"code": 1607}, InvalidParameter, 400, "InvalidParameter", None,
         "Wangsu Cloud VoD refused the video source (Wangsu code 1607)."),
        # Not in getUploadToken's error table, so not the caller's fault (it was a 400 before).
        ({"code": 1555}, UpstreamError, 502, "UpstreamError", None, FAILED),
        ({"status": 401}, UpstreamError, 502, "UpstreamError", None, CREDENTIALS_REFUSED),
        ({"status": 403}, UpstreamError, 502, "UpstreamError", None, CREDENTIALS_REFUSED),
        ({"code": 403}, UpstreamError, 502, "UpstreamError", None, CREDENTIALS_REFUSED),
        ({"status": 500}, UpstreamError, 502, "UpstreamError", None, FAILED),
        ({"status": 503}, UpstreamError, 502, "UpstreamError", None, FAILED),
        ({"code": 9999}, UpstreamError, 502, "UpstreamError", None, FAILED),
        ({"status": 502, "body": b"<html>Bad Gateway</html>"}, UpstreamError, 502, "UpstreamError", None, FAILED),
        (
            {"status": 200, "code": 200},
            UpstreamError,
            502,
            "UpstreamError",
            None,
            "Wangsu Cloud VoD answered without an upload token.",
        ),
        ({"status": 429, "retry_after": 7}, Throttling, 429, "Throttling", None, THROTTLED),
        ({"code": 429}, Throttling, 429, "Throttling", None, THROTTLED),
    ],
    ids=lambda v: repr(v) if isinstance(v, dict) else None,
)
def test_upstream_answers_map_to_one_broker_error(fake, client, inject, error, status, code, field, message):
    fake.inject(**inject)
    with pytest.raises(error) as caught:
        client.get_upload_token({"originFileName": "a.mp4"})
    exc = caught.value
    assert type(exc) is error
    assert (exc.status, exc.code, exc.field, exc.message) == (status, code, field, message)
    assert fake.call_count() == 1  # none of these is retried
    _refused(exc)


def test_throttling_carries_the_upstream_retry_after(fake, client):
    fake.inject(status=429, retry_after=7)
    with pytest.raises(Throttling) as caught:
        client.get_upload_token({"originFileName": "a.mp4"})
    assert caught.value.retry_after == 7
    assert caught.value.headers() == {"Retry-After": "7"}


def test_throttling_retry_after_is_bounded(fake, client):
    fake.inject(status=429, retry_after=86400)
    with pytest.raises(Throttling) as caught:
        client.get_upload_token({"originFileName": "a.mp4"})
    assert caught.value.retry_after == 60


# --- refused credentials, checked by the fake's real signature verification -------------------------


@pytest.mark.parametrize(
    ("access_key", "secret_key", "clock_offset", "why"),
    [
        (ACCESS_KEY, "the-wrong-secret", 0, "The signature does not match."),
        ("AK-unknown", SECRET_KEY, 0, "The AccessKey does not exist."),
        (ACCESS_KEY, SECRET_KEY, -600, "The request time differs from the server time by more than 5 minutes."),
        (ACCESS_KEY, SECRET_KEY, +600, "The request time differs from the server time by more than 5 minutes."),
    ],
    ids=["wrong-secret", "unknown-key", "clock-10min-slow", "clock-10min-fast"],
)
def test_refused_credentials_are_an_upstream_error(fake, access_key, secret_key, clock_offset, why):
    client = WangsuClient(access_key, secret_key, fake.url, clock=lambda: time.time() + clock_offset)
    with pytest.raises(UpstreamError) as caught:
        client.get_upload_token({"originFileName": "a.mp4"})
    assert (caught.value.status, caught.value.code, caught.value.message) == (502, "UpstreamError", CREDENTIALS_REFUSED)
    assert fake.calls[0].status == 401 and fake.calls[0].response["message"] == why
    assert "the-wrong-secret" not in str(caught.value)
    _refused(caught.value)


def test_a_clock_within_five_minutes_is_accepted(fake):
    client = WangsuClient(ACCESS_KEY, SECRET_KEY, fake.url, clock=lambda: time.time() - 240)
    assert client.get_upload_token({"originFileName": "a.mp4"})["videoId"]


def test_the_fake_rejects_a_tampered_body(fake):
    # The fake really recomputes the signature: same headers, one byte of body changed.
    from upload_broker.upstream_wangsu import sign_headers

    body = b'{"originFileName":"a.mp4"}'
    headers = sign_headers(
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        method="POST",
        uri="/vod/videoManage/getUploadToken",
        host=f"127.0.0.1:{fake.port}",
        body=body,
        timestamp=int(time.time()),
    )
    url = fake.url + "/vod/videoManage/getUploadToken"
    assert requests.post(url, data=body, headers=headers, timeout=2).json()["code"] == 200
    tampered = requests.post(url, data=body.replace(b"a.mp4", b"b.mp4"), headers=headers, timeout=2)
    assert tampered.status_code == 401 and tampered.json()["message"] == "The signature does not match."
    headers.pop("X-WS-Timestamp")
    missing = requests.post(url, data=body, headers=headers, timeout=2)
    assert missing.json() == {"code": 401, "message": "Missing header: x-ws-timestamp"}


@pytest.mark.parametrize(("content_type", "body", "code"), [
    ("application/json; charset=utf-8", b'{"originFileName":"a.mp4","overwrite":1}', 200),
    ("application/json; charset=utf-8", b'{"originFileName":"a.mp4","overwrite":"1"}', 1608),
    ("application/json; charset=utf-8", b'{"originFileName":"a.mp4","overwrite":true}', 1608),
    # The older page's curl example is form-encoded, where every value is text: there "1" is the value.
    ("application/x-www-form-urlencoded; charset=utf-8", b"originFileName=a.mp4&overwrite=1", 200),
    ("application/x-www-form-urlencoded; charset=utf-8", b"originFileName=a.mp4&overwrite=2", 1608),
])
def test_the_fake_takes_overwrite_as_the_integer_the_api_center_documents(fake, content_type, body, code):
    from upload_broker.upstream_wangsu import sign_headers

    headers = sign_headers(access_key=ACCESS_KEY, secret_key=SECRET_KEY, method="POST",
                           uri="/vod/videoManage/getUploadToken", host=f"127.0.0.1:{fake.port}", body=body,
                           timestamp=int(time.time()), content_type=content_type)
    answer = requests.post(fake.url + "/vod/videoManage/getUploadToken", data=body, headers=headers, timeout=2)
    assert answer.json()["code"] == code


# --- time, retries and the budget ------------------------------------------------------------------


def test_a_read_timeout_is_unavailable_and_never_retried(fake):
    client = WangsuClient(ACCESS_KEY, SECRET_KEY, fake.url, connect_timeout=1.0, read_timeout=0.3)
    fake.inject(delay=0.8)
    started = time.monotonic()
    with pytest.raises(UpstreamUnavailable) as caught:
        client.get_upload_token({"originFileName": "a.mp4"})
    assert time.monotonic() - started < 0.8
    assert (caught.value.status, caught.value.code) == (503, "UpstreamUnavailable")
    assert caught.value.headers() == {"Retry-After": "2"}
    _refused(caught.value)

    time.sleep(0.8)  # the slow upstream finishes its work anyway...
    assert len(fake.videos) == 1  # ...and issued a token, which is why a retry would double-issue
    assert fake.call_count() == 1


def test_the_budget_caps_a_long_read_timeout(fake):
    client = WangsuClient(ACCESS_KEY, SECRET_KEY, fake.url, connect_timeout=1.0, read_timeout=5.0)
    fake.inject(delay=1.5)
    started = time.monotonic()
    with pytest.raises(UpstreamUnavailable):
        client.get_upload_token({"originFileName": "a.mp4"}, budget_seconds=0.4)
    assert time.monotonic() - started < 1.0
    assert fake.call_count() == 1


def test_a_spent_budget_makes_no_call(fake, client):
    with pytest.raises(UpstreamUnavailable):
        client.get_upload_token({"originFileName": "a.mp4"}, budget_seconds=0)
    assert fake.call_count(None) == 0


def test_a_dropped_answer_is_unavailable_and_never_retried(fake, client):
    fake.inject(drop=True)
    with pytest.raises(UpstreamUnavailable) as caught:
        client.get_upload_token({"originFileName": "a.mp4"})
    assert caught.value.message == "Wangsu Cloud VoD could not be reached; retry later."
    assert fake.call_count() == 1
    assert len(fake.videos) == 1  # the token was issued; the answer was lost
    # The pool recovers: the next call opens a fresh connection.
    assert client.get_upload_token({"originFileName": "a.mp4"})["videoId"]


class CountingSession(requests.Session):
    """A real session that counts what it sends (nothing else can see a refused connection)."""

    def __init__(self) -> None:
        super().__init__()
        self.sent = 0

    def send(self, request, **kwargs):
        self.sent += 1
        return super().send(request, **kwargs)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_refused_connection_is_retried_once_then_unavailable():
    session = CountingSession()
    client = WangsuClient(ACCESS_KEY, SECRET_KEY, f"http://127.0.0.1:{_closed_port()}", session=session)
    started = time.monotonic()
    with pytest.raises(UpstreamUnavailable) as caught:
        client.get_upload_token({"originFileName": "a.mp4"})
    assert time.monotonic() - started < 2
    assert session.sent == 2
    assert caught.value.message == "Wangsu Cloud VoD could not be reached; retry later."
    _refused(caught.value)


def test_the_retry_after_a_refused_connection_can_succeed(fake):
    # First attempt against a port nobody listens on... then the fake appears on it.
    port = _closed_port()

    class StartsFakeOnFirstSend(CountingSession):
        def send(self, request, **kwargs):
            if self.sent == 1:
                late.start()
            return super().send(request, **kwargs)

    late = FakeWangsu({ACCESS_KEY: SECRET_KEY}, port=port)
    session = StartsFakeOnFirstSend()
    client = WangsuClient(ACCESS_KEY, SECRET_KEY, f"http://127.0.0.1:{port}", session=session)
    try:
        assert client.get_upload_token({"originFileName": "a.mp4"})["videoId"]
    finally:
        late.stop()
    assert session.sent == 2 and late.call_count() == 1


# --- hygiene ---------------------------------------------------------------------------------------


def test_repr_hides_the_secret(client):
    assert SECRET_KEY not in repr(client)
    assert ACCESS_KEY in repr(client)


def test_endpoint_must_be_a_url():
    with pytest.raises(ValueError):
        WangsuClient(ACCESS_KEY, SECRET_KEY, "api.cloudv.haplat.net")
    with pytest.raises(ValueError):
        WangsuClient(ACCESS_KEY, "", "https://api.cloudv.haplat.net")


def test_concurrent_calls_share_the_pool(fake, client):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(lambda _: client.get_upload_token({"originFileName": "a.mp4"})["videoId"], range(16)))
    assert len(set(ids)) == 16
    assert fake.call_count() == 16
    assert fake.connection_count <= 8
