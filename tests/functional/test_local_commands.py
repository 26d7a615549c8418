"""``make run`` and ``make invoke`` as a person runs them: real processes, real sockets."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
DEV = [sys.executable, "-m", "upload_broker.dev"]


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a newcomer's shell: no credentials, no broker settings."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ALIBABA_CLOUD_", "BROKER_", "VOD_", "ICE_", "WANGSU_", "FC_"))}
    env["PYTHONPATH"] = f"{ROOT / 'shared'}{os.pathsep}{ROOT}"
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def invoke(op: str, *event: str) -> subprocess.CompletedProcess:
    return subprocess.run([*DEV, "invoke", op, *(event or [f"tests/events/{op}.json"])], cwd=ROOT,
                          env=clean_env(), capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(("op", "id_field", "actions"), [
    ("refresh_upload_video", "VideoId", ["CreateUploadVideo", "RefreshUploadVideo"]),
    ("refresh_upload_media", "MediaId", ["CreateUploadMedia", "RefreshUploadMedia"]),
])
def test_invoke_of_a_refresh_creates_first_and_refreshes_that(op, id_field, actions):
    done = invoke(op)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["statusCode"] == 200 and result["body"]["UploadAuth"]
    issued = [json.loads(line) for line in done.stderr.splitlines() if '"outcome": "issued"' in line]
    assert [r["operation"] for r in issued] == actions
    assert issued[0]["resource_id"] == issued[1]["resource_id"] == result["body"][id_field]


def test_invoke_serves_an_api_gateway_event_too():
    done = invoke("refresh_upload_video", "tests/events/apigateway/refresh_upload_video.json")
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["statusCode"] == 200


def test_invoke_of_an_unknown_function_lists_the_functions_and_exits_2():
    done = invoke("create_upload_vidoe")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "create_upload_video" in done.stderr and "refresh_upload_media" in done.stderr


def test_invoke_with_a_missing_event_file_says_so_and_exits_2():
    done = invoke("create_upload_video", "tests/events/nope.json")
    assert done.returncode == 2 and "Traceback" not in done.stderr and "tests/events/nope.json" in done.stderr


@pytest.fixture
def running_broker(tmp_path):
    """``make run`` on a free port, with nothing in the environment: fakes, a dev token, the shim."""
    port = free_port()
    env = clean_env(PORT=str(port), BROKER_LEDGER_URL=f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    process = subprocess.Popen([*DEV, "run", "--threads", "4"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    banner = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        banner.append(line)
        if "serving every route" in line:
            break
    text = "".join(banner)
    assert "serving every route" in text, text
    token = re.search(r"export TOKEN=(\S+)", text).group(1)
    base = f"http://127.0.0.1:{port}"
    for _ in range(50):
        try:
            requests.get(base + "/healthz", timeout=1)
            break
        except requests.ConnectionError:
            time.sleep(0.1)
    yield base, port, token
    process.terminate()
    process.wait(timeout=10)


def test_make_run_serves_the_curl_line(running_broker):
    base, _, token = running_broker
    response = requests.post(base + "/v1/videos", json={"Title": "My first upload", "FileName": "movie.mp4"},
                             headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert response.status_code == 200 and response.json()["UploadAuth"]
    video_id = response.json()["VideoId"]
    refreshed = requests.post(f"{base}/v1/videos/{video_id}/refresh", headers={"Authorization": f"Bearer {token}"},
                              timeout=10)
    assert refreshed.status_code == 200 and refreshed.json()["VideoId"] == video_id


def test_a_declared_huge_body_is_refused_at_once_in_json(running_broker):
    _, port, token = running_broker
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"POST /v1/videos HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Authorization: Bearer " + token.encode() + b"\r\nContent-Length: 300000000\r\n\r\n{\"Title\":")
        started = time.monotonic()
        received = b""
        while b"\r\n\r\n" not in received or not received.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
        elapsed = time.monotonic() - started
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), head
    assert b"application/json" in head and b"X-Request-Id" in head
    assert json.loads(body)["Code"] == "PayloadTooLarge"
    assert elapsed < 5  # answered without waiting for 300 MB that never comes


def test_a_chunked_body_over_the_limit_is_refused_in_json(running_broker):
    base, _, token = running_broker

    def chunks():
        for _ in range(20):
            yield b" " * 8192

    response = requests.post(base + "/v1/videos", data=chunks(), timeout=10,
                             headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    assert response.status_code == 413 and response.json()["Code"] == "PayloadTooLarge"
