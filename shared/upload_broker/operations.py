"""Operations: what each function does once the protocol checks and the token have passed.

An operation is declared in its function folder (``functions/<op>/operation.py``) as one of the
classes here, with its route, its upstream action and its request fields. The shared flows below are
the only places that issue credentials, so the rules hold for every operation alike:

- creates: validate → operator policy → upstream call → ledger record → credentials. If the ledger
  cannot record the owner, the credentials are not returned.
- refreshes: look the owner up in the ledger first; a resource the caller does not own, or that the
  broker never issued, is answered exactly as a missing one (404) and never reaches the upstream.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from upload_broker.config import Config
from upload_broker.errors import NotFound, UpstreamError
from upload_broker.http import Request, Route
from upload_broker.upstream_aliyun import Budget
from upload_broker.validation import VOD_OPERATOR_FIELDS, Field, validate

if TYPE_CHECKING:
    from upload_broker.auth import Principal
    from upload_broker.runtime import Broker

# VOD and ICE IDs are 32 hexadecimal characters; anything far from that shape cannot exist upstream.
RESOURCE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# CreateUploadImage: "By default, the validity period of an image upload credential is 3,000 seconds."
DEFAULT_CREDENTIAL_SECONDS = 3000


@dataclass
class Call:
    """One authorised request on its way through an operation."""

    broker: Broker
    request: Request
    principal: Principal
    body: dict[str, Any]
    path_params: dict[str, str]
    request_id: str
    now: float = field(default_factory=time.time)
    budget: Budget | None = None

    @property
    def config(self) -> Config:
        return self.broker.config

    @property
    def user(self) -> str:
        return self.principal.sub

    def upstream(self, client: Any, action: str, params: dict[str, Any], budget: Budget, *,
                 idempotent: bool) -> dict[str, Any]:
        """Call ``action`` on an Alibaba Cloud RPC client with the server's credentials for this request."""
        return client.call(action, params, credentials=self.broker.credentials(self.request), budget=budget,
                           idempotent=idempotent)


@dataclass(frozen=True)
class Operation:
    """What every operation declares: its function folder, upstream action and route."""

    function: str
    action: str
    path: str
    kind: str
    provider: str = "vod"
    # The upstream's name for the resource id, and how a missing (or not-owned) resource is answered.
    id_field: str = "VideoId"
    not_found_code: str = "NotFound"
    not_found_message: str = "The resource does not exist."
    # The dotted request field that declares a create's size in bytes, for BROKER_QUOTA_BYTES_PER_DAY
    # ("FileSize", "FileInfo.Size"); None: found among ``fields`` by those names; "": the upstream takes none.
    size_field: str | None = None

    @property
    def route(self) -> Route:
        return Route(self.path, ("POST",))

    @property
    def is_create(self) -> bool:
        return "{" not in self.path

    def run(self, call: Call) -> dict[str, Any]:
        raise NotImplementedError


# --- VOD -------------------------------------------------------------------------------------------


def vod_policy(config: Config, *, transcoding: bool = True) -> dict[str, str]:
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


@dataclass(frozen=True)
class VodCreate(Operation):
    """A VOD ``CreateUpload*`` call: the client's fields, the operator's policy, a new resource id."""

    fields: tuple[Field, ...] = ()
    operator_fields: tuple[str, ...] = VOD_OPERATOR_FIELDS
    transcoding: bool = True
    # Cross-field rules (e.g. an extension that must fit a type); gets and returns the upstream params.
    check: Callable[[dict[str, Any]], dict[str, Any]] | None = None

    def run(self, call: Call) -> dict[str, Any]:
        params = validate(call.body, self.fields, self.operator_fields)
        if self.check is not None:
            params = self.check(params)
        params |= vod_policy(call.config, transcoding=self.transcoding)
        return issue_create(
            call,
            self,
            params,
            lambda p, budget: call.upstream(call.broker.vod, self.action, p, budget, idempotent=False),
        )


@dataclass(frozen=True)
class VodRefresh(Operation):
    """A VOD refresh of a resource the caller created (``RefreshUploadVideo``)."""

    not_found_code: str = "InvalidVideo.NotFound"
    not_found_message: str = "The video does not exist."

    def run(self, call: Call) -> dict[str, Any]:
        validate(call.body, ())  # "empty body or {}": anything else is a mistake worth telling
        return issue_refresh(
            call,
            self,
            lambda resource_id, budget: call.upstream(
                call.broker.vod, self.action, {self.id_field: resource_id}, budget, idempotent=True
            ),
        )


# --- the shared flows ------------------------------------------------------------------------------


