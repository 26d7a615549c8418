"""Bearer-token verification: turns an ``Authorization`` header into a :class:`Principal` or a refusal.

One :class:`TokenVerifier` is built per function at cold start (:meth:`TokenVerifier.from_config`) and
shared by every request thread. It checks tokens with PyJWT in exactly one mode:

- an HS256 shared secret (``BROKER_JWT_SECRET``);
- a PEM public key (``BROKER_JWT_PUBLIC_KEY``): RSA means RS256, EC P-256 means ES256;
- a JWKS URL (``BROKER_JWKS_URL``) serving RS256/ES256 keys, cached per verifier.

The algorithm always comes from the configured key, never from the token (RFC 8725 §2.1, §3.1), so
``alg: none`` and HS/RS key confusion have nothing to work with. The token's ``jku``, ``x5u``, ``jwk`` and
``x5c`` headers are never read: keys come only from the configuration.

Every refusal is :class:`~upload_broker.errors.Unauthorized` with a message that says what to fix and
never repeats the token or the library's text. The one exception is a JWKS endpoint that cannot be reached
while no key set is cached: that is :class:`~upload_broker.errors.UpstreamUnavailable` (503), because the
token may well be good and the caller should retry rather than fetch a new one.

PyJWT (and through it ``cryptography``) is imported when a verifier is built, and ``requests`` only in
JWKS mode, so importing this module stays cheap for code that only needs :class:`Principal`.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from upload_broker.errors import ConfigError, Unauthorized, UpstreamUnavailable

if TYPE_CHECKING:
    import requests
    from jwt.algorithms import AllowedECKeys, AllowedRSAKeys

    from upload_broker.config import Config

__all__ = ["MAX_TOKEN_BYTES", "MAX_SUB_LENGTH", "Principal", "TokenVerifier"]

log = logging.getLogger(__name__)

MAX_TOKEN_BYTES = 8 * 1024
"""Tokens longer than this are refused before any parsing: no honest token is that big."""

MAX_SUB_LENGTH = 256
"""The longest ``sub`` the broker accepts; it is stored as the owner of every resource issued."""

# Seconds between JWKS fetches triggered by an unknown ``kid``: a token can name any kid it likes, so
# without this limit anyone could make every request cost a round trip to the issuer.
JWKS_REFETCH_INTERVAL = 60.0
# A cached key set older than this is refreshed when next used, so a key the issuer has withdrawn stops
# working within minutes (the same lifespan PyJWKClient uses). If the refresh fails the cache is kept.
JWKS_MAX_AGE = 300.0
# After a failed fetch with nothing cached, callers get a 503 at once for this long instead of each one
# waiting out the timeouts against an endpoint that is known to be down.
JWKS_FAILURE_COOLDOWN = 5.0
JWKS_CONNECT_READ_TIMEOUT = (2.0, 3.0)
# The whole fetch (connect, headers, body) must finish in this time; the per-read timeout alone does not
# bound a server that trickles one byte at a time.
JWKS_BUDGET_SECONDS = 3.5
# A key set holds a handful of keys; anything much bigger is not one.
JWKS_MAX_BYTES = 256 * 1024

_ASYMMETRIC_ALGORITHMS = frozenset({"RS256", "ES256"})
_MIN_RSA_BITS = 2048
# Three base64url segments; AWS ALB pads with '=' and PyJWT accepts it, so we do too. An empty signature
# is let through to the algorithm check, which refuses ``alg: none`` with a clear message.
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+={0,2}\.[A-Za-z0-9_-]+={0,2}\.[A-Za-z0-9_-]*={0,2}")

_JWKS_UNAVAILABLE = "The token key set could not be fetched; retry shortly."


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: the token's ``sub``, its scopes and all of its (verified) claims."""

    sub: str
    scopes: frozenset[str]
    # Claims may hold personal data (email, name); keep them out of reprs that end up in logs.
    claims: dict[str, Any] = field(repr=False, compare=False)

    def has_scope(self, scope: str) -> bool:
        """Whether the token granted ``scope``."""
        return scope in self.scopes


@dataclass(frozen=True)
class _Key:
    """A verification key together with the one algorithm it may be used with."""

    algorithm: str
    key: Any = field(repr=False)


class _KeySource(Protocol):
    def algorithms(self) -> frozenset[str]: ...

    def key_for(self, header: Mapping[str, Any]) -> _Key: ...


