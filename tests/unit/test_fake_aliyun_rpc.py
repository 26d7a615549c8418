"""The fake VOD / ICE RPC endpoints, driven by the real Alibaba Cloud SDK over real HTTP (nothing patched).

These tests pin the fake to the service's documented behaviour so the broker's own tests can trust it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.etree import ElementTree

import oss2
import pytest
from aliyunsdkcore.acs_exception.exceptions import ClientException, ServerException
from aliyunsdkcore.auth.composer import rpc_signature_composer
from aliyunsdkcore.auth.credentials import StsTokenCredential
from aliyunsdkcore.client import AcsClient
from aliyunsdkcore.request import CommonRequest
from aliyunsdkvod.request.v20170321.CreateUploadAttachedMediaRequest import CreateUploadAttachedMediaRequest
from aliyunsdkvod.request.v20170321.CreateUploadImageRequest import CreateUploadImageRequest
from aliyunsdkvod.request.v20170321.CreateUploadVideoRequest import CreateUploadVideoRequest
from aliyunsdkvod.request.v20170321.GetVideoInfoRequest import GetVideoInfoRequest
from aliyunsdkvod.request.v20170321.RefreshUploadVideoRequest import RefreshUploadVideoRequest

from tests.fakes.aliyun_rpc import (
    ICE_MEDIA_STATUSES,
    VOD_IMAGE_STATUSES,
    VOD_VIDEO_STATUSES,
    FakeAliyun,
    FakeIce,
    FakeVod,
    _to_xml,
    callback_signature,
)
from tests.fakes.oss import FakeOss, OffsetClock

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
    assert vod.get(seeded["VideoId"]).status == "UploadSucc"
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


# ---- statuses, GetVideoInfo, GetMediaInfo ----------------------------------------------------------------------


def video_info(acs: AcsClient, fake: FakeAliyun, video_id: str) -> dict:
    request = GetVideoInfoRequest()
    request.set_VideoId(video_id)
    return send(acs, fake, request)


def media_info(acs: AcsClient, fake: FakeAliyun, **params: str) -> dict:
    return json.loads(acs.do_action_with_exception(ice_request(fake, "GetMediaInfo", **params)))


def test_the_documented_statuses() -> None:
    # [VODST] (52839) and [ICEST] (197964), verbatim.
    assert VOD_VIDEO_STATUSES == {"Uploading", "UploadFail", "UploadSucc", "Transcoding", "TranscodeFail", "Checking",
                                  "Blocked", "Normal", "ProduceFail"}  # fmt: skip
    assert VOD_IMAGE_STATUSES == {"Uploading", "Normal", "UploadFail"}
    assert ICE_MEDIA_STATUSES == {"Init", "Preparing", "PrepareFail", "Normal"}


def test_get_video_info_follows_the_video_from_uploading_to_upload_succ(vod: FakeVod) -> None:
    acs = client()
    created = send(acs, vod, video_request("Cat", "cat.mp4", Description="A cat", Tags="a,b", CateId="1000",
                                           AppId="app-1000000", TemplateGroupId="tg-1"))  # fmt: skip
    body = video_info(acs, vod, created["VideoId"])
    assert set(body) == {"RequestId", "Video"}
    video = body["Video"]
    assert video["VideoId"] == created["VideoId"] and video["Title"] == "Cat" and video["Description"] == "A cat"
    assert video["Status"] == "Uploading"  # [VODST]: the initial status
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", video["CreationTime"])
    assert "Size" not in video  # not known before the file lands
    assert (video["CateId"], video["Tags"], video["AppId"], video["RegionId"]) == (1000, "a,b", "app-1000000",
                                                                                   "cn-shanghai")  # fmt: skip
    assert video["StorageLocation"] == f"{vod.default_bucket}.oss-cn-shanghai.aliyuncs.com"
    assert video["TemplateGroupId"] == "tg-1"

    vod.mark_uploaded(created["VideoId"], size=1234)
    video = video_info(acs, vod, created["VideoId"])["Video"]
    assert (video["Status"], video["Size"]) == ("UploadSucc", 1234)  # no transcoding in the fake

    for status in sorted(VOD_VIDEO_STATUSES):
        vod.set_status(created["VideoId"], status)
        assert video_info(acs, vod, created["VideoId"])["Video"]["Status"] == status
    with pytest.raises(ValueError, match="not a documented video status"):
        vod.set_status(created["VideoId"], "Uploaded")


def test_get_video_info_errors(vod: FakeVod) -> None:
    acs = client()
    err = server_error(acs, vod, GetVideoInfoRequest())
    assert (err.get_http_status(), err.get_error_code()) == (400, "MissingParameter")
    for unknown in ("0" * 32, vod.create_image()["ImageId"]):  # an image is not a video
        request = GetVideoInfoRequest()
        request.set_VideoId(unknown)
        err = server_error(acs, vod, request)
        assert (err.get_http_status(), err.get_error_code(), err.get_error_msg()) == (
            404,
            "InvalidVideo.NotFound",
            "The video does not exist.",
        )


def test_image_and_attached_media_statuses(vod: FakeVod) -> None:
    image = vod.create_image()["ImageId"]
    attached = vod.create_attached_media()["MediaId"]
    for resource_id in (image, attached):
        assert vod.get(resource_id).status == "Uploading"
        vod.mark_uploaded(resource_id, size=10)
        assert vod.get(resource_id).status == "Normal"  # the legacy table's "uploaded"
        vod.set_status(resource_id, "UploadFail")
        with pytest.raises(ValueError):
            vod.set_status(resource_id, "UploadSucc")  # a video status, not an image's


def test_get_media_info_follows_the_asset_from_init_to_normal(ice: FakeIce) -> None:
    acs = client()
    file_info = json.dumps({"Type": "video", "Name": "intro", "Ext": "mp4"})
    meta = json.dumps({"Title": "Intro", "BusinessType": "opening"})
    created = json.loads(
        acs.do_action_with_exception(ice_request(ice, "CreateUploadMedia", FileInfo=file_info, MediaMetaData=meta))
    )
    body = media_info(acs, ice, MediaId=created["MediaId"])
    assert set(body) == {"RequestId", "MediaInfo"}
    info = body["MediaInfo"]
    assert info["MediaId"] == created["MediaId"] and info["FileInfoList"] == []  # nothing uploaded yet
    basic = info["MediaBasicInfo"]
    assert (basic["MediaId"], basic["MediaType"], basic["Title"], basic["Status"]) == (
        created["MediaId"],
        "video",
        "Intro",
        "Init",  # [ICEST]: source file not ready
    )
    assert basic["InputURL"] == created["MediaURL"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", basic["CreateTime"])

    ice.mark_uploaded(created["MediaId"], size=2048)
    info = media_info(acs, ice, MediaId=created["MediaId"])["MediaInfo"]
    assert info["MediaBasicInfo"]["Status"] == "Normal"
    [entry] = info["FileInfoList"]
    address = b64json(created["UploadAddress"])
    assert entry["FileBasicInfo"]["FileType"] == "source_file" and entry["FileBasicInfo"]["FileSize"] == "2048"
    assert entry["FileBasicInfo"]["FileUrl"] == created["FileURL"]
    assert entry["FileBasicInfo"]["FileName"] == address["FileName"].rsplit("/", 1)[-1]

    # InputURL instead of MediaId, in the oss:// form the doc gives.
    by_url = media_info(acs, ice, InputURL=f"oss://{address['Bucket']}/{address['FileName']}")
    assert by_url["MediaInfo"]["MediaId"] == created["MediaId"]

    for status in sorted(ICE_MEDIA_STATUSES):
        ice.set_status(created["MediaId"], status)
        assert media_info(acs, ice, MediaId=created["MediaId"])["MediaInfo"]["MediaBasicInfo"]["Status"] == status
    with pytest.raises(ValueError):
        ice.set_status(created["MediaId"], "UploadSucc")


def test_get_media_info_errors(ice: FakeIce) -> None:
    acs = client()
    with pytest.raises(ServerException) as info:
        media_info(acs, ice, MediaId="f" * 32)
    assert (info.value.get_http_status(), info.value.get_error_code(), info.value.get_error_msg()) == (
        404,
        "ResourceNotFound",
        "Resource not found",
    )
    with pytest.raises(ServerException) as info:
        media_info(acs, ice, InputURL="oss://nobody/nothing.mp4")
    assert info.value.get_error_code() == "ResourceNotFound"
    with pytest.raises(ServerException) as info:
        media_info(acs, ice)
    assert (info.value.get_http_status(), info.value.get_error_code()) == (400, "InvalidParameter")


def test_faults_apply_to_the_lookups(vod: FakeVod, ice: FakeIce) -> None:
    acs = client()
    video_id = vod.create_video()["VideoId"]
    vod.inject("GetVideoInfo", code="Throttling.User")
    request = GetVideoInfoRequest()
    request.set_VideoId(video_id)
    assert server_error(acs, vod, request).get_error_code() == "Throttling.User"
    assert video_info(acs, vod, video_id)["Video"]["Status"] == "Uploading"

    media_id = ice.create_media()["MediaId"]
    ice.inject("GetMediaInfo", status=503)
    with pytest.raises(ServerException) as info:
        media_info(acs, ice, MediaId=media_id)
    assert (info.value.get_http_status(), info.value.get_error_code()) == (503, "ServiceUnAvailable")
    assert media_info(acs, ice, MediaId=media_id)["MediaInfo"]["MediaBasicInfo"]["Status"] == "Init"


def test_xml_answers_nest_as_the_json_does(vod: FakeVod) -> None:
    video_id = vod.create_video(title="Tom & Jerry")["VideoId"]
    params = {"Action": "GetVideoInfo", "Version": "2017-03-21", "VideoId": video_id}
    url_path, _ = rpc_signature_composer.get_signed_url(params, AK, SECRET, "XML", "POST", {})
    with urllib.request.urlopen(urllib.request.Request(vod.url + url_path, data=b"", method="POST")) as resp:
        root = ElementTree.fromstring(resp.read())
    assert root.tag == "GetVideoInfoResponse" and root.findtext("RequestId")
    assert root.findtext("Video/VideoId") == video_id
    assert root.findtext("Video/Title") == "Tom & Jerry" and root.findtext("Video/Status") == "Uploading"

    rendered = ElementTree.fromstring(_to_xml("R", {"A": {"B": 1, "C": {"D": "x<y"}}, "L": [{"E": 1}, {"E": 2}],
                                                    "Empty": [], "None": None, "F": True}))  # fmt: skip
    assert rendered.findtext("A/B") == "1" and rendered.findtext("A/C/D") == "x<y"
    assert [e.findtext("E") for e in rendered.findall("L")] == ["1", "2"]  # an array repeats its element
    assert rendered.find("Empty") is None and rendered.find("None") is None and rendered.findtext("F") == "true"


# ---- HTTP callbacks ---------------------------------------------------------------------------------------------


def test_callback_signature_is_the_docs_example() -> None:
    # [CB] doc 67214: md5("https://www.example.com/your/callback|1519375990|test123").
    assert callback_signature("https://www.example.com/your/callback", "1519375990", "test123") == (
        "c72b60894140fa98920f1279219b7ed4"
    )


class Receiver:
    """A tiny HTTP service that takes VOD's callbacks: records each POST and answers the next status in line."""

    def __init__(self, statuses: tuple[int, ...] = (200,), delay: float = 0.0) -> None:
        self.statuses = list(statuses)
        self.delay = delay
        self.received: list[tuple[str, dict[str, str], bytes]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    receiver.received.append((self.path, dict(self.headers.items()), body))
                    status = receiver.statuses.pop(0) if len(receiver.statuses) > 1 else receiver.statuses[0]
                time.sleep(receiver.delay)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format, *args):  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def test_an_oss2_upload_delivers_a_signed_file_upload_complete(receiver: Receiver) -> None:
    receiver.delay = 1.0  # a slow receiver must not hold up the upload
    clock = OffsetClock()
    callback_url = receiver.url + "/vod/events?env=test"
    with FakeVod(KEYS, clock=clock, callback_url=callback_url, callback_auth_key="test123") as vod, \
            FakeOss(issuers=[vod]) as oss:  # fmt: skip
        vod.oss_endpoint = oss.url
        created = send(client(), vod, video_request("Trip", "trip.mp4"))
        address, auth = b64json(created["UploadAddress"]), b64json(created["UploadAuth"])
        bucket = oss2.Bucket(
            oss2.StsAuth(auth["AccessKeyId"], auth["AccessKeySecret"], auth["SecurityToken"]),
            address["Endpoint"],
            address["Bucket"],
        )
        data = b"trip bytes" * 100
        started = time.monotonic()
        bucket.put_object(address["FileName"], data)
        assert time.monotonic() - started < 0.8  # delivery is asynchronous

        [attempt] = vod.wait_for_callbacks(1)
        assert attempt.delivered and attempt.attempt == 1 and attempt.url == callback_url
        [(path, headers, body)] = receiver.received
        assert path == "/vod/events?env=test"
        assert headers["Content-Type"] == "application/json"
        timestamp = headers["X-VOD-TIMESTAMP"]
        assert re.fullmatch(r"\d{10}", timestamp) and abs(int(timestamp) - clock()) < 5
        expected = hashlib.md5(f"{callback_url}|{timestamp}|test123".encode()).hexdigest()  # noqa: S324
        assert headers["X-VOD-SIGNATURE"] == expected
        event = json.loads(body)
        assert list(event) == ["Status", "EventTime", "EventType", "VideoId", "Size", "FileUrl"]  # the doc's order
        assert event["Status"] == "success" and event["EventType"] == "FileUploadComplete"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", event["EventTime"])
        assert (event["VideoId"], event["Size"]) == (created["VideoId"], len(data))
        assert event["FileUrl"] == f"{oss.url}/{address['Bucket']}/{address['FileName']}"
        assert event == attempt.event

        info = video_info(client(), vod, created["VideoId"])["Video"]
        assert (info["Status"], info["Size"]) == ("UploadSucc", len(data))


