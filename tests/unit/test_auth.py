"""The bearer-token verifier, rule by rule: header shape, modes, signature, times, claims, scopes, JWKS cache."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.jwt_helpers import (
    HS256_SECRET,
    NOW,
    FakeClock,
    JwksServer,
    b64url,
    bearer,
    claims,
    compact,
    ec_key,
    hs256,
    rsa_key,
)
from upload_broker.auth import Principal, TokenVerifier
from upload_broker.config import Config
from upload_broker.errors import ConfigError, Unauthorized, UpstreamUnavailable

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def verifier(clock: FakeClock, **settings) -> TokenVerifier:
    settings.setdefault("jwt_secret", None if {"jwt_public_key", "jwks_url"} & settings.keys() else HS256_SECRET)
    return TokenVerifier.from_config(Config(**settings), clock=clock)


def refused(check, authorization: str | None) -> Unauthorized:
    with pytest.raises(Unauthorized) as caught:
        check.verify(authorization)
    return caught.value


@pytest.fixture
def hs(clock: FakeClock) -> TokenVerifier:
    return verifier(clock)


# --- modes -------------------------------------------------------------------------------------------


def test_hs256_token_gives_the_principal(hs):
    principal = hs.verify(bearer(hs256(HS256_SECRET, claims("alice", email="a@example.com"))))

    assert principal == Principal(sub="alice", scopes=frozenset(), claims={})
    assert principal.claims["email"] == "a@example.com"
    assert "a@example.com" not in repr(principal)


@pytest.mark.parametrize("key", [rsa_key(), ec_key()], ids=["RS256", "ES256"])
def test_pem_mode_takes_the_algorithm_from_the_key(clock, key):
    check = verifier(clock, jwt_public_key=key.public_pem())

    assert check.verify(bearer(key.sign(claims("bob")))).sub == "bob"


def test_pem_mode_accepts_escaped_newlines_as_env_vars_carry_them(clock):
    pem = rsa_key().public_pem().replace("\n", "\\n")

    assert verifier(clock, jwt_public_key=pem).verify(bearer(rsa_key().sign(claims()))).sub == "user-1"


@pytest.mark.parametrize(
    ("settings", "variable"),
    [
        ({"jwt_secret": None}, "BROKER_JWT_SECRET"),
        ({"jwt_secret": HS256_SECRET, "jwks_url": "https://issuer.example/jwks"}, "BROKER_JWKS_URL"),
        ({"jwt_secret": "too-short"}, "BROKER_JWT_SECRET"),
        ({"jwt_secret": rsa_key().public_pem()}, "BROKER_JWT_SECRET"),
        (
            {"jwt_public_key": "-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----"},
            "BROKER_JWT_PUBLIC_KEY",
        ),
        ({"jwt_public_key": rsa_key("small", 1024).public_pem()}, "BROKER_JWT_PUBLIC_KEY"),
        ({"jwt_public_key": ec_key("p384", "P-384").public_pem()}, "BROKER_JWT_PUBLIC_KEY"),
    ],
    ids=["no-mode", "two-modes", "short-secret", "pem-as-secret", "bad-pem", "rsa-1024", "ec-p384"],
)
def test_unusable_settings_stop_the_start_naming_the_variable(clock, settings, variable):
    with pytest.raises(ConfigError) as caught:
        TokenVerifier.from_config(Config(**settings), clock=clock)

    assert caught.value.variable == variable


def test_importing_the_module_and_secret_mode_do_not_import_requests():
    code = (
        "import sys; from upload_broker.auth import TokenVerifier; from upload_broker.config import Config;"
        f"TokenVerifier.from_config(Config(jwt_secret={HS256_SECRET!r}));"
        "assert 'requests' not in sys.modules, 'requests imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, env={"PYTHONPATH": "shared"}, timeout=30)


# --- the Authorization header ------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_scheme_is_case_insensitive(hs, scheme):
    assert hs.verify(f"{scheme} {hs256(HS256_SECRET, claims())}").sub == "user-1"


@pytest.mark.parametrize(
    ("authorization", "message"),
    [
        (None, "Send the token in an Authorization: Bearer <token> header."),
        ("", "Send the token in an Authorization: Bearer <token> header."),
        ("   ", "Send the token in an Authorization: Bearer <token> header."),
        ("Bearer", "The Authorization header must be 'Bearer <token>', with one space between."),
        ("Basic dXNlcjpwYXNz", "The Authorization header must be 'Bearer <token>', with one space between."),
        ("Token {t}", "The Authorization header must be 'Bearer <token>', with one space between."),
        ("Bearer  {t}", "The Authorization header must be 'Bearer <token>', with one space between."),
        ("Bearer {t} {t}", "The Authorization header must be 'Bearer <token>', with one space between."),
        ("Bearer\t{t}", "The Authorization header must be 'Bearer <token>', with one space between."),
        ("{t}", "The Authorization header must be 'Bearer <token>', with one space between."),
    ],
)
def test_malformed_headers_are_refused(hs, authorization, message):
    token = hs256(HS256_SECRET, claims())
    error = refused(hs, authorization.format(t=token) if authorization else authorization)

    assert error.message == message
    assert error.status == 401
    assert error.headers()["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "token",
    [
        "abc",
        "a.b",
        "a.b.c.d.e",
        "a!.b.c",
        f"{b64url('not json')}.{b64url({'sub': 'x'})}.c2ln",
        f"{b64url('[1, 2]')}.{b64url({'sub': 'x'})}.c2ln",
        f"{b64url('[' * 3000 + ']' * 3000)}.{b64url({'sub': 'x'})}.c2ln",
        f"{b64url(bytes([0xFF, 0xFE]))}.{b64url({'sub': 'x'})}.c2ln",
        f"{b64url({'alg': 'HS256', 'kid': {'a': 1}})}.{b64url({'sub': 'x'})}.c2ln",
    ],
    ids=[
        "one-part",
        "two-parts",
        "jwe-shape",
        "bad-chars",
        "header-not-json",
        "header-array",
        "deep",
        "utf8",
        "kid-obj",
    ],
)
def test_tokens_that_are_not_compact_jws_are_refused(hs, token):
    assert refused(hs, bearer(token)).message == "The bearer token is not a well-formed JWT."


@pytest.mark.parametrize(
    "payload",
    [b"not json", b"[1, 2]", b"[" * 3000 + b"]" * 3000],
    ids=["not-json", "array", "deep"],
)
def test_a_validly_signed_payload_that_is_not_a_json_object_is_refused(hs, payload):
    import hashlib
    import hmac

    signing_input = f"{b64url({'alg': 'HS256'})}.{b64url(payload)}".encode()
    signature = b64url(hmac.new(HS256_SECRET.encode(), signing_input, hashlib.sha256).digest())

    assert refused(hs, bearer(f"{signing_input.decode()}.{signature}")).message == (
        "The bearer token is not a well-formed JWT."
    )


def test_a_header_alg_that_is_not_a_string_is_refused(hs):
    token = compact({"alg": ["HS256"]}, claims(), lambda data: b"x")

    assert "algorithm is not accepted" in refused(hs, bearer(token)).message


# --- signature ---------------------------------------------------------------------------------------


def test_a_token_signed_with_another_secret_is_refused(hs):
    token = hs256("another-secret-that-is-also-32-bytes-long", claims())

    assert refused(hs, bearer(token)).message == "The bearer token's signature is not valid."


def test_a_tampered_payload_is_refused(hs):
    header, _, signature = hs256(HS256_SECRET, claims("alice")).split(".")
    forged = f"{header}.{b64url(claims('admin'))}.{signature}"

    assert refused(hs, bearer(forged)).message == "The bearer token's signature is not valid."


@pytest.mark.parametrize("key", [rsa_key(), ec_key()], ids=["RS256", "ES256"])
def test_a_token_signed_by_another_key_of_the_same_kind_is_refused(clock, key):
    other = rsa_key("other") if key.algorithm == "RS256" else ec_key("other")
    check = verifier(clock, jwt_public_key=key.public_pem())

    assert refused(check, bearer(other.sign(claims()))).message == "The bearer token's signature is not valid."


def test_an_es256_signature_of_the_wrong_size_is_refused(clock):
    key = ec_key()
    check = verifier(clock, jwt_public_key=key.public_pem())
    header, payload, _ = key.sign(claims()).split(".")

    assert refused(check, bearer(f"{header}.{payload}.{b64url(b'x' * 10)}")).message == (
        "The bearer token's signature is not valid."
    )


def test_a_token_with_the_other_asymmetric_algorithm_is_refused(clock):
    check = verifier(clock, jwt_public_key=rsa_key().public_pem())

    error = refused(check, bearer(ec_key().sign(claims())))

    assert error.message == "The bearer token's algorithm is not accepted; sign it with RS256."


# --- time --------------------------------------------------------------------------------------------


def test_an_expired_token_is_refused(hs, clock):
    token = hs256(HS256_SECRET, claims(now=NOW - 3600, ttl=60))

    assert refused(hs, bearer(token)).message == "The bearer token has expired."


def test_expiry_uses_the_injected_clock_with_the_leeway(hs, clock):
    token = bearer(hs256(HS256_SECRET, claims(ttl=300)))
    clock.advance(300 + 59)
    assert hs.verify(token).sub == "user-1"

    clock.advance(2)
    assert refused(hs, token).message == "The bearer token has expired."


def test_the_leeway_comes_from_the_config(clock):
    check = verifier(clock, jwt_leeway_seconds=0)
    token = bearer(hs256(HS256_SECRET, {"sub": "u", "exp": NOW - 1}))

    assert refused(check, token).message == "The bearer token has expired."


def test_a_token_not_yet_valid_is_refused_beyond_the_leeway(hs):
    assert hs.verify(bearer(hs256(HS256_SECRET, claims(nbf=NOW + 59)))).sub == "user-1"

    error = refused(hs, bearer(hs256(HS256_SECRET, claims(nbf=NOW + 61))))
    assert error.message == "The bearer token is not valid yet (nbf is in the future)."


def test_a_token_issued_in_the_future_is_refused_beyond_the_leeway(hs):
    assert hs.verify(bearer(hs256(HS256_SECRET, claims(iat=NOW + 59)))).sub == "user-1"

    error = refused(hs, bearer(hs256(HS256_SECRET, claims(iat=NOW + 61))))
    assert error.message == "The bearer token was issued in the future (iat); check the issuer's clock."


def test_exp_is_required(hs):
    token = hs256(HS256_SECRET, {"sub": "alice", "iat": NOW})

    assert refused(hs, bearer(token)).message == "The bearer token is missing the exp claim."


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
@pytest.mark.parametrize("value", [str(int(NOW + 300)), True, None, [1]], ids=["string", "bool", "null", "list"])
def test_time_claims_must_be_numbers(hs, claim, value):
    payload = claims(**{claim: NOW + 300})
    payload[claim] = value
    if value is None and claim != "exp":
        # A null nbf/iat is as good as absent.
        assert hs.verify(bearer(hs256(HS256_SECRET, payload))).sub == "user-1"
        return

    message = refused(hs, bearer(hs256(HS256_SECRET, payload))).message

    expected = "The bearer token is missing the exp claim." if value is None else f"The bearer token's {claim} claim"
    assert message.startswith(expected)


def test_float_times_are_accepted(hs):
    assert hs.verify(bearer(hs256(HS256_SECRET, {"sub": "u", "exp": NOW + 10.5, "iat": NOW - 0.5}))).sub == "u"


# --- issuer and audience ------------------------------------------------------------------------------


@pytest.fixture
def strict(clock) -> TokenVerifier:
    return verifier(clock, jwt_issuer="https://issuer.example/", jwt_audience="upload-broker")


GOOD = {"iss": "https://issuer.example/", "aud": "upload-broker"}


@pytest.mark.parametrize("aud", ["upload-broker", ["other", "upload-broker"]], ids=["string", "list"])
def test_configured_issuer_and_audience_are_accepted(strict, aud):
    assert strict.verify(bearer(hs256(HS256_SECRET, claims(**{**GOOD, "aud": aud})))).sub == "user-1"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"iss": "https://evil.example/"}, "The bearer token's issuer (iss) is not accepted here."),
        ({"iss": None}, "The bearer token is missing the iss claim."),
        ({"iss": 42}, "The bearer token's issuer (iss) is not accepted here."),
        ({"aud": "someone-else"}, "The bearer token's audience (aud) is not this service."),
        ({"aud": ["a", "b"]}, "The bearer token's audience (aud) is not this service."),
        ({"aud": None}, "The bearer token is missing the aud claim."),
        ({"aud": 7}, "The bearer token's audience (aud) is not this service."),
    ],
)
def test_wrong_or_missing_issuer_and_audience_are_refused(strict, changes, message):
    assert refused(strict, bearer(hs256(HS256_SECRET, claims(**{**GOOD, **changes})))).message == message


def test_issuer_and_audience_are_not_checked_when_not_configured(hs):
    assert hs.verify(bearer(hs256(HS256_SECRET, claims(iss="anyone", aud="anything")))).sub == "user-1"


def test_the_signature_is_checked_before_claims_so_forgeries_learn_nothing(strict):
    token = hs256("another-secret-that-is-also-32-bytes-long", claims(now=NOW - 9999, iss="x"))

    assert refused(strict, bearer(token)).message == "The bearer token's signature is not valid."


# --- sub and scopes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sub", "message"),
    [
        (None, "The bearer token is missing the sub claim."),
        ("", "The bearer token's sub claim must be a non-empty string of at most 256 characters."),
        ("   ", "The bearer token's sub claim must be a non-empty string of at most 256 characters."),
        (12345, "The bearer token's sub claim must be a non-empty string of at most 256 characters."),
        ("x" * 257, "The bearer token's sub claim must be a non-empty string of at most 256 characters."),
    ],
    ids=["missing", "empty", "blank", "number", "too-long"],
)
def test_sub_must_be_a_short_non_empty_string(hs, sub, message):
    assert refused(hs, bearer(hs256(HS256_SECRET, claims(sub)))).message == message


def test_a_sub_of_256_characters_is_accepted(hs):
    assert hs.verify(bearer(hs256(HS256_SECRET, claims("x" * 256)))).sub == "x" * 256


@pytest.mark.parametrize(
    ("extra", "scopes"),
    [
        ({}, set()),
        ({"scope": "upload:create  broker:admin"}, {"upload:create", "broker:admin"}),
        ({"scp": ["upload:create", "broker:admin"]}, {"upload:create", "broker:admin"}),
        ({"scp": "upload:create broker:admin"}, {"upload:create", "broker:admin"}),
        ({"scope": "a", "scp": ["b"]}, {"a", "b"}),
        ({"scope": ""}, set()),
    ],
    ids=["none", "scope-string", "scp-list", "scp-string", "both", "empty"],
)
def test_scopes_come_from_scope_or_scp(hs, extra, scopes):
    principal = hs.verify(bearer(hs256(HS256_SECRET, claims(**extra))))

    assert principal.scopes == frozenset(scopes)
    assert all(principal.has_scope(scope) for scope in scopes)
    assert not principal.has_scope("broker:root")


@pytest.mark.parametrize("extra", [{"scope": ["a", 1]}, {"scp": 5}, {"scope": {"a": True}}])
def test_malformed_scopes_are_refused(hs, extra):
    assert (
        "claim must be a space-separated string or a list of strings"
        in refused(hs, bearer(hs256(HS256_SECRET, claims(**extra)))).message
    )


# --- messages ----------------------------------------------------------------------------------------


LIBRARY_TEXT = ("Signature verification failed", "Signature has expired", "Invalid", "decode", "Traceback", "Error")


@pytest.mark.parametrize(
    "token",
    [
        hs256("another-secret-that-is-also-32-bytes-long", claims()),
        hs256(HS256_SECRET, claims(now=NOW - 3600, ttl=1)),
        hs256(HS256_SECRET, claims(sub=None)),
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.!!!",
        "eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.c2ln",
    ],
    ids=["signature", "expired", "no-sub", "bad-chars", "payload"],
)
def test_messages_never_echo_the_token_or_library_text(hs, token):
    message = refused(hs, bearer(token)).message

    assert all(part not in message for part in token.split(".") if len(part) > 3)
    assert not any(text in message for text in LIBRARY_TEXT)
    assert message.endswith(".")


def test_the_refusal_does_not_chain_the_library_exception(hs):
    error = refused(hs, bearer(hs256("another-secret-that-is-also-32-bytes-long", claims())))

    assert error.__cause__ is None
    assert error.__suppress_context__


# --- JWKS --------------------------------------------------------------------------------------------


@pytest.fixture
def jwks_server():
    with JwksServer(rsa_key(), ec_key()) as server:
        yield server


@pytest.fixture
def jwks_verifier(clock, jwks_server) -> TokenVerifier:
    return verifier(clock, jwks_url=jwks_server.url)


@pytest.mark.parametrize("key", [rsa_key(), ec_key()], ids=["RS256", "ES256"])
def test_jwks_mode_verifies_rs256_and_es256_by_kid(jwks_verifier, key):
    assert jwks_verifier.verify(bearer(key.sign(claims("carol")))).sub == "carol"


def test_the_key_set_is_fetched_once_and_cached(jwks_verifier, jwks_server):
    for key in (rsa_key(), ec_key(), rsa_key()):
        jwks_verifier.verify(bearer(key.sign(claims())))

    assert jwks_server.fetches == 1


def test_the_key_set_is_not_fetched_before_it_is_needed(clock, jwks_server):
    verifier(clock, jwks_url=jwks_server.url)

    assert jwks_server.fetches == 0


def test_a_token_without_kid_is_refused_in_jwks_mode(jwks_verifier, jwks_server):
    error = refused(jwks_verifier, bearer(rsa_key().sign(claims(), kid=None)))

    assert error.message == "The bearer token has no key ID (kid) header; the issuer's key set needs one."
    assert jwks_server.fetches == 0


def test_a_kid_whose_key_has_another_algorithm_is_refused(jwks_verifier):
    # Signed by the EC key but naming the RSA key's kid.
    token = ec_key().sign(claims(), kid=rsa_key().kid)

    assert refused(jwks_verifier, bearer(token)).message == (
        "The bearer token's algorithm is not accepted; sign it with RS256."
    )


def test_an_old_key_set_is_refreshed_so_withdrawn_keys_stop_working(jwks_verifier, jwks_server, clock):
    token = bearer(ec_key().sign(claims(ttl=3600)))
    jwks_verifier.verify(token)
    jwks_server.set_keys(rsa_key())

    clock.advance(301)

    assert refused(jwks_verifier, token).message == "The bearer token's key ID (kid) is not in the issuer's key set."
    assert jwks_server.fetches == 2


def test_an_old_key_set_is_still_used_when_the_refresh_fails(jwks_verifier, jwks_server, clock):
    token = bearer(rsa_key().sign(claims(ttl=3600)))
    jwks_verifier.verify(token)
    jwks_server.mode = "down"

    clock.advance(301)

    assert jwks_verifier.verify(token).sub == "user-1"
    assert jwks_verifier.verify(token).sub == "user-1"
    assert jwks_server.fetches == 2


@pytest.mark.parametrize(
    "entry",
    [
        {"use": "enc"},
        {"alg": "RS512"},
        {"kid": None},
        {"kid": 7},
        {"n": "not-base64!"},
    ],
    ids=["use-enc", "other-alg", "no-kid", "kid-number", "bad-modulus"],
)
def test_unusable_keys_in_the_set_are_skipped(clock, entry):
    good = ec_key()
    with JwksServer() as server:
        server.set_document(
            {"keys": [{k: v for k, v in {**rsa_key().jwk(), **entry}.items() if v is not None}, good.jwk()]}
        )
        check = verifier(clock, jwks_url=server.url)

        assert check.verify(bearer(good.sign(claims()))).sub == "user-1"
        with pytest.raises(Unauthorized):
            check.verify(bearer(rsa_key().sign(claims())))


def test_symmetric_and_foreign_curve_keys_in_the_set_are_ignored(clock):
    oct_key = {"kty": "oct", "kid": "hs", "k": b64url(HS256_SECRET)}
    with JwksServer() as server:
        server.set_document({"keys": [oct_key, ec_key("p384", "P-384").jwk(alg="ES384"), rsa_key().jwk()]})
        check = verifier(clock, jwks_url=server.url)

        assert refused(check, bearer(hs256(HS256_SECRET, claims(), headers={"kid": "hs"}))).message == (
            "The bearer token's algorithm is not accepted; sign it with ES256 or RS256."
        )
        assert check.verify(bearer(rsa_key().sign(claims()))).sub == "user-1"


def test_only_public_members_of_a_leaked_private_jwk_are_used(clock):
    from jwt.algorithms import RSAAlgorithm

    key = rsa_key()
    private = {**RSAAlgorithm.to_jwk(key.private_key, as_dict=True), "kid": key.kid}
    with JwksServer() as server:
        server.set_document({"keys": [private]})

        assert verifier(clock, jwks_url=server.url).verify(bearer(key.sign(claims()))).sub == "user-1"


@pytest.mark.parametrize(
    "document",
    [b"<html>not json</html>", {"keys": []}, {"keys": "nope"}, [1, 2]],
    ids=["not-json", "empty", "keys-not-list", "not-object"],
)
def test_a_key_set_with_nothing_usable_is_unavailable_not_unauthorized(clock, document):
    with JwksServer() as server:
        server.set_document(document)
        check = verifier(clock, jwks_url=server.url)

        with pytest.raises(UpstreamUnavailable) as caught:
            check.verify(bearer(rsa_key().sign(claims())))

    assert caught.value.message == "The token key set could not be fetched; retry shortly."
    assert caught.value.status == 503
    assert caught.value.headers()["Retry-After"]


def test_after_a_failed_fetch_callers_get_503_at_once_then_a_retry_succeeds(jwks_verifier, jwks_server, clock):
    token = bearer(rsa_key().sign(claims(ttl=3600)))
    jwks_server.mode = "down"
    for _ in range(3):
        with pytest.raises(UpstreamUnavailable):
            jwks_verifier.verify(token)
    assert jwks_server.fetches == 1

    jwks_server.mode = "ok"
    clock.advance(5)

    assert jwks_verifier.verify(token).sub == "user-1"
    assert jwks_server.fetches == 2


def test_a_drip_fed_key_set_is_cut_off_at_the_budget(clock):
    import time

    with JwksServer(rsa_key(), mode="drip", delay=0.05) as server:
        check = TokenVerifier.from_config(Config(jwks_url=server.url), clock=clock, jwks_budget_seconds=0.5)
        started = time.monotonic()
        with pytest.raises(UpstreamUnavailable):
            check.verify(bearer(rsa_key().sign(claims())))

    assert time.monotonic() - started < 1.5


def test_jwks_mode_uses_a_pooled_requests_session_by_default(clock, jwks_server):
    import requests

    check = verifier(clock, jwks_url=jwks_server.url)

    assert isinstance(check._keys._session, requests.Session)


def test_an_injected_session_is_used(clock, jwks_server):
    import requests

    calls = []

    class CountingSession(requests.Session):
        def get(self, url, **kw):
            calls.append((url, kw["timeout"]))
            return super().get(url, **kw)

    check = TokenVerifier.from_config(Config(jwks_url=jwks_server.url), clock=clock, session=CountingSession())
    check.verify(bearer(rsa_key().sign(claims())))

    assert calls == [(jwks_server.url, (2.0, 3.0))]


def test_concurrent_first_requests_share_one_fetch(clock):
    with JwksServer(rsa_key(), mode="slow", delay=0.3) as server:
        check = verifier(clock, jwks_url=server.url)
        token = bearer(rsa_key().sign(claims()))
        results: list[object] = []

        def call() -> None:
            try:
                results.append(check.verify(token).sub)
            except Exception as error:  # collected and asserted below
                results.append(error)

        threads = [threading.Thread(target=call) for _ in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)

        assert results == ["user-1"] * 16
        assert server.fetches == 1


def test_many_threads_verify_with_one_verifier(hs):
    tokens = [bearer(hs256(HS256_SECRET, claims(f"user-{n}"))) for n in range(50)]
    results: dict[int, str] = {}

    def call(n: int) -> None:
        for _ in range(20):
            results[n] = hs.verify(tokens[n]).sub

    threads = [threading.Thread(target=call, args=(n,)) for n in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert results == {n: f"user-{n}" for n in range(50)}
