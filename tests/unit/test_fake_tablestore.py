"""The fake Tablestore checks what the service checks, so the ledger's tests against it mean something.

The official SDK talks to the fake as to the service: a wrong secret, a stale date, a tampered body or a bad
checksum is refused as the service refuses it, conditions and TTLs behave as the docs say, and the fake's own
signer and PlainBuffer codec agree with the SDK's (written independently, checked against each other here).
"""

from __future__ import annotations

import base64
import hashlib
import time

import pytest
import requests
from tablestore import (
    INF_MAX,
    INF_MIN,
    PK_AUTO_INCR,
    BatchGetRowRequest,
    BatchWriteRowRequest,
    CapacityUnit,
    ComparatorType,
    CompositeColumnCondition,
    Condition,
    DeleteRowItem,
    LogicalOperator,
    OTSClient,
    OTSServiceError,
    PutRowItem,
    ReservedThroughput,
    ReturnType,
    Row,
    RowExistenceExpectation,
    SingleColumnCondition,
    TableInBatchGetRowItem,
    TableInBatchWriteRowItem,
    TableMeta,
    TableOptions,
)
from tablestore.protobuf import table_store_pb2 as pb
from tablestore.retry import NoRetryPolicy

from tests.fakes.tablestore import (
    DATE_WINDOW_SECONDS,
    FakeTablestore,
    encode_rows,
    ots_date,
    read_rows,
    sign_request,
    sign_response,
)

KEY, SECRET = "LTAI-ots-test-key", "ots-test-secret-not-real"
STS_KEY, STS_SECRET, STS_TOKEN = "STS.ots-test", "sts-secret-not-real", "CAIS-sts-token-not-real"
DAY = 86400


@pytest.fixture
def fake():
    with FakeTablestore({KEY: SECRET, STS_KEY: (STS_SECRET, STS_TOKEN)}, instance="broker-test") as server:
        yield server


def client_for(fake, key=KEY, secret=SECRET, **kwargs) -> OTSClient:
    return OTSClient(fake.url, key, secret, fake.instance, retry_policy=NoRetryPolicy(), logger_name="fake-test",
                     **kwargs)


@pytest.fixture
def client(fake):
    return client_for(fake)


def make_table(client, name="t", pk=(("id", "STRING"),), ttl=-1):
    client.create_table(TableMeta(name, list(pk)), TableOptions(time_to_live=ttl, max_version=1),
                        ReservedThroughput(CapacityUnit(0, 0)))


def refused(call) -> OTSServiceError:
    with pytest.raises(OTSServiceError) as error:
        call()
    return error.value


def raw_call(fake, operation: str, body: bytes, *, date: float | None = None, secret: str = SECRET,
             md5: str | None = None) -> tuple[int, pb.Error | bytes, dict]:
    """A request built by hand, as the service documents it, to reach what the SDK never sends."""
    headers = {
        "x-ots-date": ots_date(time.time() if date is None else date),
        "x-ots-apiversion": "2015-12-31",
        "x-ots-accesskeyid": KEY,
        "x-ots-instancename": fake.instance,
        "x-ots-contentmd5": md5 or base64.b64encode(hashlib.md5(body).digest()).decode(),
    }
    headers["x-ots-signature"] = sign_request(secret, f"/{operation}", headers)
    response = requests.post(f"{fake.url}/{operation}", data=body, headers=headers, timeout=5)
    if response.status_code == 200:
        return 200, response.content, response.headers
    return response.status_code, pb.Error.FromString(response.content), response.headers


# --- authentication ---------------------------------------------------------------------------------------


def test_a_wrong_secret_is_refused_as_a_signature_mismatch(fake):
    error = refused(lambda: client_for(fake, secret="not-the-secret").list_table())
    assert (error.http_status, error.code, error.message) == (403, "OTSAuthFailed", "Signature mismatch.")


