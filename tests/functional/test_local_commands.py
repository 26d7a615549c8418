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


@pytest.mark.parametrize("event", ["tests/events/vod_callback.json", "tests/events/apigateway/vod_callback.json"])
def test_invoke_of_the_vod_callback_signs_it_as_vod_would_and_locks_a_new_video(event):
    done = invoke("vod_callback", event)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["statusCode"] == 200, result
    completed = [json.loads(line) for line in done.stderr.splitlines() if '"outcome": "completed"' in line]
    assert [(r["operation"], r["user"]) for r in completed] == [("FileUploadComplete", "dev-user")]


@pytest.mark.parametrize("event", ["tests/events/list_uploads.json", "tests/events/apigateway/list_uploads.json"])
def test_invoke_of_the_listing(event):
    done = invoke("list_uploads", event)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["statusCode"] == 200 and result["body"]["Uploads"] == [] and result["body"]["NextToken"] is None


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


class Run:
    """One ``python -m upload_broker.dev run`` (what ``make run`` runs), read until it serves."""

    def __init__(self, state: Path, port: int | None = None, **env: str) -> None:
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen([*DEV, "run", "--threads", "4"], cwd=ROOT,
                                        env=clean_env(PORT=str(self.port), BROKER_STATE_DIR=str(state), **env),
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        lines = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "serving every route" in line:
                break
        self.banner = "".join(lines)
        found = re.search(r"export TOKEN=(\S+)", self.banner)
        self.token = found.group(1) if found else None

    def wait_until_serving(self) -> Run:
        assert "serving every route" in self.banner, self.banner
        for _ in range(50):
            try:
                requests.get(self.base + "/healthz", timeout=1)
                return self
            except requests.ConnectionError:
                time.sleep(0.1)
        raise AssertionError("make run never answered /healthz")

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.terminate()
        rest, _ = self.process.communicate(timeout=10)
        return self.banner + (rest or "")

    def create(self, token: str) -> requests.Response:
        return requests.post(self.base + "/v1/videos", json={"Title": "My first upload", "FileName": "movie.mp4"},
                             headers={"Authorization": f"Bearer {token}"}, timeout=10)


@pytest.fixture
def running_broker(tmp_path):
    """``make run`` on a free port, with nothing in the environment: fakes, a dev token, the shim."""
    run = Run(tmp_path).wait_until_serving()
    yield run.base, run.port, run.token
    run.stop()


def test_make_run_serves_the_curl_line(running_broker):
    base, _, token = running_broker
    response = requests.post(base + "/v1/videos", json={"Title": "My first upload", "FileName": "movie.mp4"},
                             headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert response.status_code == 200 and response.json()["UploadAuth"]
    video_id = response.json()["VideoId"]
    refreshed = requests.post(f"{base}/v1/videos/{video_id}/refresh", headers={"Authorization": f"Bearer {token}"},
                              timeout=10)
    assert refreshed.status_code == 200 and refreshed.json()["VideoId"] == video_id


def test_the_readmes_callback_by_hand_locks_the_video(running_broker):
    """The walk-through's VOD callback, signed with the key make run prints, then the refused refresh."""
    import hashlib

    base, port, token = running_broker
    auth = {"Authorization": f"Bearer {token}"}
    video_id = requests.post(base + "/v1/videos", json={"Title": "My first upload", "FileName": "movie.mp4"},
                             headers=auth, timeout=10).json()["VideoId"]
    timestamp = str(int(time.time()))
    url = f"http://127.0.0.1:{port}/v1/callbacks/vod"
    signature = hashlib.md5(f"{url}|{timestamp}|DevCallbackKey0NotReal".encode()).hexdigest()
    event = {"EventType": "FileUploadComplete", "Status": "success", "VideoId": video_id}

    answer = requests.post(url, json=event, headers={"X-VOD-TIMESTAMP": timestamp, "X-VOD-SIGNATURE": signature},
                           timeout=10)
    refused = requests.post(f"{base}/v1/videos/{video_id}/refresh", headers=auth, timeout=10)
    listed = requests.get(f"{base}/v1/uploads", headers=auth, timeout=10).json()

    assert answer.status_code == 200, answer.text
    assert refused.status_code == 409 and refused.json()["Code"] == "UploadAlreadyCompleted"
    assert [(u["Id"], u["Status"]) for u in listed["Uploads"]] == [(video_id, "completed")]


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


def test_a_taken_port_is_named_with_the_fix_before_any_token(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = Run(tmp_path, port=port)
        output = run.stop()
    assert run.process.returncode == 2
    assert f"port {port}" in output and f"make run PORT={port + 1}" in output
    assert "TOKEN" not in output and "Traceback" not in output and "fake VOD" not in output


def test_two_runs_work_side_by_side(tmp_path):
    first = Run(tmp_path).wait_until_serving()
    try:
        second = Run(tmp_path).wait_until_serving()
        try:
            fakes = [re.findall(r"fake \w+ +(http://\S+)", run.banner) for run in (first, second)]
            assert len(fakes[0]) == 4 and not set(fakes[0]) & set(fakes[1])  # each its own fakes, on free ports
            assert first.create(first.token).status_code == 200
            assert second.create(second.token).status_code == 200
        finally:
            second.stop()
    finally:
        first.stop()


def test_make_token_is_accepted_by_a_running_broker_and_tokens_outlive_a_restart(tmp_path):
    run = Run(tmp_path).wait_until_serving()
    try:
        made = subprocess.run(["make", "-s", "token", "SUB=alice", "HOURS=1"], cwd=ROOT, capture_output=True,
                              text=True, timeout=60, env=clean_env(BROKER_STATE_DIR=str(tmp_path)))
        assert made.returncode == 0, made.stderr
        alice = made.stdout.strip()
        assert run.create(alice).status_code == 200
        old_token = run.token
    finally:
        run.stop()
    secret = tmp_path / "dev-jwt-secret"
    assert secret.stat().st_mode & 0o777 == 0o600

    restarted = Run(tmp_path).wait_until_serving()
    try:
        assert restarted.create(old_token).status_code == 200
        assert restarted.create(alice).status_code == 200
    finally:
        restarted.stop()


def test_make_token_without_sub_prints_usage(tmp_path):
    done = subprocess.run(["make", "-s", "token"], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env=clean_env(BROKER_STATE_DIR=str(tmp_path)))
    assert done.returncode == 2 and "usage: make token SUB=" in done.stderr and not done.stdout.strip()


def test_no_token_is_ever_signed_with_an_operators_secret(tmp_path):
    operator_secret = "operator-secret-0123456789-0123456789-abc"
    run = Run(tmp_path, BROKER_JWT_SECRET=operator_secret).wait_until_serving()
    output = run.stop()
    assert run.token is None and "eyJ" not in output and "BROKER_JWT_SECRET" in output

    made = subprocess.run([*DEV, "token", "--sub", "alice"], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env=clean_env(BROKER_STATE_DIR=str(tmp_path), BROKER_JWT_SECRET=operator_secret))
    assert made.returncode == 2 and not made.stdout.strip() and "BROKER_JWT_SECRET" in made.stderr
    assert not (tmp_path / "dev-jwt-secret").exists()


def test_the_demo_without_its_slash_redirects_and_head_is_served(client):
    redirected = client.get("/demo")
    assert redirected.status_code == 301 and redirected.headers["Location"].endswith("/demo/")
    head = client.head("/demo/")
    assert head.status_code == 200 and head.data == b""
    assert client.get("/demo/").status_code == 200


def test_refusals_say_where_to_look(client):
    missing = client.post("/v1/vidoes")
    assert missing.status_code == 404 and "openapi.yaml" in missing.json["Message"]
    preflight = client.options("/v1/videos", headers={"Origin": "https://not-allowed.example",
                                                      "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 403 and "BROKER_ALLOWED_ORIGINS" in preflight.json["Message"]