class TokenVerifier:
    """Checks ``Authorization: Bearer <JWT>`` headers; thread-safe, one per function instance.

    Build it with :meth:`from_config`. :meth:`verify` returns a :class:`Principal` or raises
    :class:`~upload_broker.errors.Unauthorized` (or, in JWKS mode with nothing cached and the endpoint
    unreachable, :class:`~upload_broker.errors.UpstreamUnavailable`).
    """

    def __init__(
        self,
        keys: _KeySource,
        *,
        issuer: str | None = None,
        audience: str | None = None,
        leeway_seconds: float = 60,
        clock: Callable[[], float] = time.time,
    ) -> None:
        import jwt

        self._jwt_errors = jwt.exceptions
        # Time claims are checked here against the injected clock (PyJWT reads the wall clock itself);
        # PyJWT checks the signature, ``iss`` and ``aud``. ``aud`` is only checked when one is configured:
        # "enforced when set" - most issuers put an ``aud`` in every token.
        self._jwt = jwt.PyJWT(
            options={
                "verify_signature": True,
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "verify_iss": issuer is not None,
                "verify_aud": audience is not None,
                "verify_sub": False,
                "verify_jti": False,
                "require": [],
            }
        )
        self._jws = _parse_once(self._jwt) or jwt.PyJWS()
        self._keys = keys
        if isinstance(keys, _StaticKey) and keys.key.algorithm == "HS256":
            _check_hmac_key_once(self._jwt, keys.key.key)
        self._issuer = issuer
        self._audience = audience
        self._leeway = float(leeway_seconds)
        self._clock = clock

    @classmethod
    def from_config(
        cls,
        config: Config,
        *,
        clock: Callable[[], float] = time.time,
        session: requests.Session | None = None,
        jwks_budget_seconds: float = JWKS_BUDGET_SECONDS,
    ) -> TokenVerifier:
        """Build the verifier for whichever one of secret, public key or JWKS URL ``config`` sets.

        ``clock`` gives the current time in epoch seconds (token times and the JWKS refetch limit);
        ``session`` is a ``requests.Session`` for JWKS mode, made here (pooled) when not given.
        Raises :class:`~upload_broker.errors.ConfigError` naming the variable when the setting is unusable.
        """
        modes = [
            name
            for name, value in (
                ("BROKER_JWT_SECRET", config.jwt_secret),
                ("BROKER_JWT_PUBLIC_KEY", config.jwt_public_key),
                ("BROKER_JWKS_URL", config.jwks_url),
            )
            if value
        ]
        if len(modes) != 1:
            raise ConfigError(
                modes[1] if modes else "BROKER_JWT_SECRET",
                "set exactly one of BROKER_JWT_SECRET, BROKER_JWT_PUBLIC_KEY or BROKER_JWKS_URL",
            )

        keys: _KeySource
        if config.jwt_secret:
            keys = _StaticKey(_hs256_key(config.jwt_secret))
        elif config.jwt_public_key:
            keys = _StaticKey(_pem_key(config.jwt_public_key))
        else:
            assert config.jwks_url is not None
            keys = _JwksKeys(config.jwks_url, clock=clock, session=session, budget_seconds=jwks_budget_seconds)
        return cls(
            keys,
            issuer=config.jwt_issuer,
            audience=config.jwt_audience,
            leeway_seconds=config.jwt_leeway_seconds,
            clock=clock,
        )

    def verify(self, authorization: str | None) -> Principal:
        """Check an ``Authorization`` header value and return who sent it.

        Raises :class:`~upload_broker.errors.Unauthorized` for anything but a well-formed, correctly
        signed, current token with a ``sub``, and :class:`~upload_broker.errors.UpstreamUnavailable` when
        the JWKS endpoint is needed and cannot be reached.
        """
        token = _bearer_token(authorization)
        try:
            header = self._header(token)
            key = self._key_for(header)
            payload = self._decode(token, key)
        finally:
            forget = getattr(self._jws, "forget", None)
            if forget is not None:
                forget()
        self._check_times(payload)
        return Principal(sub=_subject(payload), scopes=_scopes(payload), claims=payload)

    # --- steps ---------------------------------------------------------------------------------------

    def _header(self, token: str) -> dict[str, Any]:
        try:
            header = self._jws.get_unverified_header(token)
        # RecursionError: PyJWT parses the header with json.loads and does not catch deep nesting.
        except (self._jwt_errors.PyJWTError, ValueError, RecursionError):
            raise Unauthorized("The bearer token is not a well-formed JWT.") from None
        return header

    def _key_for(self, header: Mapping[str, Any]) -> _Key:
        algorithm = header.get("alg")
        accepted = self._keys.algorithms()
        # Refuse a foreign algorithm before looking a key up, so that junk never triggers a JWKS fetch.
        if not isinstance(algorithm, str) or algorithm not in accepted:
            raise Unauthorized(f"The bearer token's algorithm is not accepted; sign it with {_names(accepted)}.")
        key = self._keys.key_for(header)
        if algorithm != key.algorithm:
            raise Unauthorized(f"The bearer token's algorithm is not accepted; sign it with {key.algorithm}.")
        return key

    def _decode(self, token: str, key: _Key) -> dict[str, Any]:
        errors = self._jwt_errors
        try:
            return self._jwt.decode(
                token,
                key.key,
                algorithms=[key.algorithm],
                issuer=self._issuer,
                audience=self._audience,
            )
        except errors.InvalidSignatureError:
            raise Unauthorized("The bearer token's signature is not valid.") from None
        except errors.MissingRequiredClaimError as error:
            raise Unauthorized(f"The bearer token is missing the {_claim_name(error.claim)} claim.") from None
        except errors.InvalidIssuerError:
            raise Unauthorized("The bearer token's issuer (iss) is not accepted here.") from None
        except errors.InvalidAudienceError:
            raise Unauthorized("The bearer token's audience (aud) is not this service.") from None
        except errors.InvalidAlgorithmError:
            raise Unauthorized(f"The bearer token's algorithm is not accepted; sign it with {key.algorithm}.") from None
        except errors.InvalidKeyError:
            # The configured key cannot check this token (e.g. a signature of the wrong size for the curve).
            raise Unauthorized("The bearer token's signature is not valid.") from None
        except (errors.PyJWTError, ValueError, RecursionError):
            raise Unauthorized("The bearer token is not a well-formed JWT.") from None

    def _check_times(self, payload: Mapping[str, Any]) -> None:
        now = self._clock()
        leeway = self._leeway
        if payload.get("exp") is None:
            raise Unauthorized("The bearer token is missing the exp claim.")
        exp = _numeric_date(payload, "exp")
        # Same boundary as PyJWT: a token is expired once exp <= now - leeway.
        if exp <= now - leeway:
            raise Unauthorized("The bearer token has expired.")
        if payload.get("nbf") is not None and _numeric_date(payload, "nbf") > now + leeway:
            raise Unauthorized("The bearer token is not valid yet (nbf is in the future).")
        if payload.get("iat") is not None and _numeric_date(payload, "iat") > now + leeway:
            raise Unauthorized("The bearer token was issued in the future (iat); check the issuer's clock.")


