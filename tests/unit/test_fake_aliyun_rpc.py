"""The fake VOD / ICE RPC endpoints, driven by the real Alibaba Cloud SDK over real HTTP (nothing patched).

These tests pin the fake to the service's documented behaviour so the broker's own tests can trust it.
"""

from __future__ import annotations

import base64
import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest
from aliyunsdkcore.acs_exception.exceptions import ClientException, ServerException
from aliyunsdkcore.auth.composer import rpc_signature_composer
from aliyunsdkcore.auth.credentials import StsTokenCredential
from aliyunsdkcore.client import AcsClient
from aliyunsdkcore.request import CommonRequest
from aliyunsdkvod.request.v20170321.CreateUploadAttachedMediaRequest import CreateUploadAttachedMediaRequest
from aliyunsdkvod.request.v20170321.CreateUploadImageRequest import CreateUploadImageRequest
from aliyunsdkvod.request.v20170321.CreateUploadVideoRequest import CreateUploadVideoRequest
from aliyunsdkvod.request.v20170321.RefreshUploadVideoRequest import RefreshUploadVideoRequest

from tests.fakes.aliyun_rpc import FakeAliyun, FakeIce, FakeVod

AK = "LTAI5tFakeBrokerKey01"
SECRET = "fake-broker-secret-01"
STS_AK = "STS.NUFakeRoleCredential01"
STS_SECRET = "fake-sts-secret"
STS_TOKEN = "CAISfaketoken" + "x" * 200
KEYS = {AK: SECRET, STS_AK: (STS_SECRET, STS_TOKEN)}


def b64json(value: str) -> dict:
    return json.loads(base64.b64decode(value))


def client(ak: str = AK, secret: str = SECRET, *, timeout: float = 2) -> AcsClient:
    return AcsClient(ak, secret, "cn-shanghai", auto_retry=False, max_retry_time=0, connect_timeout=1, timeout=timeout)


def send(acs: AcsClient, fake: FakeAliyun, request) -> dict:
    request.set_endpoint(fake.endpoint)
    request.set_protocol_type("http")
    return json.loads(acs.do_action_with_exception(request))


def ice_request(fake: FakeAliyun, action: str, **params: str) -> CommonRequest:
    request = CommonRequest(domain=fake.endpoint, version="2020-11-09", action_name=action)
    request.set_method("POST")
    request.set_protocol_type("http")
    for key, value in params.items():
        request.add_query_param(key, value)
    return request


def video_request(title: str = "My clip", file_name: str = "clip.mp4", **extra: str) -> CreateUploadVideoRequest:
    request = CreateUploadVideoRequest()
    request.set_Title(title)
    request.set_FileName(file_name)
    for key, value in extra.items():
        getattr(request, f"set_{key}")(value)
    return request


def server_error(acs: AcsClient, fake: FakeAliyun, request) -> ServerException:
    with pytest.raises(ServerException) as info:
        send(acs, fake, request)
    return info.value


@pytest.fixture
def vod() -> Iterator[FakeVod]:
    with FakeVod(KEYS) as fake:
        yield fake


@pytest.fixture
def ice() -> Iterator[FakeIce]:
    with FakeIce(KEYS) as fake:
        yield fake


# ---- VOD happy paths -----------------------------------------------------------------------------------------


