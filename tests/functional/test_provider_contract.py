"""One provider contract: every operation declares what it is, and the shared flows hold for every provider.

Each test here is one defect of the review (issue #11) that the contract removes: a refresh of another kind of
resource, a refused request that still claimed a Wangsu fileId, and declarations that once fell back to VOD's.
"""

from __future__ import annotations

import pytest

from upload_broker.call import Operation
from upload_broker.providers import Provider, provider_named, register_provider
from upload_broker.providers.vod import VodCreate
from upload_broker.validation import VOD_OPERATOR_FIELDS, Field, text

# --- a refresh checks the resource's kind -----------------------------------------------------------------


@pytest.mark.parametrize(("path", "body", "id_field"), [
    ("/v1/images", {"ImageType": "default"}, "ImageId"),
    ("/v1/attached-media", {"BusinessType": "watermark", "MediaExt": "png"}, "MediaId"),
])
def test_another_kind_of_vod_resource_cannot_be_refreshed_as_a_video(client, auth, fake_vod, path, body, id_field):
    created = client.post(path, json=body, headers=auth())
    assert created.status_code == 200, created.json
    resource_id = created.json[id_field]

    refreshed = client.post(f"/v1/videos/{resource_id}/refresh", headers=auth())

    assert (refreshed.status_code, refreshed.json["Code"]) == (404, "InvalidVideo.NotFound")
    assert fake_vod.call_count("RefreshUploadVideo") == 0


def test_a_vod_video_id_cannot_be_refreshed_as_ice_media(client, auth, fake_vod, fake_ice):
    video_id = client.post("/v1/videos", json={"Title": "t", "FileName": "a.mp4"}, headers=auth()).json["VideoId"]
    refreshed = client.post(f"/v1/media/{video_id}/refresh", headers=auth())
    assert (refreshed.status_code, refreshed.json["Code"]) == (404, "ResourceNotFound")
    assert fake_ice.call_count() == 0


# --- a refused request claims nothing ---------------------------------------------------------------------


@pytest.mark.parametrize("config_overrides", [{"quota_creates_per_day": 1}])
def test_a_request_refused_by_the_quota_does_not_claim_its_file_id(client, auth, fake_wangsu):
    assert client.post("/v1/wangsu/upload-tokens", json={"originFileName": "a.mp4"},
                       headers=auth("mallory")).status_code == 200  # mallory's quota is now spent

    refused = client.post("/v1/wangsu/upload-tokens", json={"originFileName": "b.mp4", "fileId": "alices-file"},
                          headers=auth("mallory"))
    assert (refused.status_code, refused.json["Code"]) == (429, "QuotaExceeded")

    # The fileId is still free: its rightful user claims it.
    mine = client.post("/v1/wangsu/upload-tokens", json={"originFileName": "b.mp4", "fileId": "alices-file"},
                       headers=auth("alice"))
    assert mine.status_code == 200, mine.json


# --- declarations: nothing is guessed ---------------------------------------------------------------------


def declaration(**overrides):
    settings = dict(function="f", action="CreateUploadVideo", path="/v1/x", provider="vod", kind="video",
                    id_field="VideoId", fields=(Field("FileSize", text()),), operator_fields=VOD_OPERATOR_FIELDS,
                    size_field="FileSize", check=None, transcoding=True)
    settings.update(overrides)
    return settings


@pytest.mark.parametrize("missing", ["provider", "kind", "id_field", "fields", "operator_fields", "size_field",
                                     "check"])
def test_an_operation_that_forgets_a_declaration_does_not_load(missing):
    settings = declaration()
    del settings[missing]
    with pytest.raises(TypeError, match=missing):
        VodCreate(**settings)


def test_an_operation_of_an_unknown_provider_does_not_load():
    with pytest.raises(LookupError, match="no provider 'dropbox'"):
        VodCreate(**declaration(provider="dropbox"))


def test_a_size_field_the_operation_does_not_take_does_not_load():
    with pytest.raises(TypeError, match="size_field 'Size'"):
        VodCreate(**declaration(size_field="Size"))


def test_the_base_declares_no_defaults():
    with pytest.raises(TypeError):
        Operation(function="f", action="A", path="/p")  # type: ignore[call-arg]


def test_a_second_provider_of_the_same_name_is_refused():
    existing = provider_named("vod")
    with pytest.raises(ValueError, match="already registered"):
        register_provider(type("Again", (type(existing),), {})())
    assert provider_named("vod") is existing
    assert isinstance(existing, Provider)


def test_a_refresh_that_does_not_say_how_to_tell_a_finished_upload_does_not_load():
    from upload_broker.providers.ice import IceRefresh
    from upload_broker.providers.vod import VodRefresh

    settings = dict(function="f", action="RefreshUploadVideo", path="/v1/x/{VideoId}/refresh", provider="vod",
                    kind="video", id_field="VideoId", fields=(), operator_fields=(), size_field=None, check=None)
    for refresh in (VodRefresh, IceRefresh):
        with pytest.raises(TypeError, match="source_check"):
            refresh(**settings)


@pytest.mark.parametrize(("unfinished", "finished"), [
    (frozenset(), frozenset({"Normal"})),
    (frozenset({"Uploading"}), frozenset()),
    (frozenset({"Normal"}), frozenset({"Normal"})),  # a status cannot be both
])
def test_a_source_check_must_sort_every_status_one_way(unfinished, finished):
    from upload_broker.call import SourceCheck

    with pytest.raises(TypeError):
        SourceCheck(action="GetVideoInfo", id_param="VideoId", status_path=("Video", "Status"),
                    unfinished=unfinished, finished=finished)


def test_a_callback_function_must_declare_the_events_that_lock():
    from upload_broker.callbacks import VodCallback

    with pytest.raises(TypeError, match="events"):
        VodCallback(function="vod_callback", path="/v1/callbacks/vod", provider="vod")