# --- header and claims -------------------------------------------------------------------------------


def _bearer_token(authorization: str | None) -> str:
    # Checked first, on the raw value, so an oversized header is never copied, split or scanned.
    if authorization is not None and len(authorization) > MAX_TOKEN_BYTES + 64:
        raise Unauthorized("The bearer token is larger than 8 KiB.")
    if authorization is None or not authorization.strip():
        raise Unauthorized("Send the token in an Authorization: Bearer <token> header.", error=None)
    parts = authorization.strip().split(" ")
    if len(parts) != 2 or parts[0].lower() != "bearer" or not parts[1]:
        # Another scheme (Basic, ...) attempted no bearer token at all: a challenge without an error code.
        raise Unauthorized("The Authorization header must be 'Bearer <token>', with one space between.",
                           error="invalid_request" if parts[0].lower() == "bearer" else None)
    token = parts[1]
    if len(token) > MAX_TOKEN_BYTES:
        raise Unauthorized("The bearer token is larger than 8 KiB.")
    if not _COMPACT_JWS.fullmatch(token):
        raise Unauthorized("The bearer token is not a well-formed JWT.")
    return token


def _numeric_date(payload: Mapping[str, Any], claim: str) -> float:
    value = payload[claim]
    # RFC 7519 NumericDate is a JSON number; PyJWT would also take the string "123", we do not.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise Unauthorized(f"The bearer token's {claim} claim must be a number of seconds since the epoch.")
    return value


