"""openapi.yaml stays true to the code: the same routes and methods, the same request fields, the same limits.

The fuzz (tests/functional/test_fuzz.py) checks the answers against the spec; this checks the spec against the
declarations in ``functions/*/operation.py`` and ``upload_broker.validation``, so a new field or route cannot
ship undocumented.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
import yaml

from upload_broker import validation as v
from upload_broker.http import MAX_BODY_BYTES
from upload_broker.local import discover_functions, discover_operations

ROOT = Path(__file__).resolve().parents[2]
SPEC = yaml.safe_load((ROOT / "openapi.yaml").read_text(encoding="utf-8"))
SCHEMAS = SPEC["components"]["schemas"]
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
OPERATIONS = discover_operations()


def resolve(node: dict) -> dict:
    while "$ref" in node:
        _, *parts = node["$ref"].split("/")
        node = SPEC
        for part in parts:
            node = node[part]
    return node


def request_schema(operation) -> dict:
    post = SPEC["paths"][operation.path]["post"]
    return resolve(post["requestBody"]["content"]["application/json"]["schema"])


def accepted_fields(operation) -> tuple:
    """The request fields an operation validates (its declaration in functions/<op>/operation.py)."""
    return tuple(operation.fields)  # refreshes declare none: an empty body


def spec_methods() -> dict[str, set[str]]:
    return {path: {m for m in item if m in HTTP_METHODS} for path, item in SPEC["paths"].items()}


def test_the_spec_is_valid_openapi_3_1():
    validator = pytest.importorskip("openapi_spec_validator")
    assert SPEC["openapi"].startswith("3.1")
    validator.validate(SPEC)


def test_paths_and_methods_are_exactly_the_routes_the_app_serves():
    served = {f.route.pattern: {m.lower() for m in f.route.methods} | {"options"} for f in discover_functions()}
    served["/healthz"] = {"get", "head", "options"}
    assert spec_methods() == served


def test_the_app_answers_every_documented_route_with_the_documented_methods(client):
    for path, methods in spec_methods().items():
        concrete = path.replace("{VideoId}", "0" * 32).replace("{MediaId}", "0" * 32)
        answer = client.open(concrete, method="OPTIONS")
        assert answer.status_code == 204, path
        assert {m.strip().lower() for m in answer.headers["Allow"].split(",")} == methods, path


@pytest.mark.parametrize("operation", [op for op in OPERATIONS if op.is_create], ids=lambda op: op.function)
def test_every_field_an_operation_accepts_is_in_its_request_schema(operation):
    schema = request_schema(operation)
    fields = accepted_fields(operation)
    assert fields, f"{operation.function} declares no fields"
    assert set(schema["properties"]) == {f.name for f in fields}
    assert set(schema.get("required", ())) == {f.name for f in fields if f.required}
    assert schema["additionalProperties"] is False  # an unknown field is a 400, as validate() says


@pytest.mark.parametrize("operation", [op for op in OPERATIONS if not op.is_create], ids=lambda op: op.function)
def test_a_refresh_takes_an_empty_body(operation):
    post = SPEC["paths"][operation.path]["post"]
    assert post["requestBody"]["required"] is False
    assert request_schema(operation)["maxProperties"] == 0
    assert accepted_fields(operation) == ()
    assert "{" + operation.id_field + "}" in operation.path


@pytest.mark.parametrize("name", sorted(set(v.VOD_OPERATOR_FIELDS + v.ICE_OPERATOR_FIELDS + v.WANGSU_OPERATOR_FIELDS)))
def test_operator_fields_are_named_as_forbidden_and_never_offered(name):
    assert f"`{name}`" in SPEC["info"]["description"]
    for operation in OPERATIONS:
        if operation.is_create:
            assert name not in request_schema(operation)["properties"], operation.function


def test_documented_limits_are_the_validators_limits():
    tags = next(b for b in SCHEMAS["Tags"]["anyOf"] if b.get("type") == "array")
    assert tags["maxItems"] == v.TAGS_MAX_COUNT
    assert SCHEMAS["HttpUrl"]["maxLength"] == v.URL_MAX_CHARS

    video = SCHEMAS["CreateUploadVideoRequest"]["properties"]
    assert set(v.VOD_MEDIA_EXTENSIONS) <= set(video["FileName"]["description"].replace(".", " ").split())
    attached = SCHEMAS["CreateUploadAttachedMediaRequest"]["properties"]
    cate_ids = next(b for b in attached["CateIds"]["anyOf"] if b.get("type") == "array")
    assert cate_ids["maxItems"] == v.CATE_IDS_MAX_COUNT

    assert MAX_BODY_BYTES == 64 * 1024 and "64 KiB" in SPEC["info"]["description"]


# --- text limits: TEXT_LIMITS is the source, openapi.yaml says the same ------------------------------------

OPERATION_BY_ACTION = {op.action: op for op in OPERATIONS}


def field_schema(action: str, dotted: str) -> dict:
    """The schema of request field ``dotted`` (``MediaMetaData.Title``) of the operation named ``action``."""
    node = request_schema(OPERATION_BY_ACTION[action])
    for part in dotted.split("."):
        node = resolve(resolve(node)["properties"][part])
    return node


@pytest.mark.parametrize(("key", "limit"), sorted(v.TEXT_LIMITS.items()),
                         ids=[f"{op}.{field}" for op, field in sorted(v.TEXT_LIMITS)])
def test_every_text_limit_is_documented_in_its_own_unit(key, limit):
    action, name = key
    schema = field_schema(action, name)
    if name.split(".")[-1] == "Tags":  # the limit is each tag's; the count is TAGS_MAX_COUNT
        listed = next(b for b in schema["anyOf"] if b.get("type") == "array")
        assert limit.unit == v.CHARACTERS and listed["items"]["maxLength"] == limit.maximum
        assert f"each 1 to {limit.maximum} characters" in schema["description"]
        return
    words = " ".join(schema.get("description", "").replace("*", "").split())
    if limit.unit == v.CHARACTERS:
        # JSON Schema's maxLength counts characters: it is the limit exactly.
        assert schema.get("maxLength") == limit.maximum
        assert "x-maxBytes" not in schema
        assert f"{limit.maximum} characters" in words
    else:
        # A byte limit is not a maxLength (that would count characters): it is said, and given as x-maxBytes.
        assert "maxLength" not in schema and all("maxLength" not in b for b in schema.get("anyOf", ()))
        assert schema.get("x-maxBytes") == limit.maximum
        assert f"{limit.maximum} bytes" in words


def _length_bounded_fields(node: dict, prefix: str = ""):
    """(dotted name, schema) for every property under ``node`` that has a maxLength or x-maxBytes."""
    for name, member in resolve(node).get("properties", {}).items():
        member = resolve(member)
        dotted = f"{prefix}{name}"
        branches = [member, *member.get("anyOf", ())]
        if any("maxLength" in b or "x-maxBytes" in b or "items" in b and "maxLength" in b["items"] for b in branches):
            yield dotted, member
        if "properties" in member:
            yield from _length_bounded_fields(member, dotted + ".")


# Length bounds that are formats rather than text limits: a URL, and a bare extension of 1 to 16 characters.
FORMAT_BOUNDS = {"CoverURL", "MediaExt", "FileInfo.Ext", "MediaMetaData.CoverURL"}


@pytest.mark.parametrize("operation", [op for op in OPERATIONS if op.is_create], ids=lambda op: op.function)
def test_every_length_bound_in_the_spec_comes_from_the_table(operation):
    for dotted, _ in _length_bounded_fields(request_schema(operation)):
        assert dotted in FORMAT_BOUNDS or (operation.action, dotted) in v.TEXT_LIMITS, (operation.action, dotted)


def test_the_spec_says_in_one_place_which_operations_count_bytes():
    info = " ".join(SPEC["info"]["description"].replace("*", "").split())
    assert "CreateUploadVideo and CreateUploadAttachedMedia count `Title` and `Description` in bytes of UTF-8" in info
    assert "CreateUploadImage and ICE in characters" in info
    assert "`x-maxBytes`" in info


# --- enums: every value list in openapi.yaml is a list in the code ------------------------------------------

# (schema, dotted property) -> the code's list. Values are compared in order; null is the spec's "not sent".
ENUM_COUNTERPARTS = {
    ("CreateUploadImageRequest", "ImageType"): list(v.VOD_IMAGE_TYPES),
    ("CreateUploadImageRequest", "ImageExt"): list(v.VOD_IMAGE_EXTENSIONS),
    ("CreateUploadAttachedMediaRequest", "BusinessType"): list(v.VOD_ATTACHED_MEDIA_EXTENSIONS),
    ("CreateUploadMediaRequest", "FileInfo.Type"): list(v.ICE_FILE_TYPES),
    ("CreateUploadMediaRequest", "MediaMetaData.BusinessType"):
        list(dict.fromkeys(t for types in v.ICE_BUSINESS_TYPES.values() for t in types)),
    ("GetUploadTokenRequest", "overwrite"):
        list(v.WANGSU_OVERWRITE_VALUES) + [str(value) for value in v.WANGSU_OVERWRITE_VALUES],
}
# Enums that describe the broker's own answers, not a request field's value list.
ANSWER_ENUMS = {"components.headers.Cache-Control.schema", "components.headers.Idempotent-Replayed.schema",
                "components.schemas.Health.properties.Status"}


def _enums(node, path=()):
    """(dotted path, enum) for every enum anywhere in the spec."""
    if isinstance(node, dict):
        if "enum" in node:
            yield ".".join(path), node["enum"]
        for key, value in node.items():
            yield from _enums(value, path if key in ("anyOf", "oneOf") else (*path, str(key)))
    elif isinstance(node, list):
        for value in node:  # anyOf branches share their holder's path
            yield from _enums(value, path)


def _request_enum_path(schema: str, dotted: str) -> str:
    return ".".join(["components", "schemas", schema, *(f"properties.{p}" for p in dotted.split("."))]) \
        .replace("properties.properties", "properties")


def _listing_enums() -> dict[str, list]:
    """GET /v1/uploads: its Status parameter and its answer's enums are the ledger's and the operations' lists."""
    from upload_broker.ledger import UPLOAD_STATUSES

    creates = [op for op in OPERATIONS if op.is_create]
    return {
        "paths./v1/uploads.get.parameters.schema": list(UPLOAD_STATUSES),
        "components.schemas.Upload.properties.Status": list(UPLOAD_STATUSES),
        "components.schemas.Upload.properties.Provider": list(dict.fromkeys(op.provider for op in creates)),
        "components.schemas.Upload.properties.Kind": list(dict.fromkeys(op.kind for op in creates)),
    }


