"""Calls to Alibaba Cloud's RPC APIs (VOD 2017-03-21, ICE 2020-11-09) through aliyun-python-sdk-core.

One :class:`AliyunRpc` per product per instance: it keeps one ``AcsClient`` per set of credentials, and
an ``AcsClient`` keeps a pooled keep-alive ``Session``, so warm invocations reuse connections. Real
endpoints are called over HTTPS (the SDK's default is plain HTTP), with explicit connect and read
timeouts, and with the SDK's own retries off: the broker decides what may be retried.

Retries follow :mod:`upload_broker.retry` (the SDK's own are off): at most three attempts inside the request's
budget, full-jitter backoff, and a retry quota per action per instance, so a failing upstream sees about one
call per request (per action: the successes of the status lookup a refresh makes first must not refill the
retries of a refresh that keeps failing). What may be retried:
- a refresh, on throttling, 5xx and connection errors;
- a create only when the upstream provably did not act: the connection was never made, or the upstream
  answered with throttling. After a read timeout or a dropped connection it may have created a resource,
  so the broker answers 503 instead of creating a second one.
"""

from __future__ import annotations

import importlib
import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable
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
from upload_broker.retry import Budget, Retrier, Retryable, RetryQuota

__all__ = ["AliyunRpc", "Budget"]

log = logging.getLogger("upload_broker.upstream")

# The SDK logs the full request URL on connection errors, and for STS credentials that URL carries the
# SecurityToken and the Signature. Those lines must never reach Log Service, so its loggers are muted;
# the broker logs its own, secret-free line for every upstream failure.
for _name in ("aliyunsdkcore", "aliyunsdkcore.client", "aliyunsdkcore.http.http_response"):
    logging.getLogger(_name).disabled = True

# Problems of the *server's* own credentials, signature, clock or RAM permissions: the caller can do nothing
# about them, so they are 502s. Matched exactly, as the Alibaba Cloud API error center lists them (public
# gateway errors, https://error-center.alibabacloud.com/status/product/Public, and VOD's common errors,
# https://www.alibabacloud.com/help/doc-detail/52841.htm): a prefix would also catch codes a client can act on.
SERVER_CREDENTIAL_CODES = frozenset({
    "InvalidAccessKeyId", "InvalidAccessKeyId.NotFound", "InvalidAccessKeyId.Inactive", "InvalidAccessKeySecret",
    "SignatureDoesNotMatch", "IncompleteSignature", "SignatureNonceUsed", "InvalidSignatureMethod",
    "UnsupportedSignatureType", "InvalidTimeStamp.Expired", "InvalidTimeStamp.Format", "MissingSecurityToken",
    "InvalidSecurityToken.Expired", "InvalidSecurityToken.Malformed", "InvalidSecurityToken.MismatchWithAccessKey",
    "Forbidden", "Forbidden.RAM", "Forbidden.NoPermission", "Forbidden.AccessKeyDisabled", "Forbidden.SubUser",
    "NoPermission", "InvalidApi.NotPurchase", "InvalidAction.NotFound", "InvalidVersion",
})
# The account's own state (VOD common errors: "OperationDenied: Your account does not open VOD service yet",
# "OperationDenied.Suspended: ... overdue payments"): the operator's to fix, so 502 as well.
ACCOUNT_CODES = frozenset({"OperationDenied", "OperationDenied.Suspended"})
# Throttling, whatever the status: the gateway's Throttling.User / .Api / .System (status 400) and ICE's
# "RequestsTooFrequent" (403, IMS error codes https://help.aliyun.com/document_detail/197855.html).
THROTTLING_CODES = frozenset({"Throttling", "Throttling.User", "Throttling.Api", "Throttling.System",
                              "RequestsTooFrequent"})
