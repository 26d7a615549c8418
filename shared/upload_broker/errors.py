"""One error tree for the broker: every refusal is a ``BrokerError`` with its status and ``Code``.

Modelled on chalice's view errors (status on the class) and pyjwt's exceptions (one class per
failure, structured data on the instance). ``render`` in :mod:`upload_broker.http` is the only place
that turns them into the contract's JSON body.

Messages are written for the caller and must never carry a secret, a token or library text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from upload_broker.audit import AuditContext


class BrokerError(Exception):
    """Raised for any request the broker refuses or cannot serve; the root of the tree."""

    status: int = 500
    code: str = "InternalError"
    default_message: str = "The broker failed to handle the request."
    # The upstream's own Code and Message, when the refusal translates them (the Message is never rendered).
    upstream_code: str | None = None
    upstream_message: str | None = None
    # Who asked for what, for the audit record of a refusal (set once the route matched).
    audit_context: AuditContext | None = None

    def __init__(
        self,
        message: str | None = None,
        *,
        field: str | None = None,
        code: str | None = None,
        status: int | None = None,
        retry_after: int | None = None,
        upstream_request_id: str | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.field = field
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.retry_after = retry_after
        self.upstream_request_id = upstream_request_id
        super().__init__(self.message)

    def headers(self) -> dict[str, str]:
        """Extra response headers this refusal carries (``Retry-After``, ``WWW-Authenticate``)."""
        if self.retry_after is not None:
            return {"Retry-After": str(max(0, int(self.retry_after)))}
        return {}

    def body(self, request_id: str) -> dict[str, str]:
        """The contract's error body: ``Code``, ``Message``, ``RequestId`` and ``Field`` if one is at fault."""
        body = {"Code": self.code, "Message": self.message, "RequestId": request_id}
        if self.field:
            body["Field"] = self.field
        return body


# --- 400 -------------------------------------------------------------------------------------------


class BadRequest(BrokerError):
    """Raised when the request cannot be served as sent."""

    status = 400
    code = "InvalidParameter"
    default_message = "The request is not valid."


class InvalidParameter(BadRequest):
    """Raised when one field has a wrong type, value or length."""

    code = "InvalidParameter"


class MissingParameter(BadRequest):
    """Raised when a required field is absent or empty."""

    code = "MissingParameter"

    def __init__(self, field: str, message: str | None = None) -> None:
        super().__init__(message or f"{field} is required.", field=field)


class ForbiddenParameter(BadRequest):
    """Raised when a client sends a field that only the operator may set."""

    code = "ForbiddenParameter"

    def __init__(self, field: str) -> None:
        super().__init__(
            f"{field} is set by the operator in the broker's configuration and may not be sent by a client.",
            field=field,
        )


class InvalidJSON(BadRequest):
    """Raised when the body is not a JSON object in UTF-8."""

    code = "InvalidJSON"
    default_message = "The request body must be a JSON object encoded in UTF-8."


class MalformedEvent(BadRequest):
    """Raised when a function is invoked with an event that is not a well-formed HTTP request."""

    code = "MalformedEvent"
    default_message = "The event is not a Function Compute HTTP-trigger or API Gateway request."


# --- 401 / 403 / 404 / 409 -------------------------------------------------------------------------


class Unauthorized(BrokerError):
    """Raised when the bearer token is missing, malformed, badly signed, expired or for someone else."""

    status = 401
    code = "Unauthorized"
    default_message = "A valid bearer token is required."

    def __init__(self, message: str | None = None, *, error: str | None = "invalid_token") -> None:
        super().__init__(message)
        # RFC 6750 section 3.1: a request without any token gets a challenge with no error code;
        # "invalid_request" for a malformed Authorization header, "invalid_token" for a bad token.
        self.error = error

    def headers(self) -> dict[str, str]:
        challenge = f'Bearer error="{self.error}"' if self.error else "Bearer"
        return {"WWW-Authenticate": challenge} | super().headers()


class Forbidden(BrokerError):
    """Raised when a valid token lacks the right to do what it asks."""

    status = 403
    code = "Forbidden"
    default_message = "You are not allowed to do this."


class NotFound(BrokerError):
    """Raised when a route or resource does not exist, or the resource is not the caller's."""

    status = 404
    code = "NotFound"
    default_message = "The resource does not exist."


class IdempotencyConflict(BrokerError):
    """Raised when an ``Idempotency-Key`` is reused with a different body."""

    status = 409
    code = "IdempotencyConflict"
    default_message = "This Idempotency-Key was already used with a different request body."


class UploadAlreadyCompleted(BrokerError):
    """Raised when a refresh would overwrite the source of an upload that the upstream already holds."""

    status = 409
    code = "UploadAlreadyCompleted"
    default_message = "This upload finished; start a new upload to send another file."


# --- protocol --------------------------------------------------------------------------------------


class MethodNotAllowed(BrokerError):
    """Raised when the route exists but not for this HTTP method."""

    status = 405
    code = "MethodNotAllowed"
    default_message = "This method is not allowed on this route."

    def __init__(self, allowed: tuple[str, ...] = ("POST", "OPTIONS")) -> None:
        super().__init__(f"This route accepts {', '.join(allowed)}.")
        self.allowed = allowed

    def headers(self) -> dict[str, str]:
        return {"Allow": ", ".join(self.allowed)}


class PayloadTooLarge(BrokerError):
    """Raised when the body is over the broker's 64 KiB limit."""

    status = 413
    code = "PayloadTooLarge"
    default_message = "The request body is larger than 64 KiB."


class UnsupportedMediaType(BrokerError):
    """Raised when a body is sent with a Content-Type other than JSON."""

    status = 415
    code = "UnsupportedMediaType"
    default_message = "Send the body as Content-Type: application/json."


# --- 429 / 5xx -------------------------------------------------------------------------------------


class Throttling(BrokerError):
    """Raised when the upstream throttled the call or the caller's request rate is spent."""

    status = 429
    code = "Throttling"
    default_message = "Too many requests; retry after the time in Retry-After."

    def __init__(self, message: str | None = None, *, retry_after: int = 1, **kw) -> None:
        super().__init__(message, retry_after=retry_after, **kw)


class QuotaExceeded(BrokerError):
    """Raised when the caller's daily quota is spent."""

    status = 429
    code = "QuotaExceeded"
    default_message = "Your upload quota is spent; retry after the time in Retry-After."

    def __init__(self, message: str | None = None, *, retry_after: int = 1, **kw) -> None:
        super().__init__(message, retry_after=retry_after, **kw)


class UpstreamError(BrokerError):
    """Raised when the upstream failed or refused the server's own credentials."""

    status = 502
    code = "UpstreamError"
    default_message = "The upstream service failed to handle the request."


class UpstreamUnavailable(BrokerError):
    """Raised when the upstream (or the ledger store) timed out or could not be reached."""

    status = 503
    code = "UpstreamUnavailable"
    default_message = "The upstream service is unavailable; retry after the time in Retry-After."

    def __init__(self, message: str | None = None, *, retry_after: int = 2, **kw) -> None:
        super().__init__(message, retry_after=retry_after, **kw)


class InternalError(BrokerError):
    """Raised for a bug: never expected, always logged with its traceback."""


class ConfigError(Exception):
    """Raised at start when a setting is malformed; the message names the variable."""

    def __init__(self, variable: str, problem: str) -> None:
        self.variable = variable
        super().__init__(f"{variable}: {problem}")
