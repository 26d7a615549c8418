"""A Python back end uploads with oss2 on the broker's credentials, and refreshes them through the broker.

The stack is real end to end: HTTP to the broker (waitress), the aliyun SDK to the fake VOD, oss2 to the fake
OSS, which checks oss2's signatures against the credentials the fake VOD issued. Time is one
:class:`OffsetClock`: the fake OSS moves it past the credential's expiry after the third part, as a slow
network would, so the next part is refused with OSS's own 403 ``SecurityTokenExpired``.
"""

from __future__ import annotations

import os

import oss2
import pytest

from tests.functional.client_stack import (  # noqa: F401 - the *_fixture names register shared fixtures
    BrokerServer,
    broker_fixture,
    broker_post,
    broker_server_fixture,
    clock_fixture,
    credential_lifetime_fixture,
    decode,
    fake_oss_fixture,
    fake_vod_fixture,
)

PART = 100 * 1024  # OSS's smallest part but the last
DATA = os.urandom(5 * PART + 1234)  # six parts


def expire_after_part(fake_oss, clock, part_number: int, lifetime: int) -> None:
    """Move the shared clock past the credential's lifetime once ``part_number`` has been stored."""

    def listener(record):
        if record.operation == "UploadPart" and record.part_number == part_number and record.status == 200:
            clock.advance(lifetime + 1)

    fake_oss.on_request(listener)


def sts_bucket(address: dict, upload_auth: dict, auth_version: str = oss2.AUTH_VERSION_1) -> oss2.Bucket:
    """What a back end builds from an UploadAddress/UploadAuth pair."""
    auth = oss2.StsAuth(
        upload_auth["AccessKeyId"], upload_auth["AccessKeySecret"], upload_auth["SecurityToken"], auth_version
    )
    return oss2.Bucket(auth, address["Endpoint"], address["Bucket"], region=upload_auth.get("Region"))


def is_expired(error: oss2.exceptions.OssError) -> bool:
    return error.status == 403 and error.code in ("SecurityTokenExpired", "InvalidAccessKeyId")


@pytest.mark.parametrize("auth_version", [oss2.AUTH_VERSION_1, oss2.AUTH_VERSION_4])
def test_multipart_upload_refreshes_through_the_broker_when_the_credential_expires(
    broker_server: BrokerServer, token, fake_vod, fake_oss, clock, credential_lifetime, auth_version
):
    # Given a video created through the broker, and an upload slow enough to outlive its credential
    bearer = token("alice")
    created = broker_post(broker_server, "/v1/videos", bearer, {"Title": "Trip", "FileName": "trip.mp4",
                                                                "FileSize": len(DATA)})
    address, upload_auth = decode(created["UploadAddress"]), decode(created["UploadAuth"])
    bucket = sts_bucket(address, upload_auth, auth_version)
    expire_after_part(fake_oss, clock, 3, credential_lifetime)
    refresh_path = f"/v1/videos/{created['VideoId']}/refresh"

    # When the back end uploads part by part, refreshing through the broker when OSS says the credential expired
    upload_id = bucket.init_multipart_upload(address["FileName"]).upload_id
    parts, refused = [], []
    for number, offset in enumerate(range(0, len(DATA), PART), start=1):
        chunk = DATA[offset : offset + PART]
        try:
            result = bucket.upload_part(address["FileName"], upload_id, number, chunk)
        except oss2.exceptions.ServerError as error:
            assert is_expired(error), error
            refused.append((number, error.code))
            refreshed = broker_post(broker_server, refresh_path, bearer, {})
            assert decode(refreshed["UploadAddress"]) == address  # same object, new credential
            upload_auth = decode(refreshed["UploadAuth"])
            # oss2's documented way: give the Bucket a new StsAuth and carry on with the same upload.
            bucket.auth = sts_bucket(address, upload_auth, auth_version).auth
            assert [p.part_number for p in bucket.list_parts(address["FileName"], upload_id).parts] == [1, 2, 3]
            result = bucket.upload_part(address["FileName"], upload_id, number, chunk)
        parts.append(oss2.models.PartInfo(number, result.etag))
    bucket.complete_multipart_upload(address["FileName"], upload_id, parts)

    # Then the expiry was crossed once, the broker refreshed once, and OSS holds exactly the file
    assert refused == [(4, "SecurityTokenExpired")]
    assert broker_server.called("POST", refresh_path) == 1
    assert fake_vod.call_count("RefreshUploadVideo") == 1
    assert fake_oss.object_bytes(address["Bucket"], address["FileName"]) == DATA
    assert fake_vod.get(created["VideoId"]).status == "UploadSucc"
    signed_with = {(r.access_key_id, r.status) for r in fake_oss.requests}
    assert (upload_auth["AccessKeyId"], 200) in signed_with  # the rest went up on the refreshed credential
    assert {r.signature_version for r in fake_oss.requests} == {auth_version}
    assert {r.addressing for r in fake_oss.requests} == {"path"}  # oss2 uses /<bucket>/<key> for an IP endpoint