def test_a_failed_callback_is_tried_three_times_one_second_apart_then_dropped() -> None:
    receiver = Receiver(statuses=(500, 204, 503, 200))  # 204 is not 200: a failure too
    try:
        with FakeVod(KEYS, callback_url=receiver.url + "/cb") as vod:
            video_id = vod.create_video()["VideoId"]
            vod.mark_uploaded(video_id, size=3)
            attempts = vod.drain_callbacks()
            assert [(a.attempt, a.status, a.delivered) for a in attempts] == [
                (1, 500, False),
                (2, 204, False),
                (3, 503, False),
            ]
            gaps = [b.at - a.at for a, b in zip(attempts, attempts[1:])]
            assert all(0.9 <= gap < 2 for gap in gaps), gaps
            time.sleep(1.2)
            assert len(receiver.received) == 3 and len(vod.callback_attempts) == 3  # dropped, not retried again
            assert {json.loads(body)["VideoId"] for _, _, body in receiver.received} == {video_id}

            # A later event starts over and stops at the first 200.
            receiver.statuses = [500, 200]
            vod.callback_retry_interval = 0.05
            other = vod.create_video()["VideoId"]
            vod.mark_uploaded(other, size=3)
            later = vod.drain_callbacks()[3:]
            assert [(a.resource_id, a.attempt, a.status) for a in later] == [(other, 1, 500), (other, 2, 200)]
    finally:
        receiver.close()