def test_the_listing_shows_exactly_what_the_creates_issue():
    from functions.list_uploads.operation import operation as listing

    assert listing.uploads == {(op.provider, op.kind) for op in OPERATIONS if op.is_create}


def test_every_enum_in_the_spec_is_a_list_the_code_declares():
    expected = {_request_enum_path(schema, dotted): values for (schema, dotted), values in ENUM_COUNTERPARTS.items()}
    expected |= _listing_enums()
    found = dict(_enums(SPEC))
    for path, values in found.items():
        if path in ANSWER_ENUMS:
            continue
        assert path in expected, f"{path} is an enum with no counterpart in upload_broker.validation"
        documented = [value for value in values if value is not None]
        if path in _listing_enums():
            assert sorted(documented) == sorted(expected[path]), path
            continue
        assert documented == expected[path], path
    assert set(expected) <= set(found), "a value list the code declares is not an enum in openapi.yaml"


def _any_case(word: str) -> set[str]:
    return {word, word.upper(), word.capitalize(), word.swapcase()}


def test_image_ext_is_one_list_in_the_code_the_spec_the_docstring_and_the_messages():
    import functions.create_upload_image.operation as image_module

    listed = list(v.VOD_IMAGE_EXTENSIONS)
    assert listed == ["png", "jpg", "jpeg", "gif", "heic", "webp"]  # help.aliyun.com/document_detail/55619.html
    # openapi.yaml: the case-insensitive pattern takes exactly the listed values, in any case.
    image_ext = SCHEMAS["CreateUploadImageRequest"]["properties"]["ImageExt"]
    pattern = next(b["pattern"] for b in image_ext["anyOf"] if "pattern" in b)
    others = (set(v.VOD_MEDIA_EXTENSIONS) | set(v.ICE_EXTENSIONS["text"])
              | {e for exts in v.VOD_ATTACHED_MEDIA_EXTENSIONS.values() for e in exts}
              | {"bmp", "tiff", "jpe", "jfif", "pn", "pngg", "hei", "web", "avif"}) - set(listed)
    for ext in listed:
        assert all(re.search(pattern, spelled) for spelled in _any_case(ext)), ext
    for ext in others:
        assert not any(re.search(pattern, spelled) for spelled in _any_case(ext)), ext
    # ... and every description says the same list, in the same order.
    said = ", ".join(listed[:-1]) + " or " + listed[-1]
    assert said in " ".join(image_ext["description"].split())
    assert f"(it must then be {said})" in " ".join(SPEC["paths"]["/v1/images"]["post"]["description"].split())
    docstring = " ".join(image_module.__doc__.split())
    assert f"ImageExt ({', '.join(listed)}; png by default)" in docstring
    field = next(f for f in image_module.operation.fields if f.name == "ImageExt")
    assert ", ".join(listed) in field.description
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    assert f"`ImageExt` {said}" in readme
    # ... and the refusals name it.
    from upload_broker.errors import InvalidParameter

    with pytest.raises(InvalidParameter) as refused:
        field.check("bmp", "ImageExt")
    assert ", ".join(listed) in refused.value.message
    with pytest.raises(InvalidParameter) as refused:
        v.check_image_extension({"OriginalFileName": "scan.bmp"})
    assert ", ".join(listed) in refused.value.message


