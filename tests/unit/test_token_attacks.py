"""Known attacks on JWT verification, one test each, each against the real verifier and real local servers."""

from __future__ import annotations

import socket
import time

import pytest

from tests.jwt_helpers import (
    HS256_SECRET,
    NOW,
    FakeClock,
    HitCounter,
    JwksServer,
    bearer,
    claims,
    ec_key,
    hs256,
    rsa_key,
    unsigned,
)
from upload_broker.auth import TokenVerifier
from upload_broker.config import Config
from upload_broker.errors import Unauthorized, UpstreamUnavailable

ROOT_KEY = rsa_key()
ATTACKER = rsa_key("attacker")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def jwks_server():
    with JwksServer(ROOT_KEY, ec_key()) as server:
        yield server


@pytest.fixture
def jwks_verifier(clock, jwks_server) -> TokenVerifier:
    return TokenVerifier.from_config(Config(jwks_url=jwks_server.url), clock=clock)


@pytest.fixture
def pem_verifier(clock) -> TokenVerifier:
    return TokenVerifier.from_config(Config(jwt_public_key=ROOT_KEY.public_pem()), clock=clock)


@pytest.fixture(params=["hs256", "pem", "jwks"])
def any_verifier(request, clock) -> TokenVerifier:
    if request.param == "hs256":
        return TokenVerifier.from_config(Config(jwt_secret=HS256_SECRET), clock=clock)
    if request.param == "pem":
        return request.getfixturevalue("pem_verifier")
    return request.getfixturevalue("jwks_verifier")