def test_resumable_upload_resumes_after_a_refresh(
    broker_server: BrokerServer, token, fake_vod, fake_oss, clock, credential_lifetime, tmp_path
):
    # Given a file on disk and oss2's resumable upload with its checkpoint store
    source = tmp_path / "lecture.mp4"
    source.write_bytes(DATA)
    bearer = token("bob")
    created = broker_post(broker_server, "/v1/videos", bearer, {"Title": "Lecture", "FileName": "lecture.mp4"})
    address, upload_auth = decode(created["UploadAddress"]), decode(created["UploadAuth"])
    bucket = sts_bucket(address, upload_auth)
    store = oss2.ResumableStore(root=str(tmp_path))
    expire_after_part(fake_oss, clock, 2, credential_lifetime)

    def upload():
        oss2.resumable_upload(bucket, address["FileName"], str(source), store=store,
                              multipart_threshold=PART, part_size=PART, num_threads=1)

    # When the first attempt fails on the expired credential and is re-run after a refresh
    with pytest.raises(oss2.exceptions.ServerError) as failure:
        upload()
    assert is_expired(failure.value)
    refreshed = broker_post(broker_server, f"/v1/videos/{created['VideoId']}/refresh", bearer, {})
    bucket.auth = sts_bucket(address, decode(refreshed["UploadAuth"])).auth
    upload()

    # Then the second run continued the same multipart upload: parts 1-2 were not sent again
    uploaded = [r.part_number for r in fake_oss.requests if r.operation == "UploadPart" and r.status == 200]
    assert uploaded == [1, 2, 3, 4, 5, 6]
    assert fake_oss.count("InitiateMultipartUpload") == 1
    assert fake_oss.object_bytes(address["Bucket"], address["FileName"]) == DATA
    assert fake_vod.get(created["VideoId"]).status == "UploadSucc"


def test_credential_only_reaches_its_own_object(broker_server: BrokerServer, token, fake_vod, fake_oss):
    created = broker_post(broker_server, "/v1/videos", token("carol"), {"Title": "Clip", "FileName": "clip.mp4"})
    address, upload_auth = decode(created["UploadAddress"]), decode(created["UploadAuth"])
    bucket = sts_bucket(address, upload_auth)

    with pytest.raises(oss2.exceptions.AccessDenied):
        bucket.put_object("sv/someone-else/clip.mp4", b"not mine")
    bucket.put_object(address["FileName"], b"tiny clip")

    assert fake_oss.object_bytes(address["Bucket"], address["FileName"]) == b"tiny clip"
    assert ("sv/someone-else/clip.mp4", "AccessDenied") in {(r.key, r.code) for r in fake_oss.rejections()}
    assert fake_vod.get(created["VideoId"]).status == "UploadSucc"
