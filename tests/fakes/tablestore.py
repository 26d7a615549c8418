"""A moto-style fake of Alibaba Cloud Tablestore (OTS), wide-column model, API version 2015-12-31.

It is a real HTTP server on 127.0.0.1. The official SDK (``tablestore.OTSClient``) talks to it exactly as it
talks to ``https://<instance>.<region>.ots.aliyuncs.com``: protobuf request bodies with PlainBuffer-encoded
rows, ``x-ots-*`` headers, an HMAC-SHA1 request signature, and signed protobuf answers. The fake decodes the
PlainBuffer rows and signs with code of its own (it reuses only the SDK's generated ``*_pb2`` modules, i.e. the
published ``.proto`` wire schema), so a broken encoder, a wrong header or a wrong signature in the SDK or in
the broker fails here as it would against the service.

It implements what the broker's ledger uses - CreateTable, ListTable, DeleteTable, GetRow, PutRow, UpdateRow,
DeleteRow, GetRange, BatchGetRow, BatchWriteRow - and answers every other operation as an unsupported one.
Rows are kept in primary key order, so a range read finds its start by bisection and reads only the rows it
returns (a partition of 100,000 rows reads as fast as one of ten).

Sources for every behaviour (cited again next to the code that implements it):

- [API]   HTTP request and response: POST https://<instance>.<region>.ots.aliyuncs.com/<Operation>; request
          headers x-ots-date (UTC, %Y-%m-%dT%H:%M:%S.000Z), x-ots-apiversion (2015-12-31), x-ots-accesskeyid,
          x-ots-instancename, x-ots-contentmd5 (base64 MD5 of the body), x-ots-ststoken (with STS
          credentials), x-ots-signature; bodies are protobuf messages. "如何使用表格存储的 API",
          https://developer.aliyun.com/ask/218299 (the API reference "HTTP 消息" page, republished).
- [SIG]   Request signature: base64(HMAC-SHA1(AccessKeySecret, CanonicalURI + "\\n" + "POST" + "\\n" +
          CanonicalQueryString + "\\n" + CanonicalHeaders)), CanonicalHeaders = every x-ots-* header except the
          signature, lower-cased, sorted by name, "name:value\\n" each. Same page; the JavaScript SDK's signer
          (https://app.unpkg.com/tablestore@5.6.1/files/lib/signer.js) builds the same string.
- [RSIG]  Response signature: "Authorization: OTS <AccessKeyId>:<signature>", an HMAC-SHA1 with the same
          secret over the canonical x-ots-* response headers and the resource:
          https://developer.aliyun.com/ask/219908 ("Response 签名"); the 2015-12-31 SDKs check
          CanonicalHeaders + "\\n" + CanonicalURI and require x-ots-contentmd5, x-ots-requestid, x-ots-date and
          x-ots-contenttype on every 2xx answer (the Python SDK's tablestore/protocol.py, _check_headers).
- [DATE]  The service refuses a request whose x-ots-date is more than 15 minutes from its clock with 403
          OTSAuthFailed: "Date所表示的时间与服务器接收到request的时间最大误差为15分钟。如果超过15分钟的时间误差则
          服务器端报错:OTSAuthFailed" (https://developer.aliyun.com/ask/219957) and [ERR] "Mismatch between system
          time and x-ots-date: {Date}."
- [ERR]   Error codes, statuses and messages: https://www.alibabacloud.com/help/doc-detail/27300.html
          (OTSAuthFailed 403 "The AccessKeyID does not exist." / "The instance is not found." / "Signature
          mismatch." / "Mismatch between MD5 value of request body and x-ots-contentmd5 in header.";
          OTSParameterInvalid 400 "Missing header: {HeaderName}." / "Invalid date format: {Date}." /
          "Unsupported operation: {Operation}."; OTSMethodNotAllowed 405; OTSRequestBodyTooLarge 413;
          OTSServerBusy 503 "Server is busy."). An error body is the protobuf message Error {code, message}.
          The API errors the broker meets are pinned by the SDK's own integration tests against the service
          (https://github.com/aliyun/aliyun-tablestore-python-sdk, tests/row_op_test.py,
          tests/table_operation_test.py, tests/filter_and_condition_update_unitttest.py): 403
          OTSConditionCheckFail "Condition check failed.", 404 OTSObjectNotExist "Requested table does not
          exist.", 409 OTSObjectAlreadyExist "Requested table already exists.", 400 OTSParameterInvalid
          "Attribute column is missing." / "Duplicated primary key name: 'PK0'." / "No row is specified in
          BatchWriteRow." / "Begin key must less than end key in FORWARD", 400 OTSInvalidPK "Validate PK name
          fail. Input: PK2, Meta: PK1." / "Validate PK size fail. Input: 1, Meta: 2.".
- [COND]  Conditional update: https://www.alibabacloud.com/help/doc-detail/35194.html ("Conditional updates")
          and https://alibabacloud.com/help/en/tablestore/developer-reference/configure-conditional-update-by-using-python-sdk:
          PutRow, UpdateRow, DeleteRow and BatchWriteRow take a row existence condition (IGNORE, EXPECT_EXIST,
          EXPECT_NOT_EXIST), checked first, and a column condition (single-column =, !=, >, >=, <, <= with "pass
          if missing" - default pass - and "latest version only"; composite NOT/AND/OR); the row is changed only
          if both hold, else OTSConditionCheckFail. A conditional check reads the row and is billed as a read.
- [PLAIN] PlainBuffer row encoding (tags, value types, CRC-8 cell and row checksums, the delete marker):
          https://help.aliyun.com/document_detail/50600.html. The docs list what a cell checksum covers (name,
          value, type, timestamp); the order in which timestamp and op type enter it is the official SDKs'.
- [TTL]   TableOptions.time_to_live >= 86400 s or -1; max_versions: https://alibabacloud.com/help/en/tablestore/developer-reference/tableoptions.
          A cell's version is its write time in ms; data older than the TTL is expired and no longer read:
          https://alibabacloud.com/help/en/tablestore/data-versions-and-ttl.
- [AUTO]  Auto-increment primary key: not the partition key, INTEGER only, values unique and strictly increasing
          within a partition key, returned with ReturnType RT_PK:
          https://www.alibabacloud.com/help/en/tablestore/table-store-service/auto-increment-of-primary-key.
- [LIMIT] https://alibabacloud.com/help/zh/tablestore/general-limits-of-tablestore: 64 tables per instance;
          table and column names [A-Za-z_][A-Za-z0-9_]*, 1-255 bytes; 1-4 primary key columns, the first is the
          partition key; String/Binary primary key values <= 1 KB, attribute values <= 2 MB; <= 1024 attribute
          columns written per row; BatchWriteRow <= 200 rows and 4 MB; GetRange answers <= 5000 rows or 4 MB;
          columns_to_get <= 128; request body <= 5 MB (https://developer.aliyun.com/ask/216972).
- [WIDE]  Wide-row reads: start_column is included, end_column is not, columns sort by name:
          https://www.alibabacloud.com/help/zh/tablestore/table-store-service/developer-reference/tableinbatchgetrowrequest
          (the same fields as GetRowRequest's).
- [ROW]   "Deleting all attribute columns in a row is not the same as deleting the row. To delete the row, use
          the DeleteRow operation": https://help.aliyun.com/en/tablestore/developer-reference/updaterow. PutRow
          replaces the whole row; UpdateRow creates a missing row.
- [CU]    A read or write consumes one CU per 4 KB, rounded up:
          https://www.alibabacloud.com/help/doc-detail/27284.html.
- [RANGE] GetRange: https://www.alibabacloud.com/help/doc-detail/27309.html. inclusive_start_primary_key is
          in the range, exclusive_end_primary_key is not; FORWARD needs start < end and answers in ascending key
          order, BACKWARD needs start > end and answers in descending order; INF_MIN / INF_MAX bound a column.
          A row without any of the columns_to_get is not returned. More rows than ``limit`` (or than [LIMIT]
          allows) end the answer with next_start_primary_key, the key of the first row not returned.
- [BGET]  BatchGetRow: https://www.alibabacloud.com/help/doc-detail/27310.html - a set of GetRows, each
          answered and billed on its own, in the order asked; a row that does not exist is answered is_ok with
          no row data. The whole request fails when a table does not exist, a key does not fit the schema, a
          table is named twice or has no row, or more than 100 rows are asked in all. The older text of the page
          (republished: https://developer.aliyun.com/ask/218554) also refuses a table's rows with the same
          primary key twice.
- [BWRITE] BatchWriteRow: https://www.alibabacloud.com/help/doc-detail/27311.html - a set of PutRow, UpdateRow
          and DeleteRow, each checked, answered and billed on its own (a failed condition fails its row only).
          The whole request fails when a table does not exist, is named twice or has no row, a key does not fit
          the schema, one table's rows repeat a primary key, or there are more than 200 rows.
- [DUP]   Two operations on one row in one batch: 400 OTSParameterInvalid "The input parameter is invalid."
          (https://alibabacloud.com/help/doc-detail/38586.html).

Messages the sources do not give (STS token problems, a bad PlainBuffer, an unknown table option) are marked
"not documented" where they are produced.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import hmac
import logging
import math
import re
import struct
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from tests.fakes.base import AccessKeyEntry, FakeHandler, FakeServer, access_key

# The SDK package warns at import that its C++ codec is not built for this CPython; not the fake's concern.
for _name in ("tablestore.encoder", "tablestore.decoder"):
    logging.getLogger(_name).setLevel(logging.ERROR)

# The wire schema only: the messages generated from the service's published .proto files.
from tablestore.protobuf import table_store_filter_pb2 as fpb  # noqa: E402
from tablestore.protobuf import table_store_pb2 as pb  # noqa: E402

__all__ = ["FakeTablestore", "OtsError", "sign_request", "sign_response"]

API_VERSION = "2015-12-31"  # [API]
DATE_WINDOW_SECONDS = 15 * 60  # [DATE]
_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
REQUIRED_HEADERS = ("x-ots-date", "x-ots-apiversion", "x-ots-accesskeyid", "x-ots-instancename",
                    "x-ots-contentmd5", "x-ots-signature")  # [API]

# [LIMIT]
MAX_BODY_BYTES = 5 * 1024 * 1024
MAX_TABLES = 64
MAX_PK_COLUMNS = 4
MAX_PK_VALUE_BYTES = 1024
MAX_ATTRIBUTE_VALUE_BYTES = 2 * 1024 * 1024
MAX_COLUMNS_PER_WRITE = 1024
MAX_BATCH_WRITE_ROWS = 200
MAX_BATCH_GET_ROWS = 100  # [BGET]
MAX_RANGE_ROWS = 5000
MAX_RANGE_BYTES = 4 * 1024 * 1024
MAX_COLUMNS_TO_GET = 128
MIN_TTL_SECONDS = 86400  # [TTL]
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")

# [PLAIN] tags, value types and cell operations.
HEADER = 0x75
TAG_ROW_PK, TAG_ROW_DATA, TAG_CELL, TAG_CELL_NAME, TAG_CELL_VALUE = 0x1, 0x2, 0x3, 0x4, 0x5
TAG_CELL_TYPE, TAG_CELL_TIMESTAMP, TAG_DELETE_ROW_MARKER, TAG_ROW_CHECKSUM, TAG_CELL_CHECKSUM = 0x6, 0x7, 0x8, 0x9, 0xA
VT_INTEGER, VT_DOUBLE, VT_BOOLEAN, VT_STRING, VT_NULL, VT_BLOB = 0x0, 0x1, 0x2, 0x3, 0x6, 0x7
VT_INF_MIN, VT_INF_MAX, VT_AUTO_INCREMENT = 0x9, 0xA, 0xB
OP_DELETE_ALL_VERSION, OP_DELETE_ONE_VERSION, OP_INCREMENT = 0x1, 0x3, 0x4
_VT_NAMES = {VT_INTEGER: "VT_INTEGER", VT_DOUBLE: "VT_DOUBLE", VT_BOOLEAN: "VT_BOOLEAN", VT_STRING: "VT_STRING",
             VT_BLOB: "VT_BLOB", VT_INF_MIN: "VT_INF_MIN", VT_INF_MAX: "VT_INF_MAX",
             VT_AUTO_INCREMENT: "VT_AUTO_INCREMENT"}
# Primary key schema types (PrimaryKeyType in table_store.proto) and the PlainBuffer type a value must have.
_PK_VT = {pb.INTEGER: VT_INTEGER, pb.STRING: VT_STRING, pb.BINARY: VT_BLOB}


def _crc8_table() -> list[int]:
    # [PLAIN] CRC-8, polynomial x^8 + x^2 + x + 1 (0x07), most significant bit first, initial value 0.
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
        table.append(crc)
    return table


_CRC8 = _crc8_table()


def _crc(crc: int, data: bytes | Iterable[int]) -> int:
    for byte in data:
        crc = _CRC8[(crc ^ byte) & 0xFF]
    return crc


# --------------------------------------------------------------------------------------------------------------
# Signing, independent of the SDK's code
# --------------------------------------------------------------------------------------------------------------


def _canonical_headers(headers: Mapping[str, str], *, exclude: str | None = None) -> list[str]:
    found = {name.lower(): value.strip() for name, value in headers.items() if name.lower().startswith("x-ots-")}
    found.pop(exclude or "", None)
    return [f"{name}:{found[name]}" for name in sorted(found)]


def sign_request(secret: str, uri: str, headers: Mapping[str, str]) -> str:
    """[SIG] The x-ots-signature a request with these headers must carry."""
    string_to_sign = f"{uri}\nPOST\n\n" + "".join(line + "\n" for line in _canonical_headers(
        headers, exclude="x-ots-signature"))
    return base64.b64encode(hmac.new(secret.encode(), string_to_sign.encode(), hashlib.sha1).digest()).decode()


def sign_response(secret: str, uri: str, headers: Mapping[str, str]) -> str:
    """[RSIG] The signature part of a response's ``Authorization: OTS <id>:<signature>``."""
    string_to_sign = "\n".join(_canonical_headers(headers)) + "\n" + uri
    return base64.b64encode(hmac.new(secret.encode(), string_to_sign.encode(), hashlib.sha1).digest()).decode()