def test_create_upload_video_returns_documented_fields_and_records_issued_credential() -> None:
    # The fake's clock runs 10 minutes ahead: still inside the signature window, and visibly the clock that
    # ExpireUTCTime is computed from.
    with FakeVod(KEYS, clock=lambda: time.time() + 600, credential_lifetime=3000) as fake:
        body = send(
            client(),
            fake,
            video_request("Cat", "D:\\videos\\cat.MOV", UserData='{"Extend":{"k":"v"}}', TemplateGroupId="tg-1"),
        )
    assert set(body) == {"RequestId", "VideoId", "UploadAddress", "UploadAuth"}
    assert re.fullmatch(r"[0-9a-f]{32}", body["VideoId"])
    assert re.fullmatch(r"[0-9A-F]{8}(-[0-9A-F]{4}){3}-[0-9A-F]{12}", body["RequestId"])

    address = b64json(body["UploadAddress"])
    assert list(address) == ["Endpoint", "Bucket", "FileName"]
    assert address["Endpoint"] == "https://oss-cn-shanghai.aliyuncs.com"
    assert re.fullmatch(r"outin-[0-9a-f]{32}", address["Bucket"])
    assert re.fullmatch(r"sv/([0-9a-f]{8}-[0-9a-f]{11})/\1\.mov", address["FileName"])  # keeps the real extension

    auth = b64json(body["UploadAuth"])
    assert list(auth) == ["SecurityToken", "AccessKeyId", "ExpireUTCTime", "AccessKeySecret", "Expiration", "Region"]
    assert auth["AccessKeyId"].startswith("STS.") and len(auth["AccessKeyId"]) == 29
    assert auth["Expiration"] == "3000" and auth["Region"] == "cn-shanghai"
    expires = datetime.strptime(auth["ExpireUTCTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    assert abs(expires.timestamp() - (time.time() + 600 + 3000)) < 5

    issued = fake.issued_credentials[auth["AccessKeyId"]]
    assert issued["secret"] == auth["AccessKeySecret"] and issued["token"] == auth["SecurityToken"]
    assert (issued["bucket"], issued["file_name"]) == (address["Bucket"], address["FileName"])
    assert issued["resource_id"] == body["VideoId"]
    assert fake.get(body["VideoId"]).status == "Uploading"

    # What the upstream received, operator fields included.
    assert fake.call_count("CreateUploadVideo") == 1
    received = fake.last_call("CreateUploadVideo")
    assert received["Title"] == "Cat" and received["UserData"] == '{"Extend":{"k":"v"}}'
    assert received["TemplateGroupId"] == "tg-1" and received["AccessKeyId"] == AK


def test_refresh_keeps_upload_address_and_issues_a_new_credential(vod: FakeVod) -> None:
    acs = client()
    created = send(acs, vod, video_request())
    refresh = RefreshUploadVideoRequest()
    refresh.set_VideoId(created["VideoId"])
    refreshed = send(acs, vod, refresh)
    assert set(refreshed) == {"RequestId", "VideoId", "UploadAddress", "UploadAuth"}
    assert refreshed["VideoId"] == created["VideoId"]
    assert b64json(refreshed["UploadAddress"]) == b64json(created["UploadAddress"])
    old, new = b64json(created["UploadAuth"])["AccessKeyId"], b64json(refreshed["UploadAuth"])["AccessKeyId"]
    assert old != new and {old, new} <= set(vod.issued_credentials)
    assert vod.credential_for(created["VideoId"])["AccessKeyId"] == new


def test_refresh_unknown_video_is_404_and_damaged_video_is_400(vod: FakeVod) -> None:
    acs = client()
    refresh = RefreshUploadVideoRequest()
    refresh.set_VideoId("0" * 32)
    err = server_error(acs, vod, refresh)
    assert (err.get_http_status(), err.get_error_code(), err.get_error_msg()) == (
        404,
        "InvalidVideo.NotFound",
        "The video not exist.",
    )

    seeded = vod.create_video(title="seed")
    vod.mark_damaged(seeded["VideoId"])
    refresh = RefreshUploadVideoRequest()
    refresh.set_VideoId(seeded["VideoId"])
    err = server_error(acs, vod, refresh)
    assert (err.get_http_status(), err.get_error_code(), err.get_error_msg()) == (
        400,
        "InvalidVideo.Damaged",
        "The video has been Damaged.",
    )


def test_create_upload_image(vod: FakeVod) -> None:
    request = CreateUploadImageRequest()
    request.set_ImageType("default")
    request.set_Title("poster")
    body = send(client(), vod, request)
    assert set(body) == {"RequestId", "ImageId", "ImageURL", "FileURL", "UploadAddress", "UploadAuth"}
    key = b64json(body["UploadAddress"])["FileName"]
    assert re.fullmatch(r"image/default/[0-9A-F]{32}-6-2\.png", key)  # ImageExt defaults to png
    assert body["FileURL"] == f"https://{vod.default_bucket}.oss-cn-shanghai.aliyuncs.com/{key}"

    cover = CreateUploadImageRequest()
    cover.set_ImageType("cover")
    cover.set_ImageExt("jpg")
    cover.set_StorageLocation("outin-mine.oss-cn-shanghai.aliyuncs.com")
    body = send(client(), vod, cover)
    address = b64json(body["UploadAddress"])
    assert address["FileName"].startswith("image/cover/") and address["FileName"].endswith(".jpg")
    assert address["Bucket"] == "outin-mine"

    bad = CreateUploadImageRequest()
    bad.set_ImageType("banner")
    err = server_error(client(), vod, bad)
    assert (err.get_http_status(), err.get_error_code()) == (400, "InvalidParameter")


def test_create_upload_attached_media(vod: FakeVod) -> None:
    request = CreateUploadAttachedMediaRequest()
    request.set_BusinessType("subtitle")
    request.set_MediaExt("vtt")
    request.set_Title("en subtitles")
    body = send(client(), vod, request)
    assert set(body) == {"RequestId", "MediaId", "MediaURL", "FileURL", "UploadAddress", "UploadAuth"}
    assert b64json(body["UploadAddress"])["FileName"].endswith(".vtt")
    assert body["MediaId"] in vod.attached_media

    wrong_ext = CreateUploadAttachedMediaRequest()
    wrong_ext.set_BusinessType("watermark")
    wrong_ext.set_MediaExt("srt")
    assert server_error(client(), vod, wrong_ext).get_error_code() == "InvalidParameter"


def test_upstream_limits_title_bytes_and_missing_fields(vod: FakeVod) -> None:
    acs = client()
    ok = send(acs, vod, video_request(title="视" * 42 + "ab"))  # 126 + 2 = 128 bytes: allowed
    assert ok["VideoId"]
    err = server_error(acs, vod, video_request(title="视" * 43))  # 129 bytes
    assert (err.get_http_status(), err.get_error_code()) == (400, "InvalidParameter")
    assert "Title" in err.get_error_msg()
    err = server_error(acs, vod, video_request(file_name="notes.txt"))
    assert (err.get_http_status(), err.get_error_code()) == (400, "InvalidParameter")
    err = server_error(acs, vod, video_request(Tags=",".join(f"t{i}" for i in range(17))))
    assert err.get_error_code() == "InvalidParameter"

    no_title = CreateUploadVideoRequest()
    no_title.set_FileName("a.mp4")
    err = server_error(acs, vod, no_title)
    assert (err.get_http_status(), err.get_error_code()) == (400, "MissingParameter")
    assert '"Title"' in err.get_error_msg()


# ---- ICE -----------------------------------------------------------------------------------------------------


def test_ice_create_and_refresh_upload_media(ice: FakeIce) -> None:
    acs = client()
    file_info = json.dumps({"Type": "video", "Name": "intro", "Size": 1024, "Ext": "mkv"})
    meta = json.dumps({"Title": "Intro", "BusinessType": "opening"})
    created = json.loads(
        acs.do_action_with_exception(ice_request(ice, "CreateUploadMedia", FileInfo=file_info, MediaMetaData=meta))
    )
    assert set(created) == {"RequestId", "MediaId", "MediaURL", "FileURL", "UploadAddress", "UploadAuth"}
    assert b64json(created["UploadAddress"])["FileName"].endswith(".mkv")
    assert ice.last_call("CreateUploadMedia")["FileInfo"] == file_info
    assert ice.last_call()["Version"] == "2020-11-09"

    refreshed = json.loads(
        acs.do_action_with_exception(ice_request(ice, "RefreshUploadMedia", MediaId=created["MediaId"]))
    )
    assert set(refreshed) == {"RequestId", "MediaId", "UploadAddress", "UploadAuth"}
    assert b64json(refreshed["UploadAddress"]) == b64json(created["UploadAddress"])

    with pytest.raises(ServerException) as info:
        acs.do_action_with_exception(ice_request(ice, "RefreshUploadMedia", MediaId="f" * 32))
    assert (info.value.get_http_status(), info.value.get_error_code()) == (404, "ResourceNotFound")

    with pytest.raises(ServerException) as info:
        acs.do_action_with_exception(ice_request(ice, "CreateUploadMedia"))
    assert info.value.get_error_code() == "MissingParameter"
    with pytest.raises(ServerException) as info:
        acs.do_action_with_exception(ice_request(ice, "CreateUploadMedia", FileInfo='{"Type":"video"}'))
    assert info.value.get_error_code() == "InvalidParameter"


def test_wrong_api_version_and_unknown_action(vod: FakeVod) -> None:
    acs = client()
    # An ICE call (Version 2020-11-09) sent to the VOD endpoint.
    with pytest.raises(ServerException) as info:
        acs.do_action_with_exception(ice_request(vod, "CreateUploadMedia", FileInfo="{}"))
    assert (info.value.get_http_status(), info.value.get_error_code()) == (400, "InvalidVersion")

    unknown = CommonRequest(domain=vod.endpoint, version="2017-03-21", action_name="DeleteEverything")
    unknown.set_method("POST")
    unknown.set_protocol_type("http")
    with pytest.raises(ServerException) as info:
        acs.do_action_with_exception(unknown)
    assert (info.value.get_http_status(), info.value.get_error_code()) == (404, "InvalidAction.NotFound")


# ---- authentication --------------------------------------------------------------------------------------------


def test_wrong_secret_is_signature_mismatch_with_the_sdks_own_string_to_sign(vod: FakeVod) -> None:
    err = server_error(client(secret="not-the-secret"), vod, video_request())
    # The fake answers SignatureDoesNotMatch with "server string to sign is:<sts>"; the SDK turns it into
    # InvalidAccessKeySecret only when that string equals its own, which proves the fake canonicalises exactly
    # as the SDK signs.
    assert err.get_http_status() == 400
    assert err.get_error_code() == "InvalidAccessKeySecret"
    assert vod.results[-1] == ("CreateUploadVideo", 400, "SignatureDoesNotMatch")
    assert not vod.videos


def test_unknown_access_key_is_404(vod: FakeVod) -> None:
    err = server_error(client(ak="LTAI5tNobodyKnowsMe"), vod, video_request())
    assert (err.get_http_status(), err.get_error_code(), err.get_error_msg()) == (
        404,
        "InvalidAccessKeyId.NotFound",
        "Specified access key is not found.",
    )


def _post_signed(fake: FakeAliyun, url_path: str) -> tuple[int, dict]:
    request = urllib.request.Request(fake.url + url_path, data=b"", method="POST")
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_reused_nonce_is_rejected(vod: FakeVod) -> None:
    # Sign once with the SDK's own composer, then replay the identical signed URL.
    params = {"Action": "CreateUploadVideo", "Version": "2017-03-21", "Title": "t", "FileName": "a.mp4"}
    url_path, _ = rpc_signature_composer.get_signed_url(params, AK, SECRET, "JSON", "POST", {})
    status, body = _post_signed(vod, url_path)
    assert status == 200 and body["VideoId"]
    status, body = _post_signed(vod, url_path)
    assert (status, body["Code"], body["Message"]) == (
        400,
        "SignatureNonceUsed",
        "Specified signature nonce was used already.",
    )
    assert set(body) == {"RequestId", "HostId", "Code", "Message", "Recommend"}
    assert body["HostId"] == "vod.cn-shanghai.aliyuncs.com"
    assert len(vod.videos) == 1


def test_timestamp_more_than_15_minutes_off_is_expired() -> None:
    with FakeVod(KEYS, clock=lambda: time.time() + 16 * 60) as fake:
        err = server_error(client(), fake, video_request())
        assert (err.get_http_status(), err.get_error_code()) == (400, "InvalidTimeStamp.Expired")
        fake.clock = lambda: time.time() - 14 * 60  # inside the window either side
        assert send(client(), fake, video_request())["VideoId"]


def test_malformed_timestamp_and_missing_common_param(vod: FakeVod) -> None:
    params = {"Action": "CreateUploadVideo", "Version": "2017-03-21", "Title": "t", "FileName": "a.mp4"}
    url_path, _ = rpc_signature_composer.get_signed_url(params, AK, SECRET, "JSON", "POST", {})
    status, body = _post_signed(vod, re.sub(r"Timestamp=[^&]+", "Timestamp=yesterday", url_path))
    assert (status, body["Code"]) == (400, "InvalidTimeStamp.Format")
    status, body = _post_signed(vod, re.sub(r"&?SignatureNonce=[^&]+", "", url_path))
    assert (status, body["Code"]) == (400, "MissingParameter")
    assert "SignatureNonce" in body["Message"]


def test_sts_credentials(vod: FakeVod) -> None:
    sts_client = AcsClient(
        region_id="cn-shanghai",
        credential=StsTokenCredential(STS_AK, STS_SECRET, STS_TOKEN),
        auto_retry=False,
        max_retry_time=0,
        connect_timeout=1,
        timeout=2,
    )
    assert send(sts_client, vod, video_request())["VideoId"]
    assert vod.last_call()["SecurityToken"] == STS_TOKEN

    wrong_token = AcsClient(
        region_id="cn-shanghai",
        credential=StsTokenCredential(STS_AK, STS_SECRET, "CAISsomeoneelse"),
        auto_retry=False,
        max_retry_time=0,
    )
    err = server_error(wrong_token, vod, video_request())
    assert (err.get_http_status(), err.get_error_code()) == (400, "InvalidSecurityToken.MismatchWithAccessKey")

    err = server_error(client(STS_AK, STS_SECRET), vod, video_request())  # STS key, no token
    assert (err.get_http_status(), err.get_error_code()) == (400, "MissingSecurityToken")


def test_expired_sts_token() -> None:
    with FakeVod({STS_AK: (STS_SECRET, STS_TOKEN, time.time() - 1)}) as fake:
        acs = AcsClient(
            region_id="cn-shanghai", credential=StsTokenCredential(STS_AK, STS_SECRET, STS_TOKEN), auto_retry=False
        )
        err = server_error(acs, fake, video_request())
        assert (err.get_http_status(), err.get_error_code()) == (400, "InvalidSecurityToken.Expired")


# ---- fault injection -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "status", "code"),
    [
        ({"code": "Throttling.User"}, 400, "Throttling.User"),
        ({"status": 500}, 500, "InternalError"),
        ({"status": 503}, 503, "ServiceUnAvailable"),
        ({"status": 503, "code": "ServiceUnavailable"}, 503, "ServiceUnavailable"),
    ],
)
def test_injected_error_answers_once_then_recovers(vod: FakeVod, kwargs: dict, status: int, code: str) -> None:
    vod.inject("CreateUploadVideo", **kwargs)
    acs = client()
    err = server_error(acs, vod, video_request())
    assert (err.get_http_status(), err.get_error_code()) == (status, code)
    if code == "Throttling.User":
        assert err.get_error_msg() == "Request was denied due to user flow control."
    assert send(acs, vod, video_request())["VideoId"]
    assert vod.call_count("CreateUploadVideo") == 2 and vod.pending_faults() == 0


def test_fault_scoped_to_an_action_and_counted(vod: FakeVod) -> None:
    vod.inject("RefreshUploadVideo", code="Throttling.User", count=2)
    acs = client()
    created = send(acs, vod, video_request())  # not affected
    for _ in range(2):
        refresh = RefreshUploadVideoRequest()
        refresh.set_VideoId(created["VideoId"])
        assert server_error(acs, vod, refresh).get_error_code() == "Throttling.User"
    refresh = RefreshUploadVideoRequest()
    refresh.set_VideoId(created["VideoId"])
    assert send(acs, vod, refresh)["VideoId"] == created["VideoId"]


def test_delay_fault_trips_the_sdk_read_timeout_and_plain_delay_just_slows(vod: FakeVod) -> None:
    vod.inject(delay=0.6)
    with pytest.raises(ClientException) as info:
        send(client(timeout=0.3), vod, video_request())
    assert info.value.get_error_code() == "SDK.HttpError"

    vod.inject(delay=0.2)
    started = time.monotonic()
    assert send(client(), vod, video_request())["VideoId"]
    assert time.monotonic() - started >= 0.2


def test_dropped_connection_is_an_sdk_http_error(vod: FakeVod) -> None:
    vod.inject("CreateUploadVideo", drop=True)
    acs = client()
    with pytest.raises(ClientException) as info:
        send(acs, vod, video_request())
    assert info.value.get_error_code() == "SDK.HttpError"
    assert vod.results[-1] == ("CreateUploadVideo", 0, "drop")
    assert send(acs, vod, video_request())["VideoId"]  # the client reconnects
    assert vod.call_count("CreateUploadVideo") == 2  # nothing retried behind the test's back


def test_latency_is_added_to_every_answer() -> None:
    with FakeVod(KEYS, latency=0.15) as fake:
        started = time.monotonic()
        send(client(), fake, video_request())
        assert time.monotonic() - started >= 0.15


# ---- transport, bookkeeping ------------------------------------------------------------------------------------


def test_keep_alive_one_connection_for_several_calls(vod: FakeVod) -> None:
    acs = client()
    for _ in range(4):
        send(acs, vod, video_request())
    err = server_error(acs, vod, video_request(title=""))  # an error answer keeps the connection too
    assert err.get_error_code() == "MissingParameter"
    send(acs, vod, video_request())
    assert vod.call_count() == 6
    assert vod.connections == 1


def test_xml_is_the_default_format() -> None:
    with FakeVod(KEYS) as fake:
        params = {"Action": "CreateUploadVideo", "Version": "2017-03-21", "Title": "t", "FileName": "a.mp4"}
        url_path, _ = rpc_signature_composer.get_signed_url(params, AK, SECRET, None, "POST", {})
        with urllib.request.urlopen(urllib.request.Request(fake.url + url_path, data=b"", method="POST")) as resp:
            text = resp.read().decode()
        assert text.startswith("<?xml") and "<CreateUploadVideoResponse><RequestId>" in text


def test_reset_mark_uploaded_and_helpers(vod: FakeVod) -> None:
    seeded = vod.create_video(title="seed", file_name="x.flv", UserData="{}")
    assert vod.call_count() == 0  # seeding is not an upstream call
    assert b64json(seeded["UploadAddress"])["FileName"].endswith(".flv")
    vod.mark_uploaded(seeded["VideoId"])
    assert vod.get(seeded["VideoId"]).status == "Uploaded"
    send(client(), vod, video_request())
    vod.inject(code="Throttling.User")
    vod.reset()
    assert (vod.resources, vod.issued_credentials, vod.calls, vod.pending_faults()) == ({}, {}, [], 0)
    assert send(client(), vod, video_request())["VideoId"]  # still serving after reset
    assert vod.url == f"http://127.0.0.1:{vod.port}" and vod.port > 0


def test_local_oss_endpoint_gives_path_style_urls() -> None:
    with FakeIce(KEYS, oss_endpoint="http://127.0.0.1:9") as fake:
        info = json.dumps({"Type": "image", "Name": "logo", "Ext": "png"})
        body = json.loads(client().do_action_with_exception(ice_request(fake, "CreateUploadMedia", FileInfo=info)))
        address = b64json(body["UploadAddress"])
        assert address["Endpoint"] == "http://127.0.0.1:9"
        assert body["FileURL"] == f"http://127.0.0.1:9/{address['Bucket']}/{address['FileName']}"
        assert fake.credential_for(body["MediaId"])["file_name"] == address["FileName"]