def test_an_unknown_key_and_another_instance_are_refused(fake):
    assert refused(lambda: client_for(fake, key="LTAI-unknown").list_table()).message == \
        "The AccessKeyID does not exist."
    other = OTSClient(fake.url, KEY, SECRET, "other-instance", retry_policy=NoRetryPolicy())
    error = refused(other.list_table)
    assert (error.code, error.message) == ("OTSAuthFailed", "The instance is not found.")


def test_a_stale_date_is_refused_and_one_inside_the_window_is_not(fake):
    body = pb.ListTableRequest().SerializeToString()
    stale = time.time() - DATE_WINDOW_SECONDS - 60

    status, error, headers = raw_call(fake, "ListTable", body, date=stale)

    assert (status, error.code) == (403, "OTSAuthFailed")
    assert error.message == f"Mismatch between system time and x-ots-date: {ots_date(stale)}."
    assert "Authorization" not in headers  # nobody is authenticated: the answer is not signed
    assert raw_call(fake, "ListTable", body, date=time.time() - DATE_WINDOW_SECONDS + 60)[0] == 200
    assert raw_call(fake, "ListTable", body, date=time.time() + DATE_WINDOW_SECONDS - 60)[0] == 200


def test_a_body_that_does_not_match_its_md5_is_refused(fake):
    status, error, _ = raw_call(fake, "ListTable", b"", md5=base64.b64encode(b"0" * 16).decode())
    assert (status, error.code) == (403, "OTSAuthFailed")
    assert error.message == "Mismatch between MD5 value of request body and x-ots-contentmd5 in header."


def test_missing_headers_bad_dates_and_unknown_operations_are_parameter_errors(fake):
    response = requests.post(f"{fake.url}/ListTable", data=b"", timeout=5)
    error = pb.Error.FromString(response.content)
    assert (response.status_code, error.code, error.message) == (400, "OTSParameterInvalid",
                                                                  "Missing header: x-ots-date.")
    status, error, _ = raw_call(fake, "Frobnicate", b"")
    assert (status, error.code, error.message) == (400, "OTSParameterInvalid", "Unsupported operation: Frobnicate.")
    assert requests.get(f"{fake.url}/ListTable", timeout=5).status_code == 405


def test_sts_credentials_need_their_token(fake):
    with_token = client_for(fake, STS_KEY, STS_SECRET, sts_token=STS_TOKEN)
    assert with_token.list_table() == ()
    assert refused(client_for(fake, STS_KEY, STS_SECRET).list_table).code == "OTSAuthFailed"
    assert refused(client_for(fake, STS_KEY, STS_SECRET, sts_token="CAIS-forged").list_table).code == "OTSAuthFailed"
    fake.add_access_key(STS_KEY, (STS_SECRET, STS_TOKEN, time.time() - 1))  # expired
    assert refused(with_token.list_table).code == "OTSAuthFailed"


def test_the_fakes_signer_and_the_sdks_agree_on_requests_and_responses():
    from tablestore.auth import RequestContext, SignV2
    from tablestore.credentials import Credentials

    headers = {"x-ots-date": "2026-01-02T03:04:05.000Z", "x-ots-apiversion": "2015-12-31",
               "x-ots-accesskeyid": KEY, "x-ots-instancename": "i", "x-ots-contentmd5": "1B2M2Y8AsgTpgAmY7PhCfg==",
               "x-ots-ststoken": STS_TOKEN}
    signer = SignV2("utf8")
    signed = dict(headers)
    signer.make_request_signature_and_add_headers("/GetRow", signed, RequestContext(Credentials(KEY, SECRET)))
    assert signed["x-ots-signature"] == sign_request(SECRET, "/GetRow", headers)

    answer = {"x-ots-date": "2026-01-02T03:04:05.000Z", "x-ots-requestid": "r", "x-ots-contentmd5": "m",
              "x-ots-contenttype": "protocol buffer"}
    assert signer.make_response_signature("/GetRow", answer, SECRET) == sign_response(SECRET, "/GetRow", answer)


