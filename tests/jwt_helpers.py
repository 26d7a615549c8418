"""Test helpers for bearer tokens: keys, token minting, a fake clock and a real local JWKS server.

Typical use::

    from tests.jwt_helpers import FakeClock, JwksServer, bearer, claims, ec_key, rsa_key

    key = rsa_key()                                   # cached per kid: cheap to call again
    token = key.sign(claims(sub="alice", now=clock()))
    with JwksServer(key) as jwks:                     # http://127.0.0.1:<port>/jwks.json
        verifier = TokenVerifier.from_config(Config(jwks_url=jwks.url), clock=clock)
        verifier.verify(bearer(token))
        jwks.set_keys(key, rsa_key("rotated"))        # rotation
        jwks.mode = "down"                            # "ok" | "down" (HTTP 503) | "slow" | "drip"
        assert jwks.fetches == 1

``HitCounter`` is a server that records every request, to prove a URL in a token is never fetched.
Tokens are built by hand (:func:`compact`) where PyJWT would refuse to make them (``alg: none``, an RSA
public key as HMAC secret), so each attack is exactly what an attacker would send.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

NOW = 1_700_000_000.0
"""A fixed 'now' for tests that do not care which moment it is."""

HS256_SECRET = "test-secret-that-is-at-least-32-bytes-long!"
"""A shared secret long enough for the broker's HS256 mode."""


class FakeClock:
    """A clock to pass as ``clock=``: returns a settable epoch time; ``advance`` moves it on."""

    def __init__(self, now: float = NOW) -> None:
        self.now = float(now)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward (or back, with a negative number)."""
        self.now += seconds


# --- keys --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SigningKey:
    """A private key with its ``kid`` and algorithm (RS256 or ES256), able to sign tokens."""

    kid: str
    algorithm: str
    private_key: Any = field(repr=False)

    @property
    def public_key(self) -> Any:
        """The ``cryptography`` public key."""
        return self.private_key.public_key()

    def public_pem(self) -> str:
        """The public key as PEM (``-----BEGIN PUBLIC KEY-----``), as ``BROKER_JWT_PUBLIC_KEY`` takes it."""
        return self.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()

    def jwk(self, **extra: Any) -> dict[str, Any]:
        """The public key as a JWK with ``kid``, ``alg`` and ``use: sig``; ``extra`` overrides members."""
        algorithm = RSAAlgorithm if self.algorithm == "RS256" else ECAlgorithm
        data = algorithm.to_jwk(self.public_key, as_dict=True)
        return {**data, "kid": self.kid, "alg": self.algorithm, "use": "sig", **extra}

    def sign(self, payload: Mapping[str, Any], *, headers: Mapping[str, Any] | None = None, kid: Any = ...) -> str:
        """A token signed by this key; its ``kid`` goes in the header unless ``kid`` says otherwise (None: none)."""
        header = dict(headers or {})
        if kid is ...:
            kid = self.kid
        if kid is not None:
            header["kid"] = kid
        return jwt.encode(dict(payload), self.private_key, algorithm=self.algorithm, headers=header)


@functools.cache
def rsa_key(kid: str = "rsa-1", bits: int = 2048) -> SigningKey:
    """An RS256 key; the same ``kid`` gives the same key for the whole run (RSA keygen is slow)."""
    return SigningKey(kid, "RS256", rsa.generate_private_key(public_exponent=65537, key_size=bits))


@functools.cache
def ec_key(kid: str = "ec-1", curve: str = "P-256") -> SigningKey:
    """An ES256 key (or, with ``curve="P-384"``, a key on a curve the broker must refuse)."""
    curves = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1()}
    return SigningKey(kid, "ES256" if curve == "P-256" else "ES384", ec.generate_private_key(curves[curve]))


def jwks(*keys: SigningKey) -> dict[str, Any]:
    """A JWKS document holding the public halves of ``keys``."""
    return {"keys": [key.jwk() for key in keys]}


# --- tokens ------------------------------------------------------------------------------------------


def claims(sub: str | None = "user-1", *, now: float = NOW, ttl: float = 300, **extra: Any) -> dict[str, Any]:
    """Typical claims: ``sub``, ``iat`` = now, ``exp`` = now + ttl; ``extra`` adds or overrides (None drops)."""
    payload: dict[str, Any] = {"sub": sub, "iat": int(now), "exp": int(now + ttl)}
    payload.update(extra)
    return {name: value for name, value in payload.items() if value is not None}


def b64url(data: bytes | str | Mapping[str, Any]) -> str:
    """Unpadded base64url of bytes, of a string, or of a mapping's compact JSON."""
    if isinstance(data, Mapping):
        data = json.dumps(data, separators=(",", ":"))
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def compact(header: Mapping[str, Any], payload: Mapping[str, Any], sign: Callable[[bytes], bytes] | None = None) -> str:
    """A compact JWS built by hand; ``sign`` gets the signing input, None leaves the signature empty."""
    signing_input = f"{b64url(header)}.{b64url(payload)}"
    signature = b64url(sign(signing_input.encode())) if sign else ""
    return f"{signing_input}.{signature}"


