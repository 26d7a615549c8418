"""The web demo in a real browser: Debian's Chromium, driven by Playwright, uploads through the broker to the fake OSS.

The stack is the one a user runs: the broker's local app over real HTTP (serving the demo at ``/demo/`` and the
``/v1`` routes), the aliyun SDK to the fake VOD, and the ali-oss browser build to the fake OSS, which checks the
browser's signatures against the credentials the fake VOD issued. All of them read one :class:`OffsetClock`.

The story (tests/browser/upload_demo.mjs plays the user): a 3 MiB file goes up in 1 MiB parts, one at a time,
each answered after a pause so a person could watch the bar move. Once part 1 is stored the fake OSS moves the
shared clock past the credential's lifetime, as a slow network would, so part 2 is refused with OSS's own 403
``SecurityTokenExpired``; the page asks the broker for a new credential and carries on. After part 2 the user
presses Pause, reloads the page, picks the file again and presses Resume: the page finds the stored VideoId and
checkpoint, refreshes through the broker, and sends only part 3.

The broker's list of the user's unfinished uploads (``GET /v1/uploads?Status=pending``) is how the reloaded page
learns what is unfinished: it names the video, and the stored checkpoint says this browser can resume it. Once
storage has the whole file the fake VOD posts its signed FileUploadComplete callback to the broker (as the VOD
console's HTTP callback would, and as under ``make run``), the list no longer has the video, and "Replace source"
is refused with the broker's own 409 sentence, without a RefreshUploadVideo or a byte sent. A second browser with
no stored progress finds an upload another device started in the same list, and sends the file into that video.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import pytest

from tests.functional.client_stack import (  # noqa: F401 - fixtures
    BrokerServer,
    broker_fixture,
    broker_post,
    broker_server_fixture,
    clock_fixture,
    credential_lifetime_fixture,
    fake_oss_fixture,
    fake_vod_fixture,
)

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
BROWSER_DIR = ROOT / "tests" / "browser"
ARTIFACTS = ROOT / "tests" / "artifacts"
DOCS_SCREENSHOT = ROOT / "docs" / "demo-mid-upload.png"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")

MiB = 1024 * 1024
DATA = os.urandom(3 * MiB)  # three 1 MiB parts
PART_PACE_SECONDS = 0.8  # how long the fake OSS takes to answer each stored part
CALLBACK_KEY = "Console1Key"  # obviously fake: the VOD console's callback authentication key in these stories
ALREADY_COMPLETED = "This upload finished; start a new upload to send another file."  # the broker's 409 Message


@pytest.fixture
def vod_callbacks(broker, broker_server, fake_vod) -> str:
    """VOD calls back the broker's route once an upload lands, signing with CALLBACK_KEY, and the broker is
    told the same URL and key, as under ``make run``. (The URL names the test server's port, known only once it
    listens.)"""
    url = f"{broker_server.url}/v1/callbacks/vod"
    broker.config = replace(broker.config, vod_callback_url=url, vod_callback_auth_keys=(CALLBACK_KEY,))
    fake_vod.callback_url, fake_vod.callback_auth_key = url, CALLBACK_KEY
    return url


def require_browser(*, chromium: bool = True) -> None:
    """Install the pinned packages when npm is there; skip (fail in CI) unless Chromium and Node are installed."""
    missing = []
    if chromium and not Path(CHROMIUM).exists():
        missing.append(f"Chromium at {CHROMIUM} (get it with: sudo apt-get install -y chromium)")
    if shutil.which("node") is None:
        missing.append("node (Node 18+)")
    npm = shutil.which("npm")
    if not (BROWSER_DIR / "node_modules" / "playwright-core").is_dir() and npm:
        subprocess.run([npm, "ci", "--prefix", str(BROWSER_DIR), "--no-audit", "--no-fund"], check=True,
                       capture_output=True, timeout=300)  # fmt: skip
    if not (BROWSER_DIR / "node_modules" / "playwright-core").is_dir():
        missing.append("tests/browser/node_modules (npm ci --prefix tests/browser)")
    if missing:
        reason = "the browser test needs " + ", ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(reason + "; CI must install them (.ci/run does)")
        pytest.skip(reason)


def run_demo(url: str, token: str, file: Path, **env: str) -> dict:
    completed = subprocess.run(
        ["node", str(BROWSER_DIR / "upload_demo.mjs"), url, token, str(file)],
        capture_output=True, text=True, timeout=100, cwd=ROOT,
        env={**os.environ, "CHROMIUM": CHROMIUM, "ARTIFACTS": str(ARTIFACTS), **env},
    )  # fmt: skip
    lines = completed.stdout.strip().splitlines()
    try:
        result = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        pytest.fail(f"upload_demo.mjs exited {completed.returncode}:\n{completed.stdout}\n{completed.stderr}")
    assert completed.returncode == 0 and not result.get("error"), (
        f"{result.get('error')}\nscreenshot: {ARTIFACTS / 'upload-demo-failure.png'}\n" + json.dumps(result, indent=2)
    )
    return result


def pace_parts(fake_oss, clock=None, *, expire_after_part: int | None = None, lifetime: int = 0) -> None:
    """Answer each stored part slowly; with ``expire_after_part``, age the credential past its lifetime on
    the shared ``clock`` once that part is stored.

    The listener runs before the part's answer is sent, so the browser's next request sees the credential expired.
    """
    expired = []

    def listener(record):
        if record.operation == "UploadPart" and record.status == 200:
            time.sleep(PART_PACE_SECONDS)
            if record.part_number == expire_after_part and not expired:
                expired.append(record)
                clock.advance(lifetime + 1)

    fake_oss.on_request(listener)


def test_the_demo_uploads_across_an_expiry_a_pause_and_a_reload(
    broker_server: BrokerServer, vod_callbacks, broker, token, fake_vod, fake_oss, clock, credential_lifetime, tmp_path
):
    require_browser()
    # Given the demo served by the broker, a fake VOD that hands out credentials for a virtual-hosted fake OSS
    # (http://<bucket>.localhost:<port>, as a browser addresses a real OSS endpoint), and a slow network
    fake_vod.oss_endpoint = fake_oss.localhost_url
    pace_parts(fake_oss, clock, expire_after_part=1, lifetime=credential_lifetime)
    source = tmp_path / "holiday.mp4"
    source.write_bytes(DATA)
    jwt = token("alice").removeprefix("Bearer ")
    screenshot = DOCS_SCREENSHOT if os.environ.get("UPDATE_DOCS_SCREENSHOT") else ARTIFACTS / "demo-mid-upload.png"

    # When a person uploads the file with the demo, pausing after two parts and reloading the page, and once it
    # is complete presses "Replace source"
    result = run_demo(broker_server.url, jwt, source, PART_SIZE_MIB="1", PARALLEL="1", PAUSE_AFTER_PARTS="2",
                      SCREENSHOT=str(screenshot), AFTER_COMPLETE="replace")  # fmt: skip
    video_id = result["videoId"]

    # Then the page says it is done, and forgot the finished upload but not the token
    assert result["status"].startswith("Upload complete"), result
    assert result["percent"] == 100
    assert result["parts"].startswith("3 of 3 parts uploaded")
    assert result["pausedAt"].startswith("2 of 3") and result["afterReload"].startswith("2 of 3")
    assert result["tokenKept"] is True
    assert any(k.startswith("broker-demo:upload:") for k in result["savedBeforeReload"])
    assert result["savedAfter"] == []
    assert "The upload credential expired; asking the broker for a new one…" in result["statuses"]
    assert any(s.startswith("Resuming video ") for s in result["statuses"])

    # And the reloaded page found the upload in the broker's list of unfinished ones, with this browser's progress
    # (the list, fetched before anything was created, had nothing in it)
    assert result["listedAtOpen"] == []
    [listed] = result["listedAfterReload"]
    assert listed["id"] == video_id and listed["progress"] == "saved", listed
    assert "(2 of 3 parts sent): pick the same file (holiday.mp4) to resume" in listed["text"], listed
    assert 1 <= listed["refreshCount"] < fake_vod.call_count("RefreshUploadVideo")  # not yet the resume's refresh
    assert result["afterChoosing"] == f"Pick holiday.mp4 again to resume video {video_id}."

    # And the fake OSS holds exactly the file, for the video the broker created
    video = fake_vod.get(result["videoId"])
    assert fake_oss.object_bytes(video.bucket, video.file_name) == DATA
    assert video.status == "UploadSucc"

    # And the credential ran out mid-upload: OSS refused part 2 once, and the broker's refresh route was called
    # for it and again for the resume after the reload
    # (a refused part carries no part number: the fake reads it only from an authenticated request)
    parts = [(r.part_number, r.status, r.code) for r in fake_oss.requests if r.operation == "UploadPart"]
    assert [(r.operation, r.code) for r in fake_oss.rejections()] == [("UploadPart", "SecurityTokenExpired")]
    assert parts[:3] == [(1, 200, None), (None, 403, "SecurityTokenExpired"), (2, 200, None)]
    refresh_path = f"/v1/videos/{video_id}/refresh"
    assert fake_vod.call_count("RefreshUploadVideo") >= 2
    assert result["refreshes"] >= 1  # the count since the reload, as the page shows it

    # And VOD's signed callback reached the broker, which marked the upload complete; the page's next look at the
    # list (after the callback) no longer had it
    delivered = [a for a in fake_vod.callback_attempts if a.resource_id == video_id]
    assert [(a.event["EventType"], a.delivered) for a in delivered] == [("FileUploadComplete", True)]
    assert broker.ledger.find("vod", video_id).status == "completed"
    assert result["listedAfterComplete"] == []
    calls = broker_server.calls
    last_listing = max(i for i, call in enumerate(calls) if call == ("GET", "/v1/uploads"))
    assert calls.index(("POST", vod_callbacks.removeprefix(broker_server.url))) < last_listing

    # And "Replace source" asked the broker for a refresh, which it refused with its own sentence, shown as the
    # page's alert: VOD was asked for nothing (the callback had locked the upload), and nothing was uploaded
    assert result["replaceShown"] is True
    assert result["replaceError"] == ALREADY_COMPLETED and result["replaceErrorRole"] == "alert"
    assert result["statusAfterReplace"] == "The source was not replaced."
    assert result["refreshesAfterReplace"] == result["refreshes"] and result["percentAfterReplace"] == 100
    assert calls[-1] == ("POST", refresh_path)
    assert broker_server.called("POST", refresh_path) == fake_vod.call_count("RefreshUploadVideo") + 1
    assert fake_vod.call_count("GetVideoInfo") == fake_vod.call_count("RefreshUploadVideo")  # one per granted one

    # And the resume sent only what was missing: one multipart upload, part 1 stored exactly once
    stored = [r.part_number for r in fake_oss.requests if r.operation == "UploadPart" and r.status == 200]
    assert stored.count(1) == 1 and set(stored) == {1, 2, 3}
    assert fake_oss.count("InitiateMultipartUpload") == 1
    assert fake_oss.count("CompleteMultipartUpload", status=200) == 1
    assert {r.addressing for r in fake_oss.requests if r.operation != "Preflight"} == {"virtual-hosted"}


def test_the_demo_as_make_run_serves_it_uploads_parts_in_parallel_across_an_expiry(
    broker_server: BrokerServer, vod_callbacks, token, fake_vod, fake_oss, clock, credential_lifetime, tmp_path
):
    require_browser()
    # Given the OSS endpoint as `make run` hands it out (http://127.0.0.1:<port>: ali-oss puts no bucket in the
    # Host of an IP endpoint) and the demo's own settings (two parts at once)
    assert fake_vod.oss_endpoint == fake_oss.url
    pace_parts(fake_oss, clock, expire_after_part=1, lifetime=credential_lifetime)
    source = tmp_path / "lecture.webm"
    source.write_bytes(DATA)

    # When a person uploads the file without pausing
    result = run_demo(broker_server.url, token("bob").removeprefix("Bearer "), source, PAUSE_AFTER_PARTS="0",
                      PART_SIZE_MIB="1", PARALLEL="2")  # fmt: skip

    # Then it is stored whole, though a part was refused on the expired credential and the page refreshed it
    assert result["status"].startswith("Upload complete"), result
    video = fake_vod.get(result["videoId"])
    assert fake_oss.object_bytes(video.bucket, video.file_name) == DATA
    assert {r.code for r in fake_oss.rejections()} == {"SecurityTokenExpired"}
    assert fake_vod.call_count("RefreshUploadVideo") >= 1
    assert result["refreshes"] == fake_vod.call_count("RefreshUploadVideo")
    assert fake_oss.count("InitiateMultipartUpload") == 1
    assert {r.addressing for r in fake_oss.requests if r.operation != "Preflight"} == {"cname"}


def test_a_second_browser_finds_an_unfinished_upload_in_the_list_and_sends_the_file_into_it(
    broker_server: BrokerServer, vod_callbacks, broker, token, fake_vod, fake_oss, tmp_path
):
    require_browser()
    # Given an upload dave started on another device (nothing of it is stored in this browser), and 20 newer
    # unfinished ones, so the page must follow the broker's NextToken to reach it
    fake_vod.oss_endpoint = fake_oss.localhost_url
    bearer = token("dave")
    video_id = broker_post(broker_server, "/v1/videos", bearer, {"Title": "Trip", "FileName": "trip.mp4"})["VideoId"]
    for n in range(20):
        time.sleep(0.002)  # the list is ordered by creation millisecond
        broker_post(broker_server, "/v1/videos", bearer, {"Title": f"Take {n}", "FileName": f"take{n}.mp4"})
    source = tmp_path / "trip.mp4"
    source.write_bytes(DATA)

    # When dave opens the demo in a fresh browser, chooses that upload in "Your unfinished uploads", picks the
    # file and presses Upload
    result = run_demo(broker_server.url, bearer.removeprefix("Bearer "), source, PAUSE_AFTER_PARTS="0",
                      FROM_LIST=video_id, PART_SIZE_MIB="1", PARALLEL="2")  # fmt: skip

    # Then the list had every one of them, the chosen one said this browser has no progress for it, and the page
    # said the file goes in from the start
    assert len(result["listedAtOpen"]) == 21 and result["listedAtOpen"][-1]["id"] == video_id
    assert {entry["progress"] for entry in result["listedAtOpen"]} == {"none"}
    assert "No progress saved in this browser" in result["listedAtOpen"][-1]["text"]
    assert result["afterChoosing"].startswith(f"Press Upload to send trip.mp4 into video {video_id} from the start")
    assert broker_server.called("GET", "/v1/uploads") >= 2  # two pages, at least

    # And the file went into that video on a refreshed credential: no new video was created
    assert result["status"].startswith("Upload complete"), result
    assert result["videoId"] == video_id
    video = fake_vod.get(video_id)
    assert fake_oss.object_bytes(video.bucket, video.file_name) == DATA
    assert fake_vod.call_count("CreateUploadVideo") == 21
    assert fake_vod.call_count("RefreshUploadVideo") == 1 and result["refreshes"] == 1
    fake_vod.wait_for_callbacks(1)
    assert broker.ledger.find("vod", video_id).status == "completed"


@pytest.mark.parametrize("credential_lifetime", [6])
def test_the_demo_renews_a_short_credential_before_it_runs_out(
    broker_server: BrokerServer, token, fake_vod, fake_oss, credential_lifetime, tmp_path
):
    require_browser()
    # Given credentials that last 6 s and an upload of five parts that takes longer (no clock jumps here)
    fake_vod.oss_endpoint = fake_oss.localhost_url
    pace_parts(fake_oss)
    source = tmp_path / "talk.mov"
    data = os.urandom(5 * MiB)
    source.write_bytes(data)

    # When a person uploads it
    result = run_demo(broker_server.url, token("carol").removeprefix("Bearer "), source, PAUSE_AFTER_PARTS="0",
                      PART_SIZE_MIB="1", PARALLEL="1")  # fmt: skip

    # Then ali-oss's refreshSTSToken hook renewed the credential through the broker once half of it was used,
    # so OSS never refused a part, and the upload outlived the first credential
    assert result["status"].startswith("Upload complete"), result
    video = fake_vod.get(result["videoId"])
    assert fake_oss.object_bytes(video.bucket, video.file_name) == data
    assert fake_oss.rejections() == []
    assert result["refreshes"] == fake_vod.call_count("RefreshUploadVideo") >= 1
    first, *renewed = (record["AccessKeyId"] for record in credential_records(fake_vod, result["videoId"]))
    assert renewed and {r.access_key_id for r in fake_oss.requests if r.status == 200} >= {first, renewed[-1]}


def credential_records(fake_vod, resource_id: str) -> list[dict]:
    """The credentials the fake VOD issued for one resource, oldest first."""
    return [
        {"AccessKeyId": key_id, **entry}
        for key_id, entry in sorted(fake_vod.issued_credentials.items(), key=lambda item: item[1]["issued_at"])
        if entry["resource_id"] == resource_id
    ]


def test_the_demo_says_in_words_why_the_broker_refused(broker_server: BrokerServer, fake_vod, tmp_path):
    require_browser()
    source = tmp_path / "clip.mp4"
    source.write_bytes(b"x" * 1024)

    # When the token is not one the broker accepts
    result = run_demo(broker_server.url, "not-a-token", source, PAUSE_AFTER_PARTS="0", EXPECT="error")

    # Then the page explains what to do instead of showing the broker's code, and nothing was created upstream
    assert result["pageError"].startswith("The broker did not accept your token"), result
    assert result["status"] == "The upload stopped."
    assert fake_vod.call_count("CreateUploadVideo") == 0


def test_the_vendored_browser_build_is_the_pinned_packages():
    require_browser(chromium=False)
    completed = subprocess.run(
        ["node", str(BROWSER_DIR / "vendor.mjs"), "--check"], capture_output=True, text=True, timeout=30, cwd=ROOT
    )
    assert completed.returncode == 0, completed.stderr