def test_every_answer_to_an_authenticated_call_is_signed_and_the_sdk_checks_it(fake, client, monkeypatch):
    from tablestore.error import OTSClientError

    make_table(client)
    # The SDK verifies the answer's signature: one signed with another secret does not pass.
    monkeypatch.setattr("tests.fakes.tablestore.sign_response", lambda secret, uri, headers: "forged")
    with pytest.raises(OTSClientError, match="Invalid signature in response"):
        client.list_table()


# --- PlainBuffer ------------------------------------------------------------------------------------------


def test_the_fakes_plainbuffer_reads_what_the_sdk_writes_and_the_sdk_reads_what_it_writes():
    from tablestore.plainbuffer.plain_buffer_builder import PlainBufferBuilder
    from tablestore.plainbuffer.plain_buffer_coded_stream import PlainBufferCodedInputStream
    from tablestore.plainbuffer.plain_buffer_stream import PlainBufferInputStream

    written = PlainBufferBuilder.serialize_for_put_row(
        [("id", "k"), ("n", 7)], [("s", "naïve"), ("i", -3), ("d", 1.5), ("b", True), ("x", bytearray(b"\x00\xff"))])
    (row,) = read_rows(bytes(written))
    assert [(c.name, c.value) for c in row.pk] == [("id", "k"), ("n", 7)]
    assert [(c.name, c.value) for c in row.attrs] == [("s", "naïve"), ("i", -3), ("d", 1.5), ("b", True),
                                                       ("x", b"\x00\xff")]

    ours = encode_rows([([("id", 3, "k")], [("s", 3, "naïve", 1700000000123), ("d", 1, 2.5, 1700000000123)])])
    pk, attrs = PlainBufferCodedInputStream(PlainBufferInputStream(ours)).read_row()
    assert pk == [("id", "k")]
    assert attrs == [("s", "naïve", 1700000000123), ("d", 2.5, 1700000000123)]


def test_a_row_with_a_bad_checksum_is_refused(fake, client):
    make_table(client)
    row = bytearray(encode_rows([([("id", 3, "k")], [("c", 3, "v", 1)])]))
    row[-1] ^= 0xFF  # the row checksum
    body = pb.PutRowRequest(table_name="t", row=bytes(row),
                            condition=pb.Condition(row_existence=pb.IGNORE)).SerializeToString()
    status, error, _ = raw_call(fake, "PutRow", body)
    assert (status, error.code) == (400, "OTSParameterInvalid")
    assert fake.rows("t") == []


# --- tables -----------------------------------------------------------------------------------------------


def test_tables_are_created_once_and_row_calls_need_them(fake, client):
    make_table(client)
    error = refused(lambda: make_table(client))
    assert (error.http_status, error.code, error.message) == (409, "OTSObjectAlreadyExist",
                                                              "Requested table already exists.")
    error = refused(lambda: client.get_row("missing", [("id", "k")], max_version=1))
    assert (error.http_status, error.code, error.message) == (404, "OTSObjectNotExist",
                                                              "Requested table does not exist.")
    assert refused(lambda: make_table(client, "short_ttl", ttl=3600)).code == "OTSParameterInvalid"
    assert client.list_table() == ("t",)


def test_a_primary_key_must_match_the_schema(fake, client):
    make_table(client, pk=(("PK1", "STRING"), ("PK2", "INTEGER")))
    error = refused(lambda: client.get_row("t", [("PK1", "a")], max_version=1))
    assert (error.code, error.message) == ("OTSInvalidPK", "Validate PK size fail. Input: 1, Meta: 2.")
    error = refused(lambda: client.get_row("t", [("PK2", "a"), ("PK1", 1)], max_version=1))
    assert (error.code, error.message) == ("OTSInvalidPK", "Validate PK name fail. Input: PK2, Meta: PK1.")
    assert refused(lambda: client.put_row("t", Row([("PK1", "a"), ("PK2", 1)], []))).message == \
        "Attribute column is missing."


# --- conditional updates ----------------------------------------------------------------------------------


