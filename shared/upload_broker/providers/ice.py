"""Intelligent Media Services (ICE, 2020-11-09): media asset uploads.

The client is :class:`~upload_broker.upstream_aliyun.AliyunRpc` with ``CommonRequest`` (no generated ICE SDK
is a dependency), with the server's credentials. Credentials expire as the ``UploadAuth`` says. ICE answers
an unknown MediaId with 404 ``ResourceNotFound`` (IMS error codes,
https://help.aliyun.com/document_detail/197855.html); a MediaId the caller may not refresh gets the very
same body, so the two cannot be told apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from upload_broker.call import Call, Operation, SourceCheck
from upload_broker.errors import NotFound
from upload_broker.flows import issue_create, issue_refresh, upload_auth_expiration
from upload_broker.http import Answer
from upload_broker.providers import Provider, register_provider
from upload_broker.validation import check_ice_business_type, compact_json, validate

if TYPE_CHECKING:
    from upload_broker.config import Config, Credentials
    from upload_broker.providers import UpstreamClient

# PostProcessConfig: "You can specify this parameter if Type is set to video or audio. Set ProcessType to
# Workflow." Example: {"ProcessType":"Workflow","ProcessID":"74ba870f1a4873a3ba238e0bf6fa9***"}
# (ICE 2020-11-09 CreateUploadMedia request parameters).
ICE_POST_PROCESSED_TYPES = ("video", "audio")


class IceProvider(Provider):
    name = "ice"

    def client(self, config: Config) -> UpstreamClient:
        from upload_broker.upstream_aliyun import AliyunRpc

        return AliyunRpc(
            product="ice", version="2020-11-09", region=config.ice_region, endpoint=config.ice_endpoint,
            connect_timeout=config.upstream_connect_timeout, read_timeout=config.upstream_read_timeout,
            service_name="ICE",
        )

    def credentials(self, call: Call) -> Credentials:
        return call.broker.credentials(call.request)

    def expiration(self, response: dict[str, Any], now: float) -> str:
        return upload_auth_expiration(response.get("UploadAuth"), now)

    def not_found(self, kind: str, upstream_request_id: str | None = None) -> NotFound:
        return NotFound("The media asset does not exist.", code="ResourceNotFound",
                        upstream_request_id=upstream_request_id)


register_provider(IceProvider())


def ice_policy(config: Config, file_type: str) -> dict[str, str]:
    """The operator's ICE parameters for every create (never the client's), as the JSON strings ICE takes."""
    params: dict[str, str] = {}
    if config.ice_app_id:
        params["AppId"] = config.ice_app_id
    if config.ice_entity_id:
        params["EntityId"] = config.ice_entity_id
    if config.ice_workflow_id and file_type in ICE_POST_PROCESSED_TYPES:
        params["PostProcessConfig"] = compact_json({"ProcessType": "Workflow", "ProcessID": config.ice_workflow_id})
    if config.ice_upload_target_config:
        params["UploadTargetConfig"] = config.ice_upload_target_config
    if config.ice_callback_url:
        # UserData "A JSON string for custom settings, such as configuring a message callback", example
        # {"MessageCallback":{"CallbackURL":"http://example.aliyundoc.com"}} (CreateUploadMedia).
        params["UserData"] = compact_json({"MessageCallback": {"CallbackURL": config.ice_callback_url}})
    return params


@dataclass(frozen=True, kw_only=True)
class IceCreate(Operation):
    """ICE ``CreateUploadMedia``: FileInfo and MediaMetaData from the client (objects, sent as the JSON
    strings ICE takes), the rest from the operator."""

    def run(self, call: Call) -> Answer:
        checked = validate(call.body, self.fields, self.operator_fields)
        file_info, meta = checked["FileInfo"], checked.get("MediaMetaData")
        check_ice_business_type(file_info, meta)
        params = {"FileInfo": compact_json(file_info)}
        if meta:
            params["MediaMetaData"] = compact_json(meta)
        params |= ice_policy(call.config, file_info["Type"])
        return issue_create(call, self, params)


# Whether ICE holds a media asset's source, by GetMediaInfo's MediaInfo.MediaBasicInfo.Status (GetMediaInfo,
# https://www.alibabacloud.com/help/en/ims/developer-reference/api-ice-2020-11-09-getmediainfo, which calls it
# only "the resource status"; the values are listed with ListMediaBasicInfos,
# https://help.aliyun.com/document_detail/197964.html):
# - not in yet: Init ("initial state: the source file is not ready"), Preparing ("the source file is being
#   prepared, e.g. uploading or being produced") and PrepareFail ("preparing the source file failed, e.g. its
#   information could not be read"): like VOD's UploadFail, a failed preparation holds no usable source, and
#   a refresh is the documented way to upload it again;
# - in: Normal ("the source file is ready").
MEDIA_SOURCE = SourceCheck(
    action="GetMediaInfo",
    id_param="MediaId",
    status_path=("MediaInfo", "MediaBasicInfo", "Status"),
    unfinished=frozenset({"Init", "Preparing", "PrepareFail"}),
    finished=frozenset({"Normal"}),
)


@dataclass(frozen=True, kw_only=True)
class IceRefresh(Operation):
    """ICE ``RefreshUploadMedia`` of a media asset the caller created, while its upload is unfinished."""

    source_check: SourceCheck

    def run(self, call: Call) -> Answer:
        validate(call.body, ())  # "empty body": anything else is a mistake worth telling
        return issue_refresh(call, self, self.source_check)
