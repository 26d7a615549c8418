"""Calls to Alibaba Cloud's RPC APIs (VOD 2017-03-21, ICE 2020-11-09) through aliyun-python-sdk-core.

One :class:`AliyunRpc` per product per instance: it keeps one ``AcsClient`` per set of credentials, and
an ``AcsClient`` keeps a pooled keep-alive ``Session``, so warm invocations reuse connections. Real
endpoints are called over HTTPS (the SDK's default is plain HTTP), with explicit connect and read
timeouts, and with the SDK's own retries off: the broker decides what may be retried.

Retry rules (the SDK never retries VOD calls itself):
- a refresh is retried on throttling, 5xx and connection errors with full-jitter backoff, inside the
  request's total time budget;
- a create is retried only when the upstream provably did not act: the connection was never made, or the
  upstream answered with throttling. After a read timeout or a dropped connection it may have created
  a resource, so the broker answers 503 instead of creating a second one.
"""

from __future__ import annotations

import importlib
import json
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from upload_broker.config import Credentials
from upload_broker.errors import (
    BadRequest,
    BrokerError,
    NotFound,
    Throttling,
    UpstreamError,
    UpstreamUnavailable,
)

log = logging.getLogger("upload_broker.upstream")

# The SDK logs the full request URL on connection errors, and for STS credentials that URL carries the
# SecurityToken and the Signature. Those lines must never reach Log Service, so its loggers are muted;
# the broker logs its own, secret-free line for every upstream failure.
for _name in ("aliyunsdkcore", "aliyunsdkcore.client", "aliyunsdkcore.http.http_response"):
    logging.getLogger(_name).disabled = True

# Credential problems of the *server* (its AccessKey, STS token, clock or RAM policy): the caller can do
# nothing about them, so they are 502s. Codes from the Alibaba Cloud API error center (common errors).
SERVER_CREDENTIAL_CODES = (
    "InvalidAccessKeyId",
    "InvalidAccessKeySecret",
    "SignatureDoesNotMatch",
    "SignatureNonceUsed",
    "InvalidTimeStamp",
    "InvalidSecurityToken",
    "IncompleteSignature",
    "Forbidden",
    "NoPermission",
    "InvalidApi.NotPurchase",
    "UnsupportedSignatureType",
    "MissingSecurityToken",
    "InvalidAction",
)
RETRYABLE_SERVER_STATUSES = (500, 502, 503, 504)


@dataclass(frozen=True)
class Budget:
    """A deadline shared by every attempt of one upstream call."""

    deadline: float
    clock: Callable[[], float] = time.monotonic

    @classmethod
    def of(cls, seconds: float, clock: Callable[[], float] = time.monotonic) -> Budget:
        return cls(clock() + seconds, clock)

    def remaining(self) -> float:
        return self.deadline - self.clock()