def test_expect_not_exist_claims_a_row_once(fake, client):
    make_table(client)
    claim = Condition(RowExistenceExpectation.EXPECT_NOT_EXIST)
    client.put_row("t", Row([("id", "k")], [("owner", "alice")]), claim)

    error = refused(lambda: client.put_row("t", Row([("id", "k")], [("owner", "mallory")]), claim))

    assert (error.http_status, error.code, error.message) == (403, "OTSConditionCheckFail", "Condition check failed.")
    assert fake.rows("t") == [{"id": "k", "owner": "alice"}]


def test_expect_exist_and_a_version_column_guard_an_update(fake, client):
    make_table(client)
    exists = Condition(RowExistenceExpectation.EXPECT_EXIST)
    assert refused(lambda: client.update_row("t", Row([("id", "k")], {"put": [("n", 1)]}), exists)).code == \
        "OTSConditionCheckFail"
    client.put_row("t", Row([("id", "k")], [("n", 1), ("v", "v1")]))

    def at_version(version):
        return Condition(RowExistenceExpectation.EXPECT_EXIST,
                         SingleColumnCondition("v", version, ComparatorType.EQUAL, pass_if_missing=False))

    client.update_row("t", Row([("id", "k")], {"put": [("n", 2), ("v", "v2")]}), at_version("v1"))
    assert refused(lambda: client.update_row("t", Row([("id", "k")], {"put": [("n", 3), ("v", "v3")]}),
                                             at_version("v1"))).code == "OTSConditionCheckFail"
    assert fake.rows("t") == [{"id": "k", "n": 2, "v": "v2"}]


def test_pass_if_missing_decides_for_a_missing_column(fake, client):
    make_table(client)
    client.put_row("t", Row([("id", "k")], [("n", 1)]))
    missing_fails = SingleColumnCondition("addr", "x", ComparatorType.EQUAL, pass_if_missing=False)
    missing_passes = SingleColumnCondition("addr", "x", ComparatorType.EQUAL, pass_if_missing=True)
    row = Row([("id", "k")], {"put": [("n", 2)]})
    assert refused(lambda: client.update_row("t", row, Condition(RowExistenceExpectation.IGNORE, missing_fails))).code \
        == "OTSConditionCheckFail"
    client.update_row("t", row, Condition(RowExistenceExpectation.IGNORE, missing_passes))
    for comparator, value, passes in ((ComparatorType.GREATER_THAN, 1, True), (ComparatorType.LESS_THAN, 2, False),
                                      (ComparatorType.NOT_EQUAL, 2, False), (ComparatorType.GREATER_EQUAL, 2, True)):
        condition = Condition(RowExistenceExpectation.IGNORE, SingleColumnCondition("n", value, comparator))
        if passes:
            client.update_row("t", row, condition)
        else:
            assert refused(lambda c=condition: client.update_row("t", row, c)).code == "OTSConditionCheckFail"


def test_a_composite_condition_guards_a_delete(fake, client):
    make_table(client)
    client.put_row("t", Row([("id", "k")], [("state", "pending"), ("owner", "o1")]))

    def held_by(owner):
        both = CompositeColumnCondition(LogicalOperator.AND)
        both.add_sub_condition(SingleColumnCondition("state", "pending", ComparatorType.EQUAL, pass_if_missing=False))
        both.add_sub_condition(SingleColumnCondition("owner", owner, ComparatorType.EQUAL, pass_if_missing=False))
        return Condition(RowExistenceExpectation.EXPECT_EXIST, both)

    assert refused(lambda: client.delete_row("t", Row([("id", "k")]), held_by("o2"))).code == "OTSConditionCheckFail"
    client.delete_row("t", Row([("id", "k")]), held_by("o1"))
    assert fake.rows("t") == []