def refused(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(Unauthorized) as caught:
        verifier.verify(bearer(token))
    return caught.value.message


# --- alg: none ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_alg_none_without_signature_is_refused(any_verifier, alg):
    token = unsigned(claims("admin"), alg=alg, kid=ROOT_KEY.kid)

    assert "algorithm is not accepted" in refused(any_verifier, token)


def test_alg_none_with_a_signature_is_refused(any_verifier):
    # A real signature copied from a genuine token, glued onto an unsigned header.
    stolen_signature = ROOT_KEY.sign(claims()).split(".")[2]
    token = unsigned(claims("admin"), kid=ROOT_KEY.kid, signature=b"junk")
    token = token.rsplit(".", 1)[0] + "." + stolen_signature

    assert "algorithm is not accepted" in refused(any_verifier, token)


def test_alg_none_does_not_trigger_a_key_set_fetch(jwks_verifier, jwks_server):
    refused(jwks_verifier, unsigned(claims("admin"), kid="whatever"))

    assert jwks_server.fetches == 0


# --- HS/RS key confusion -----------------------------------------------------------------------------


@pytest.mark.parametrize("pem_form", ["as-is", "no-trailing-newline"])
def test_hs256_signed_with_the_rsa_public_key_is_refused_in_pem_mode(pem_verifier, pem_form):
    secret = ROOT_KEY.public_pem() if pem_form == "as-is" else ROOT_KEY.public_pem().rstrip("\n")
    token = hs256(secret, claims("admin"))

    assert refused(pem_verifier, token) == "The bearer token's algorithm is not accepted; sign it with RS256."


def test_hs256_signed_with_the_rsa_public_key_is_refused_in_jwks_mode(jwks_verifier, jwks_server):
    token = hs256(ROOT_KEY.public_pem(), claims("admin"), headers={"kid": ROOT_KEY.kid})

    assert "algorithm is not accepted" in refused(jwks_verifier, token)
    assert jwks_server.fetches == 0


def test_hs256_signed_with_the_jwk_json_is_refused_in_jwks_mode(jwks_verifier):
    import json

    token = hs256(json.dumps(ROOT_KEY.jwk()), claims("admin"), headers={"kid": ROOT_KEY.kid})

    assert "algorithm is not accepted" in refused(jwks_verifier, token)


def test_an_rs256_kid_used_with_es256_is_refused_in_jwks_mode(jwks_verifier):
    token = ec_key().sign(claims("admin"), kid=ROOT_KEY.kid)

    assert refused(jwks_verifier, token) == "The bearer token's algorithm is not accepted; sign it with RS256."


@pytest.mark.parametrize("alg", ["RS512", "PS256", "HS512", "ES384"])
def test_other_algorithms_are_refused_even_when_the_key_could_do_them(pem_verifier, alg):
    import jwt

    keys = {
        "R": ROOT_KEY.private_key,
        "P": ROOT_KEY.private_key,
        "H": "s" * 64,
        "E": ec_key("p384", "P-384").private_key,
    }
    key = keys[alg[0]]
    token = jwt.encode(claims("admin"), key, algorithm=alg)

    assert refused(pem_verifier, token) == "The bearer token's algorithm is not accepted; sign it with RS256."


# --- kid injection -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kid", ["../../etc/passwd", "' OR 1=1 --", "/jwks.json?x=1", "http://127.0.0.1:1/x"])
def test_a_kid_with_path_or_sql_characters_is_just_an_unknown_kid(jwks_verifier, jwks_server, clock, kid):
    jwks_verifier.verify(bearer(ROOT_KEY.sign(claims())))  # the key set is now cached: 1 fetch

    message = refused(jwks_verifier, ATTACKER.sign(claims("admin"), kid=kid))
    refused(jwks_verifier, ATTACKER.sign(claims("admin"), kid=kid))

    assert message == "The bearer token's key ID (kid) is not in the issuer's key set."
    assert jwks_server.fetches == 1
    assert jwks_server.requests == ["/jwks.json"]

    clock.advance(61)
    refused(jwks_verifier, ATTACKER.sign(claims("admin", now=clock()), kid=kid))
    assert jwks_server.requests == ["/jwks.json", "/jwks.json"]


def test_a_path_kid_is_ignored_in_pem_mode(pem_verifier):
    assert pem_verifier.verify(bearer(ROOT_KEY.sign(claims(), kid="../../etc/passwd"))).sub == "user-1"


# --- key URLs and embedded keys in the header --------------------------------------------------------


@pytest.mark.parametrize("header", ["jku", "x5u"])
def test_key_urls_in_the_header_are_never_fetched(jwks_verifier, jwks_server, header):
    with HitCounter(ATTACKER) as attacker:
        token = ATTACKER.sign(claims("admin"), headers={header: attacker.url("/jwks.json")})

        assert refused(jwks_verifier, token) == "The bearer token's key ID (kid) is not in the issuer's key set."
        assert attacker.hits == 0
    assert jwks_server.requests == ["/jwks.json"]


def test_an_embedded_jwk_is_never_used(pem_verifier, jwks_verifier):
    with HitCounter(ATTACKER) as attacker:
        headers = {
            "jwk": ATTACKER.jwk(),
            "x5c": ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"],
            "jku": attacker.url("/jwks.json"),
            "x5u": attacker.url("/cert.pem"),
        }

        assert refused(pem_verifier, ATTACKER.sign(claims("admin"), headers=headers)) == (
            "The bearer token's signature is not valid."
        )
        # Even with our own kid: the embedded key does not replace ours.
        forged = ATTACKER.sign(claims("admin"), headers=headers, kid=ROOT_KEY.kid)
        assert refused(jwks_verifier, forged) == "The bearer token's signature is not valid."
        assert attacker.hits == 0


def test_a_genuine_token_with_a_jku_is_accepted_and_the_jku_not_fetched(jwks_verifier):
    with HitCounter(ROOT_KEY) as elsewhere:
        token = ROOT_KEY.sign(claims(), headers={"jku": elsewhere.url("/keys")})

        assert jwks_verifier.verify(bearer(token)).sub == "user-1"
        assert elsewhere.hits == 0


# --- size --------------------------------------------------------------------------------------------


def test_a_token_over_8_kib_is_refused(pem_verifier):
    token = ROOT_KEY.sign(claims(padding="x" * 9000))

    assert len(token) > 8192
    assert refused(pem_verifier, token) == "The bearer token is larger than 8 KiB."


def test_a_token_over_8_kib_is_refused_before_it_is_parsed(pem_verifier):
    # Not a JWT at all: if it were parsed first, the answer would be "not a well-formed JWT".
    assert refused(pem_verifier, "!" * 8193) == "The bearer token is larger than 8 KiB."


def test_a_huge_header_is_refused_by_its_size_before_anything_reads_it(pem_verifier):
    # The size check runs first on the raw value (auth._bearer_token), so 50 MB is never copied or parsed; the
    # message shows which check refused it. (No wall-clock bound: that flakes on a loaded machine.)
    with pytest.raises(Unauthorized) as refused:
        pem_verifier.verify("  Bearer " + "a" * 50_000_000 + "  ")

    assert refused.value.message == "The bearer token is larger than 8 KiB."


def test_a_token_just_under_8_kib_is_read(clock):
    verifier = TokenVerifier.from_config(Config(jwt_secret=HS256_SECRET), clock=clock)
    padding = 6000
    while len(token := hs256(HS256_SECRET, claims(padding="x" * padding))) < 8190:
        padding += 1

    assert 8190 <= len(token) <= 8192
    assert verifier.verify(bearer(token)).sub == "user-1"


# --- time --------------------------------------------------------------------------------------------


def test_nbf_in_the_future_is_refused(pem_verifier):
    token = ROOT_KEY.sign(claims(nbf=NOW + 3600, ttl=7200))

    assert refused(pem_verifier, token) == "The bearer token is not valid yet (nbf is in the future)."


def test_exp_59_seconds_ago_is_accepted_within_the_leeway(pem_verifier):
    assert pem_verifier.verify(bearer(ROOT_KEY.sign({"sub": "u", "exp": NOW - 59}))).sub == "u"


def test_exp_61_seconds_ago_is_refused_beyond_the_leeway(pem_verifier):
    assert refused(pem_verifier, ROOT_KEY.sign({"sub": "u", "exp": NOW - 61})) == "The bearer token has expired."


# --- JWKS endpoint down or slow ----------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _unavailable_within(verifier: TokenVerifier, seconds: float) -> UpstreamUnavailable:
    started = time.monotonic()
    with pytest.raises(UpstreamUnavailable) as caught:
        verifier.verify(bearer(ROOT_KEY.sign(claims())))
    assert time.monotonic() - started < seconds
    return caught.value


def test_jwks_refusing_connections_is_503_not_401(clock):
    url = f"http://127.0.0.1:{_closed_port()}/jwks.json"
    error = _unavailable_within(TokenVerifier.from_config(Config(jwks_url=url), clock=clock), 4)

    assert (error.status, error.code) == (503, "UpstreamUnavailable")
    assert error.message == "The token key set could not be fetched; retry shortly."
    assert "Retry-After" in error.headers()


def test_jwks_answering_503_is_503_not_401(clock):
    with JwksServer(ROOT_KEY, mode="down") as server:
        _unavailable_within(TokenVerifier.from_config(Config(jwks_url=server.url), clock=clock), 4)

        assert server.fetches == 1


def test_jwks_slow_is_503_within_4_seconds(clock):
    # Uses the default timeouts: this is the bound production gets.
    with JwksServer(ROOT_KEY, mode="slow", delay=30) as server:
        _unavailable_within(TokenVerifier.from_config(Config(jwks_url=server.url), clock=clock), 4)


def test_jwks_down_with_a_cached_key_still_decides(jwks_verifier, jwks_server, clock):
    jwks_verifier.verify(bearer(ROOT_KEY.sign(claims())))
    jwks_server.mode = "down"
    clock.advance(120)

    assert jwks_verifier.verify(bearer(ROOT_KEY.sign(claims(now=clock())))).sub == "user-1"
    assert refused(jwks_verifier, ATTACKER.sign(claims(now=clock()))) == (
        "The bearer token's key ID (kid) is not in the issuer's key set."
    )


# --- rotation ----------------------------------------------------------------------------------------


def test_a_rotated_key_is_accepted_after_a_refetch(jwks_verifier, jwks_server, clock):
    jwks_verifier.verify(bearer(ROOT_KEY.sign(claims())))
    rotated = rsa_key("rotated")
    jwks_server.set_keys(ROOT_KEY, rotated)
    clock.advance(61)

    assert jwks_verifier.verify(bearer(rotated.sign(claims("dave", now=clock())))).sub == "dave"
    assert jwks_server.fetches == 2


def test_a_second_unknown_kid_within_a_minute_does_not_refetch(jwks_verifier, jwks_server, clock):
    jwks_verifier.verify(bearer(ROOT_KEY.sign(claims())))
    rotated, later = rsa_key("rotated"), rsa_key("later")
    jwks_server.set_keys(ROOT_KEY, rotated)
    clock.advance(61)
    jwks_verifier.verify(bearer(rotated.sign(claims(now=clock()))))
    jwks_server.set_keys(ROOT_KEY, rotated, later)

    clock.advance(59)
    message = refused(jwks_verifier, later.sign(claims(now=clock())))

    assert message == "The bearer token's key ID (kid) is not in the issuer's key set."
    assert jwks_server.fetches == 2

    clock.advance(2)
    assert jwks_verifier.verify(bearer(later.sign(claims(now=clock())))).sub == "user-1"
    assert jwks_server.fetches == 3


def test_a_flood_of_random_kids_costs_one_fetch_a_minute(jwks_verifier, jwks_server, clock):
    jwks_verifier.verify(bearer(ROOT_KEY.sign(claims())))
    for n in range(200):
        clock.advance(1)
        with pytest.raises(Unauthorized):
            jwks_verifier.verify(bearer(ATTACKER.sign(claims(now=clock()), kid=f"random-{n}")))

    # 200 seconds: refetches at +60, +120, +180.
    assert jwks_server.fetches == 1 + 3