# An upstream Code is passed to a client only if it looks like one (``InvalidVideo.NotFound``): never text
# that could carry something else.
_SAFE_CODE = re.compile(r"[A-Za-z][A-Za-z0-9]{0,39}(\.[A-Za-z][A-Za-z0-9]{0,39}){0,3}")


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
        quota: RetryQuota | None = None,
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
        # One retry quota per action: a healthy GetVideoInfo (each success adds a token back) must not pay for
        # the retries of a RefreshUploadVideo that keeps failing. ``quota`` (tests) is shared by every action.
        self._retry = (sleep, rng, quota)
        self._retriers: dict[str, Retrier] = {}
        self._lock = threading.Lock()
        self._client: Any = None
        self._client_credentials: Credentials | None = None
        self._request_classes: dict[str, Any] = {}

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
            request_class = self._request_classes.get(action)
            if request_class is None:
                module = importlib.import_module(f"{self.request_module}.{action}Request")
                request_class = self._request_classes[action] = getattr(module, f"{action}Request")
            request = request_class()
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

    def retrier(self, action: str) -> Retrier:
        """``action``'s retrier and its retry quota, made on first use."""
        found = self._retriers.get(action)
        if found is None:
            sleep, rng, quota = self._retry
            with self._lock:
                found = self._retriers.setdefault(action, Retrier(quota or RetryQuota(), sleep=sleep, rng=rng))
        return found

    def call(
        self,
        action: str,
        params: dict[str, str],
        *,
        credentials: Credentials | None,
        budget: Budget,
        idempotent: bool,
    ) -> dict[str, Any]:
        """Call ``action`` and return its JSON response; every failure becomes a :class:`BrokerError`."""
        if credentials is None:
            raise UpstreamError(f"{self.service_name} needs the server's credentials.")

        def attempt(number: int) -> dict[str, Any]:
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
                error, retryable, timed_out = self._translate(exc, action, idempotent)
                log.warning(
                    "upstream call failed",
                    extra={
                        "upstream": self.product,
                        "action": action,
                        "attempt": number + 1,
                        "code": error.code,
                        "upstream_code": error.upstream_code,
                        "upstream_request_id": error.upstream_request_id,
                        "elapsed_ms": round((time.monotonic() - started) * 1000, 1),
                    },
                )
                if retryable:
                    raise Retryable(error, retry_after=None, timed_out=timed_out) from None
                raise error from None

        return self.retrier(action).run(attempt, budget=budget)

    def _translate(self, exc: Exception, action: str, idempotent: bool) -> tuple[BrokerError, bool, bool]:
        """The broker's error for an SDK failure, whether it may be retried, and whether it timed out."""
        from aliyunsdkcore.acs_exception.exceptions import ClientException, ServerException

        if isinstance(exc, ServerException):
            error, retryable = self._translate_server(exc, idempotent)
            return error, retryable, False
        if isinstance(exc, ClientException) and exc.get_error_code() == "SDK.HttpError":
            # The SDK flattens requests' exceptions to text; its class name survives in that text.
            text = exc.get_error_msg() or ""
            never_sent = any(s in text for s in ("NewConnectionError", "ConnectTimeout", "Connection refused",
                                                  "Name or service not known", "Failed to resolve"))
            timed_out = "Read timed out" in text or "ReadTimeout" in text
            if timed_out:
                message = f"{self.service_name} did not answer in time."
            else:
                message = f"{self.service_name} could not be reached."
            return UpstreamUnavailable(message), idempotent or never_sent, timed_out
        if isinstance(exc, ValueError):
            return UpstreamError(f"{self.service_name} sent a response the broker could not read."), False, False
        log.error("unexpected upstream client failure", extra={"action": action, "type": type(exc).__name__})
        return UpstreamError(f"{self.service_name} call failed."), False, False

    def _translate_server(self, exc: Any, idempotent: bool) -> tuple[BrokerError, bool]:
        code = exc.get_error_code() or "Unknown"
        status = exc.get_http_status() or 500
        request_id = exc.get_request_id()
        error: BrokerError
        retryable = False
        if code in THROTTLING_CODES or status == 429:
            error = Throttling(f"{self.service_name} is throttling requests; retry after the time in Retry-After.",
                               retry_after=1, upstream_request_id=request_id)
            # Throttling is an explicit refusal: nothing was created, so even a create may retry.
            retryable = True
        elif code in SERVER_CREDENTIAL_CODES:
            error = UpstreamError(f"{self.service_name} refused the broker's own credentials or permissions.",
                                  upstream_request_id=request_id)
        elif code in ACCOUNT_CODES:
            error = UpstreamError(f"{self.service_name} is not available to this broker's account.",
                                  upstream_request_id=request_id)
        elif status >= 500:
            if status == 503 or code in ("ServiceUnavailable", "ServiceUnAvailable"):
                error = UpstreamUnavailable(f"{self.service_name} is unavailable.", upstream_request_id=request_id)
            else:
                error = UpstreamError(f"{self.service_name} failed to handle the request.",
                                      upstream_request_id=request_id)
            retryable = idempotent
        elif not _SAFE_CODE.fullmatch(code):
            error = UpstreamError(f"{self.service_name} refused the request.", upstream_request_id=request_id)
        elif status == 404:
            error = NotFound(_client_message(code, self.service_name), code=code, upstream_request_id=request_id)
        elif 400 <= status < 500:
            error = BadRequest(_client_message(code, self.service_name), code=code, status=400,
                               upstream_request_id=request_id)
        else:
            error = UpstreamError(f"{self.service_name} answered unexpectedly.", upstream_request_id=request_id)
        error.upstream_code = code
        # Kept for the flows' own checks (a create refused for an operator setting); never rendered or logged:
        # for some codes the upstream's Message echoes request details.
        error.upstream_message = exc.get_error_msg() or None
        return error, retryable


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
