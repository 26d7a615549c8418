"""``make package``: the code package holds what Function Compute runs, and runs with nothing else.

The package is built for the local CPython (the same script as ``make package``, which builds for the
runtime's 3.12), unpacked, checked for what must and must not be in it, and then one FC 3.0 HTTP-trigger
event is served through ``functions.create_upload_video.index.handler`` in a fresh interpreter that sees only
the package and the standard library (``python -I -S``, the package's folder first on ``sys.path``, as FC
puts its code root ``/code`` there), against the fake VOD running in this process. Wheels are cached in
``.broker/wheels``, so only the first run downloads.
"""

from __future__ import annotations

import json
import platform
import re
import subprocess
import sys
import time
import zipfile
from importlib.metadata import packages_distributions
from pathlib import Path

import jwt
import pytest

from tests.conftest import TEST_KEY_ID, TEST_KEY_SECRET
from tests.jwt_helpers import HS256_SECRET

ROOT = Path(__file__).resolve().parents[2]
PYTHON_VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"
PLATFORM = f"manylinux2014_{platform.machine()}"
# Never anywhere in the package; and the project's folders that are not the functions or the library.
NEVER_SHIPPED = {"tests", "test", "node_modules", "__pycache__", ".venv", "venv"}
NOT_TOP_LEVEL = {"bench", "examples", "docs", "scripts", "dist", ".broker", ".tools", ".git", ".ci"}

# The FC 3.0 HTTP-trigger event for POST /v1/videos, as FC's Python runtime hands it over: JSON bytes.
EVENT = {
    "version": "v1",
    "rawPath": "/v1/videos",
    "body": json.dumps({"Title": "t", "FileName": "a.mp4"}),
    "isBase64Encoded": False,
    "headers": {"Authorization": "Bearer <token>", "Content-Type": "application/json"},
    "queryParameters": {},
    "requestContext": {
        "accountId": "123",
        "domainName": "x.cn-shanghai.fcapp.run",
        "domainPrefix": "x",
        "http": {"method": "POST", "path": "/v1/videos", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1",
                 "userAgent": "test"},
        "requestId": "1-abc",
        "time": "2026-11-30T00:00:00Z",
        "timeEpoch": "1764460800000",
    },
}

# Runs in `python -I -S`: argv = [code root, event JSON, top-level packages to import]. Prints one JSON line.
INVOKE = r"""
import json, sys, sysconfig, types
code, event, packages = sys.argv[1], sys.argv[2].encode(), sys.argv[3].split(",")
sys.path.insert(0, code)

import importlib, importlib.metadata
for name in packages:
    importlib.import_module(name)
# cryptography's OpenSSL bindings with only the _cffi_backend module shipped (no cffi/pycparser packages).
import jwt
from cryptography.hazmat.primitives.asymmetric import ec
key = ec.generate_private_key(ec.SECP256R1())
assert jwt.decode(jwt.encode({"a": 1}, key, algorithm="ES256"), key.public_key(), algorithms=["ES256"]) == {"a": 1}

from create_upload_video import handler  # the handler s.yaml declares: "create_upload_video.handler"
context = types.SimpleNamespace(request_id="1-abc", region="cn-shanghai", account_id="123", credentials=None,
                                function=types.SimpleNamespace(name="create_upload_video", memory=512, timeout=10,
                                                               handler="create_upload_video.handler"))
result = handler(event, context)

stdlib = {sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib")}
outside = sorted(name for name, module in list(sys.modules.items())
                 if getattr(module, "__file__", None)
                 and not module.__file__.startswith(code)
                 and not any(module.__file__.startswith(path) for path in stdlib))
print(json.dumps({"result": result, "outside": outside, "sys_path": sys.path,
                  "redis_version": importlib.metadata.version("redis")}, default=repr))
"""


@pytest.fixture(scope="module")
def package(tmp_path_factory) -> Path:
    """The package for the local CPython, built into a temporary folder and unpacked beside it."""
    out = tmp_path_factory.mktemp("package")
    started = time.monotonic()
    built = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "package.py"), "--python-version", PYTHON_VERSION,
         "--platform", PLATFORM, "--output", str(out / "upload-broker.zip")],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    print(built.stdout, built.stderr[-2000:], f"({time.monotonic() - started:.1f} s)")
    assert built.returncode == 0, built.stderr
    assert re.search(r"upload-broker\.zip: [\d.]+ MB, \d+ files", built.stdout)
    return out / "upload-broker.zip"