def _subject(payload: Mapping[str, Any]) -> str:
    sub = payload.get("sub")
    if sub is None:
        raise Unauthorized("The bearer token is missing the sub claim.")
    if not isinstance(sub, str) or not sub.strip() or len(sub) > MAX_SUB_LENGTH:
        raise Unauthorized(
            f"The bearer token's sub claim must be a non-empty string of at most {MAX_SUB_LENGTH} characters."
        )
    return sub


def _scopes(payload: Mapping[str, Any]) -> frozenset[str]:
    # OAuth puts scopes in "scope" as one space-separated string (RFC 8693 §4.2); Okta and others use a
    # "scp" list, Azure AD a "scp" string. Accept either shape in either claim.
    scopes: set[str] = set()
    for claim in ("scope", "scp"):
        value = payload.get(claim)
        if value is None:
            continue
        if isinstance(value, str):
            scopes.update(value.split())
        elif isinstance(value, list) and all(isinstance(item, str) for item in value):
            scopes.update(item for item in value if item)
        else:
            raise Unauthorized(
                f"The bearer token's {claim} claim must be a space-separated string or a list of strings."
            )
    return frozenset(scopes)


def _claim_name(claim: Any) -> str:
    return claim if claim in ("iss", "aud", "exp", "sub", "nbf", "iat") else "a required"


def _names(algorithms: frozenset[str]) -> str:
    return " or ".join(sorted(algorithms))


# --- key sources -------------------------------------------------------------------------------------


class _StaticKey:
    """One configured key (a secret or a PEM public key) with its fixed algorithm."""

    def __init__(self, key: _Key) -> None:
        self._key = key
        self._algorithms = frozenset({key.algorithm})

    @property
    def key(self) -> _Key:
        return self._key

    def algorithms(self) -> frozenset[str]:
        return self._algorithms

    def key_for(self, header: Mapping[str, Any]) -> _Key:
        return self._key


def _hs256_key(secret: str) -> _Key:
    secret_bytes = secret.encode()
    if len(secret_bytes) < 32:
        raise ConfigError("BROKER_JWT_SECRET", "an HS256 secret must be at least 32 bytes (RFC 7518 3.2)")
    from jwt.algorithms import HMACAlgorithm
    from jwt.exceptions import InvalidKeyError

    # PyJWT refuses a PEM/SSH/DER key as an HMAC secret (the key-confusion guard); find out now, not as a
    # 401 on every request.
    try:
        HMACAlgorithm(HMACAlgorithm.SHA256).prepare_key(secret_bytes)
    except InvalidKeyError:
        raise ConfigError(
            "BROKER_JWT_SECRET", "the secret is a public key or certificate, not a random secret"
        ) from None
    return _Key("HS256", secret_bytes)


def _parse_once(decoder: Any) -> Any:
    """A ``PyJWS`` that ``decoder`` (a ``jwt.PyJWT``) now decodes with, and that parses each token once.

    :meth:`TokenVerifier.verify` reads a token's header (to choose the key) and then decodes it: with
    plain PyJWT that parses and re-checks every segment twice, about a third of a token check. This
    ``PyJWS`` keeps the last parse (``PyJWS._load``, a pure function of the token) per thread, for that
    same token object only, until :meth:`verify` calls ``forget()``; everything else is PyJWT's own.
    None, and PyJWT untouched, when ``decoder`` does not hold the plain ``PyJWS`` this expects.
    """
    import jwt

    built = getattr(decoder, "_jws", None)
    if type(built) is not jwt.PyJWS:
        return None

    class _OneParseJWS(jwt.PyJWS):
        def __init__(self, options: Any) -> None:
            super().__init__(options=options)
            self._parsed = threading.local()

        def _load(self, jwt: str | bytes) -> Any:
            parsed = self._parsed
            if getattr(parsed, "token", None) is jwt:
                return parsed.result
            result = super()._load(jwt)
            parsed.token, parsed.result = jwt, result
            return result

        def forget(self) -> None:
            self._parsed.token = self._parsed.result = None

    # The same algorithms (PyJWT's defaults) and signature options as the PyJWS that PyJWT built.
    jws = _OneParseJWS(options=dict(built.options))
    decoder._jws = jws
    return jws