def test_deleting_every_column_leaves_the_row_and_only_delete_row_removes_it(fake, client):
    make_table(client)
    client.put_row("t", Row([("id", "k")], [("n", 1)]))
    client.update_row("t", Row([("id", "k")], {"delete_all": [("n", None)]}), Condition(RowExistenceExpectation.IGNORE))

    _, row, _ = client.get_row("t", [("id", "k")], max_version=1)

    assert (row.primary_key, row.attribute_columns) == ([("id", "k")], [])
    assert refused(lambda: client.put_row("t", Row([("id", "k")], [("n", 2)]),
                                          Condition(RowExistenceExpectation.EXPECT_NOT_EXIST))).code == \
        "OTSConditionCheckFail"
    client.delete_row("t", Row([("id", "k")]), Condition(RowExistenceExpectation.EXPECT_EXIST))
    assert client.get_row("t", [("id", "k")], max_version=1)[1] is None


def test_a_wide_row_is_read_by_column_range(fake, client):
    make_table(client)
    client.put_row("t", Row([("id", "k")], [("a", 1), ("b", 2), ("c", 3)]))
    _, row, _ = client.get_row("t", [("id", "k")], max_version=1, start_column="b")
    assert [c[0] for c in row.attribute_columns] == ["b", "c"]
    _, row, _ = client.get_row("t", [("id", "k")], max_version=1, end_column="b")
    assert [c[0] for c in row.attribute_columns] == ["a"]
    assert client.get_row("t", [("id", "k")], max_version=1, start_column="x")[1] is None


def test_batch_write_rows_succeed_or_fail_one_by_one(fake, client):
    make_table(client)
    make_table(client, "u")
    client.put_row("t", Row([("id", "taken")], [("owner", "alice")]))
    request = BatchWriteRowRequest()
    claim = Condition(RowExistenceExpectation.EXPECT_NOT_EXIST)
    request.add(TableInBatchWriteRowItem("t", [PutRowItem(Row([("id", "taken")], [("owner", "bob")]), claim),
                                               PutRowItem(Row([("id", "free")], [("owner", "bob")]), claim)]))
    request.add(TableInBatchWriteRowItem("u", [PutRowItem(Row([("id", "x")], [("n", 1)]), claim)]))

    response = client.batch_write_row(request)

    taken, free = response.get_put_by_table("t")
    assert (taken.is_ok, taken.error_code) == (False, "OTSConditionCheckFail")
    assert free.is_ok and response.get_put_by_table("u")[0].is_ok
    assert [r["owner"] for r in fake.rows("t")] == ["bob", "alice"]  # "free" < "taken"


def test_batch_write_rows_put_update_and_delete_and_fail_whole_for_a_missing_table_or_a_repeated_row(fake, client):
    make_table(client)
    client.put_row("t", Row([("id", "old")], [("n", 1)]))
    request = BatchWriteRowRequest()
    request.add(TableInBatchWriteRowItem("t", [
        DeleteRowItem(Row([("id", "old")]), Condition(RowExistenceExpectation.EXPECT_EXIST)),
        DeleteRowItem(Row([("id", "never")]), Condition(RowExistenceExpectation.IGNORE)),  # nothing to delete: ok
        PutRowItem(Row([("id", "new")], [("n", 2)]), Condition(RowExistenceExpectation.IGNORE)),
    ]))

    response = client.batch_write_row(request)

    assert [item.is_ok for item in response.get_delete_by_table("t")] == [True, True]
    assert fake.rows("t") == [{"id": "new", "n": 2}]

    missing = BatchWriteRowRequest()
    missing.add(TableInBatchWriteRowItem("t", [PutRowItem(Row([("id", "x")], [("n", 3)]),
                                                          Condition(RowExistenceExpectation.IGNORE))]))
    missing.add(TableInBatchWriteRowItem("nope", [PutRowItem(Row([("id", "x")], [("n", 3)]),
                                                             Condition(RowExistenceExpectation.IGNORE))]))
    error = refused(lambda: client.batch_write_row(missing))
    assert (error.http_status, error.code) == (404, "OTSObjectNotExist")
    twice = BatchWriteRowRequest()
    twice.add(TableInBatchWriteRowItem("t", [
        DeleteRowItem(Row([("id", "new")]), Condition(RowExistenceExpectation.IGNORE)),
        PutRowItem(Row([("id", "new")], [("n", 4)]), Condition(RowExistenceExpectation.IGNORE))]))
    error = refused(lambda: client.batch_write_row(twice))
    assert (error.http_status, error.code, error.message) == (400, "OTSParameterInvalid",
                                                              "The input parameter is invalid.")
    assert fake.rows("t") == [{"id": "new", "n": 2}]  # neither request wrote a row


