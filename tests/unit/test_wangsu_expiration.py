"""When an issued Wangsu token stops working: its putPolicy deadline, or a conservative fallback, never a 502.

Wangsu has already issued the token when the broker reads it, so a putPolicy the broker cannot parse must not
throw the token away: the caller gets it with ``Expiration`` = request time + FALLBACK_TOKEN_SECONDS, and the
operator gets a warning that names the video and never carries the token.
"""

from __future__ import annotations

import base64
import json
import logging
from datetime import datetime, timedelta, timezone

import pytest

from upload_broker.upstream_wangsu import FALLBACK_TOKEN_SECONDS, upload_token_expiration

NOW = 1_700_000_000.0
FALLBACK = datetime.fromtimestamp(NOW, tz=timezone.utc) + timedelta(seconds=FALLBACK_TOKEN_SECONDS)


def _token(policy: object) -> str:
    return "ak:c2lnbg==:" + base64.urlsafe_b64encode(json.dumps(policy).encode()).decode().rstrip("=")


def test_a_readable_token_expires_at_its_own_deadline():
    deadline = upload_token_expiration(_token({"scope": "b:k", "deadline": "1700003600000"}), NOW, video_id="v1")
    assert deadline == datetime(2023, 11, 14, 23, 13, 20, tzinfo=timezone.utc)


def test_the_fallback_is_short_and_conservative():
    # No Wangsu page documents a token lifetime; the fallback errs short: under the 3,000 s of VOD's credentials.
    assert 60 <= FALLBACK_TOKEN_SECONDS <= 3000


UNREADABLE = [
    "garbage",
    "ak:sign",
    "ak:sign:!!!not-base64!!!",
    _token({"scope": "b:k"}),
    _token({"deadline": "soon"}),
    _token({"deadline": -5}),
    None,
    12345,
]


@pytest.mark.parametrize("token", UNREADABLE, ids=range(len(UNREADABLE)))
def test_an_unreadable_put_policy_gives_the_fallback_and_a_warning_without_the_token(token, caplog):
    caplog.set_level(logging.WARNING, logger="upload_broker.upstream_wangsu")

    assert upload_token_expiration(token, NOW, video_id="vid-123") == FALLBACK

    (record,) = [r for r in caplog.records if r.name == "upload_broker.upstream_wangsu"]
    assert record.levelno == logging.WARNING
    line = record.getMessage()
    assert "vid-123" in line and f"{FALLBACK_TOKEN_SECONDS} s" in line
    if isinstance(token, str):
        assert token not in line and "sign" not in line


def test_a_hostile_video_id_is_quoted_and_cut_in_the_log_line(caplog):
    caplog.set_level(logging.WARNING, logger="upload_broker.upstream_wangsu")
    upload_token_expiration("garbage", NOW, video_id="x\nFAKE LOG LINE" + "y" * 500)
    line = caplog.records[-1].getMessage()
    assert "\n" not in line and len(line) < 300