def issue_create(
    call: Call,
    operation: Operation,
    params: dict[str, Any],
    invoke: Callable[[dict[str, Any], Budget], dict[str, Any]],
) -> dict[str, Any]:
    """Call the upstream create, record the new resource's owner, and return the credentials.

    Before the upstream call: the ``Idempotency-Key`` (a kept answer is replayed, a request in flight
    is waited for) and the caller's daily quotas (reserved, and given back if nothing is issued).
    After it: the owner, the kept answer and the audit record are written before the credentials
    leave; if any of them cannot be written, the caller gets a 503 and no credentials.
    """
    from upload_broker import audit, idempotency, limits

    id_field = operation.id_field
    key = idempotency.key_from(call.request)
    size = limits.declared_bytes(operation, call.body, required=call.config.quota_bytes_per_day is not None)
    held = None
    if key is not None:
        held = idempotency.claim(call, operation, key)
        if isinstance(held, idempotency.ReplayedAnswer):
            audit.issued(call, operation, resource_id=held.get(id_field), upstream_request_id=held.get("RequestId"),
                         outcome=audit.REPLAYED)
            return held
    reservation = None
    try:
        reservation = limits.reserve_create_quota(call, size)
        budget = call.budget or Budget.of(call.config.upstream_budget_seconds)
        response = invoke(params, budget)
        resource_id = response.get(id_field)
        if not isinstance(resource_id, str) or not resource_id:
            raise UpstreamError(f"The upstream's answer has no {id_field}.")
        call.broker.ledger.record_creation(
            provider=operation.provider,
            resource_id=resource_id,
            owner=call.user,
            kind=operation.kind,
            operation=operation.action,
            request_id=call.request_id,
            upstream_request_id=response.get("RequestId"),
            at=call.now,
        )
        answer = with_expiration(response, call.now)
        if held is not None:
            held.complete(answer, at=call.now)
        audit.issued(call, operation, resource_id=resource_id, upstream_request_id=response.get("RequestId"))
    except BaseException:
        if reservation is not None:
            reservation.release()
        if held is not None:
            held.release()
        raise
    return answer


def issue_refresh(
    call: Call,
    operation: Operation,
    invoke: Callable[[str, Budget], dict[str, Any]],
) -> dict[str, Any]:
    """Refresh a resource only for its owner; anyone else gets the same 404 as for a missing one.

    A refresh can overwrite the source file, so it is also bounded: at most ``BROKER_MAX_REFRESHES`` per
    resource and only within ``BROKER_REFRESH_WINDOW_HOURS`` of its creation (403 past either). A token
    with the ``BROKER_ADMIN_SCOPE`` scope may refresh any resource the broker issued, past both limits;
    each such use is audited as ``admin-override``.
    """
    from upload_broker import audit
    from upload_broker.errors import Forbidden
    from upload_broker.ledger import LedgerUnavailable

    config = call.config
    id_field = operation.id_field
    resource_id = call.path_params.get(id_field, "")
    not_found = NotFound(operation.not_found_message, code=operation.not_found_code)
    if not RESOURCE_ID.match(resource_id):
        raise not_found
    ledger = call.broker.ledger
    record = ledger.find(operation.provider, resource_id)
    if record is None:
        raise not_found
    admin = bool(config.admin_scope) and call.principal.has_scope(config.admin_scope)
    overridden = False
    if record.owner != call.user:
        if not admin:
            raise not_found
        overridden = True
    if call.now - record.created_at > config.refresh_window_hours * 3600:
        if not admin:
            raise Forbidden(
                f"This upload was created more than {config.refresh_window_hours:g} hours ago and can no longer "
                "be refreshed; create a new upload instead."
            )
        overridden = True
    if not ledger.record_refresh(provider=operation.provider, resource_id=resource_id, at=call.now,
                                 limit=None if admin else config.max_refreshes):
        raise Forbidden(
            f"This upload was already refreshed {config.max_refreshes} times, the most allowed; "
            "create a new upload instead."
        )
    overridden = overridden or record.refresh_count >= config.max_refreshes
    try:
        budget = call.budget or Budget.of(config.upstream_budget_seconds)
        response = invoke(resource_id, budget)
        response.setdefault(id_field, resource_id)
        answer = with_expiration(response, call.now)
        audit.issued(call, operation, resource_id=resource_id, upstream_request_id=response.get("RequestId"),
                     outcome=audit.ADMIN_OVERRIDE if overridden else audit.ISSUED)
    except BaseException:
        try:
            ledger.release_refresh(provider=operation.provider, resource_id=resource_id)
        except LedgerUnavailable:
            pass  # the refresh stays counted: the safe side of the limit
        raise
    return answer


def with_expiration(response: dict[str, Any], now: float) -> dict[str, Any]:
    """Add ``Expiration`` (ISO 8601 UTC) from the decoded ``UploadAuth``."""
    response["Expiration"] = upload_auth_expiration(response.get("UploadAuth"), now)
    return response


def upload_auth_expiration(upload_auth: Any, now: float) -> str:
    """When an ``UploadAuth`` stops working: its ``ExpireUTCTime``, else now + its ``Expiration`` seconds.

    The UploadAuth is Base64 JSON with ``AccessKeyId``, ``AccessKeySecret``, ``SecurityToken``,
    ``Expiration`` (seconds) and ``ExpireUTCTime`` ("Upload URLs and credentials", VOD docs).
    """
    decoded = decode_base64_json(upload_auth) if isinstance(upload_auth, str) else None
    if decoded is not None:
        expire = decoded.get("ExpireUTCTime")
        if isinstance(expire, str):
            parsed = _parse_utc(expire)
            if parsed is not None:
                return _iso(parsed)
        seconds = decoded.get("Expiration")
        try:
            if seconds is not None and int(seconds) > 0:
                return _iso(datetime.fromtimestamp(now, timezone.utc) + timedelta(seconds=int(seconds)))
        except (TypeError, ValueError):
            pass
    return _iso(datetime.fromtimestamp(now, timezone.utc) + timedelta(seconds=DEFAULT_CREDENTIAL_SECONDS))


def decode_base64_json(value: str) -> Mapping[str, Any] | None:
    try:
        padded = value + "=" * (-len(value) % 4)
        decoded = json.loads(base64.b64decode(padded.replace("-", "+").replace("_", "/")))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    return decoded if isinstance(decoded, dict) else None


def _parse_utc(text: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")