class AliyunRpc:
    """One Alibaba Cloud RPC product, called with the server's credentials."""

    def __init__(
        self,
        *,
        product: str,
        version: str,
        region: str,
        endpoint: str | None,
        connect_timeout: float,
        read_timeout: float,
        pool_size: int = 32,
        request_module: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        service_name: str = "the upstream",
    ) -> None:
        self.product = product
        self.version = version
        self.region = region
        self.service_name = service_name
        if endpoint:
            parts = urlsplit(endpoint)
            self.protocol = parts.scheme
            self.host = parts.netloc
        else:
            # Set explicitly: the SDKs' endpoint maps send several regions to a central host.
            self.protocol = "https"
            self.host = f"{product}.{region}.aliyuncs.com"
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.pool_size = pool_size
        self.request_module = request_module
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not secrecy
        self._lock = threading.Lock()
        self._client: Any = None
        self._client_credentials: Credentials | None = None

    # -- clients ------------------------------------------------------------------------------------

    def client_for(self, credentials: Credentials) -> Any:
        """The pooled ``AcsClient`` for these credentials (rebuilt only when they rotate)."""
        with self._lock:
            if self._client is None or self._client_credentials != credentials:
                from aliyunsdkcore.client import AcsClient

                kwargs: dict[str, Any] = dict(
                    region_id=self.region,
                    auto_retry=False,
                    max_retry_time=0,
                    connect_timeout=self.connect_timeout,
                    timeout=self.read_timeout,
                    pool_size=self.pool_size,
                )
                if credentials.security_token:
                    from aliyunsdkcore.auth.credentials import StsTokenCredential

                    kwargs["credential"] = StsTokenCredential(
                        credentials.access_key_id, credentials.access_key_secret, credentials.security_token
                    )
                    client = AcsClient(**kwargs)
                else:
                    client = AcsClient(credentials.access_key_id, credentials.access_key_secret, **kwargs)
                old, self._client = self._client, client
                self._client_credentials = credentials
                if old is not None:
                    old.session.close()
            return self._client

    def _request(self, action: str, params: dict[str, str]) -> Any:
        if self.request_module:
            module = importlib.import_module(f"{self.request_module}.{action}Request")
            request = getattr(module, f"{action}Request")()
        else:
            from aliyunsdkcore.request import CommonRequest

            request = CommonRequest(domain=self.host, version=self.version, action_name=action)
            request.set_method("POST")
        request.set_endpoint(self.host)
        request.set_protocol_type(self.protocol)
        request.set_accept_format("JSON")
        for key, value in params.items():
            request.add_query_param(key, value)
        return request

    # -- calls --------------------------------------------------------------------------------------

    def call(
        self,
        action: str,
        params: dict[str, str],
        *,
        credentials: Credentials,
        budget: Budget,
        idempotent: bool,
    ) -> dict[str, Any]:
        """Call ``action`` and return its JSON response; every failure becomes a :class:`BrokerError`."""
        attempt = 0
        while True:
            remaining = budget.remaining()
            if remaining <= 0.05:
                raise UpstreamUnavailable(f"{self.service_name} did not answer within the time budget.")
            request = self._request(action, params)
            request.set_connect_timeout(max(0.05, min(self.connect_timeout, remaining)))
            request.set_read_timeout(max(0.05, min(self.read_timeout, remaining)))
            started = time.monotonic()
            try:
                body = self.client_for(credentials).do_action_with_exception(request)
                return json.loads(body)
            except Exception as exc:  # noqa: BLE001 - every SDK failure is translated right here
                error, retryable = self._translate(exc, action, idempotent)
                log.warning(
                    "upstream call failed",
                    extra={
                        "upstream": self.product,
                        "action": action,
                        "attempt": attempt + 1,
                        "code": error.code,
                        "upstream_code": getattr(error, "upstream_code", None),
                        "upstream_request_id": error.upstream_request_id,
                        "elapsed_ms": round((time.monotonic() - started) * 1000, 1),
                    },
                )
            if not retryable:
                raise error
            # Full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter"), never past the budget.
            delay = self._rng.uniform(0, min(1.0, 0.1 * (2**attempt)))
            if budget.remaining() - delay <= 0.1:
                raise error
            self._sleep(delay)
            attempt += 1

    def _translate(self, exc: Exception, action: str, idempotent: bool) -> tuple[BrokerError, bool]:
        from aliyunsdkcore.acs_exception.exceptions import ClientException, ServerException

        if isinstance(exc, ServerException):
            return self._translate_server(exc, idempotent)
        if isinstance(exc, ClientException) and exc.get_error_code() == "SDK.HttpError":
            # The SDK flattens requests' exceptions to text; its class name survives in that text.
            text = exc.get_error_msg() or ""
            never_sent = any(s in text for s in ("NewConnectionError", "ConnectTimeout", "Connection refused",
                                                  "Name or service not known", "Failed to resolve"))
            if "Read timed out" in text or "ReadTimeout" in text:
                message = f"{self.service_name} did not answer in time."
            else:
                message = f"{self.service_name} could not be reached."
            return UpstreamUnavailable(message), idempotent or never_sent
        if isinstance(exc, ValueError):
            return UpstreamError(f"{self.service_name} sent a response the broker could not read."), False
        log.error("unexpected upstream client failure", extra={"action": action, "type": type(exc).__name__})
        return UpstreamError(f"{self.service_name} call failed."), False

    def _translate_server(self, exc: Any, idempotent: bool) -> tuple[BrokerError, bool]:
        code = exc.get_error_code() or "Unknown"
        status = exc.get_http_status() or 500
        request_id = exc.get_request_id()
        if code.startswith("Throttling") or status == 429:
            error: BrokerError = Throttling(
                f"{self.service_name} is throttling requests; retry after the time in Retry-After.",
                retry_after=1,
                upstream_request_id=request_id,
            )
            # Throttling is an explicit refusal: nothing was created, so even a create may retry.
            return _tag(error, code), True
        if any(code == c or code.startswith(c + ".") for c in SERVER_CREDENTIAL_CODES):
            return _tag(UpstreamError(f"{self.service_name} refused the broker's own credentials or permissions.",
                                      upstream_request_id=request_id), code), False
        if status >= 500:
            if status == 503 or code == "ServiceUnavailable":
                error = UpstreamUnavailable(f"{self.service_name} is unavailable.", upstream_request_id=request_id)
            else:
                error = UpstreamError(f"{self.service_name} failed to handle the request.",
                                      upstream_request_id=request_id)
            return _tag(error, code), idempotent
        if status == 404:
            return _tag(NotFound(_client_message(code, self.service_name), code=code,
                                 upstream_request_id=request_id), code), False
        if 400 <= status < 500:
            return _tag(BadRequest(_client_message(code, self.service_name), code=code, status=400,
                                   upstream_request_id=request_id), code), False
        return _tag(UpstreamError(f"{self.service_name} answered unexpectedly.", upstream_request_id=request_id),
                    code), False


def _tag(error: BrokerError, upstream_code: str) -> BrokerError:
    error.upstream_code = upstream_code  # type: ignore[attr-defined]
    return error


# Our own words for the codes a client can act on; the upstream's Message text is never relayed, since
# for some codes it echoes request details.
_CLIENT_MESSAGES = {
    "InvalidVideo.NotFound": "The video does not exist.",
    "InvalidVideo.Damaged": "The video is damaged; create a new upload instead of refreshing this one.",
    "InvalidImage.NotFound": "The image does not exist.",
    "InvalidMedia.NotFound": "The media does not exist.",
}


def _client_message(code: str, service_name: str) -> str:
    return _CLIENT_MESSAGES.get(code, f"{service_name} refused the request ({code}).")
