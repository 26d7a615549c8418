"""Build the Function Compute code package: ``dist/upload-broker.zip`` (what ``make package`` runs).

The zip's root is FC's code root (``/code``, which the runtime puts on ``sys.path``)::

    <op>.py                      the handler FC calls ("<op>.handler"), generated: imports the next line's
    functions/<op>/index.py      handlers (functions/__init__.py puts <root>/shared on sys.path)
    shared/upload_broker/...     the library
    jwt/ redis/ requests/ ...    requirements.txt, installed from Linux wheels for the runtime's CPython

Third-party code comes only from wheels (``--only-binary=:all:``) for ``--platform`` (manylinux2014_x86_64)
and ``--python-version`` (3.12, FC 3.0's built-in python3.12 runtime), so the build machine's own Python and
OS do not matter. Every pinned requirement publishes a wheel on PyPI (aliyun-python-sdk-core 2.16.1 and
aliyun-python-sdk-vod 2.16.32 included: checked with ``pip download --only-binary=:all:``); a future pin that
ships only an sdist makes ``pip download`` fail with pip's own message. Build a pure wheel for it with
``pip wheel --no-deps`` into the cache folder below (it is a ``--find-links`` source) if that ever happens.

Wheels are cached in ``.broker/wheels/cp<XY>-<platform>/`` (keyed by requirements.txt's content); a warm
build makes no network call. What does not run on FC is left out: ``__pycache__``/``.pyc``, tests, console
scripts (``bin/``), type stubs, and the ``cffi``/``pycparser`` Python packages (cryptography's compiled
bindings only load the ``_cffi_backend`` extension module, which stays). Each ``*.dist-info`` folder is cut
down to a ``METADATA`` of name and version, so ``importlib.metadata.version()`` still answers (redis reports
its version to the server with it). Entries are sorted and dated 1980-01-01, so the same inputs give the
same zip.

Usage::

    python scripts/package.py                                   # dist/upload-broker.zip for python3.12
    python scripts/package.py --python-version 3.11 --output /tmp/pkg.zip
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PYTHON_VERSION = "3.12"
DEFAULT_PLATFORM = "manylinux2014_x86_64"
ZIP_DATE = (1980, 1, 1, 0, 0, 0)

# The project's own code: these folders, as they are on disk (uncommitted files included).
PROJECT_DIRS = ("functions", "shared")

# Never shipped, wherever they are.
JUNK_DIRS = {"__pycache__", "tests", "test", ".pytest_cache", ".mypy_cache", ".ruff_cache", "node_modules"}
JUNK_SUFFIXES = (".pyc", ".pyo", ".pyi", ".swp", "~")
JUNK_NAMES = {"py.typed", ".DS_Store"}

# Top-level folders of installed requirements that nothing imports on FC (see the module docstring).
UNUSED_AT_RUNTIME = {"cffi", "pycparser", "bin"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python-version", default=DEFAULT_PYTHON_VERSION,
                        help="the runtime's CPython, major.minor (default %(default)s)")
    parser.add_argument("--platform", default=DEFAULT_PLATFORM, help="wheel platform tag (default %(default)s)")
    parser.add_argument("--output", type=Path, default=ROOT / "dist" / "upload-broker.zip",
                        help="the zip to write (default dist/upload-broker.zip)")
    parser.add_argument("--requirements", type=Path, default=ROOT / "requirements.txt")
    parser.add_argument("--cache", type=Path, default=ROOT / ".broker" / "wheels",
                        help="wheel cache folder (default .broker/wheels)")
    args = parser.parse_args(argv)
    if not re.fullmatch(r"3\.\d{1,2}", args.python_version):
        parser.error(f"--python-version must look like 3.12, not {args.python_version!r}")

    started = time.monotonic()
    files, size, unpacked = build(args.output, python_version=args.python_version, platform=args.platform,
                                  requirements=args.requirements, cache=args.cache)
    print(f"{display(args.output)}: {size / 1e6:.1f} MB, {files} files ({unpacked / 1e6:.1f} MB unpacked) "
          f"for CPython {args.python_version} {args.platform}, built in {time.monotonic() - started:.1f} s")
    return 0


def build(output: Path, *, python_version: str, platform: str, requirements: Path, cache: Path) -> tuple[int, int, int]:
    """Write the package to ``output``; returns (file count, zip size, unpacked size) in bytes."""
    wheels = cached_wheels(cache, requirements, python_version, platform)
    with tempfile.TemporaryDirectory(prefix="upload-broker-package-") as tmp:
        site = Path(tmp) / "site"
        pip("install", "--no-index", "--find-links", str(wheels), *wheel_options(python_version, platform),
            "--target", str(site), "--no-compile", "--no-warn-script-location", "--quiet",
            "-r", str(requirements))
        prune_site(site)
        entries = dict(tree(site))
        for folder in PROJECT_DIRS:
            if folder in entries or any(name.startswith(folder + "/") for name in entries):
                raise SystemExit(f"a requirement installs a top-level {folder!r}, which would shadow the project's")
            entries.update(tree(ROOT / folder, prefix=folder + "/"))
        for name, path in handler_modules(Path(tmp) / "handlers").items():
            if name in entries:
                raise SystemExit(f"a requirement installs a top-level {name!r}, which would shadow a handler")
            entries[name] = path
        return write_zip(output, entries)


def handler_modules(folder: Path) -> dict[str, Path]:
    """``<op>.py`` at the code root for each ``functions/<op>/index.py``: FC documents a Python handler as
    ``<file name>.<method name>`` with the file at the code root ("Handlers", Python:
    https://www.alibabacloud.com/help/en/functioncompute/latest/event-handlers), so s.yaml and template.yml
    declare ``<op>.handler``, and this one-line module hands the call to the function's own entry point."""
    folder.mkdir()
    modules = {}
    for index in sorted((ROOT / "functions").glob("*/index.py")):
        op = index.parent.name
        path = folder / f"{op}.py"
        path.write_text(HANDLER_MODULE.format(op=op), encoding="utf-8")
        modules[f"{op}.py"] = path
    return modules


HANDLER_MODULE = '''"""Function Compute's "{op}.handler": functions/{op}/index.py's handler (by make package)."""

from functions.{op}.index import handler

__all__ = ["handler"]
'''


def wheel_options(python_version: str, platform: str) -> list[str]:
    return ["--only-binary=:all:", "--platform", platform, "--python-version", python_version, "--implementation", "cp"]


def cached_wheels(cache: Path, requirements: Path, python_version: str, platform: str) -> Path:
    """A folder holding every wheel ``requirements`` needs for that Python/platform; downloads on a miss."""
    folder = cache / f"cp{python_version.replace('.', '')}-{platform}"
    key = hashlib.sha256(requirements.read_bytes() + f"\0{python_version}\0{platform}".encode()).hexdigest()
    stamp = folder / ".complete"
    folder.mkdir(parents=True, exist_ok=True)
    with locked(folder / ".lock"):
        if stamp.is_file() and stamp.read_text().strip() == key:
            return folder
        stamp.unlink(missing_ok=True)
        for old in folder.glob("*.whl"):  # requirements changed: do not let old pins pile up
            old.unlink()
        pip("download", *wheel_options(python_version, platform), "--dest", str(folder), "--quiet",
            "-r", str(requirements))
        stamp.write_text(key + "\n")
    return folder


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock, so a test and ``make package`` building at once do not trip over each other."""
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def pip(*args: str) -> None:
    command = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    result = subprocess.run(command, check=False)  # noqa: S603 - our own arguments, no shell
    if result.returncode:
        raise SystemExit(f"pip failed ({result.returncode}): {' '.join(command)}")


def prune_site(site: Path) -> None:
    """Remove what FC never runs from the ``--target`` folder; shrink each dist-info to name + version."""
    for name in UNUSED_AT_RUNTIME:
        shutil.rmtree(site / name, ignore_errors=True)
    for dist_info in sorted(site.glob("*.dist-info")):
        metadata = (dist_info / "METADATA").read_text(encoding="utf-8")
        headers = metadata.split("\n\n", 1)[0].splitlines()
        fields = {key: value.strip() for key, _, value in (line.partition(":") for line in headers)}
        shutil.rmtree(dist_info)
        if canonical(fields.get("Name", "")) in {canonical(name) for name in UNUSED_AT_RUNTIME}:
            continue
        dist_info.mkdir()
        (dist_info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {fields['Name']}\nVersion: {fields['Version']}\n", encoding="utf-8")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def tree(folder: Path, prefix: str = "") -> Iterator[tuple[str, Path]]:
    """(name in the zip, file) for every file under ``folder`` that is not junk."""
    for directory, subdirs, names in os.walk(folder):
        subdirs[:] = [name for name in subdirs if name not in JUNK_DIRS]
        for name in names:
            if name in JUNK_NAMES or name.endswith(JUNK_SUFFIXES):
                continue
            path = Path(directory, name)
            yield prefix + path.relative_to(folder).as_posix(), path


def write_zip(output: Path, entries: dict[str, Path]) -> tuple[int, int, int]:
    """A deterministic zip: sorted names, fixed dates, normalised modes. Written beside, then moved in place."""
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".partial")
    unpacked = 0
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for name in sorted(entries):
            path = entries[name]
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.create_system = 3  # Unix, so the modes below are honoured when FC unpacks
            executable = name.endswith(".so") or os.access(path, os.X_OK)
            info.external_attr = (0o100755 if executable else 0o100644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            data = path.read_bytes()
            unpacked += len(data)
            archive.writestr(info, data, compresslevel=6)
    os.replace(partial, output)
    return len(entries), output.stat().st_size, unpacked


def display(path: Path) -> str:
    with contextlib.suppress(ValueError):
        return str(path.resolve().relative_to(Path.cwd()))
    return str(path)


if __name__ == "__main__":
    sys.exit(main())