def test_batch_get_row_answers_each_row_in_the_order_asked(fake, client):
    make_table(client)
    client.put_row("t", Row([("id", "a")], [("owner", "alice"), ("n", 1)]))
    client.put_row("t", Row([("id", "b")], [("n", 2)]))
    request = BatchGetRowRequest()
    request.add(TableInBatchGetRowItem("t", [[("id", "b")], [("id", "missing")], [("id", "a")]],
                                       columns_to_get=["owner"], max_version=1))

    b, missing, a = client.batch_get_row(request).get_result_by_table("t")

    assert all(item.is_ok for item in (a, b, missing))
    assert missing.row is None  # no such row: is_ok, and no row data
    assert b.row is None  # no asked column: answered as empty
    assert (a.row.primary_key, a.row.attribute_columns[0][:2]) == ([("id", "a")], ("owner", "alice"))
    assert fake.consumed["BatchGetRow"] == [3, 0]  # each row billed as its own GetRow


def test_batch_get_row_fails_whole_for_a_missing_table_a_repeated_row_or_too_many_rows(fake, client):
    make_table(client)

    def get(table_rows):
        request = BatchGetRowRequest()
        for table, keys in table_rows.items():
            request.add(TableInBatchGetRowItem(table, [[("id", k)] for k in keys], max_version=1))
        return refused(lambda: client.batch_get_row(request))

    assert get({"t": ["a"], "nope": ["a"]}).code == "OTSObjectNotExist"
    assert get({"t": ["a", "a"]}).message == "The input parameter is invalid."
    assert get({"t": [str(n) for n in range(101)]}).code == "OTSParameterInvalid"
    assert get({"t": []}).code == "OTSParameterInvalid"
    error = refused(lambda: client.batch_get_row(_one_get("t", [[("id", 1)]])))
    assert error.code == "OTSInvalidPK"


def _one_get(table, keys):
    request = BatchGetRowRequest()
    request.add(TableInBatchGetRowItem(table, keys, max_version=1))
    return request


# --- TTL, auto-increment, ranges --------------------------------------------------------------------------


def test_rows_older_than_the_ttl_are_gone(fake, client):
    make_table(client, ttl=DAY)
    client.put_row("t", Row([("id", "k")], [("n", 1)]))
    fake.advance(DAY - 10)
    assert client.get_row("t", [("id", "k")], max_version=1)[1] is not None

    fake.advance(20)

    assert client.get_row("t", [("id", "k")], max_version=1)[1] is None
    # An expired row does not exist for a condition either.
    client.put_row("t", Row([("id", "k")], [("n", 2)]), Condition(RowExistenceExpectation.EXPECT_NOT_EXIST))


def test_auto_increment_keys_grow_within_a_partition(fake, client):
    make_table(client, pk=(("user", "STRING"), ("seq", "INTEGER", PK_AUTO_INCR)))
    seqs = []
    for n in range(5):
        _, row = client.put_row("t", Row([("user", "a"), ("seq", PK_AUTO_INCR)], [("n", n)]),
                                return_type=ReturnType.RT_PK)
        seqs.append(dict(row.primary_key)["seq"])
    assert seqs == sorted(set(seqs))
    error = refused(lambda: make_table(client, "bad", pk=(("seq", "INTEGER", PK_AUTO_INCR),)))
    assert error.code == "OTSParameterInvalid"  # never the partition key