def hs256(secret: str | bytes, payload: Mapping[str, Any], *, headers: Mapping[str, Any] | None = None) -> str:
    """An HS256 token signed with ``secret`` as-is, even when it is a PEM public key (key confusion)."""
    key = secret.encode() if isinstance(secret, str) else secret
    header = {"alg": "HS256", "typ": "JWT", **(headers or {})}
    return compact(header, payload, lambda data: hmac.new(key, data, hashlib.sha256).digest())


def unsigned(payload: Mapping[str, Any], *, alg: str = "none", signature: bytes | None = None, **headers: Any) -> str:
    """An ``alg: none`` style token, with an empty signature or the given junk one."""
    header = {"alg": alg, "typ": "JWT", **headers}
    return compact(header, payload, (lambda _data: signature) if signature is not None else None)


def bearer(token: str) -> str:
    """The ``Authorization`` header value for ``token``."""
    return f"Bearer {token}"


# --- servers -----------------------------------------------------------------------------------------


class _Server:
    """A threaded HTTP server on 127.0.0.1:<free port>, usable as a context manager."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._stop = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
                owner._handle(self)

            def log_message(self, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        # Do not wait on a handler that is still sleeping in "slow" mode when the test ends.
        self._httpd.block_on_close = False
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> _Server:
        """Start serving (the context manager does this)."""
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving and wake any handler that is sleeping."""
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _sleep(self, seconds: float) -> bool:
        """Sleep unless the server closes first; True when it did."""
        return self._stop.wait(seconds)

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        raise NotImplementedError

    @staticmethod
    def _send(request: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str) -> None:
        request.send_response(status)
        request.send_header("Content-Type", content_type)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)


class JwksServer(_Server):
    """A real JWKS endpoint at ``url`` (``/jwks.json``) with switchable keys, modes and a fetch counter.

    ``mode``: ``"ok"`` serves the keys; ``"down"`` answers HTTP 503; ``"slow"`` waits ``delay`` seconds
    before answering; ``"drip"`` sends headers, then the body one byte every ``delay`` seconds.
    ``fetches`` counts requests to ``/jwks.json``; ``requests`` lists every path asked for.
    """

    def __init__(self, *keys: SigningKey, mode: str = "ok", delay: float = 10.0) -> None:
        super().__init__()
        self.document: Any = jwks(*keys)
        self.mode = mode
        self.delay = delay
        self.fetches = 0
        self.requests: list[str] = []

    @property
    def url(self) -> str:
        """The JWKS URL to configure."""
        return f"{self.base_url}/jwks.json"

    def set_keys(self, *keys: SigningKey) -> None:
        """Serve these keys from now on (key rotation)."""
        self.document = jwks(*keys)

    def set_document(self, document: Any) -> None:
        """Serve this exact JSON value (or raw bytes) from now on, for malformed key sets."""
        self.document = document

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        with self.lock:
            self.requests.append(request.path)
            if request.path != "/jwks.json":
                self._send(request, 404, b"{}", "application/json")
                return
            self.fetches += 1
            mode, delay, document = self.mode, self.delay, self.document
        body = document if isinstance(document, bytes) else json.dumps(document).encode()
        if mode == "down":
            self._send(request, 503, b'{"error":"unavailable"}', "application/json")
        elif mode == "slow":
            if not self._sleep(delay):
                self._send(request, 200, body, "application/json")
        elif mode == "drip":
            request.send_response(200)
            request.send_header("Content-Type", "application/json")
            request.send_header("Content-Length", str(len(body)))
            request.end_headers()
            request.wfile.flush()
            for byte in body:
                if self._sleep(delay):
                    return
                request.wfile.write(bytes([byte]))
                request.wfile.flush()
        else:
            self._send(request, 200, body, "application/json")


class HitCounter(_Server):
    """A server that answers every GET with a JWKS of ``keys`` and counts the hits: ``hits``, ``paths``."""

    def __init__(self, *keys: SigningKey) -> None:
        super().__init__()
        self.body = json.dumps(jwks(*keys)).encode()
        self.hits = 0
        self.paths: list[str] = []

    def url(self, path: str = "/") -> str:
        """A URL on this server."""
        return f"{self.base_url}{path}"

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        with self.lock:
            self.hits += 1
            self.paths.append(request.path)
        self._send(request, 200, self.body, "application/json")


def wait_until(predicate: Callable[[], bool], timeout: float = 2.0) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` passes; for servers that count asynchronously."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()
