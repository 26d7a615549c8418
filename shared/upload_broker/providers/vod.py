"""ApsaraVideo VOD (2017-03-21): audio/video, image and attached-media uploads.

The client is :class:`~upload_broker.upstream_aliyun.AliyunRpc` over aliyun-python-sdk-vod's request classes,
with the server's credentials (the function role's on Function Compute). Credentials expire as the
``UploadAuth`` says. A VideoId the caller may not refresh is ``InvalidVideo.NotFound``, as VOD answers one
that does not exist (RefreshUploadVideo's error codes); images and attached media are never refreshed
("You cannot refresh the upload URL or credential when you upload images", CreateUploadImage).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from upload_broker.call import Call, Operation, SourceCheck
from upload_broker.errors import NotFound
from upload_broker.flows import issue_create, issue_refresh, upload_auth_expiration
from upload_broker.http import Answer
from upload_broker.providers import Provider, register_provider
from upload_broker.validation import validate

if TYPE_CHECKING:
    from upload_broker.config import Config, Credentials
    from upload_broker.providers import UpstreamClient

# Our words for "no such resource of this kind", with VOD's own codes.
_NOT_FOUND = {
    "video": ("InvalidVideo.NotFound", "The video does not exist."),
    "image": ("InvalidImage.NotFound", "The image does not exist."),
    "attached-media": ("InvalidMedia.NotFound", "The media does not exist."),
}


class VodProvider(Provider):
    name = "vod"

    def client(self, config: Config) -> UpstreamClient:
        from upload_broker.upstream_aliyun import AliyunRpc

        return AliyunRpc(
            product="vod", version="2017-03-21", region=config.vod_region, endpoint=config.vod_endpoint,
            connect_timeout=config.upstream_connect_timeout, read_timeout=config.upstream_read_timeout,
            request_module="aliyunsdkvod.request.v20170321", service_name="VOD",
        )

    def credentials(self, call: Call) -> Credentials:
        return call.broker.credentials(call.request)

    def expiration(self, response: dict[str, Any], now: float) -> str:
        return upload_auth_expiration(response.get("UploadAuth"), now)

    def not_found(self, kind: str, upstream_request_id: str | None = None) -> NotFound:
        code, message = _NOT_FOUND[kind]
        return NotFound(message, code=code, upstream_request_id=upstream_request_id)


register_provider(VodProvider())


def vod_policy(config: Config, *, transcoding: bool) -> dict[str, str]:
    """The operator's VOD parameters for every create (never the client's)."""
    params: dict[str, str] = {}
    if transcoding:
        # CreateUploadVideo: "If you specify both WorkflowId and TemplateGroupId, WorkflowId takes effect."
        if config.vod_workflow_id:
            params["WorkflowId"] = config.vod_workflow_id
        elif config.vod_template_group_id:
            params["TemplateGroupId"] = config.vod_template_group_id
    if config.vod_storage_location:
        params["StorageLocation"] = config.vod_storage_location
    if config.vod_app_id:
        params["AppId"] = config.vod_app_id
    if config.vod_callback_url:
        # UserData.MessageCallback.CallbackURL ("UserData: specifies the custom configurations for media
        # upload", VOD request parameters reference).
        params["UserData"] = json.dumps({"MessageCallback": {"CallbackURL": config.vod_callback_url}},
                                        separators=(",", ":"))
    return params


@dataclass(frozen=True, kw_only=True)
class VodCreate(Operation):
    """A VOD ``CreateUpload*`` call: the client's fields, the operator's policy, a new resource id."""

    # Only CreateUploadVideo transcodes: it alone takes TemplateGroupId / WorkflowId.
    transcoding: bool

    def run(self, call: Call) -> Answer:
        params = validate(call.body, self.fields, self.operator_fields)
        if self.check is not None:
            params = self.check(params)
        params |= vod_policy(call.config, transcoding=self.transcoding)
        return issue_create(call, self, params)


# Whether VOD holds a video's source, by GetVideoInfo's Video.Status ("Basic data types", "Status: Audio and
# video status", https://help.aliyun.com/document_detail/52839.htm; GetVideoInfo,
# https://alibabacloud.com/help/en/vod/developer-reference/api-vod-2017-03-21-getvideoinfo):
# - not in yet: Uploading ("the initial status ... the file is being uploaded") and UploadFail ("network
#   problems or a damaged source file ... retry the upload"): a refresh is how an upload resumes or retries;
# - in: UploadSucc (uploaded; transcoding, snapshots and review can start), Transcoding, TranscodeFail (the
#   source was read, and failed to transcode), Checking (awaiting review), Blocked, Normal (playable), and
#   ProduceFail (a produced video, never one the broker issued): every one of these follows a stored source.
VIDEO_SOURCE = SourceCheck(
    action="GetVideoInfo",
    id_param="VideoId",
    status_path=("Video", "Status"),
    unfinished=frozenset({"Uploading", "UploadFail"}),
    finished=frozenset({"UploadSucc", "Transcoding", "TranscodeFail", "Checking", "Blocked", "Normal",
                        "ProduceFail"}),
)


@dataclass(frozen=True, kw_only=True)
class VodRefresh(Operation):
    """A VOD refresh of a resource the caller created (``RefreshUploadVideo``), while its upload is unfinished."""

    source_check: SourceCheck

    def run(self, call: Call) -> Answer:
        validate(call.body, ())  # "empty body or {}": anything else is a mistake worth telling
        return issue_refresh(call, self, self.source_check)