def test_get_range_backward_pages_with_the_next_start_key(fake, client):
    make_table(client, pk=(("user", "STRING"), ("n", "INTEGER")))
    for n in range(7):
        client.put_row("t", Row([("user", "a"), ("n", n)], [("v", n)]))
    client.put_row("t", Row([("user", "b"), ("n", 0)], [("v", 99)]))
    start, end = [("user", "a"), ("n", INF_MAX)], [("user", "a"), ("n", INF_MIN)]

    _, next_start, rows, _ = client.get_range("t", "BACKWARD", start, end, limit=4, max_version=1)
    _, last, more, _ = client.get_range("t", "BACKWARD", next_start, end, limit=4, max_version=1)

    assert [dict(r.primary_key)["n"] for r in rows + more] == [6, 5, 4, 3, 2, 1, 0]
    assert next_start == [("user", "a"), ("n", 2)] and last is None
    error = refused(lambda: client.get_range("t", "FORWARD", start, end, max_version=1))
    assert error.message == "Begin key must less than end key in FORWARD"


def test_get_range_includes_its_start_key_and_excludes_its_end_key_both_ways(fake, client):
    make_table(client, pk=(("user", "STRING"), ("n", "INTEGER")))
    for user in ("a", "b", "c"):
        for n in range(5):
            client.put_row("t", Row([("user", user), ("n", n)], [("v", n)]))

    def keys(direction, start, end, **kwargs):
        _, _, rows, _ = client.get_range("t", direction, [("user", "b"), ("n", start)], [("user", "b"), ("n", end)],
                                         max_version=1, **kwargs)
        return [dict(r.primary_key)["n"] for r in rows]

    assert keys("BACKWARD", 3, 1) == [3, 2]
    assert keys("FORWARD", 1, 3) == [1, 2]
    assert keys("BACKWARD", INF_MAX, INF_MIN) == [4, 3, 2, 1, 0]  # the partition only: not "a"'s nor "c"'s
    assert keys("FORWARD", INF_MIN, INF_MAX, limit=2) == [0, 1]
    assert keys("BACKWARD", 10, 4) == [] and keys("BACKWARD", 10, 3) == [4]
    _, _, rows, _ = client.get_range("t", "FORWARD", [("user", INF_MIN), ("n", INF_MIN)],
                                     [("user", INF_MAX), ("n", INF_MAX)], max_version=1)
    assert [tuple(dict(r.primary_key).values()) for r in rows] == [(u, n) for u in "abc" for n in range(5)]
    client.delete_row("t", Row([("user", "b"), ("n", 3)]), Condition(RowExistenceExpectation.IGNORE))
    assert keys("BACKWARD", 4, 1) == [4, 2]


def test_a_range_read_of_a_large_partition_reads_only_its_page(fake, client):
    make_table(client, pk=(("user", "STRING"), ("n", "INTEGER")))
    fake.load("t", ({"user": user, "n": n, "v": n} for user in ("a", "b") for n in range(100_000)))
    calls = 50
    started = time.perf_counter()
    for _ in range(calls):
        _, next_start, rows, _ = client.get_range("t", "BACKWARD", [("user", "a"), ("n", 60_000)],
                                                  [("user", "a"), ("n", INF_MIN)], limit=100, max_version=1)
    per_call = (time.perf_counter() - started) / calls

    assert [dict(r.primary_key)["n"] for r in rows] == list(range(60_000, 59_900, -1))
    assert next_start == [("user", "a"), ("n", 59_900)]
    # A scan of the 200,000 keys took some 90 ms per call here; a bisection and 100 rows, some 3 ms.
    assert per_call < 0.03


# --- faults -----------------------------------------------------------------------------------------------


def test_injected_faults_answer_as_the_service_does(fake, client):
    fake.inject("ListTable", code="OTSServerBusy")
    error = refused(client.list_table)
    assert (error.http_status, error.code, error.message) == (503, "OTSServerBusy", "Server is busy.")
    assert client.list_table() == ()
