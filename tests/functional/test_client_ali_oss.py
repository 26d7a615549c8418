"""A Node app uploads with ali-oss on the broker's credentials: tests/node/upload_with_refresh.mjs, run by node.

ali-oss (pinned in tests/node/package.json) refreshes in two ways, and each gets a test:

- on expiry (deterministic): the fake OSS moves the shared clock past the credential's lifetime after the third
  part; the next part is refused with 403 ``SecurityTokenExpired``, the script refreshes through the broker and
  resumes from ali-oss's checkpoint.
- by interval (real time): a 2 s credential, parts paced so the upload takes about 2.5 s, and ali-oss's own
  ``refreshSTSToken`` every second; the credential is replaced before OSS ever refuses it.

Pointed at http://127.0.0.1:<port>, ali-oss sends ``/<key>`` with ``Host: <bucket>.oss-cn-shanghai.aliyuncs.com``,
so the fake OSS sees a virtual-hosted request.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.functional.client_stack import (  # noqa: F401 - the *_fixture names register shared fixtures
    BrokerServer,
    broker_fixture,
    broker_server_fixture,
    clock_fixture,
    credential_lifetime_fixture,
    fake_oss_fixture,
    fake_vod_fixture,
)

NODE_DIR = Path(__file__).resolve().parents[1] / "node"
SCRIPT = NODE_DIR / "upload_with_refresh.mjs"
PART = 100 * 1024
DATA = os.urandom(6 * PART + 4321)  # seven parts


@pytest.fixture(scope="module")
def node() -> str:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are needed for the ali-oss client test")
    if not (NODE_DIR / "node_modules" / "ali-oss").is_dir():
        subprocess.run([npm, "ci", "--prefix", str(NODE_DIR), "--no-audit", "--no-fund"], check=True,
                       capture_output=True, timeout=300)  # fmt: skip
    return node


def run_upload(node: str, server: BrokerServer, bearer: str, source: Path, **env: str) -> dict:
    completed = subprocess.run(
        [node, str(SCRIPT), str(source)],
        env={**os.environ, "BROKER_URL": server.url, "TOKEN": bearer.removeprefix("Bearer "), **env},
        capture_output=True, text=True, timeout=60, cwd=NODE_DIR,
    )  # fmt: skip
    lines = completed.stdout.strip().splitlines()
    assert lines, f"no output; stderr:\n{completed.stderr}"
    result = json.loads(lines[-1])
    assert completed.returncode == 0 and "error" not in result, (result, completed.stderr)
    return result


@pytest.fixture
def source(tmp_path) -> Path:
    path = tmp_path / "concert.mp4"
    path.write_bytes(DATA)
    return path


@pytest.mark.parametrize("auth_v4", ["", "1"], ids=["v1", "v4"])
def test_ali_oss_resumes_after_an_expired_credential_is_refreshed(
    node, broker_server, token, fake_vod, fake_oss, clock, credential_lifetime, source, auth_v4
):
    # Given an upload that outlives its credential after the third part
    def expire_after_third_part(record):
        if record.operation == "UploadPart" and record.part_number == 3 and record.status == 200:
            clock.advance(credential_lifetime + 1)

    fake_oss.on_request(expire_after_third_part)

    # When the Node app uploads, with ali-oss's interval refresh set far beyond the upload
    result = run_upload(node, broker_server, token("dave"), source,
                        PART_SIZE=str(PART), REFRESH_INTERVAL_MS="3600000", AUTH_V4=auth_v4)  # fmt: skip

    # Then OSS refused once, the broker refreshed once, the upload resumed, and OSS holds exactly the file
    assert [e["code"] for e in result["expiredErrors"]] == ["SecurityTokenExpired"]
    assert result["expiredErrors"][0]["ecCode"] == "0002-00000007"
    assert [r["reason"] for r in result["refreshes"]] == ["expired"]
    assert broker_server.called("POST", f"/v1/videos/{result['VideoId']}/refresh") == 1
    assert fake_oss.object_bytes(result["Bucket"], result["FileName"]) == DATA
    assert fake_vod.get(result["VideoId"]).status == "UploadSucc"
    sent = [r.part_number for r in fake_oss.requests if r.operation == "UploadPart" and r.status == 200]
    assert sent == [1, 2, 3, 4, 5, 6, 7]  # parts 1-3 were not uploaded again
    assert {r.signature_version for r in fake_oss.requests} == {"v4" if auth_v4 else "v1"}
    assert {r.addressing for r in fake_oss.requests} == {"virtual-hosted"}


@pytest.mark.parametrize("credential_lifetime", [2])
def test_ali_oss_refreshes_on_its_interval_before_the_credential_runs_out(
    node, broker_server, token, fake_vod, fake_oss, source
):
    # Given a 2 s credential and an upload paced to take about 2.5 s (real time; nothing is moved forward)
    # When the Node app uploads with refreshSTSTokenInterval derived from the broker's Expiration (1 s here)
    result = run_upload(node, broker_server, token("erin"), source, PART_SIZE=str(PART), PART_DELAY_MS="350")

    # Then ali-oss refreshed through the broker on its own, and OSS never refused a request
    assert result["refreshInterval"] == 1000
    assert result["refreshes"] and {r["reason"] for r in result["refreshes"]} == {"interval"}
    assert result["expiredErrors"] == []
    assert fake_oss.rejections() == []
    refresh_path = f"/v1/videos/{result['VideoId']}/refresh"
    assert broker_server.called("POST", refresh_path) == len(result["refreshes"])
    assert fake_oss.object_bytes(result["Bucket"], result["FileName"]) == DATA
    assert fake_vod.get(result["VideoId"]).status == "UploadSucc"
    assert len({r.access_key_id for r in fake_oss.requests}) == len(result["refreshes"]) + 1
    first = fake_vod.issued_credentials[fake_oss.requests[0].access_key_id]
    assert fake_oss.requests[-1].at > first["expires_at"]  # the upload did outlive the first credential
