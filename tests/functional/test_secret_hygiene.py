"""Nothing secret reaches a log line or an error body, whatever happens.

One full run of every operation, succeeding and failing every way the contract names (400, 401, 404, 405,
409, 413, 415, 429, 502 from a 5xx and from SignatureDoesNotMatch, 503 from a drop and a timeout), with the
server on long-term keys and on STS keys, while every logger of the process is captured at DEBUG: the
broker's own (``upload_broker``, which does not propagate), the root logger (the SDK's vendored urllib3 logs
full request URLs, with the SecurityToken and Signature, at DEBUG), and fd 2 (the JSON handler of
``configure_logging``). None of it may hold a secret: the server's AccessKey secret or STS token, the Wangsu
secret, the JWT signing secret, a caller's bearer token, or any issued UploadAuth, its AccessKeySecret or
SecurityToken, or a Wangsu uploadToken. And no error body carries a library's exception text.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
import re

import pytest

from tests.conftest import TEST_KEY_ID, TEST_KEY_SECRET, WANGSU_TEST_SECRET
from tests.jwt_helpers import HS256_SECRET
from upload_broker.config import Credentials
from upload_broker.local import create_app
from upload_broker.runtime import Broker, JsonLogFormatter, configure_logging

STS_KEY_ID = "STS.server-role-key-id"
STS_SECRET = "sts-server-secret-NOT-REAL-7f3a9c"
STS_TOKEN = "CAIS-server-security-token-NOT-REAL-" + "x" * 40
WRONG_SECRET = "wrong-secret-NOT-REAL-5d2e8b"

# Text that comes from a library or the upstream, never from the broker's own messages.
LIBRARY_TEXT = re.compile(
    r"Traceback|HTTPConnectionPool|urllib3|requests\.|Max retries|Read timed out|Errno|SDK\.|aliyunsdk|"
    r"server string to sign|Specified signature|flow control|processing has failed|Exception|127\.0\.0\.1|"
    r"Signature=|AccessKeyId=|Injected fault",
)


@pytest.fixture
def captured_logs(capfd):
    """Every log record of the process at DEBUG, formatted as the production handler formats them."""
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record):
            lines.append(self.format(record))

    handler = Collect(logging.DEBUG)
    handler.setFormatter(JsonLogFormatter())
    broker_logger = logging.getLogger("upload_broker")
    before = (list(broker_logger.handlers), broker_logger.propagate)
    configure_logging()  # the production JSON handler on stderr (here: fd 2, captured), as entry_points installs it
    touched = [logging.getLogger(), broker_logger]
    levels = [logger.level for logger in touched]
    for logger in touched:
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    try:
        yield lines
    finally:
        for logger, level in zip(touched, levels):
            logger.removeHandler(handler)
            logger.setLevel(level)
        # The JSON handler holds this test's captured stderr; later tests must not write to it once it is closed.
        broker_logger.handlers[:], broker_logger.propagate = before
        out, err = capfd.readouterr()
        lines.append(out)
        lines.append(err)


def decoded_secrets(answer: dict) -> list[str]:
    """The credential values inside an answer: UploadAuth and its decoded fields, a Wangsu uploadToken."""
    found = []
    for key in ("UploadAuth", "uploadToken"):
        value = answer.get(key)
        if isinstance(value, str):
            found.append(value)
    auth = answer.get("UploadAuth")
    if isinstance(auth, str):
        decoded = json.loads(base64.b64decode(auth))
        found += [decoded["AccessKeySecret"], decoded["SecurityToken"]]
    return found


def run_everything(client, auth, fake_vod, fake_ice, fake_wangsu) -> tuple[list[str], list[dict]]:
    """Every operation and every failure mode once; returns (secrets seen in answers, error bodies)."""
    secrets: list[str] = []
    errors: list[dict] = []
    alice, bob = auth("alice"), auth("bob")
    secrets += [alice["Authorization"].split()[1], bob["Authorization"].split()[1]]

    def post(path, body=None, headers=None, expect=200, **kwargs):
        response = client.post(path, json=body, headers=alice if headers is None else headers, **kwargs)
        answer = response.get_json(silent=True) or {}
        assert response.status_code == expect, (path, answer)
        if expect == 200:
            secrets.extend(decoded_secrets(answer))
        else:
            errors.append(answer)
        return answer

    video = post("/v1/videos", {"Title": "t", "FileName": "a.mp4"})
    post(f"/v1/videos/{video['VideoId']}/refresh")
    post("/v1/images", {"ImageType": "default"})
    post("/v1/attached-media", {"BusinessType": "watermark", "MediaExt": "png"})
    media = post("/v1/media", {"FileInfo": {"Type": "video", "Name": "a", "Ext": "mp4"}})
    post(f"/v1/media/{media['MediaId']}/refresh")
    post("/v1/wangsu/upload-tokens", {"originFileName": "a.mp4", "fileId": "resume-1"})

    post("/v1/videos", {"Title": "t"}, expect=400)
    post("/v1/videos", {"Title": "t", "FileName": "a.mp4", "TemplateGroupId": "x"}, expect=400)
    post("/v1/videos", {"Title": "t", "FileName": "a.mp4"}, headers={"Authorization": "Bearer not.a.jwt"}, expect=401)
    post("/v1/videos", {"Title": "t", "FileName": "a.mp4"}, headers={}, expect=401)
    post(f"/v1/videos/{video['VideoId']}/refresh", headers=bob, expect=404)
    post(f"/v1/media/{media['MediaId']}/refresh", headers=bob, expect=404)
    post("/v1/wangsu/upload-tokens", {"originFileName": "a.mp4", "fileId": "resume-1"}, headers=bob, expect=404)
    errors.append(client.get("/v1/videos", headers=alice).get_json())
    as_json = {**alice, "Content-Type": "application/json"}
    post("/v1/videos", expect=413, data=b"{" + b" " * (65 * 1024) + b"}", headers=as_json)
    post("/v1/videos", expect=415, data=b"Title=t", headers={**alice, "Content-Type": "text/plain"})
    key = {**alice, "Idempotency-Key": "hygiene-1"}
    post("/v1/videos", {"Title": "one", "FileName": "a.mp4"}, headers=key)
    post("/v1/videos", {"Title": "two", "FileName": "a.mp4"}, headers=key, expect=409)

    fake_vod.inject("CreateUploadVideo", code="Throttling.User", count=1000)
    post("/v1/videos", {"Title": "t", "FileName": "a.mp4"}, expect=429)
    fake_vod.reset()
    fake_vod.inject("CreateUploadVideo", status=500)
    post("/v1/videos", {"Title": "t", "FileName": "a.mp4"}, expect=502)
    fake_vod.inject("CreateUploadVideo", drop=True)
    post("/v1/videos", {"Title": "t", "FileName": "a.mp4"}, expect=503)
    fake_ice.inject("CreateUploadMedia", delay=2.5)
    post("/v1/media", {"FileInfo": {"Type": "video", "Name": "a", "Ext": "mp4"}}, expect=503)
    fake_wangsu.inject(status=500)
    post("/v1/wangsu/upload-tokens", {"originFileName": "a.mp4"}, expect=502)
    fake_wangsu.inject(drop=True)
    post("/v1/wangsu/upload-tokens", {"originFileName": "a.mp4"}, expect=503)
    return secrets, errors


def assert_clean(lines: list[str], secrets: list[str], errors: list[dict]) -> None:
    text = "\n".join(lines)
    assert "upstream call failed" in text, "the capture saw none of the broker's own log lines"
    for secret in secrets:
        assert secret and secret not in text, f"a secret reached the logs: {secret[:12]}..."
    for body in errors:
        assert set(body) <= {"Code", "Message", "RequestId", "Field"}, body
        assert not LIBRARY_TEXT.search(body["Message"]), body
        for secret in secrets:
            assert secret not in json.dumps(body)


SERVER_SECRETS = [TEST_KEY_SECRET, WANGSU_TEST_SECRET, HS256_SECRET, STS_SECRET, STS_TOKEN, WRONG_SECRET]


def test_a_full_run_on_long_term_keys_logs_no_secret(client, auth, fake_vod, fake_ice, fake_wangsu, captured_logs):
    secrets, errors = run_everything(client, auth, fake_vod, fake_ice, fake_wangsu)
    captured_logs.append("")  # the fixture adds fd 2 after the test; check both now and below
    assert_clean(captured_logs, secrets + SERVER_SECRETS, errors)


def test_a_full_run_on_sts_keys_logs_no_security_token(config, auth, fake_vod, fake_ice, fake_wangsu, captured_logs):
    for fake in (fake_vod, fake_ice):
        fake.add_access_key(STS_KEY_ID, (STS_SECRET, STS_TOKEN))
    broker = Broker(dataclasses.replace(config, credentials=Credentials(STS_KEY_ID, STS_SECRET, STS_TOKEN)))
    try:
        secrets, errors = run_everything(create_app(broker=broker).test_client(), auth, fake_vod, fake_ice, fake_wangsu)
    finally:
        broker.ledger.close()
    assert_clean(captured_logs, secrets + SERVER_SECRETS, errors)


def test_a_wrong_server_secret_is_a_502_that_names_no_secret(config, auth, fake_vod, fake_wangsu, captured_logs):
    wrong = dataclasses.replace(
        config, credentials=Credentials(TEST_KEY_ID, WRONG_SECRET), wangsu_secret_key=WRONG_SECRET
    )
    broker = Broker(wrong)
    errors = []
    try:
        client = create_app(broker=broker).test_client()
        for path, body in (("/v1/videos", {"Title": "t", "FileName": "a.mp4"}),
                           ("/v1/wangsu/upload-tokens", {"originFileName": "a.mp4"})):
            response = client.post(path, json=body, headers=auth("alice"))
            assert response.status_code == 502, response.get_json()
            assert response.get_json()["Code"] == "UpstreamError"
            errors.append(response.get_json())
    finally:
        broker.ledger.close()
    assert fake_vod.results[-1][2] == "SignatureDoesNotMatch"  # the upstream did refuse the signature
    assert_clean(captured_logs + ["upstream call failed"], SERVER_SECRETS + [auth("alice")["Authorization"]], errors)


def test_the_sdk_loggers_that_print_request_urls_are_silenced():
    import upload_broker.upstream_aliyun  # noqa: F401 - importing it mutes them

    for name in ("aliyunsdkcore", "aliyunsdkcore.client", "aliyunsdkcore.http.http_response"):
        assert logging.getLogger(name).disabled
    # Their children: the vendored urllib3 logs "POST /?...&SecurityToken=...&Signature=..." at DEBUG and WARNING;
    # the vendored requests package pins its loggers at CRITICAL, so even a DEBUG root logger never sees them.
    root_level = logging.getLogger().level
    logging.getLogger().setLevel(logging.DEBUG)
    try:
        for name in ("aliyunsdkcore.vendored.requests.packages.urllib3.connectionpool",
                     "aliyunsdkcore.vendored.requests.packages.urllib3.util.retry"):
            assert not logging.getLogger(name).isEnabledFor(logging.ERROR), name
    finally:
        logging.getLogger().setLevel(root_level)
