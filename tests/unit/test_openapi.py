"""openapi.yaml stays true to the code: the same routes and methods, the same request fields, the same limits.

The fuzz (tests/functional/test_fuzz.py) checks the answers against the spec; this checks the spec against the
declarations in ``functions/*/operation.py`` and ``upload_broker.validation``, so a new field or route cannot
ship undocumented.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml

from upload_broker import validation as v
from upload_broker.http import MAX_BODY_BYTES
from upload_broker.local import discover_operations
from upload_broker.media_operations import ICE_FIELDS, WANGSU_FIELDS, IceCreate, WangsuGetUploadToken

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
    if hasattr(operation, "fields"):
        return tuple(operation.fields)
    if isinstance(operation, IceCreate):
        return ICE_FIELDS
    if isinstance(operation, WangsuGetUploadToken):
        return WANGSU_FIELDS
    return ()  # refreshes: an empty body


def spec_methods() -> dict[str, set[str]]:
    return {path: {m for m in item if m in HTTP_METHODS} for path, item in SPEC["paths"].items()}


def test_the_spec_is_valid_openapi_3_1():
    validator = pytest.importorskip("openapi_spec_validator")
    assert SPEC["openapi"].startswith("3.1")
    validator.validate(SPEC)


def test_paths_and_methods_are_exactly_the_routes_the_app_serves():
    served = {op.path: {m.lower() for m in op.route.methods} | {"options"} for op in OPERATIONS}
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
    video = SCHEMAS["CreateUploadVideoRequest"]["properties"]
    assert video["Title"]["maxLength"] == SCHEMAS["Title"]["maxLength"] == v.TITLE_MAX_BYTES
    assert "128 bytes" in video["Title"]["description"]
    assert SCHEMAS["Description"]["maxLength"] == v.DESCRIPTION_MAX_BYTES
    assert "1024 bytes" in SCHEMAS["Description"]["description"]
    assert video["FileName"]["maxLength"] == v.FILE_NAME_MAX_BYTES
    assert set(v.VOD_MEDIA_EXTENSIONS) <= set(video["FileName"]["description"].replace(".", " ").split())
    tags = next(b for b in SCHEMAS["Tags"]["anyOf"] if b.get("type") == "array")
    assert tags["maxItems"] == v.TAGS_MAX_COUNT
    assert tags["items"]["maxLength"] == v.TAG_MAX_CHARS
    assert SCHEMAS["HttpUrl"]["maxLength"] == v.URL_MAX_CHARS

    image = SCHEMAS["CreateUploadImageRequest"]["properties"]
    assert image["ImageType"]["enum"] == list(v.VOD_IMAGE_TYPES)
    attached = SCHEMAS["CreateUploadAttachedMediaRequest"]["properties"]
    assert attached["BusinessType"]["enum"] == list(v.VOD_ATTACHED_MEDIA_EXTENSIONS)
    cate_ids = next(b for b in attached["CateIds"]["anyOf"] if b.get("type") == "array")
    assert cate_ids["maxItems"] == v.CATE_IDS_MAX_COUNT

    ice = SCHEMAS["CreateUploadMediaRequest"]["properties"]
    assert ice["FileInfo"]["properties"]["Type"]["enum"] == list(v.ICE_FILE_TYPES)
    assert ice["MediaMetaData"]["properties"]["Title"]["maxLength"] == v.ICE_TITLE_MAX_CHARS
    business_types = {t for types in v.ICE_BUSINESS_TYPES.values() for t in types}
    documented = next(b for b in ice["MediaMetaData"]["properties"]["BusinessType"]["anyOf"] if "enum" in b)
    assert set(documented["enum"]) - {None} == business_types

    wangsu = SCHEMAS["GetUploadTokenRequest"]["properties"]
    assert wangsu["originFileName"]["maxLength"] == v.WANGSU_FILE_NAME_MAX_CHARS
    assert wangsu["fileId"]["maxLength"] == v.WANGSU_FILE_ID_MAX_CHARS

    assert MAX_BODY_BYTES == 64 * 1024 and "64 KiB" in SPEC["info"]["description"]


def test_every_v1_route_needs_a_bearer_token_and_healthz_and_preflights_do_not():
    assert SPEC["components"]["securitySchemes"]["bearer"] == {
        **SPEC["components"]["securitySchemes"]["bearer"], "type": "http", "scheme": "bearer"}
    assert SPEC["security"] == [{"bearer": []}]
    for path, item in SPEC["paths"].items():
        for method in spec_methods()[path]:
            anonymous = method in ("options", "get", "head")
            assert (item[method].get("security") == []) is anonymous, (path, method)


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.function)
def test_every_contract_error_is_documented_with_its_headers(operation):
    responses = SPEC["paths"][operation.path]["post"]["responses"]
    statuses = {"200", "400", "401", "403", "404", "405", "413", "415", "429", "500", "502", "503"}
    if operation.is_create:
        statuses.add("409")
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
