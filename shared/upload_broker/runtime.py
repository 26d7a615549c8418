"""The broker's per-instance state and the entry points that Function Compute calls.

:class:`Broker` is built once at cold start and never mutated per request: the config, the token
verifier (with its JWKS cache), the ledger, and the upstream clients (each with its keep-alive pool,
created on first use so a function only pays for the upstream it calls).

``entry_point(operation)`` gives a function folder its ``handler(event, context)``: Function Compute
3.0's built-in Python runtime calls it with an HTTP-trigger event (or an API Gateway event), and it
answers with the response struct.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from upload_broker import audit
from upload_broker.call import Authenticated, Call, Function
from upload_broker.config import Config, Credentials
from upload_broker.errors import BrokerError, UpstreamError
from upload_broker.http import (
    Answer,
    Endpoint,
    EventKind,
    Request,
    Response,
    context_request_id,
    decode_event,
    event_kind,
    event_response,
    refusal,
    request_from_event,
    sane_request_id,
    serve,
)
from upload_broker.ledger import Ledger, open_ledger
from upload_broker.limits import check_rate
from upload_broker.providers import UpstreamClient, provider_named

log = logging.getLogger("upload_broker")


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line, for Log Service; ``extra`` fields become keys."""

    _STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
    # Built once: ``json.dumps`` with options builds a new encoder for every line.
    _ENCODER = json.JSONEncoder(ensure_ascii=False, default=str)

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in self._STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return self._ENCODER.encode(entry)


def configure_logging(level: int = logging.INFO) -> None:
    """JSON lines on stderr for the broker's loggers, once per process."""
    logger = logging.getLogger("upload_broker")
    if any(getattr(h, "_broker", False) for h in logger.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLogFormatter())
    handler._broker = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    logging.Formatter.converter = time.gmtime