def test_every_v1_route_needs_a_bearer_token_and_healthz_and_preflights_do_not():
    assert SPEC["components"]["securitySchemes"]["bearer"] == {
        **SPEC["components"]["securitySchemes"]["bearer"], "type": "http", "scheme": "bearer"}
    assert SPEC["security"] == [{"bearer": []}]
    for path, item in SPEC["paths"].items():
        for method in spec_methods()[path]:
            # Preflights and /healthz need no token; nor do VOD's callbacks, which VOD signs instead.
            anonymous = method == "options" or path in ("/healthz", "/v1/callbacks/vod")
            assert (item[method].get("security") == []) is anonymous, (path, method)


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.function)
def test_every_contract_error_is_documented_with_its_headers(operation):
    responses = SPEC["paths"][operation.path]["post"]["responses"]
    statuses = {"200", "400", "401", "403", "404", "405", "413", "415", "429", "500", "502", "503"}
    statuses.add("409")  # a create's IdempotencyConflict, a refresh's UploadAlreadyCompleted
    if operation.is_create:
        headers = SPEC["paths"][operation.path]["post"]["parameters"]
        assert {"$ref": "#/components/parameters/IdempotencyKey"} in headers
    assert set(responses) == statuses
    for status, response in responses.items():
        response = resolve(response)
        assert response["headers"]["X-Request-Id"]["$ref"] == "#/components/headers/X-Request-Id"
        if status != "200":
            assert resolve(response["content"]["application/json"]["schema"]) is SCHEMAS["Error"]
    assert "WWW-Authenticate" in resolve(responses["401"])["headers"]
    assert "Retry-After" in resolve(responses["429"])["headers"]
    assert "Retry-After" in resolve(responses["503"])["headers"]


