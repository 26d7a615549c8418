"""openapi.yaml (OpenAPI 3.1) → OpenAPI 3.0.3, the newest version Alibaba Cloud API Gateway imports.

API Gateway's "Import Swagger-compliant data > Standard OAS" takes OAS 2.0 or OAS 3.0 definitions (YAML or
JSON, at most 256 KB as text and 100 APIs per import). The broker's spec uses three things that are 3.1 only,
so this script rewrites them and nothing else:

- ``type: [X, 'null']`` → ``type: X`` + ``nullable: true``; a ``{type: 'null'}`` branch of ``anyOf`` and a
  ``null`` in ``enum`` become ``nullable: true`` on the schema that held them;
- ``examples: [value, ...]`` inside a schema → ``example: value``;
- YAML anchors are expanded, and every operation gets a unique ``operationId`` (the gateway names APIs after it).

Usage::

    python scripts/openapi_for_apigateway.py                  # YAML on stdout
    python scripts/openapi_for_apigateway.py -o build/openapi-3.0.yaml
    python scripts/openapi_for_apigateway.py --without-options  # when the gateway answers CORS preflights itself
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def _is_null_schema(value: Any) -> bool:
    return isinstance(value, dict) and value.get("type") == "null" and len(value) == 1


def downgrade_schema(node: Any) -> Any:
    """Rewrite one JSON Schema (2020-12 as OAS 3.1 uses it) and everything under it into OAS 3.0's dialect."""
    if isinstance(node, list):
        return [downgrade_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: downgrade_schema(value) for key, value in node.items()}
    kind = node.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        if len(kinds) != len(kind):
            node["nullable"] = True
        if len(kinds) == 1:
            node["type"] = kinds[0]
        else:
            del node["type"]
            node["anyOf"] = [{"type": k} for k in kinds]
    for keyword in ("anyOf", "oneOf"):
        branches = node.get(keyword)
        if isinstance(branches, list) and any(_is_null_schema(b) for b in branches):
            node[keyword] = [b for b in branches if not _is_null_schema(b)]
            node["nullable"] = True
            if len(node[keyword]) == 1 and keyword == "anyOf":
                node.update(node.pop(keyword)[0])
    enum = node.get("enum")
    if isinstance(enum, list) and None in enum:
        node["enum"] = [value for value in enum if value is not None]
        node["nullable"] = True
    examples = node.get("examples")
    if isinstance(examples, list):
        del node["examples"]
        if examples:
            node["example"] = examples[0]
    return node


def _walk_schemas(node: Any) -> Any:
    """Downgrade every ``schema`` (and ``components.schemas`` entry) in an OpenAPI document."""
    if isinstance(node, list):
        return [_walk_schemas(item) for item in node]
    if not isinstance(node, dict):
        return node
    result = {}
    for key, value in node.items():
        if key == "schema":
            result[key] = downgrade_schema(value)
        elif key == "schemas" and isinstance(value, dict):
            result[key] = {name: downgrade_schema(schema) for name, schema in value.items()}
        else:
            result[key] = _walk_schemas(value)
    return result


def _operation_id(method: str, path: str) -> str:
    words = [w for w in re.split(r"[^A-Za-z0-9]+", path) if w]
    return ("Preflight" if method == "options" else method.capitalize()) + "_" + "_".join(words)


def for_api_gateway(spec: dict[str, Any], *, without_options: bool = False) -> dict[str, Any]:
    """The OAS 3.0.3 document API Gateway imports, from the broker's OAS 3.1 ``spec`` (left unchanged)."""
    # A JSON round trip expands YAML anchors (shared objects) into independent copies.
    doc = json.loads(json.dumps(copy.deepcopy(spec)))
    doc["openapi"] = "3.0.3"
    doc.pop("jsonSchemaDialect", None)
    doc.pop("webhooks", None)
    doc = _walk_schemas(doc)
    seen: set[str] = set()
    for path, item in doc.get("paths", {}).items():
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            if without_options and method == "options":
                del item[method]
                continue
            name = operation.get("operationId") or _operation_id(method, path)
            while name in seen:
                name += "_"
            operation["operationId"] = name
            seen.add(name)
    return doc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("spec", nargs="?", default=str(ROOT / "openapi.yaml"), help="the OAS 3.1 file")
    parser.add_argument("-o", "--output", help="write here instead of stdout (.json for JSON, else YAML)")
    parser.add_argument("--without-options", action="store_true", help="leave out the OPTIONS (CORS preflight) APIs")
    args = parser.parse_args(argv)
    spec = yaml.safe_load(Path(args.spec).read_text(encoding="utf-8"))
    doc = for_api_gateway(spec, without_options=args.without_options)
    if args.output and args.output.endswith(".json"):
        text = json.dumps(doc, ensure_ascii=False, indent=2) + "\n"
    else:
        text = yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, width=120)
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