class Broker:
    """Everything an instance reuses across invocations."""

    def __init__(
        self,
        config: Config,
        *,
        ledger: Ledger | None = None,
        verifier: Any = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.clock = clock
        self._ledger = ledger
        self._verifier = verifier
        self._context_credentials: Credentials | None = None
        self._lock = threading.Lock()
        self._clients: dict[str, UpstreamClient] = {}

    @classmethod
    def from_env(cls) -> Broker:
        return cls(Config.from_env())

    # -- lazily built, then reused ------------------------------------------------------------------

    def _once(self, attribute: str, build: Callable[[], Any]) -> Any:
        """``self.<attribute>``, built by ``build`` on first use (once, even with many threads)."""
        value = getattr(self, attribute)
        if value is None:
            with self._lock:
                value = getattr(self, attribute)
                if value is None:
                    value = build()
                    setattr(self, attribute, value)
        return value

    @property
    def verifier(self) -> Any:
        def build() -> Any:
            from upload_broker.auth import TokenVerifier

            return TokenVerifier.from_config(self.config, clock=self.clock)

        return self._once("_verifier", build)

    @property
    def ledger(self) -> Ledger:
        return self._once("_ledger", lambda: open_ledger(self.config.ledger_url, credentials=self.ledger_credentials))

    def ledger_credentials(self) -> Credentials | None:
        """For the ledger (a Tablestore one signs every call), which runs outside any one request: the last
        invocation context's credentials (fresher, python3.10 on FC), else the environment's."""
        return self._context_credentials or self.config.credentials

    def upstream(self, provider: str) -> UpstreamClient:
        """The client of the named provider (``providers/<name>.py``), built on first use and then reused
        with its keep-alive pool; a function only pays for the upstream it calls."""
        client = self._clients.get(provider)
        if client is None:
            with self._lock:
                client = self._clients.get(provider)
                if client is None:
                    client = self._clients[provider] = provider_named(provider).client(self.config)
        return client

    def credentials(self, request: Request) -> Credentials:
        """The server's credentials: the invocation context's when it carries them, else the environment's.

        FC 3.0 "Context" (https://help.aliyun.com/en/functioncompute/fc/context-1): on python3.12 the
        context's ``credentials`` field is removed ("Use environment variables": the role's temporary
        credentials are in ``ALIBABA_CLOUD_ACCESS_KEY_ID/_SECRET/_SECURITY_TOKEN``, read once at start);
        python3.10 still passes a Credentials struct per invocation, which is fresher, so it wins.
        """
        found = _context_credentials(request)
        if found is not None:
            return found
        if self.config.credentials is not None:
            return self.config.credentials
        raise UpstreamError(
            "The broker has no upstream credentials: set ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET or give the "
            "function a RAM role."
        )

    # -- serving ------------------------------------------------------------------------------------

    def endpoints(self, functions: Iterable[Function]) -> tuple[Endpoint, ...]:
        return tuple(function.bind(self) for function in functions)

    def serve(self, request: Request, endpoints: tuple[Endpoint, ...]) -> Response:
        found = _context_credentials(request)
        if found is not None:
            self._context_credentials = found
        return serve(request, endpoints, allowed_origins=self.config.allowed_origins, on_error=self._log_refusal)

    def _log_refusal(self, request: Request, request_id: str, error: BrokerError) -> None:
        """Log and audit every refusal, in one place (``serve`` calls this for each ``BrokerError``)."""
        log.info(
            "request refused",
            extra={
                "request_id": request_id,
                "path": request.path[:256],
                "status": error.status,
                "code": error.code,
                "field": error.field,
                "upstream_request_id": error.upstream_request_id,
            },
        )
        audit.refused(self, request, request_id, error, error.audit_context)


@dataclass(frozen=True)
class BoundOperation(Endpoint):
    """An operation served by one broker: checks the token, then runs the operation."""

    operation: Authenticated
    broker: Broker

    @property
    def route(self):  # type: ignore[override]
        return self.operation.route

    def handle(self, request: Request, body: dict, path_params: dict[str, str], request_id: str) -> Answer:
        operation = self.operation
        user = None
        try:
            principal = self.broker.verifier.verify(request.headers.get("Authorization"))
            user = principal.sub
            call = Call(self.broker, request, principal, body, path_params, request_id, now=self.broker.clock())
            # Every request of a user counts, whatever it asks for and however it ends.
            if self.broker.config.rate_per_minute is not None:
                check_rate(self.broker.ledger, self.broker.config, user, at=call.now)
            return operation.run(call)
        except BrokerError as error:
            # For the audit record: who (None until the token is verified), what, on which resource.
            error.audit_context = audit.AuditContext(
                user, operation.action, path_params.get(operation.id_field) if operation.id_field else None
            )
            raise


def _context_credentials(request: Request) -> Credentials | None:
    """The credentials the invocation context carries (python3.10 on FC), or None."""
    found = getattr(request.context, "credentials", None)
    key_id = getattr(found, "access_key_id", None) or getattr(found, "accessKeyId", None)
    secret = getattr(found, "access_key_secret", None) or getattr(found, "accessKeySecret", None)
    token = getattr(found, "security_token", None) or getattr(found, "securityToken", None)
    if isinstance(key_id, str) and isinstance(secret, str) and key_id and secret:
        return Credentials(key_id, secret, token if isinstance(token, str) and token else None)
    return None


def fc_handler(broker: Broker, functions: Iterable[Function]) -> Callable[[Any, Any], Any]:
    """``handler(event, context)`` serving ``functions``: what Function Compute 3.0 calls."""
    endpoints = broker.endpoints(functions)

    def handler(event: Any, context: Any = None) -> dict[str, Any] | str:
        kind, decoded = EventKind.FC_HTTP, None
        try:
            decoded = decode_event(event)
            kind = event_kind(decoded)
            request = request_from_event(decoded, context)
        except BrokerError as error:
            # Not a request at all: a JSON 4xx in the struct the platform reads, never an exception.
            request_id = sane_request_id(_platform_id(decoded, context))
            log.info("malformed event", extra={"request_id": request_id, "status": error.status, "code": error.code})
            return event_response(refusal(error, request_id), kind)
        return event_response(broker.serve(request, endpoints), kind)

    return handler


def _platform_id(event: Mapping[str, Any] | None, context: Any) -> str | None:
    """The platform's request id for a malformed event, found without trusting the event's shape."""
    found = context_request_id(context)
    if found is not None:
        return found
    if isinstance(event, Mapping):
        request_context = event.get("requestContext")
        if isinstance(request_context, Mapping) and isinstance(request_context.get("requestId"), str):
            return request_context["requestId"]
    return None


def entry_point(*functions: Function, broker: Broker | None = None) -> Callable[[Any, Any], Any]:
    """A function folder's ``handler``; builds the broker now, at cold start (a bad setting stops it here)."""
    configure_logging()
    return fc_handler(broker or Broker.from_env(), functions)
