"""The operations beyond VOD video: ICE media assets and Wangsu Cloud VoD upload tokens.

They follow the same two flows as the video routes (:func:`~upload_broker.operations.issue_create` and
:func:`~upload_broker.operations.issue_refresh`), so quotas, idempotency, auditing and the ownership ledger
apply to them alike. What differs per upstream lives here: how the request is checked, which operator
settings are added, and how the upstream's answer is read.

VOD images and attached media need no class of their own: they are :class:`~upload_broker.operations.VodCreate`
with a ``check`` hook (see ``functions/create_upload_image`` and ``functions/create_upload_attached_media``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from upload_broker.config import Config
from upload_broker.errors import MissingParameter, NotFound
from upload_broker.operations import Call, Operation, issue_create, issue_refresh
from upload_broker.upstream_aliyun import Budget
from upload_broker.validation import (
    ICE_OPERATOR_FIELDS,
    WANGSU_OPERATOR_FIELDS,
    Field,
    check_ice_business_type,
    compact_json,
    ice_file_info,
    ice_media_meta_data,
    validate,
    wangsu_category_names,
    wangsu_file_id,
    wangsu_origin_file_name,
    wangsu_overwrite,
)

# --- ICE -------------------------------------------------------------------------------------------

# PostProcessConfig: "You can specify this parameter if Type is set to video or audio. Set ProcessType to
# Workflow." Example: {"ProcessType":"Workflow","ProcessID":"74ba870f1a4873a3ba238e0bf6fa9***"}
# (ICE 2020-11-09 CreateUploadMedia request parameters, as the generated ICE SDK models document them).
ICE_POST_PROCESSED_TYPES = ("video", "audio")

ICE_FIELDS = (
    Field("FileInfo", ice_file_info, required=True, description="{Type, Name, Ext, Size}"),
    Field("MediaMetaData", ice_media_meta_data,
          description="{Title, Description, CateId, Tags, CoverURL, BusinessType, DynamicMetaData}"),
)


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


@dataclass(frozen=True)
class IceCreate(Operation):
    """ICE ``CreateUploadMedia``: FileInfo and MediaMetaData from the client, the rest from the operator."""

    provider: str = "ice"
    id_field: str = "MediaId"

    def run(self, call: Call) -> dict[str, Any]:
        checked = validate(call.body, ICE_FIELDS, ICE_OPERATOR_FIELDS)
        file_info, meta = checked["FileInfo"], checked.get("MediaMetaData")
        check_ice_business_type(file_info, meta)
        params = {"FileInfo": compact_json(file_info)}
        if meta:
            params["MediaMetaData"] = compact_json(meta)
        params |= ice_policy(call.config, file_info["Type"])
        return issue_create(
            call,
            self,
            params,
            lambda p, budget: call.upstream(call.broker.ice, self.action, p, budget, idempotent=False),
        )


@dataclass(frozen=True)
class IceRefresh(Operation):
    """ICE ``RefreshUploadMedia`` of a media asset the caller created.

    A MediaId the ledger does not give to the caller is answered 404 without calling ICE; one that ICE
    itself no longer knows is answered with the very same 404 body, so the two cannot be told apart.
    """

    provider: str = "ice"
    id_field: str = "MediaId"
    # ICE answers an unknown MediaId with 404 ResourceNotFound (IMS error codes,
    # https://help.aliyun.com/document_detail/197855.html); the ledger's miss uses the same Code.
    not_found_code: str = "ResourceNotFound"
    not_found_message: str = "The media asset does not exist."

    def run(self, call: Call) -> dict[str, Any]:
        validate(call.body, ())  # "empty body": anything else is a mistake worth telling

        def invoke(resource_id: str, budget: Budget) -> dict[str, Any]:
            try:
                return call.upstream(call.broker.ice, self.action, {self.id_field: resource_id}, budget,
                                     idempotent=True)
            except NotFound as missing:
                raise NotFound(self.not_found_message, code=self.not_found_code,
                               upstream_request_id=missing.upstream_request_id) from None

        return issue_refresh(call, self, invoke)


# --- Wangsu ----------------------------------------------------------------------------------------

WANGSU_FIELDS = (
    Field("originFileName", wangsu_origin_file_name, required=True,
          description="the file name with its extension, at most 40 characters"),
    Field("fileId", wangsu_file_id, description="a breakpoint-resume ID of at most 32 characters"),
    Field("overwrite", wangsu_overwrite, description='"0" or "1"'),
    Field("categoryNames", wangsu_category_names, description="a list of {parentName, childName}"),
)
# The ledger's provider for breakpoint-resume IDs: a fileId belongs to the first user who sent it.
WANGSU_FILE_PROVIDER = "wangsu-file"


def wangsu_policy(config: Config) -> dict[str, str]:
    """The operator's getUploadToken parameters (never the client's)."""
    settings = {
        "domain": config.wangsu_domain,
        "workflowId": config.wangsu_workflow_id,
        "waterMarkName": config.wangsu_watermark_name,
        "transCodeCombineName": config.wangsu_transcode_combine_name,
        "subtitleId": config.wangsu_subtitle_id,
    }
    return {name: value for name, value in settings.items() if value}


@dataclass(frozen=True)
class WangsuGetUploadToken(Operation):
    """Wangsu ``getUploadToken``: an upload URL and token for one video file.

    A ``fileId`` (breakpoint resume) belongs to the first user who sent it: it is claimed in the ledger before
    the upstream is called, so a second user who sends it, or asks to ``overwrite`` it, gets 404 and Wangsu
    is never called. ``overwrite`` needs a ``fileId`` the caller owns. The returned ``videoId`` is recorded
    like every created resource. ``Expiration`` comes from the token's own putPolicy deadline.
    """

    provider: str = "wangsu"
    id_field: str = "videoId"
    not_found_code: str = "NotFound"
    not_found_message: str = "No upload with this fileId exists."

    def run(self, call: Call) -> dict[str, Any]:
        params = validate(call.body, WANGSU_FIELDS, WANGSU_OPERATOR_FIELDS)
        self._claim_file_id(call, params)
        params |= wangsu_policy(call.config)

        from upload_broker.upstream_wangsu import decode_put_policy_deadline

        def invoke(p: dict[str, Any], budget: Budget) -> dict[str, Any]:
            data = call.broker.wangsu.get_upload_token(p, budget_seconds=max(0.0, budget.remaining()))
            decode_put_policy_deadline(data.get("uploadToken"))  # unreadable: 502 before anything is recorded
            return dict(data)

        response = issue_create(call, self, params, invoke)
        # issue_create's Expiration reads a VOD UploadAuth; a Wangsu token carries its own deadline.
        response["Expiration"] = _iso_utc(decode_put_policy_deadline(response.get("uploadToken")))
        return response

    def _claim_file_id(self, call: Call, params: dict[str, Any]) -> None:
        """Make the fileId the caller's (first use) or prove it already is; otherwise 404, no upstream call."""
        file_id = params.get("fileId")
        overwrite = params.get("overwrite") == "1"
        not_found = NotFound(self.not_found_message, code=self.not_found_code)
        if file_id is None:
            if overwrite:
                raise MissingParameter("fileId", "overwrite=1 needs the fileId of your earlier upload.")
            return
        ledger = call.broker.ledger
        record = ledger.find(WANGSU_FILE_PROVIDER, file_id)
        if record is None:
            if overwrite:
                raise not_found  # nothing of the caller's to overwrite
            # Claimed before the call: of two users racing for a new fileId, exactly one keeps it (the ledger's
            # first owner wins), and the other is refused below without reaching Wangsu.
            ledger.record_creation(
                provider=WANGSU_FILE_PROVIDER,
                resource_id=file_id,
                owner=call.user,
                kind="file",
                operation=self.action,
                request_id=call.request_id,
                upstream_request_id=None,
                at=call.now,
            )
            record = ledger.find(WANGSU_FILE_PROVIDER, file_id)
        if record is None or record.owner != call.user:
            raise not_found


def _iso_utc(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


__all__ = [
    "ICE_FIELDS",
    "IceCreate",
    "IceRefresh",
    "WANGSU_FIELDS",
    "WANGSU_FILE_PROVIDER",
    "WangsuGetUploadToken",
    "ice_policy",
    "wangsu_policy",
]