def ots_date(epoch: float) -> str:
    """[API] The x-ots-date format."""
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


# --------------------------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------------------------


class OtsError(Exception):
    """An answer the service gives as protobuf ``Error {code, message}`` with an HTTP status."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


def _invalid(message: str) -> OtsError:
    return OtsError(400, "OTSParameterInvalid", message)


def _condition_failed() -> OtsError:
    return OtsError(403, "OTSConditionCheckFail", "Condition check failed.")  # [ERR]


def _no_table() -> OtsError:
    return OtsError(404, "OTSObjectNotExist", "Requested table does not exist.")  # [ERR]


# --------------------------------------------------------------------------------------------------------------
# PlainBuffer [PLAIN]
# --------------------------------------------------------------------------------------------------------------


@dataclass
class Cell:
    """One PlainBuffer cell: a primary key or attribute column, with its operation and timestamp if any."""

    name: str
    vt: int | None = None
    value: Any = None
    op: int | None = None
    ts: int | None = None


@dataclass
class PlainRow:
    pk: list[Cell]
    attrs: list[Cell]
    deleted: bool = False


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = bytes(data), 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise _invalid("Invalid PlainBuffer: truncated.")  # not documented
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def u8(self) -> int:
        return self.take(1)[0]

    def i32(self) -> int:
        return struct.unpack("<i", self.take(4))[0]

    def i64(self) -> int:
        return struct.unpack("<q", self.take(8))[0]

    def tag(self) -> int | None:
        return None if self.pos == len(self.data) else self.u8()


def _read_variant(r: _Reader, crc: int) -> tuple[int, Any, int]:
    """value_type + value_data (no length prefix): as in cell values and in column-condition values."""
    vt = r.u8()
    crc = _crc(crc, [vt])
    if vt == VT_INTEGER:
        raw = r.take(8)
        return vt, struct.unpack("<q", raw)[0], _crc(crc, raw)
    if vt in (VT_STRING, VT_BLOB):
        size_raw = r.take(4)
        raw = r.take(struct.unpack("<i", size_raw)[0])
        crc = _crc(_crc(crc, size_raw), raw)
        if vt == VT_BLOB:
            return vt, raw, crc
        try:
            return vt, raw.decode("utf-8"), crc
        except UnicodeDecodeError:
            raise _invalid("Invalid PlainBuffer: a string is not UTF-8.") from None  # not documented
    if vt == VT_BOOLEAN:
        flag = r.u8()
        return vt, bool(flag), _crc(crc, [flag])
    if vt == VT_DOUBLE:
        raw = r.take(8)
        return vt, struct.unpack("<d", raw)[0], _crc(crc, raw)
    if vt in (VT_INF_MIN, VT_INF_MAX, VT_AUTO_INCREMENT):
        return vt, None, crc
    raise _invalid(f"Invalid PlainBuffer: unknown value type {vt}.")  # not documented


def _read_cell(r: _Reader) -> tuple[Cell, int]:
    """cell = tag_cell cell_name [cell_value] [cell_op] [cell_ts] cell_checksum (tag_cell already read)."""
    if r.u8() != TAG_CELL_NAME:
        raise _invalid("Invalid PlainBuffer: a cell has no name.")  # not documented
    name_raw = r.take(r.i32())
    crc = _crc(0, name_raw)
    cell = Cell(name_raw.decode("utf-8", "replace"))
    tag = r.u8()
    if tag == TAG_CELL_VALUE:
        length = r.i32()
        start = r.pos
        cell.vt, cell.value, crc = _read_variant(r, crc)
        if r.pos - start != length:
            raise _invalid("Invalid PlainBuffer: a value's length is wrong.")  # not documented
        tag = r.u8()
    if tag == TAG_CELL_TYPE:
        cell.op = r.u8()
        tag = r.u8()
    if tag == TAG_CELL_TIMESTAMP:
        cell.ts = r.i64()
        tag = r.u8()
    if cell.ts is not None:
        crc = _crc(crc, struct.pack("<q", cell.ts))
    if cell.op is not None:
        crc = _crc(crc, [cell.op])
    if tag != TAG_CELL_CHECKSUM or r.u8() != crc:
        raise _invalid("Invalid PlainBuffer: a cell checksum does not match.")  # not documented
    return cell, crc


def read_rows(data: bytes) -> list[PlainRow]:
    """Decode ``plainbuffer = tag_header row1 [row2] ...``, checking every cell and row checksum."""
    r = _Reader(data)
    if len(r.data) < 4 or r.i32() != HEADER:
        raise _invalid("Invalid PlainBuffer: bad header.")  # not documented
    rows = []
    tag = r.tag()
    while tag is not None:
        row, row_crc = PlainRow([], []), 0
        for section_tag, cells in ((TAG_ROW_PK, row.pk), (TAG_ROW_DATA, row.attrs)):
            if tag == section_tag:
                tag = r.tag()
                while tag == TAG_CELL:
                    cell, cell_crc = _read_cell(r)
                    cells.append(cell)
                    row_crc = _crc(row_crc, [cell_crc])
                    tag = r.tag()
        if tag == TAG_DELETE_ROW_MARKER:
            row.deleted = True
            tag = r.tag()
        row_crc = _crc(row_crc, [1 if row.deleted else 0])
        if tag != TAG_ROW_CHECKSUM or r.u8() != row_crc:
            raise _invalid("Invalid PlainBuffer: the row checksum does not match.")  # not documented
        rows.append(row)
        tag = r.tag()
    return rows


def read_row(data: bytes) -> PlainRow:
    rows = read_rows(data)
    if len(rows) != 1:
        raise _invalid("Invalid PlainBuffer: expected one row.")  # not documented
    return rows[0]


def read_variant(data: bytes) -> tuple[int, Any]:
    r = _Reader(data)
    vt, value, _ = _read_variant(r, 0)
    return vt, value


def _write_value(out: bytearray, vt: int, value: Any, crc: int) -> int:
    data = bytearray([vt])
    if vt == VT_INTEGER:
        data += struct.pack("<q", value)
    elif vt in (VT_STRING, VT_BLOB):
        raw = value.encode("utf-8") if vt == VT_STRING else bytes(value)
        data += struct.pack("<i", len(raw)) + raw
    elif vt == VT_BOOLEAN:
        data.append(1 if value else 0)
    elif vt == VT_DOUBLE:
        data += struct.pack("<d", value)
    out += bytes([TAG_CELL_VALUE]) + struct.pack("<i", len(data)) + data
    return _crc(crc, data)  # the checksum covers what follows the length prefix


def _write_cell(out: bytearray, name: str, vt: int | None, value: Any, ts: int | None) -> int:
    raw = name.encode("utf-8")
    out += bytes([TAG_CELL, TAG_CELL_NAME]) + struct.pack("<i", len(raw)) + raw
    crc = _crc(0, raw)
    if vt is not None:
        crc = _write_value(out, vt, value, crc)
    if ts is not None:
        out += bytes([TAG_CELL_TIMESTAMP]) + struct.pack("<q", ts)
        crc = _crc(crc, struct.pack("<q", ts))
    out += bytes([TAG_CELL_CHECKSUM, crc])
    return crc


def write_row(out: bytearray, pk: list[tuple[str, int, Any]], attrs: list[tuple[str, int, Any, int]]) -> None:
    """Append one row (no header): the primary key, then the attribute cells with their versions."""
    row_crc = 0
    out.append(TAG_ROW_PK)
    for name, vt, value in pk:
        row_crc = _crc(row_crc, [_write_cell(out, name, vt, value, None)])
    if attrs:
        out.append(TAG_ROW_DATA)
        for name, vt, value, ts in attrs:
            row_crc = _crc(row_crc, [_write_cell(out, name, vt, value, ts)])
    out += bytes([TAG_ROW_CHECKSUM, _crc(row_crc, [0])])


def encode_rows(rows: Iterable[tuple[list, list]]) -> bytes:
    out = bytearray(struct.pack("<i", HEADER))
    for pk, attrs in rows:
        write_row(out, pk, attrs)
    return bytes(out)


# --------------------------------------------------------------------------------------------------------------
# Tables and rows
# --------------------------------------------------------------------------------------------------------------


@dataclass
class Table:
    name: str
    pk: list[tuple[str, int, bool]]  # (name, PrimaryKeyType, auto-increment)
    ttl: int  # seconds; -1: never expires
    max_versions: int
    ready_at: float = 0.0
    rows: dict[tuple, StoredRow] = field(default_factory=dict)
    order: list[tuple] = field(default_factory=list)  # the keys of ``rows``, sorted: ranges are bisected
    last_auto: dict[Any, int] = field(default_factory=dict)  # [AUTO] per partition key value


@dataclass
class StoredRow:
    pk: list[tuple[str, int, Any]]  # (name, VT, value)
    columns: dict[str, list[tuple[int, int, Any]]] = field(default_factory=dict)  # name -> [(ts ms, VT, value)]
    written_ms: int = 0  # the latest write: with a TTL, a row whose data all expired no longer exists


def _sort_key(cells: list[tuple[str, int, Any]]) -> tuple:
    # Rows are ordered by primary key; strings and binaries compare as bytes; INF_MIN/INF_MAX bound a range.
    key = []
    for _, vt, value in cells:
        if vt == VT_INF_MIN:
            key.append((0, b""))
        elif vt == VT_INF_MAX:
            key.append((2, b""))
        elif vt == VT_STRING:
            key.append((1, value.encode("utf-8")))
        else:
            key.append((1, value))
    return tuple(key)


def _value_size(vt: int, value: Any) -> int:
    if vt in (VT_INTEGER, VT_DOUBLE):
        return 8
    if vt == VT_BOOLEAN:
        return 1
    if vt == VT_STRING:
        return len(value.encode("utf-8"))
    if vt == VT_BLOB:
        return len(value)
    return 0


def _cu(size: int) -> int:
    return max(1, math.ceil(size / 4096))  # [CU]


_COMPARE: dict[int, Callable[[Any, Any], bool]] = {
    fpb.CT_EQUAL: lambda a, b: a == b,
    fpb.CT_NOT_EQUAL: lambda a, b: a != b,
    fpb.CT_GREATER_THAN: lambda a, b: a > b,
    fpb.CT_GREATER_EQUAL: lambda a, b: a >= b,
    fpb.CT_LESS_THAN: lambda a, b: a < b,
    fpb.CT_LESS_EQUAL: lambda a, b: a <= b,
}


@dataclass
class Fault:
    """One queued fault; see FakeTablestore.inject."""

    operation: str | None
    status: int
    code: str
    message: str
    delay: float | None
    remaining: int


_DEFAULT_MESSAGES = {
    "OTSServerBusy": (503, "Server is busy."),  # [ERR]
    "OTSInternalServerError": (500, "Internal server error."),  # [ERR]
    "OTSTimeout": (503, "Operation timeout."),  # [ERR]
    "OTSRowOperationConflict": (409, "Data is being modified by the other request."),  # [ERR]
}


# --------------------------------------------------------------------------------------------------------------
# HTTP plumbing
# --------------------------------------------------------------------------------------------------------------


class _Handler(FakeHandler["FakeTablestore"]):
    server_version = "FakeTablestore/1.0"

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        self._handle()

    def do_GET(self) -> None:  # noqa: N802
        self._handle()

    def do_PUT(self) -> None:  # noqa: N802
        self._handle()

    def _handle(self) -> None:
        fake = self.server.fake
        fake._thawed.wait()  # a frozen fake accepts connections and never answers
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        status, response_headers, payload = fake._serve(self.command, self.path, headers, body)
        if not fake._accepting:
            return
        self.send_response(status)
        for name, value in response_headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


# --------------------------------------------------------------------------------------------------------------
# The fake
# --------------------------------------------------------------------------------------------------------------

class FakeTablestore(FakeServer):
    """A fake Tablestore instance. ``access_keys``: {AccessKeyId: secret | (secret, sts_token[, expires_at])}."""

    handler = _Handler
    thread_name = "fake-tablestore"
    # The service takes many connections at once (the ledger's pool, a burst of concurrent requests).
    request_queue_size = 256

    def __init__(
        self,
        access_keys: Mapping[str, AccessKeyEntry],
        *,
        instance: str = "broker-test",
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.time,
        table_load_seconds: float = 0.0,
        max_tables: int = MAX_TABLES,
    ) -> None:
        super().__init__(host, port)
        self.instance = instance
        self.clock = clock
        self.table_load_seconds = table_load_seconds
        self.max_tables = max_tables
        self._keys: dict[str, tuple[str, str | None, float | None]] = {}
        for key_id, entry in access_keys.items():
            self.add_access_key(key_id, entry)
        self._lock = threading.RLock()
        self._thawed = threading.Event()
        self._thawed.set()
        self._accepting = True
        # Data time runs ahead of wall time by this much (advance()): TTLs can be tested without waiting a day.
        # Protocol dates stay on the wall clock, as the SDK checks them against its own.
        self.data_offset = 0.0
        self.tables: dict[str, Table] = {}
        self.calls: list[tuple[str, int, str | None]] = []  # (operation, status, error code or None)
        self.consumed: dict[str, list[int]] = {}  # operation -> [read CU, write CU]
        self._faults: list[Fault] = []

    # ---- lifecycle --------------------------------------------------------------------------------------------

    def start(self) -> FakeTablestore:
        self._accepting = True
        return super().start()

    def stop(self) -> None:
        """Stop answering and drop every open connection; the data stays (``start()`` serves it again)."""
        self._accepting = False
        self._thawed.set()  # a frozen request ends, unanswered
        super().stop()

    def freeze(self) -> None:
        """Keep accepting connections but answer nothing until ``thaw()``: a hung store."""
        self._thawed.clear()

    def thaw(self) -> None:
        self._thawed.set()

    def ledger_url(self, prefix: str = "") -> str:
        """The broker's BROKER_LEDGER_URL for this fake: ``tablestore+http://host:port/<instance>[/<prefix>]``."""
        return f"tablestore+{self.url}/{self.instance}" + (f"/{prefix}" if prefix else "")

    # ---- test helpers -----------------------------------------------------------------------------------------

    def add_access_key(self, key_id: str, entry: AccessKeyEntry) -> None:
        """secret, or (secret, security_token), or (secret, security_token, expires_at_epoch) for STS keys."""
        self._keys[key_id] = access_key(entry)

    def advance(self, seconds: float) -> None:
        """Move data time forward (cell versions and TTLs), not the protocol clock."""
        self.data_offset += seconds

    def now_ms(self) -> int:
        return int((self.clock() + self.data_offset) * 1000)

    def inject(self, operation: str | None = None, *, code: str = "OTSServerBusy", status: int | None = None,
               message: str | None = None, count: int = 1, delay: float | None = None) -> None:
        """Answer the next ``count`` authenticated calls of ``operation`` (any if None) with this error."""
        default_status, default_message = _DEFAULT_MESSAGES.get(code, (500, "Internal server error."))
        with self._lock:
            self._faults.append(Fault(operation, status or default_status, code, message or default_message,
                                      delay, count))

    def call_count(self, operation: str | None = None) -> int:
        with self._lock:
            return sum(1 for op, _, _ in self.calls if operation is None or op == operation)

    def table_names(self) -> list[str]:
        with self._lock:
            return sorted(self.tables)

    def rows(self, table: str) -> list[dict[str, Any]]:
        """Every live row of ``table`` as {column: latest value}, primary key columns included."""
        with self._lock:
            found = self.tables[table]
            now = self.now_ms()
            out = []
            for key in found.order:
                row = found.rows[key]
                live = self._live_columns(found, row, now)
                if self._exists(found, row, now):
                    out.append({**{n: v for n, _, v in row.pk}, **{n: vs[0][2] for n, vs in live.items()}})
            return out

    def load(self, table: str, rows: Iterable[Mapping[str, Any]]) -> None:
        """Store ``rows`` ({column: value}, the primary key columns among them) in ``table`` as PutRows would,
        without the protocol: seeding a large table for a test. Values are str, int, float, bool or bytes."""
        types = {str: VT_STRING, int: VT_INTEGER, float: VT_DOUBLE, bool: VT_BOOLEAN, bytes: VT_BLOB}
        with self._lock:
            found = self.tables[table]
            now = self.now_ms()
            for row in rows:
                key = [(name, types[type(row[name])], row[name]) for name, _, _ in found.pk]
                columns = {name: [(now, types[type(value)], value)] for name, value in row.items()
                           if name not in {n for n, _, _ in found.pk}}
                found.rows[_sort_key(key)] = StoredRow(key, columns, now)
            found.order = sorted(found.rows)

    def drop_tables(self, prefix: str) -> None:
        with self._lock:
            for name in [n for n in self.tables if n.startswith(prefix)]:
                del self.tables[name]

    def reset(self) -> None:
        with self._lock:
            self.tables.clear()
            self.calls.clear()
            self.consumed.clear()
            self._faults.clear()
            self.data_offset = 0.0

    # ---- request handling -------------------------------------------------------------------------------------

    def _serve(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict, bytes]:
        operation = path.split("?", 1)[0].lstrip("/")
        secret = None
        try:
            if method != "POST":
                raise OtsError(405, "OTSMethodNotAllowed",
                               "OTSMethodNotAllowedOnly POST method for requests is supported.")
            if len(body) > MAX_BODY_BYTES:
                raise OtsError(413, "OTSRequestBodyTooLarge", "The size of POST data is too large.")
            secret = self._authenticate(operation, headers, body)
            handler = self._operations().get(operation)
            if handler is None:
                raise _invalid(f"Unsupported operation: {operation}.")  # [ERR]
            fault = self._take_fault(operation)
            if fault is not None:
                if fault.delay:
                    time.sleep(fault.delay)
                raise OtsError(fault.status, fault.code, fault.message)
            with self._lock:
                message, read_cu, write_cu = handler(body)
                totals = self.consumed.setdefault(operation, [0, 0])
                totals[0] += read_cu
                totals[1] += write_cu
            status, payload, code = 200, message.SerializeToString(), None
        except OtsError as error:
            status, code = error.status, error.code
            payload = pb.Error(code=error.code, message=error.message).SerializeToString()
            if error.code == "OTSAuthFailed":
                secret = None  # an unauthenticated caller gets no signed answer
        with self._lock:
            self.calls.append((operation, status, code))
        response = {
            "x-ots-contentmd5": base64.b64encode(hashlib.md5(payload).digest()).decode(),  # noqa: S324 - protocol
            "x-ots-requestid": str(uuid.uuid4()),
            "x-ots-date": ots_date(self.clock()),
            "x-ots-contenttype": "protocol buffer",
            "Content-Type": "application/x-protobuf",
        }
        if secret is not None:
            # [RSIG] a response to an authenticated request is signed with the caller's secret.
            response["Authorization"] = f"OTS {headers['x-ots-accesskeyid']}:" + sign_response(
                secret, "/" + operation, response)
        return status, response, payload

    def _authenticate(self, operation: str, headers: Mapping[str, str], body: bytes) -> str:
        """The service's request checks ([API], [SIG], [DATE], [ERR]); returns the caller's secret."""
        for name in REQUIRED_HEADERS:
            if not headers.get(name):
                raise _invalid(f"Missing header: {name}.")
        if headers["x-ots-apiversion"] != API_VERSION:
            raise _invalid(f"Unsupported API version: {headers['x-ots-apiversion']}.")  # not documented
        try:
            sent_at = datetime.strptime(headers["x-ots-date"], _DATE_FORMAT).replace(tzinfo=timezone.utc).timestamp()
        except ValueError:
            raise _invalid(f"Invalid date format: {headers['x-ots-date']}.") from None
        if headers["x-ots-instancename"].lower() != self.instance.lower():  # instance names ignore case [API]
            raise OtsError(403, "OTSAuthFailed", "The instance is not found.")
        key = self._keys.get(headers["x-ots-accesskeyid"])
        if key is None:
            raise OtsError(403, "OTSAuthFailed", "The AccessKeyID does not exist.")
        secret, token, expires_at = key
        sent_token = headers.get("x-ots-ststoken")
        if token is not None:
            if not sent_token or not hmac.compare_digest(sent_token, token):
                raise OtsError(403, "OTSAuthFailed", "The security token you provided is invalid.")  # not documented
            if expires_at is not None and self.clock() >= expires_at:
                raise OtsError(403, "OTSAuthFailed", "The security token you provided has expired.")  # not documented
        elif sent_token:
            raise OtsError(403, "OTSAuthFailed", "The security token you provided is invalid.")  # not documented
        md5 = base64.b64encode(hashlib.md5(body).digest()).decode()  # noqa: S324 - the protocol's checksum
        if not hmac.compare_digest(md5, headers["x-ots-contentmd5"]):
            raise OtsError(403, "OTSAuthFailed",
                           "Mismatch between MD5 value of request body and x-ots-contentmd5 in header.")
        expected = sign_request(secret, "/" + operation, headers)
        if not hmac.compare_digest(expected, headers["x-ots-signature"]):
            raise OtsError(403, "OTSAuthFailed", "Signature mismatch.")
        if abs(self.clock() - sent_at) > DATE_WINDOW_SECONDS:
            raise OtsError(403, "OTSAuthFailed",
                           f"Mismatch between system time and x-ots-date: {headers['x-ots-date']}.")
        return secret

    def _take_fault(self, operation: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.operation is None or fault.operation == operation:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _operations(self) -> dict[str, Callable[[bytes], tuple[Any, int, int]]]:
        return {
            "CreateTable": self._create_table,
            "ListTable": self._list_table,
            "DeleteTable": self._delete_table,
            "GetRow": self._get_row,
            "PutRow": self._put_row,
            "UpdateRow": self._update_row,
            "DeleteRow": self._delete_row,
            "GetRange": self._get_range,
            "BatchGetRow": self._batch_get_row,
            "BatchWriteRow": self._batch_write_row,
        }

    @staticmethod
    def _parse(message: Any, body: bytes) -> Any:
        try:
            message.ParseFromString(body)
        except Exception:  # noqa: BLE001 - protobuf raises DecodeError and others for a malformed body
            raise _invalid("The request body is not a valid protobuf message.") from None  # not documented
        if not message.IsInitialized():
            raise _invalid("A required field of the request is missing.")  # not documented
        return message

    # ---- tables -----------------------------------------------------------------------------------------------

    def _create_table(self, body: bytes) -> tuple[Any, int, int]:
        request = self._parse(pb.CreateTableRequest(), body)
        meta = request.table_meta
        if not _NAME.match(meta.table_name):
            raise _invalid(f"Invalid table name: '{meta.table_name}'.")  # [LIMIT]; message not documented
        if not 1 <= len(meta.primary_key) <= MAX_PK_COLUMNS:
            raise _invalid("The number of primary key columns must be in range: [1, 4].")  # [LIMIT]; not documented
        names = set()
        schema = []
        for i, column in enumerate(meta.primary_key):
            if column.name in names:
                raise _invalid(f"Duplicated primary key name: '{column.name}'.")  # [ERR]
            names.add(column.name)
            if not _NAME.match(column.name) or column.type not in _PK_VT:
                raise _invalid(f"Invalid primary key column: '{column.name}'.")  # not documented
            auto = column.HasField("option") and column.option == pb.AUTO_INCREMENT
            if auto and (i == 0 or column.type != pb.INTEGER):
                # [AUTO]: not the partition key, INTEGER only.
                raise _invalid("The auto-increment primary key must be an INTEGER column other than the partition key.")
            schema.append((column.name, column.type, auto))
        options = request.table_options
        ttl = options.time_to_live if options.HasField("time_to_live") else -1
        if ttl != -1 and ttl < MIN_TTL_SECONDS:
            raise _invalid(f"Invalid time_to_live: {ttl}, it must be -1 or at least 86400.")  # [TTL]; not documented
        max_versions = options.max_versions if options.HasField("max_versions") else 1
        if max_versions < 1:
            raise _invalid(f"Invalid max_versions: {max_versions}.")  # not documented
        if meta.table_name in self.tables:
            raise OtsError(409, "OTSObjectAlreadyExist", "Requested table already exists.")  # [ERR]
        if len(self.tables) >= self.max_tables:
            raise OtsError(403, "OTSQuotaExhausted", "Number of tables exceeded the quota.")  # [LIMIT]; not documented
        self.tables[meta.table_name] = Table(meta.table_name, schema, ttl, max_versions,
                                             ready_at=self.clock() + self.table_load_seconds)
        return pb.CreateTableResponse(), 0, 0

    def _list_table(self, body: bytes) -> tuple[Any, int, int]:
        self._parse(pb.ListTableRequest(), body)
        return pb.ListTableResponse(table_names=sorted(self.tables)), 0, 0

    def _delete_table(self, body: bytes) -> tuple[Any, int, int]:
        request = self._parse(pb.DeleteTableRequest(), body)
        if self.tables.pop(request.table_name, None) is None:
            raise _no_table()
        return pb.DeleteTableResponse(), 0, 0

    def _table(self, name: str) -> Table:
        table = self.tables.get(name)
        if table is None:
            raise _no_table()
        if self.clock() < table.ready_at:
            # A new table's partitions load for a while; the SDKs retry on this code. Message not documented.
            raise OtsError(503, "OTSTableNotReady", "The table is not ready.")
        return table

    # ---- rows -------------------------------------------------------------------------------------------------

    def _primary_key(self, table: Table, cells: list[Cell], *, bounds: bool = False,
                     placeholders: bool = False) -> list[tuple[str, int, Any]]:
        """The row's primary key, checked against the table's schema ([ERR] OTSInvalidPK messages)."""
        if len(cells) != len(table.pk):
            raise OtsError(400, "OTSInvalidPK", f"Validate PK size fail. Input: {len(cells)}, Meta: {len(table.pk)}.")
        key = []
        for cell, (name, pk_type, auto) in zip(cells, table.pk, strict=True):
            if cell.name != name:
                raise OtsError(400, "OTSInvalidPK", f"Validate PK name fail. Input: {cell.name}, Meta: {name}.")
            vt = cell.vt
            allowed = vt == _PK_VT[pk_type] or (bounds and vt in (VT_INF_MIN, VT_INF_MAX)) or (
                placeholders and auto and vt == VT_AUTO_INCREMENT)
            if not allowed:
                # Shape as the two messages above; this one is not documented.
                raise OtsError(400, "OTSInvalidPK", f"Validate PK type fail. Input: {_VT_NAMES.get(vt, vt)}, "
                                                    f"Meta: {_VT_NAMES[_PK_VT[pk_type]]}.")
            if vt in (VT_STRING, VT_BLOB) and _value_size(vt, cell.value) > MAX_PK_VALUE_BYTES:
                raise _invalid(f"The length of primary key column: '{name}' exceeds the limit: 1024.")  # [LIMIT]
            key.append((name, vt, cell.value))
        return key

    def _live_columns(self, table: Table, row: StoredRow | None, now_ms: int) -> dict[str, list[tuple]]:
        """The row's versions that have not expired ([TTL]), newest first; {} if the row does not exist."""
        if row is None:
            return {}
        if table.ttl == -1:
            return row.columns
        horizon = now_ms - table.ttl * 1000
        live = {}
        for name, versions in row.columns.items():
            kept = [v for v in versions if v[0] > horizon]
            if kept:
                live[name] = kept
        return live

    def _exists(self, table: Table, row: StoredRow | None, now_ms: int) -> bool:
        """[ROW] A row exists from its first write until DeleteRow - deleting all of its attribute columns does
        not delete it - or, with a TTL, until its data has all expired ([TTL])."""
        if row is None:
            return False
        if table.ttl == -1 or self._live_columns(table, row, now_ms):
            return True
        return row.written_ms > now_ms - table.ttl * 1000

    def _check_condition(self, table: Table, condition: Any, row: StoredRow | None) -> None:
        """[COND] The row existence expectation first, then the column condition."""
        live = self._live_columns(table, row, self.now_ms())
        exists = self._exists(table, row, self.now_ms())
        if condition.row_existence == pb.EXPECT_EXIST and not exists:
            raise _condition_failed()
        if condition.row_existence == pb.EXPECT_NOT_EXIST and exists:
            raise _condition_failed()
        if condition.HasField("column_condition") and condition.column_condition:
            column_filter = self._parse(fpb.Filter(), condition.column_condition)
            if not self._filter_passes(column_filter, live):
                raise _condition_failed()

    def _filter_passes(self, column_filter: Any, live: dict[str, list[tuple]]) -> bool:
        if column_filter.type == fpb.FT_SINGLE_COLUMN_VALUE:
            single = self._parse(fpb.SingleColumnValueFilter(), column_filter.filter)
            if single.comparator not in _COMPARE:
                raise _invalid("Unsupported comparator in a column condition.")  # not documented
            vt, expected = read_variant(single.column_value)
            versions = live.get(single.column_name)
            if not versions:
                return not single.filter_if_missing  # [COND] "pass if missing"
            candidates = versions[:1] if single.latest_version_only else versions
            # Values of another type never satisfy the comparison (the ledger compares like with like).
            return any(cvt == vt and _COMPARE[single.comparator](value, expected) for _, cvt, value in candidates)
        if column_filter.type == fpb.FT_COMPOSITE_COLUMN_VALUE:
            composite = self._parse(fpb.CompositeColumnValueFilter(), column_filter.filter)
            results = [self._filter_passes(sub, live) for sub in composite.sub_filters]
            if composite.combinator == fpb.LO_NOT:
                if len(results) != 1:
                    raise _invalid("NOT takes exactly one sub-condition.")  # not documented
                return not results[0]
            if not results:
                raise _invalid("A composite condition needs sub-conditions.")  # not documented
            return all(results) if composite.combinator == fpb.LO_AND else any(results)
        raise _invalid("Unsupported column condition type.")  # not documented

    def _check_attributes(self, cells: list[Cell]) -> None:
        if not cells:
            raise _invalid("Attribute column is missing.")  # [ERR]
        if len(cells) > MAX_COLUMNS_PER_WRITE:
            raise _invalid(f"The number of columns exceeds the limit: {MAX_COLUMNS_PER_WRITE}.")  # [LIMIT]
        for cell in cells:
            if not _NAME.match(cell.name):
                raise _invalid(f"Invalid column name: '{cell.name}'.")  # [LIMIT]; message not documented
            if cell.vt is not None and _value_size(cell.vt, cell.value) > MAX_ATTRIBUTE_VALUE_BYTES:
                raise _invalid(f"The length of attribute column: '{cell.name}' exceeds the limit.")  # [LIMIT]

    def _store(self, table: Table, key: list[tuple[str, int, Any]], columns: dict[str, list[tuple]] | None) -> None:
        """Write the row's columns (None: DeleteRow, the only way a row stops existing but its TTL)."""
        sort_key = _sort_key(key)
        if columns is None:
            if table.rows.pop(sort_key, None) is not None:
                del table.order[bisect.bisect_left(table.order, sort_key)]
        else:
            if sort_key not in table.rows:
                bisect.insort(table.order, sort_key)
            table.rows[sort_key] = StoredRow(key, columns, self.now_ms())

    @staticmethod
    def _condition_columns(condition: Any) -> set[str]:
        names: set[str] = set()
        pending = [fpb.Filter.FromString(condition.column_condition)] if condition.column_condition else []
        while pending:
            column_filter = pending.pop()
            if column_filter.type == fpb.FT_SINGLE_COLUMN_VALUE:
                names.add(fpb.SingleColumnValueFilter.FromString(column_filter.filter).column_name)
            else:
                pending += fpb.CompositeColumnValueFilter.FromString(column_filter.filter).sub_filters
        return names

    def _fill_auto_increment(self, table: Table, key: list[tuple[str, int, Any]]) -> list[tuple[str, int, Any]]:
        # [AUTO] unique and strictly increasing within the partition key value.
        filled = []
        partition = _sort_key(key[:1])
        for name, vt, value in key:
            if vt == VT_AUTO_INCREMENT:
                value = max(table.last_auto.get(partition, 0) + 1, time.time_ns() // 1000)
                table.last_auto[partition] = value
                vt = VT_INTEGER
            filled.append((name, vt, value))
        return filled

    def _row_size(self, key: list[tuple], columns: Mapping[str, list[tuple]]) -> int:
        size = sum(len(n.encode()) + _value_size(vt, v) for n, vt, v in key)
        return size + sum(len(n.encode()) + _value_size(vt, v) for n, vs in columns.items() for _, vt, v in vs)

    def _write(self, table: Table, change: PlainRow, condition: Any, kind: int,
               return_pk: bool) -> tuple[bytes, int, int]:
        """One PutRow/UpdateRow/DeleteRow on a table (also each row of a BatchWriteRow)."""
        key = self._primary_key(table, change.pk, placeholders=kind == pb.PUT)
        if kind != pb.DELETE:
            self._check_attributes(change.attrs)
        existing = table.rows.get(_sort_key(key)) if all(vt != VT_AUTO_INCREMENT for _, vt, _ in key) else None
        self._check_condition(table, condition, existing)
        now = self.now_ms()
        # [COND] a condition reads the row: estimated here as its key and the columns the condition names.
        read_cu = 0
        if condition.row_existence != pb.IGNORE or condition.column_condition:
            checked = self._condition_columns(condition)
            read_cu = _cu(self._row_size(key, {n: v for n, v in (existing.columns if existing else {}).items()
                                                if n in checked}))
        if kind == pb.DELETE:
            if not change.deleted:
                raise _invalid("A DeleteRow row must carry the delete marker.")  # [PLAIN]; message not documented
            self._store(table, key, None)
            return b"", read_cu, _cu(self._row_size(key, {}))
        if kind == pb.PUT:
            key = self._fill_auto_increment(table, key)
            columns: dict[str, list[tuple]] = {}
            for cell in change.attrs:
                if cell.op is not None or cell.vt is None:
                    raise _invalid("PutRow takes column values only.")  # not documented
                columns.setdefault(cell.name, []).insert(0, (cell.ts or now, cell.vt, cell.value))
        else:  # UPDATE: the stored row changes in place (the whole call holds the fake's lock)
            if existing is not None and table.ttl == -1:
                columns = existing.columns
            else:
                columns = {name: list(versions) for name, versions in self._live_columns(table, existing, now).items()}
            for cell in change.attrs:
                if cell.op is None and cell.vt is None:
                    raise _invalid(f"The value of column '{cell.name}' is missing.")  # not documented
                if cell.op == OP_INCREMENT and (cell.vt != VT_INTEGER or columns.get(
                        cell.name, [(0, VT_INTEGER, 0)])[0][1] != VT_INTEGER):
                    raise _invalid(f"Increment needs INTEGER values: '{cell.name}'.")  # not documented
                if cell.op not in (None, OP_DELETE_ALL_VERSION, OP_DELETE_ONE_VERSION, OP_INCREMENT):
                    raise _invalid(f"Unknown cell operation: {cell.op}.")  # not documented
            for cell in change.attrs:
                if cell.op is None:
                    columns[cell.name] = [(cell.ts or now, cell.vt, cell.value), *columns.get(cell.name, [])]
                elif cell.op == OP_DELETE_ALL_VERSION:
                    columns.pop(cell.name, None)
                elif cell.op == OP_DELETE_ONE_VERSION:
                    kept = [v for v in columns.get(cell.name, []) if v[0] != cell.ts]
                    columns[cell.name] = kept
                    if not kept:
                        columns.pop(cell.name)
                else:  # OP_INCREMENT
                    current = columns.get(cell.name, [(now, VT_INTEGER, 0)])[0]
                    columns[cell.name] = [(now, VT_INTEGER, current[2] + cell.value), *columns.get(cell.name, [])]
        for name in {cell.name for cell in change.attrs} & set(columns):
            columns[name] = sorted(columns[name], key=lambda v: v[0], reverse=True)[: table.max_versions]
        self._store(table, key, columns)
        returned = encode_rows([(key, [])]) if return_pk else b""
        written = {c.name: [(0, c.vt, c.value)] for c in change.attrs if c.vt is not None}
        return returned, read_cu, _cu(self._row_size(key, written))

    def _put_row(self, body: bytes) -> tuple[Any, int, int]:
        request = self._parse(pb.PutRowRequest(), body)
        table = self._table(request.table_name)
        row, read_cu, write_cu = self._write(table, read_row(request.row), request.condition, pb.PUT,
                                             request.return_content.return_type == pb.RT_PK)
        return pb.PutRowResponse(consumed=self._consumed(read_cu, write_cu), row=row), read_cu, write_cu

    def _update_row(self, body: bytes) -> tuple[Any, int, int]:
        request = self._parse(pb.UpdateRowRequest(), body)
        table = self._table(request.table_name)
        row, read_cu, write_cu = self._write(table, read_row(request.row_change), request.condition, pb.UPDATE,
                                             request.return_content.return_type == pb.RT_PK)
        return pb.UpdateRowResponse(consumed=self._consumed(read_cu, write_cu), row=row), read_cu, write_cu

    def _delete_row(self, body: bytes) -> tuple[Any, int, int]:
        request = self._parse(pb.DeleteRowRequest(), body)
        table = self._table(request.table_name)
        row, read_cu, write_cu = self._write(table, read_row(request.primary_key), request.condition, pb.DELETE,
                                             False)
        return pb.DeleteRowResponse(consumed=self._consumed(read_cu, write_cu), row=row), read_cu, write_cu

    def _batch_write_row(self, body: bytes) -> tuple[Any, int, int]:
        request = self._parse(pb.BatchWriteRowRequest(), body)
        if not request.tables or not any(t.rows for t in request.tables):
            raise _invalid("No row is specified in BatchWriteRow.")  # [ERR]
        for item in request.tables:
            if not item.rows:
                raise _invalid(f"No operation is specified for table: '{item.table_name}'.")  # [ERR]
        if sum(len(t.rows) for t in request.tables) > MAX_BATCH_WRITE_ROWS:
            raise _invalid(f"Rows count exceeds the upper limit: {MAX_BATCH_WRITE_ROWS}.")  # [LIMIT]; not documented
        # [BWRITE] what fails the whole request is checked before any row is written.
        changes = []
        for item, table in zip(request.tables, self._batch_tables(request.tables), strict=True):
            rows = [read_row(row.row_change) for row in item.rows]
            self._distinct_keys([self._primary_key(table, change.pk, placeholders=row.type == pb.PUT)
                                 for change, row in zip(rows, item.rows, strict=True)])
            changes.append((table, rows))
        response = pb.BatchWriteRowResponse()
        total_read = total_write = 0
        for item, (table, rows) in zip(request.tables, changes, strict=True):
            answer = response.tables.add(table_name=item.table_name)
            for row, change in zip(item.rows, rows, strict=True):
                result = answer.rows.add()
                try:
                    # Each row succeeds or fails on its own, with its own error.
                    returned, read_cu, write_cu = self._write(
                        table, change, row.condition, row.type, row.return_content.return_type == pb.RT_PK)
                except OtsError as error:
                    result.is_ok = False
                    result.error.code, result.error.message = error.code, error.message
                    continue
                result.is_ok = True
                result.consumed.CopyFrom(self._consumed(read_cu, write_cu))
                if returned:
                    result.row = returned
                total_read += read_cu
                total_write += write_cu
        return response, total_read, total_write

    def _batch_tables(self, items: Any) -> list[Table]:
        """[BGET] [BWRITE] The tables of a batch request: each named once, existing, with rows."""
        names = [item.table_name for item in items]
        if len(set(names)) != len(names):
            raise _invalid("The input parameter is invalid.")  # message not documented: [DUP]'s for a repeated row
        tables = [self._table(name) for name in names]
        return tables

    @staticmethod
    def _distinct_keys(keys: list[list[tuple[str, int, Any]]]) -> None:
        """[DUP] One table's rows in one batch request have distinct primary keys (auto-increment ones aside)."""
        fixed = [_sort_key(key) for key in keys if all(vt != VT_AUTO_INCREMENT for _, vt, _ in key)]
        if len(set(fixed)) != len(fixed):
            raise _invalid("The input parameter is invalid.")

    def _batch_get_row(self, body: bytes) -> tuple[Any, int, int]:
        """[BGET] Each row is read as GetRow reads it; the request fails as a whole only for the reasons above."""
        request = self._parse(pb.BatchGetRowRequest(), body)
        if not request.tables:
            raise _invalid("No row is specified in BatchGetRow.")  # not documented
        for item in request.tables:
            if not item.primary_key:
                raise _invalid(f"No row is specified for table: '{item.table_name}'.")  # not documented
        if sum(len(item.primary_key) for item in request.tables) > MAX_BATCH_GET_ROWS:
            raise _invalid(f"Rows count exceeds the upper limit: {MAX_BATCH_GET_ROWS}.")  # not documented
        reads = []
        for item, table in zip(request.tables, self._batch_tables(request.tables), strict=True):
            self._check_read_options(item)
            keys = [self._primary_key(table, read_row(key).pk) for key in item.primary_key]
            self._distinct_keys(keys)
            reads.append((table, keys))
        response = pb.BatchGetRowResponse()
        now = self.now_ms()
        total_read = 0
        for item, (table, keys) in zip(request.tables, reads, strict=True):
            answer = response.tables.add(table_name=item.table_name)
            for key in keys:
                payload, read_cu = self._read_row(table, key, item, now)
                answer.rows.add(is_ok=True, consumed=self._consumed(read_cu, 0), row=payload)
                total_read += read_cu
        return response, total_read, 0

    def _get_row(self, body: bytes) -> tuple[Any, int, int]:
        request = self._parse(pb.GetRowRequest(), body)
        table = self._table(request.table_name)
        self._check_read_options(request)
        key = self._primary_key(table, read_row(request.primary_key).pk)
        payload, read_cu = self._read_row(table, key, request, self.now_ms())
        return pb.GetRowResponse(consumed=self._consumed(read_cu, 0), row=payload), read_cu, 0

    def _read_row(self, table: Table, key: list[tuple[str, int, Any]], request: Any, now: int) -> tuple[bytes, int]:
        """One row as GetRow (and each row of BatchGetRow) answers it: its PlainBuffer (b"" if none) and read CUs."""
        row = table.rows.get(_sort_key(key))
        columns = self._select(self._live_columns(table, row, now), request)
        # A row without the asked columns comes back empty; one without any attribute column, as its key only.
        whole = not request.columns_to_get and not request.HasField("start_column") and not request.HasField(
            "end_column")
        found = bool(columns) or (whole and self._exists(table, row, now))
        payload = encode_rows([(key, self._cells(columns, request.max_versions))]) if found else b""
        return payload, _cu(self._row_size(key, columns))

    def _get_range(self, body: bytes) -> tuple[Any, int, int]:
        request = self._parse(pb.GetRangeRequest(), body)
        table = self._table(request.table_name)
        self._check_read_options(request)
        start = _sort_key(self._primary_key(table, read_row(request.inclusive_start_primary_key).pk, bounds=True))
        end = _sort_key(self._primary_key(table, read_row(request.exclusive_end_primary_key).pk, bounds=True))
        forward = request.direction == pb.FORWARD
        if forward and not start < end:
            raise _invalid("Begin key must less than end key in FORWARD")  # [ERR]
        if not forward and not start > end:
            raise _invalid("Begin key must more than end key in BACKWARD")  # [ERR]
        limit = request.limit if request.HasField("limit") else MAX_RANGE_ROWS
        if limit <= 0:
            raise _invalid(f"Invalid limit: {limit}.")  # not documented
        limit = min(limit, MAX_RANGE_ROWS)
        # [RANGE] [start, end) forward, (end, start] backward: bisected, then read row by row from the start.
        order = table.order
        if forward:
            positions: Iterable[int] = range(bisect.bisect_left(order, start), bisect.bisect_left(order, end))
        else:
            positions = range(bisect.bisect_right(order, start) - 1, bisect.bisect_right(order, end) - 1, -1)
        now = self.now_ms()
        rows, size, next_key = [], 0, None
        for position in positions:
            row = table.rows[order[position]]
            columns = self._select(self._live_columns(table, row, now), request)
            if not columns and (request.columns_to_get or not self._exists(table, row, now)):
                continue
            if len(rows) >= limit or size >= MAX_RANGE_BYTES:
                next_key = row.pk  # [LIMIT] the rest is read from here on
                break
            rows.append((row.pk, self._cells(columns, request.max_versions)))
            size += self._row_size(row.pk, columns)
        read_cu = _cu(size)
        response = pb.GetRangeResponse(consumed=self._consumed(read_cu, 0), rows=encode_rows(rows) if rows else b"")
        if next_key is not None:
            response.next_start_primary_key = encode_rows([(next_key, [])])
        return response, read_cu, 0

    @staticmethod
    def _check_read_options(request: Any) -> None:
        if not request.HasField("max_versions") and not request.HasField("time_range"):
            raise _invalid("Neither max_versions nor time_range is set.")  # not documented
        if len(request.columns_to_get) > MAX_COLUMNS_TO_GET:
            raise _invalid(f"The number of columns to get exceeds the limit: {MAX_COLUMNS_TO_GET}.")  # [LIMIT]
        for unsupported in ("time_range", "filter", "token", "transaction_id"):
            descriptor = request.DESCRIPTOR.fields_by_name.get(unsupported)
            if descriptor is None:
                continue  # not a field of this request (GetRow, GetRange or a table of BatchGetRow)
            if descriptor.label == descriptor.LABEL_REPEATED:
                present = len(getattr(request, unsupported)) > 0
            else:
                present = request.HasField(unsupported)
            if present:
                raise _invalid(f"The fake does not implement {unsupported}.")

    @staticmethod
    def _select(columns: dict[str, list[tuple]], request: Any) -> dict[str, list[tuple]]:
        """[WIDE] columns_to_get, and the wide-row range: names in [start_column, end_column), in name order."""
        wanted = set(request.columns_to_get)
        start = request.start_column if request.HasField("start_column") else None
        end = request.end_column if request.HasField("end_column") else None
        return {n: vs for n, vs in columns.items() if (not wanted or n in wanted)
                and (start is None or n >= start) and (end is None or n < end)}

    @staticmethod
    def _cells(columns: dict[str, list[tuple]], max_versions: int) -> list[tuple[str, int, Any, int]]:
        cells = []
        for name in sorted(columns):
            for ts, vt, value in columns[name][: max(1, max_versions)]:
                cells.append((name, vt, value, ts))
        return cells

    @staticmethod
    def _consumed(read_cu: int, write_cu: int) -> Any:
        return pb.ConsumedCapacity(capacity_unit=pb.CapacityUnit(read=read_cu, write=write_cu))