def test_no_answer_in_time_is_a_failed_attempt(receiver: Receiver) -> None:
    receiver.delay = 0.5
    with FakeVod(KEYS, callback_url=receiver.url) as vod:
        vod.callback_timeout, vod.callback_retry_interval = 0.1, 0.01
        vod.mark_uploaded(vod.create_video()["VideoId"], size=1)
        attempts = vod.drain_callbacks()
    assert [(a.status, "timed out" in (a.error or "")) for a in attempts] == [(None, True)] * 3


def test_the_uploads_own_callback_url_wins_and_is_what_gets_signed(receiver: Receiver) -> None:
    console = Receiver()
    try:
        own_url = receiver.url + "/mine"
        user_data = json.dumps({"MessageCallback": {"CallbackURL": own_url}, "Extend": {"order": 7}})
        with FakeVod(KEYS, callback_url=console.url + "/console", callback_auth_key="k3y") as vod:
            video_id = vod.create_video(UserData=user_data)["VideoId"]
            assert vod.callback_url_for(video_id) == own_url
            vod.mark_uploaded(video_id, size=9)
            [attempt] = vod.wait_for_callbacks(1)
            vod.drain_callbacks()
        assert console.received == []
        [(path, headers, body)] = receiver.received
        assert path == "/mine" and attempt.url == own_url
        assert headers["X-VOD-SIGNATURE"] == callback_signature(own_url, headers["X-VOD-TIMESTAMP"], "k3y")
        assert json.loads(json.loads(body)["Extend"]) == {"order": 7}  # [EVT]: UserData.Extend, as a JSON string
    finally:
        console.close()