def test_the_error_body_is_the_contracts():
    error = SCHEMAS["Error"]
    assert error["required"] == ["Code", "Message", "RequestId"]
    assert set(error["properties"]) == {"Code", "Message", "RequestId", "Field"}


def test_the_image_route_says_its_credential_cannot_be_refreshed():
    assert "cannot be refreshed" in SPEC["paths"]["/v1/images"]["post"]["description"]


def _converter():
    spec = importlib.util.spec_from_file_location("openapi_for_apigateway", ROOT / "scripts/openapi_for_apigateway.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_api_gateway_version_is_valid_openapi_3_0_with_unique_operation_ids():
    converted = _converter().for_api_gateway(SPEC)
    assert converted["openapi"] == "3.0.3"
    text = yaml.safe_dump(converted)
    assert "'null'" not in text and "- null" not in text and "examples:" not in text
    assert len(text.encode()) < 256 * 1024  # the console's limit for a pasted definition
    ids = [op["operationId"] for item in converted["paths"].values() for m, op in item.items() if m in HTTP_METHODS]
    assert len(ids) == len(set(ids)) <= 100  # at most 100 APIs per import
    validator = pytest.importorskip("openapi_spec_validator")
    from openapi_spec_validator.validation import OpenAPIV30SpecValidator

    validator.validate(converted, cls=OpenAPIV30SpecValidator)
    assert SPEC["openapi"].startswith("3.1")  # the source is left as it was


def test_the_api_gateway_version_can_leave_out_preflights():
    converted = _converter().for_api_gateway(SPEC, without_options=True)
    assert all("options" not in item for item in converted["paths"].values())
