"""POST /v1/callbacks/vod: VOD's HTTP event notifications, which lock finished uploads.

VOD posts one JSON event per request ("HTTP callbacks", https://alibabacloud.com/help/en/vod/user-guide/http-callbacks:
"HTTP POST requests are sent and the request body is in the JSON format"; only a 200 counts as delivered,
anything else is retried - three attempts, then the event is dropped). There is no bearer token: VOD signs
each request instead ("HTTP callback authentication", https://www.alibabacloud.com/help/doc-detail/67214.htm):

- ``X-VOD-TIMESTAMP``: "a 10-digit positive integer", the UNIX time of sending;
- ``X-VOD-SIGNATURE``: "an MD5 value of 32 characters", md5sum("<callback URL>|<X-VOD-TIMESTAMP>|<private key>")
  (the doc's own example: md5sum("https://www.example.com/your/callback|1519375990|test123") =
  c72b60894140fa98920f1279219b7ed4, lowercase hex).

The broker checks both with ``VOD_CALLBACK_URL`` (exactly as set in the VOD console) and
``VOD_CALLBACK_AUTH_KEY`` (one key, or two during a rotation), compares in constant time, and refuses a
timestamp more than :data:`CLOCK_WINDOW_SECONDS` from its clock either way ("If the time difference exceeds
the value set by the server (for example, 5 minutes)", the same page). With no key set every callback is
refused: an unsigned callback is anyone's.

The signature covers neither the body nor the event: whoever captured one signed request can replay its
headers with any body inside the window. So a callback may only ever *lock* an upload (mark it completed,
after which refreshes are refused): it never issues, unlocks, or reveals anything, and it answers every
verified event with 200 whatever it names, so it cannot be used to probe which ids the broker issued.

Events that lock (the payloads of https://www.alibabacloud.com/help/en/vod/user-guide/fileuploadcomplete,
.../imageuploadcomplete, .../attachedmediauploadcomplete): ``FileUploadComplete`` (``VideoId``),
``ImageUploadComplete`` (``ImageId``) and ``AttachedMediaUploadComplete`` (``AttachedMediaId``), each with
``"Status": "success"`` (no event is sent for a failed upload). Any other event is acknowledged unchanged.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from upload_broker import audit
from upload_broker.call import RESOURCE_ID
from upload_broker.errors import BrokerError, Forbidden
from upload_broker.http import Answer, Endpoint, Request, Route, parse_json_body

if TYPE_CHECKING:
    from upload_broker.runtime import Broker

CLOCK_WINDOW_SECONDS = 300
_TIMESTAMP = re.compile(r"[1-9][0-9]{9}")
_SIGNATURE = re.compile(r"[0-9A-Fa-f]{32}")


@dataclass(frozen=True)
class LockingEvent:
    """A VOD event that says an upload's source is in: which kind of resource, and the field naming it."""

    kind: str
    id_field: str


@dataclass(frozen=True, kw_only=True)
class VodCallback:
    """The function that receives VOD's signed callbacks; declared in ``functions/vod_callback``."""

    function: str
    path: str
    provider: str
    action: str = "VodCallback"  # its name in the audit trail of refused callbacks
    events: Mapping[str, LockingEvent] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from upload_broker.providers import provider_named

        provider_named(self.provider)  # an unregistered provider stops the import here
        if not self.events:
            raise TypeError(f"{self.function}: declare the events that mark an upload completed")

    @property
    def route(self) -> Route:
        return Route(self.path, ("POST",))

    def bind(self, broker: Broker) -> Endpoint:
        return CallbackEndpoint(self, broker)


class CallbackEndpoint(Endpoint):
    """Verifies VOD's signature, then locks the upload an event names (no bearer token on this route)."""

    raw_body = True  # the signature is checked before the body is read

    def __init__(self, callback: VodCallback, broker: Broker) -> None:
        self.callback = callback
        self.broker = broker
        self.route = callback.route

    def handle(self, request: Request, body: dict[str, Any], path_params: dict[str, str], request_id: str) -> Answer:
        try:
            now = self.broker.clock()
            verify_signature(request, self.broker.config.vod_callback_url, self.broker.config.vod_callback_auth_keys,
                             now=now)
            event = parse_json_body(request, any_content_type=True)  # VOD does not document a Content-Type
            self._lock(event, request, request_id, now)
            return Answer({"RequestId": request_id})
        except BrokerError as error:
            error.audit_context = audit.AuditContext(None, self.callback.action, None)
            raise

    def _lock(self, event: dict[str, Any], request: Request, request_id: str, now: float) -> None:
        event_type = event.get("EventType")
        if not isinstance(event_type, str):
            return  # not an event VOD documents: acknowledged, nothing changes
        locking = self.callback.events.get(event_type)
        status = event.get("Status")
        resource_id = event.get(locking.id_field) if locking is not None else None
        if (locking is None or not isinstance(status, str) or status.lower() != "success"
                or not isinstance(resource_id, str) or not RESOURCE_ID.fullmatch(resource_id)):
            return  # not an upload completing: acknowledged, nothing changes
        ledger = self.broker.ledger
        record = ledger.find(self.callback.provider, resource_id)
        if record is None or record.kind != locking.kind or record.completed_at is not None:
            return  # never issued by the broker (or not this kind), or already locked: nothing to change
        ledger.mark_completed(provider=self.callback.provider, resource_id=resource_id, at=now)
        audit.completed(self.broker, request, request_id, owner=record.owner, event=event_type,
                        resource_id=resource_id, at=now)


def signature(url: str, timestamp: str, key: str) -> str:
    """VOD's ``X-VOD-SIGNATURE`` for a callback to ``url`` sent at ``timestamp`` with ``key``: lowercase hex."""
    return hashlib.md5(f"{url}|{timestamp}|{key}".encode(), usedforsecurity=False).hexdigest()


def verify_signature(request: Request, url: str | None, keys: tuple[str, ...], *, now: float) -> None:
    """403 unless ``X-VOD-SIGNATURE`` is md5("<url>|<X-VOD-TIMESTAMP>|<key>") for one of ``keys`` and the
    timestamp is within :data:`CLOCK_WINDOW_SECONDS` of ``now``."""
    if not keys or not url:
        raise Forbidden("VOD callbacks are refused: the operator has not set VOD_CALLBACK_AUTH_KEY (and "
                        "VOD_CALLBACK_URL), so no callback can be verified.")
    timestamp = (request.headers.get("X-VOD-TIMESTAMP") or "").strip()
    sent = (request.headers.get("X-VOD-SIGNATURE") or "").strip()
    if not _TIMESTAMP.fullmatch(timestamp) or not _SIGNATURE.fullmatch(sent):
        raise Forbidden("A VOD callback must carry X-VOD-TIMESTAMP (10 digits) and X-VOD-SIGNATURE (32 hex digits).")
    if abs(now - int(timestamp)) > CLOCK_WINDOW_SECONDS:
        raise Forbidden(f"The callback's X-VOD-TIMESTAMP is more than {CLOCK_WINDOW_SECONDS} seconds from the "
                        "broker's clock; it is refused as stale or from the future.")
    given = sent.lower().encode("ascii")
    matched = False
    for key in keys:  # every key is compared, so the time taken does not say which one matched
        matched |= hmac.compare_digest(signature(url, timestamp, key).encode("ascii"), given)
    if not matched:
        raise Forbidden("The callback's X-VOD-SIGNATURE does not verify with the configured callback URL and key.")


__all__ = ["CLOCK_WINDOW_SECONDS", "CallbackEndpoint", "LockingEvent", "VodCallback", "signature",
           "verify_signature"]