def _check_hmac_key_once(decoder: Any, secret: bytes) -> None:
    """Make ``decoder`` (a ``jwt.PyJWT``) check the configured HS256 secret once, not on every token.

    PyJWT's ``HMACAlgorithm.prepare_key`` re-checks the key on every decode (PEM and SSH prefixes, two DER
    parses through ``cryptography``, a JSON parse: about a quarter of a token check), and
    ``check_key_length`` builds a hash object to learn the digest size, although the key is always the
    same configured secret, already checked by :func:`_hs256_key`. This registers, on this decoder's own
    ``PyJWS`` only, an HS256 algorithm that answers both from one check made here for that very object
    and defers to PyJWT for any other key. Without that ``PyJWS`` (another PyJWT), nothing changes.
    """
    from jwt import PyJWS
    from jwt.algorithms import HMACAlgorithm

    jws = getattr(decoder, "_jws", None)
    if not isinstance(jws, PyJWS):
        return

    class _CheckedSecretHmac(HMACAlgorithm):
        def prepare_key(self, key: str | bytes) -> bytes:
            if key is secret:
                return prepared
            return super().prepare_key(key)

        def check_key_length(self, key: bytes) -> str | None:
            # PyJWT asks this on every decode too (building a hash object each time); same answer.
            if key is prepared:
                return length_note
            return super().check_key_length(key)

    algorithm = _CheckedSecretHmac(HMACAlgorithm.SHA256)
    prepared = HMACAlgorithm.prepare_key(algorithm, secret)
    length_note = HMACAlgorithm.check_key_length(algorithm, prepared)
    jws.unregister_algorithm("HS256")
    jws.register_algorithm("HS256", algorithm)


def _pem_key(pem: str) -> _Key:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        public_key = load_pem_public_key(pem.replace("\\n", "\n").strip().encode())
    except (ValueError, TypeError):
        raise ConfigError("BROKER_JWT_PUBLIC_KEY", "not a readable PEM public key") from None
    if isinstance(public_key, rsa.RSAPublicKey):
        if public_key.key_size < _MIN_RSA_BITS:
            raise ConfigError("BROKER_JWT_PUBLIC_KEY", f"an RSA key must have at least {_MIN_RSA_BITS} bits")
        return _Key("RS256", public_key)
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        if not isinstance(public_key.curve, ec.SECP256R1):
            raise ConfigError("BROKER_JWT_PUBLIC_KEY", "an EC key must be on the P-256 curve (ES256)")
        return _Key("ES256", public_key)
    raise ConfigError("BROKER_JWT_PUBLIC_KEY", "expected an RSA (RS256) or EC P-256 (ES256) public key")


