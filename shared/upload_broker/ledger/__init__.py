"""The ledger: the broker's shared state (ownership, quotas, idempotency, audit) behind one small interface.

A create records (provider, resource id) -> owner before any credential is returned; a refresh looks the
owner up and answers 404 unless it is the caller. ``open_ledger`` picks the backend from
``BROKER_LEDGER_URL``:

- ``sqlite:///path``: embedded, one process (the default; local use only);
- ``redis://[:password@]host:port/db`` / ``rediss://...``: ApsaraDB for Redis / Tair, shared by many instances;
- ``tablestore://<instance>.<region>.ots.aliyuncs.com[/<table prefix>]``: Tablestore (OTS) over HTTPS with the
  function's own credentials - shared, serverless, no VPC. ``tablestore+http://host:port/<instance>[/<prefix>]``
  (or ``tablestore+https://``) names any other endpoint, such as the local fake.

See docs/ledger.md for how to choose.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from upload_broker.ledger.base import (
    COMPLETED,
    PENDING,
    UPLOAD_STATUSES,
    AuditRecord,
    IdempotencyClaim,
    Ledger,
    LedgerUnavailable,
    Limit,
    LimitExceeded,
    Position,
    Resource,
    UploadPage,
    created_ms,
)

if TYPE_CHECKING:
    from upload_broker.config import Credentials

TABLESTORE_SCHEMES = ("tablestore", "tablestore+http", "tablestore+https")
DEFAULT_TABLE_PREFIX = "upload_broker_"
# Tablestore's naming rules: an instance is 3-16 letters, digits and hyphens, starting with a letter and not
# ending with a hyphen; a table name is letters, digits and underscores, starting with a letter or underscore.
_INSTANCE = re.compile(r"^[A-Za-z][A-Za-z0-9-]{1,14}[A-Za-z0-9]$")
_PREFIX = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


@dataclass(frozen=True)
class TablestoreLocation:
    """Where a Tablestore ledger lives: the endpoint the SDK calls, the instance, and its tables' name prefix."""

    endpoint: str
    instance: str
    prefix: str


def parse_tablestore_url(url: str) -> TablestoreLocation:
    """``tablestore://<instance>.<region>.ots.aliyuncs.com[/<prefix>]`` or ``tablestore+http(s)://host/<instance>[/<prefix>]``.

    Raises ValueError with a message that says what to fix. Credentials never go in the URL: the ledger uses
    the function's own (``ALIBABA_CLOUD_*``, or the invocation context's).
    """
    parts = urlsplit(url)
    if parts.scheme not in TABLESTORE_SCHEMES:
        raise ValueError("expected tablestore://<instance>.<region>.ots.aliyuncs.com[/<table prefix>]")
    if parts.username or parts.password:
        raise ValueError("credentials do not go in the URL; the ledger uses the function's own")
    if parts.query or parts.fragment:
        raise ValueError("a Tablestore ledger URL takes no query or fragment")
    if not parts.hostname:
        raise ValueError("the URL names no host")
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ValueError("the port is not a number") from None
    segments = [s for s in parts.path.split("/") if s]
    if parts.scheme == "tablestore":
        # The instance endpoint's first label is the instance: <instance>.<region>.ots.aliyuncs.com (public),
        # <instance>.<region>.vpc.tablestore.aliyuncs.com (VPC), ...
        instance, _, rest = parts.hostname.partition(".")
        if not rest:
            raise ValueError("expected the instance endpoint, as in tablestore://myledger.cn-shanghai.ots.aliyuncs.com")
        endpoint = f"https://{parts.netloc}"
    else:
        if not segments:
            raise ValueError(f"expected {parts.scheme}://host:port/<instance>[/<table prefix>]")
        instance, segments = segments[0], segments[1:]
        endpoint = f"{parts.scheme.removeprefix('tablestore+')}://{parts.netloc}"
    if not _INSTANCE.match(instance):
        raise ValueError(f"{instance!r} is not a Tablestore instance name (3-16 letters, digits, hyphens)")
    if len(segments) > 1:
        raise ValueError("expected at most one path segment: the table prefix")
    prefix = segments[0] if segments else DEFAULT_TABLE_PREFIX
    if not _PREFIX.match(prefix):
        raise ValueError(f"{prefix!r} is not a table prefix (letters, digits, underscores; a letter or _ first)")
    if not prefix.endswith("_"):
        prefix += "_"
    return TablestoreLocation(endpoint, instance, prefix)


def open_ledger(url: str, *, credentials: Callable[[], Credentials | None] | None = None) -> Ledger:
    """The ledger backend for ``url`` (``sqlite:///path``, ``redis://...``, ``rediss://...`` or ``tablestore://...``).

    ``credentials`` gives a Tablestore ledger the server's current credentials on every call (the broker
    passes the freshest it has); without it the ``ALIBABA_CLOUD_*`` environment variables are used.
    """
    if url.startswith("sqlite:///"):
        from upload_broker.ledger.sqlite import SqliteLedger

        return SqliteLedger(url[len("sqlite:///"):])
    if url.startswith(("redis://", "rediss://")):
        from upload_broker.ledger.redis import RedisLedger

        return RedisLedger(url)
    if url.split(":", 1)[0] in TABLESTORE_SCHEMES:
        from upload_broker.ledger.tablestore import TablestoreLedger

        return TablestoreLedger(parse_tablestore_url(url), credentials=credentials)
    raise ValueError(f"unsupported ledger URL scheme: {url.split(':', 1)[0]}")


__all__ = [
    "COMPLETED",
    "DEFAULT_TABLE_PREFIX",
    "PENDING",
    "UPLOAD_STATUSES",
    "Position",
    "UploadPage",
    "created_ms",
    "AuditRecord",
    "IdempotencyClaim",
    "Ledger",
    "LedgerUnavailable",
    "Limit",
    "LimitExceeded",
    "Resource",
    "TablestoreLocation",
    "open_ledger",
    "parse_tablestore_url",
]
