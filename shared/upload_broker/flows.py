"""The two flows that issue credentials, the same for every provider and operation.

- A create: validate (the operation) → the ``Idempotency-Key`` (a kept answer is replayed) → the caller's
  daily quotas (reserved, given back if nothing is issued) → the operation's own claims → the upstream
  call → the owner, the kept answer and the audit record → credentials. If any record cannot be written,
  no credential leaves (503).
- A refresh: the ledger's record first; a resource that is missing, not the caller's, or of another kind
  than the route's is answered exactly as a missing one (404) and never reaches the upstream. Then the
  free limits (window, count), then whether the upstream already holds the source (the ledger's word, else
  the upstream's status lookup): a finished upload is not refreshed (409), since a refresh overwrites it.

The provider (``providers/<name>.py``) supplies the client, the credentials, the answer's ``Expiration``
and the 404; this module never names one.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

from upload_broker import audit, idempotency, limits
from upload_broker.call import RESOURCE_ID, Call, Operation, SourceCheck
from upload_broker.errors import (
    BadRequest,
    BrokerError,
    Forbidden,
    NotFound,
    UploadAlreadyCompleted,
    UpstreamError,
)
from upload_broker.http import Answer
from upload_broker.ledger import LedgerUnavailable
from upload_broker.providers import provider_named

log = logging.getLogger("upload_broker")

# CreateUploadVideo / CreateUploadImage: "the validity period of an upload credential is 3,000 seconds".
DEFAULT_CREDENTIAL_SECONDS = 3000


def call_upstream(call: Call, operation: Operation, params: dict[str, Any], *, idempotent: bool,
                  action: str | None = None) -> dict[str, Any]:
    """``operation.action`` (or another ``action`` of its provider, such as a refresh's status lookup) on its
    provider's client, with the provider's credentials, inside the request's budget."""
    provider = provider_named(operation.provider)
    try:
        return call.broker.upstream(operation.provider).call(
            action or operation.action, params, credentials=provider.credentials(call),
            budget=call.upstream_budget(), idempotent=idempotent,
        )
    except BadRequest as refused:
        setting = operator_setting_refused(refused, operation.operator_fields)
        if setting is None:
            raise
        # A setting the client never sent (VOD_STORAGE_LOCATION, ...) is the operator's to fix: not the client's.
        raise UpstreamError(
            f"The upstream refused the broker's own {setting} setting; the operator must correct it.",
            upstream_request_id=refused.upstream_request_id,
        ) from None


def operator_setting_refused(error: BrokerError, operator_fields: tuple[str, ...]) -> str | None:
    """The operator's field an upstream 4xx names, if any: by its Code (``InvalidStorage.NotFound``) or, as
    VOD's common ``InvalidParameter`` does ("The specified parameter StorageLocation is not valid."), its
    Message. A field's stem (``StorageLocation`` -> ``Storage``, ``TemplateGroupId`` -> ``TemplateGroup``)
    counts too, as VOD's codes use it."""
    code, message = error.upstream_code or "", error.upstream_message or ""
    for name in operator_fields:
        stem = re.sub(r"(Id|Config|Location)$", "", name)
        if re.search(rf"\b{re.escape(name)}\b", message) or re.search(rf"(^|\W|Invalid){re.escape(stem)}", code):
            return name
    return None


def issue_create(
    call: Call,
    operation: Operation,
    params: dict[str, Any],
    *,
    before_upstream: Callable[[], None] | None = None,
) -> Answer:
    """Call the upstream create, record the new resource's owner, and return the credentials.

    ``before_upstream`` runs once the request has passed every refusal that costs nothing (idempotency,
    quotas): a claim it makes (a Wangsu ``fileId``) is never made for a request that is then refused.
    """
    provider = provider_named(operation.provider)
    id_field = operation.id_field
    key = idempotency.key_from(call.request)
    size = limits.declared_bytes(operation, call.body, required=call.config.quota_bytes_per_day is not None)
    held: idempotency.HeldKey | None = None
    if key is not None:
        claimed = idempotency.claim(call, operation, key)
        if isinstance(claimed, Answer):
            audit.issued(call, operation, resource_id=claimed.body.get(id_field),
                         upstream_request_id=claimed.body.get("RequestId"), outcome=audit.REPLAYED)
            return claimed
        held = claimed
    reservation = None
    try:
        reservation = limits.reserve_create_quota(call, size)
        if before_upstream is not None:
            before_upstream()
        response = call_upstream(call, operation, params, idempotent=False)
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
        response["Expiration"] = provider.expiration(response, call.now)
        if held is not None:
            held.complete(response, at=call.now)
        audit.issued(call, operation, resource_id=resource_id, upstream_request_id=response.get("RequestId"))
    except BaseException:
        if reservation is not None:
            reservation.release()
        if held is not None:
            held.release()
        raise
    return Answer(response)


def issue_refresh(call: Call, operation: Operation, source_check: SourceCheck) -> Answer:
    """Refresh a resource only for its owner, and only while its upload is unfinished.

    Anyone but the owner gets the same 404 as for a missing resource. A refresh can overwrite the source
    file, so it is bounded: at most ``BROKER_MAX_REFRESHES`` per resource, only within
    ``BROKER_REFRESH_WINDOW_HOURS`` of its creation (403 past either), and never once the upstream holds
    the source (409 ``UploadAlreadyCompleted``) unless the operator allows owners to replace a finished
    source (``BROKER_ALLOW_SOURCE_REPLACE``). Whether the source is in comes from the ledger (a signed
    callback or an earlier lookup said so) or, when the ledger does not know yet, from the upstream's own
    status (``source_check``), asked before the refresh and under the same error rules and budget. A token
    with the ``BROKER_ADMIN_SCOPE`` scope may refresh any resource the broker issued, past every limit;
    each such use is audited as ``admin-override``.
    """
    provider = provider_named(operation.provider)
    config = call.config
    id_field = operation.id_field
    resource_id = call.path_params.get(id_field, "")
    not_found = provider.not_found(operation.kind)
    if not RESOURCE_ID.fullmatch(resource_id):
        raise not_found
    ledger = call.broker.ledger
    record = ledger.find(operation.provider, resource_id)
    # An image's or attached media's id on the video route is not a video: the same 404, no upstream call.
    if record is None or record.kind != operation.kind:
        raise not_found
    admin = bool(config.admin_scope and call.principal.has_scope(config.admin_scope))
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
    if not admin and record.refresh_count >= config.max_refreshes:
        raise _refreshes_spent(config.max_refreshes)  # before the status lookup: a refusal that costs nothing
    if record.completed_at is None and source_in(call, operation, source_check, resource_id):
        try:
            ledger.mark_completed(provider=operation.provider, resource_id=resource_id, at=call.now)
        except LedgerUnavailable:
            log.warning("completion not recorded", extra={"request_id": call.request_id})  # asked again next time
        record = replace(record, completed_at=call.now)
    outcome = audit.ISSUED
    if record.completed_at is not None:
        if admin:
            overridden = True
        elif config.allow_source_replace:
            outcome = audit.SOURCE_REPLACED
        else:
            raise UploadAlreadyCompleted()
    if not ledger.record_refresh(provider=operation.provider, resource_id=resource_id, at=call.now,
                                 limit=None if admin else config.max_refreshes):
        raise _refreshes_spent(config.max_refreshes)
    overridden = overridden or record.refresh_count >= config.max_refreshes
    try:
        try:
            response = call_upstream(call, operation, {id_field: resource_id}, idempotent=True)
        except NotFound as missing:
            # The upstream no longer knows it: the very same 404 as the ledger's miss.
            raise provider.not_found(operation.kind, missing.upstream_request_id) from None
        response.setdefault(id_field, resource_id)
        response["Expiration"] = provider.expiration(response, call.now)
        audit.issued(call, operation, resource_id=resource_id, upstream_request_id=response.get("RequestId"),
                     outcome=audit.ADMIN_OVERRIDE if overridden else outcome)
    except BaseException:
        try:
            ledger.release_refresh(provider=operation.provider, resource_id=resource_id)
        except LedgerUnavailable:
            pass  # the refresh stays counted: the safe side of the limit
        raise
    return Answer(response)


def _refreshes_spent(limit: int) -> Forbidden:
    return Forbidden(f"This upload was already refreshed {limit} times, the most allowed; create a new upload instead.")


def source_in(call: Call, operation: Operation, check: SourceCheck, resource_id: str) -> bool:
    """Whether the upstream already holds ``resource_id``'s source, by its status (``check.action``).

    The lookup is one more upstream call inside the request's budget, retried (it only reads) by the same
    rules as the refresh; a failure is the refresh's failure, so no refresh is ever made blind.
    """
    provider = provider_named(operation.provider)
    try:
        answer = call_upstream(call, operation, {check.id_param: resource_id}, idempotent=True, action=check.action)
    except NotFound as missing:
        raise provider.not_found(operation.kind, missing.upstream_request_id) from None
    except BadRequest as refused:
        # ICE answers GetMediaInfo for an id it does not know with 400 'The specified parameter "MediaId" is
        # not valid.' (https://developer.aliyun.com/ask/673180), besides its 404 ResourceNotFound.
        if refused.upstream_code == "InvalidParameter" and check.id_param in (refused.upstream_message or ""):
            raise provider.not_found(operation.kind, refused.upstream_request_id) from None
        raise
    status = check.status_of(answer)
    if status is None:
        raise UpstreamError(f"The upstream's {check.action} answer has no status; no credential was issued.",
                            upstream_request_id=answer.get("RequestId"))
    if status in check.unfinished:
        return False
    if status not in check.finished:
        log.warning("unknown upstream status counted as finished",
                    extra={"request_id": call.request_id, "action": check.action, "status": status[:64]})
    return True


# --- Expiration ------------------------------------------------------------------------------------


def upload_auth_expiration(upload_auth: Any, now: float) -> str:
    """When a VOD/ICE ``UploadAuth`` stops working: its ``ExpireUTCTime``, else now + its ``Expiration``
    seconds, else now + 3,000 s (the documented default).

    The UploadAuth is Base64 JSON with ``AccessKeyId``, ``AccessKeySecret``, ``SecurityToken``,
    ``Expiration`` (seconds) and ``ExpireUTCTime`` ("Upload URLs and credentials", VOD docs).
    """
    decoded = decode_base64_json(upload_auth) if isinstance(upload_auth, str) else None
    if decoded is not None:
        expire = decoded.get("ExpireUTCTime")
        if isinstance(expire, str):
            parsed = parse_utc(expire)
            if parsed is not None:
                return iso_utc(parsed)
        seconds = decoded.get("Expiration")
        try:
            if seconds is not None and int(seconds) > 0:
                return iso_utc(datetime.fromtimestamp(now, timezone.utc) + timedelta(seconds=int(seconds)))
        except (TypeError, ValueError):
            pass
    return iso_utc(datetime.fromtimestamp(now, timezone.utc) + timedelta(seconds=DEFAULT_CREDENTIAL_SECONDS))


def decode_base64_json(value: str) -> Mapping[str, Any] | None:
    try:
        padded = value + "=" * (-len(value) % 4)
        decoded = json.loads(base64.b64decode(padded.replace("-", "+").replace("_", "/")))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    return decoded if isinstance(decoded, dict) else None


def parse_utc(text: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def iso_utc(moment: datetime) -> str:
    """ISO 8601 in UTC to the second, ``2026-11-30T10:00:00Z``."""
    utc = moment.astimezone(timezone.utc).replace(microsecond=0)
    if utc.year < 1000:  # strftime's %Y does not pad to four digits; isoformat does
        return utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    return utc.replace(tzinfo=None).isoformat() + "Z"