class _JwksKeys:
    """Keys fetched from a JWKS URL, cached, refetched for an unknown ``kid`` at most once a minute.

    The cache is an immutable dict swapped whole, so lookups need no lock; fetches take the lock so that
    concurrent misses make one request, not one each.
    """

    def __init__(
        self,
        url: str,
        *,
        clock: Callable[[], float],
        session: requests.Session | None = None,
        budget_seconds: float = JWKS_BUDGET_SECONDS,
    ) -> None:
        import requests

        self._requests = requests
        if session is None:
            session = requests.Session()
            # One connection kept alive to the issuer; fetches are serialised by the lock anyway.
            adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=2, max_retries=0)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
        self._session = session
        self._url = url
        self._clock = clock
        self._budget = budget_seconds
        self._lock = threading.Lock()
        self._keys: dict[str, _Key] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None

    def algorithms(self) -> frozenset[str]:
        return _ASYMMETRIC_ALGORITHMS

    def key_for(self, header: Mapping[str, Any]) -> _Key:
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise Unauthorized("The bearer token has no key ID (kid) header; the issuer's key set needs one.")
        key = self._keys.get(kid)
        if key is not None and not self._stale(self._clock()):
            return key
        if key is not None:
            # Stale but known: refresh unless another thread is already at it; while the set stays stale
            # (refresh failed, rate-limited or in progress) the cached key still decides.
            if self._lock.acquire(blocking=False):
                try:
                    self._refresh_if_allowed()
                finally:
                    self._lock.release()
            if self._stale(self._clock()):
                return key
            # The set was just refreshed: a key the issuer has withdrawn is refused from now on.
            key = self._keys.get(kid)
        else:
            with self._lock:
                # Another thread may have fetched while this one waited for the lock.
                key = self._keys.get(kid)
                if key is None:
                    self._refresh_if_allowed()
                    key = self._keys.get(kid)
        if key is not None:
            return key
        if not self._keys:
            raise UpstreamUnavailable(_JWKS_UNAVAILABLE)
        # The kid is attacker-chosen: it is only ever a dict key, never part of a URL, path or query.
        raise Unauthorized("The bearer token's key ID (kid) is not in the issuer's key set.")

    def _stale(self, now: float) -> bool:
        return self._fetched_at is not None and not 0 <= now - self._fetched_at < JWKS_MAX_AGE

    def _refresh_if_allowed(self) -> None:
        # Read under the lock, after any fetch another thread just made, so its attempt counts.
        now = self._clock()
        if self._attempted_at is not None:
            interval = JWKS_REFETCH_INTERVAL if self._keys else JWKS_FAILURE_COOLDOWN
            elapsed = now - self._attempted_at
            # A clock that went backwards does not block fetches forever.
            if 0 <= elapsed < interval:
                return
        self._attempted_at = now
        keys = self._fetch()
        if keys:
            self._keys = keys
            self._fetched_at = now

    def _fetch(self) -> dict[str, _Key] | None:
        """Fetch and parse the key set in a worker thread, waiting at most the budget for it."""
        result: list[dict[str, _Key] | None] = [None]
        done = threading.Event()
        deadline = time.monotonic() + self._budget

        def run() -> None:
            try:
                result[0] = self._download(deadline)
            finally:
                done.set()

        # The worker is abandoned if it overruns; its own deadline checks and socket timeouts end it soon.
        threading.Thread(target=run, name="jwks-fetch", daemon=True).start()
        if not done.wait(self._budget):
            log.warning("JWKS fetch from %s took longer than %.1fs", self._url, self._budget)
            return None
        return result[0]

    def _download(self, deadline: float) -> dict[str, _Key] | None:
        import json

        import urllib3

        requests = self._requests
        try:
            with self._session.get(
                self._url,
                timeout=JWKS_CONNECT_READ_TIMEOUT,
                stream=True,
                headers={"Accept": "application/json"},
            ) as response:
                if response.status_code != 200:
                    log.warning("JWKS fetch from %s answered HTTP %s", self._url, response.status_code)
                    return None
                body = bytearray()
                while True:
                    # read1 returns what has arrived, so a trickling server cannot outlast the deadline.
                    chunk = response.raw.read1(16384, decode_content=True)
                    if not chunk:
                        break
                    body += chunk
                    if len(body) > JWKS_MAX_BYTES:
                        log.warning("JWKS from %s is larger than %d bytes", self._url, JWKS_MAX_BYTES)
                        return None
                    if time.monotonic() > deadline:
                        return None
        # urllib3's errors escape requests when the body is read from ``response.raw``.
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as error:
            log.warning("JWKS fetch from %s failed: %s", self._url, type(error).__name__)
            return None
        try:
            document = json.loads(body)
        except ValueError:
            log.warning("JWKS from %s is not JSON", self._url)
            return None
        keys = _parse_jwks(document)
        if not keys:
            log.warning("JWKS from %s holds no usable RS256/ES256 signing key with a kid", self._url)
        return keys


def _parse_jwks(document: Any) -> dict[str, _Key]:
    """The usable signing keys of a JWKS document by ``kid``; anything else is skipped, not trusted."""
    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwt.algorithms import ECAlgorithm, RSAAlgorithm

    keys: dict[str, _Key] = {}
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        return keys
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        kid, kty = entry.get("kid"), entry.get("kty")
        if not isinstance(kid, str) or not kid or kid in keys:
            continue
        if entry.get("use", "sig") != "sig":
            continue
        # The algorithm follows from the key type; a key that declares a different one is not ours to use.
        if kty == "RSA":
            algorithm = "RS256"
        elif kty == "EC" and entry.get("crv") == "P-256":
            algorithm = "ES256"
        else:
            continue
        if entry.get("alg", algorithm) != algorithm:
            continue
        # Only public members are read, so a JWKS that leaked a private "d" still yields a public key.
        public = {name: entry[name] for name in ("kty", "crv", "n", "e", "x", "y") if name in entry}
        key: AllowedRSAKeys | AllowedECKeys
        try:
            if algorithm == "RS256":
                key = RSAAlgorithm.from_jwk(public)
                if not isinstance(key, rsa.RSAPublicKey) or key.key_size < _MIN_RSA_BITS:
                    continue
            else:
                key = ECAlgorithm.from_jwk(public)
        except Exception as error:  # noqa: BLE001 - a malformed key in the set is skipped, whatever the library raises
            log.warning("JWKS key %.64r skipped: %s", kid, type(error).__name__)
            continue
        keys[kid] = _Key(algorithm, key)
    return keys