@pytest.fixture(scope="module")
def code_root(package) -> Path:
    root = package.parent / "code"
    with zipfile.ZipFile(package) as archive:
        archive.extractall(root)
    return root


def required_top_levels() -> dict[str, str]:
    """{requirement name: a top-level import name it installs}, from requirements.txt and the local install."""
    by_dist: dict[str, set[str]] = {}
    for top, dists in packages_distributions().items():
        for dist in dists:
            by_dist.setdefault(canonical(dist), set()).add(top)
    wanted = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        requirement = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", line.split("#", 1)[0])
        if requirement:
            tops = sorted(name for name in by_dist[canonical(requirement.group(1))] if not name.startswith("_"))
            wanted[requirement.group(1)] = tops[0]
    return wanted


def pinned(name: str) -> str:
    text = (ROOT / "requirements.txt").read_text()
    return re.search(rf"^{re.escape(name)}(?:\[[^]]*\])?==(\S+)", text, re.MULTILINE | re.IGNORECASE).group(1)


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_the_package_holds_the_functions_the_library_and_the_requirements_only(package):
    with zipfile.ZipFile(package) as archive:
        infos = archive.infolist()
    names = [info.filename for info in infos]

    assert names == sorted(names) and len(names) == len(set(names))
    assert {info.date_time for info in infos} == {(1980, 1, 1, 0, 0, 0)}
    for name in names:
        parts = name.split("/")
        assert not NEVER_SHIPPED & set(parts) and parts[0] not in NOT_TOP_LEVEL, name
        assert not name.endswith((".pyc", ".pyo", ".pyi")), name
        assert not parts[0].endswith(".dist-info") or parts[1:] == ["METADATA"], name
    tops = {name.split("/")[0] for name in names}
    assert {"functions", "shared"} <= tops
    # The documented "file name.method name" handler of each function, at the code root.
    folders = sorted(p.parent.name for p in (ROOT / "functions").glob("*/index.py"))
    assert {f"{folder}.py" for folder in folders} <= set(names)
    assert {"cffi", "pycparser", "bin"}.isdisjoint(tops)
    for required in ("functions/__init__.py", "functions/create_upload_video/index.py",
                     "shared/upload_broker/__init__.py", "shared/upload_broker/runtime.py"):
        assert required in names
    for requirement, top in required_top_levels().items():
        assert top in tops, f"{requirement} ({top}) is missing from the package"
    # Compiled modules are the local CPython's (and cryptography's abi3), for Linux.
    assert any(re.fullmatch(rf"_cffi_backend\.cpython-{PYTHON_VERSION.replace('.', '')}-.*linux-gnu\.so", n)
               for n in names)


def test_the_package_serves_an_fc_http_event_with_only_the_standard_library(code_root, fake_vod, tmp_path):
    token = jwt.encode({"sub": "alice", "exp": int(time.time()) + 300}, HS256_SECRET, algorithm="HS256")
    event = {**EVENT, "headers": {**EVENT["headers"], "Authorization": f"Bearer {token}"}}
    env = {  # no FC_FUNCTION_NAME: on FC the function refuses an SQLite ledger
        "BROKER_JWT_SECRET": HS256_SECRET,
        "ALIBABA_CLOUD_ACCESS_KEY_ID": TEST_KEY_ID,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": TEST_KEY_SECRET,
        "VOD_ENDPOINT": fake_vod.url,
        "BROKER_LEDGER_URL": f"sqlite:///{tmp_path / 'ledger.sqlite3'}",
        "LANG": "C.UTF-8",
    }
    packages = ",".join(sorted(set(required_top_levels().values())))

    ran = subprocess.run([sys.executable, "-I", "-S", "-c", INVOKE, str(code_root), json.dumps(event), packages],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)

    print(ran.stdout)
    print(ran.stderr[-4000:], file=sys.stderr)
    assert ran.returncode == 0, ran.stderr[-4000:]
    report = json.loads(ran.stdout.strip().splitlines()[-1])
    assert report["outside"] == [], "modules loaded from outside the package and the standard library"
    assert str(ROOT) not in json.dumps(report["sys_path"])
    assert report["redis_version"] == pinned("redis")  # importlib.metadata answers from the cut-down dist-info
    result = report["result"]
    print(json.dumps(result, indent=2))
    assert isinstance(result, dict), result
    assert result["statusCode"] == 200, result
    assert result.get("isBase64Encoded") is False
    body = json.loads(result["body"])
    assert body["VideoId"] in fake_vod.videos and body["UploadAuth"]
    assert fake_vod.last_call("CreateUploadVideo")["AccessKeyId"] == TEST_KEY_ID