def test_without_a_global_callback_nothing_is_sent(receiver: Receiver) -> None:
    # [CBURL]: a UserData URL only takes effect while the global callback is HTTP.
    with FakeVod(KEYS) as vod:
        user_data = json.dumps({"MessageCallback": {"CallbackURL": receiver.url}})
        video_id = vod.create_video(UserData=user_data)["VideoId"]
        assert vod.callback_url_for(video_id) is None
        vod.mark_uploaded(video_id, size=1)
        assert vod.drain_callbacks() == []
        with pytest.raises(RuntimeError):
            vod.send_callback(video_id)
    assert receiver.received == []


def test_no_auth_headers_without_a_key_and_image_and_attached_events(receiver: Receiver) -> None:
    with FakeVod(KEYS, callback_url=receiver.url) as vod:
        image = vod.create_image(AppId="app-1000000")
        attached = vod.create_attached_media("watermark", "png")
        vod.mark_uploaded(image["ImageId"], size=105520)
        vod.wait_for_callbacks(1)
        vod.mark_uploaded(attached["MediaId"], size=14333)
        vod.wait_for_callbacks(2)
    (_, image_headers, image_body), (_, attached_headers, attached_body) = receiver.received
    for headers in (image_headers, attached_headers):
        assert headers["Content-Type"] == "application/json"
        assert "X-VOD-TIMESTAMP" not in headers and "X-VOD-SIGNATURE" not in headers

    image_event = json.loads(image_body)
    assert list(image_event) == ["Status", "FileURL", "AppId", "EventType", "EventTime", "Size", "ImageId"]
    assert (image_event["EventType"], image_event["ImageId"], image_event["Size"]) == (
        "ImageUploadComplete",
        image["ImageId"],
        105520,
    )
    assert image_event["FileURL"] == image["FileURL"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d:\d{3}Z", image_event["EventTime"])  # colon before ms

    attached_event = json.loads(attached_body)
    assert list(attached_event) == ["EventTime", "EventType", "AttachedMediaId", "Size", "FileURL", "Status"]
    assert attached_event["AttachedMediaId"] == attached["MediaId"] and "MediaId" not in attached_event
    assert (attached_event["Size"], attached_event["FileURL"], attached_event["Status"]) == (
        14333,
        attached["FileURL"],
        "success",
    )


def test_send_callback_replays_the_same_event(receiver: Receiver) -> None:
    with FakeVod(KEYS, callback_url=receiver.url, callback_auth_key="k") as vod:
        video_id = vod.create_video()["VideoId"]
        with pytest.raises(RuntimeError):
            vod.send_callback(video_id)  # its file has not landed: there is no event yet
        vod.mark_uploaded(video_id, size=5)
        vod.wait_for_callbacks(1)
        replayed = vod.send_callback(video_id)
        first, second = vod.wait_for_callbacks(2)
    assert first.event == second.event == replayed
    assert receiver.received[0][2] == receiver.received[1][2]  # byte for byte


def test_reset_forgets_callback_attempts_and_ice_sends_none(receiver: Receiver) -> None:
    with FakeVod(KEYS, callback_url=receiver.url) as vod:
        vod.mark_uploaded(vod.create_video()["VideoId"], size=1)
        vod.wait_for_callbacks(1)
        vod.reset()
        assert vod.callback_attempts == [] and vod.drain_callbacks() == []
    with FakeIce(KEYS) as ice:
        ice.callback_url = receiver.url  # not a thing ICE does in this fake
        ice.mark_uploaded(ice.create_media()["MediaId"], size=1)
        assert ice.drain_callbacks() == []
