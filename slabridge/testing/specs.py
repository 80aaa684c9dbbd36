"""Check HTTP requests against a vendor's OpenAPI document (tests, and connector authors).

``RequestChecker([spec, ...]).problems(method, path, body)`` returns what the
documents reject: an unknown path or method, a path parameter of the wrong
type, or a JSON body that does not match the operation's request schema
(``$ref`` resolved, OpenAPI 3.0 ``nullable`` honoured). Known defects of the
documents are corrected by ``overrides`` — a JSON pointer into the document and
the schema that replaces it — so each correction is named, not hidden.
"""

from __future__ import annotations

import copy
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml


class _SpecLoader(yaml.CSafeLoader if hasattr(yaml, "CSafeLoader") else yaml.SafeLoader):
    """PyYAML reads a bare ``=`` as the YAML 1.1 'value' tag; read it as the string it is."""


_SpecLoader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))


@lru_cache(maxsize=8)
def load_document(path: str) -> dict:
    text = Path(path).read_text()
    return json.loads(text) if path.endswith(".json") else yaml.load(text, Loader=_SpecLoader)  # noqa: S506


class RequestChecker:
    def __init__(self, documents: list[str | Path], overrides: dict[str, Any] | None = None):
        self.documents = []
        for path in documents:
            document = copy.deepcopy(load_document(str(path)))
            for pointer, schema in (overrides or {}).items():
                _set_pointer(document, pointer, schema)
            self.documents.append(document)
        self._routes = [(d, template, _template_regex(_server_path(d) + template), item)
                        for d in self.documents for template, item in d.get("paths", {}).items()]
        # literal segments first: /tickets/{id}/tags before /tickets/{id}
        self._routes.sort(key=lambda r: (r[1].count("{"), -len(r[1])))

    def problems(self, method: str, path: str, body: Any = None) -> list[str]:
        method = method.lower()
        for document, template, regex, item in self._routes:
            match = regex.fullmatch(path)
            if not match:
                continue
            operation = item.get(method)
            if operation is None:
                continue
            found = []
            parameters = item.get("parameters", []) + operation.get("parameters", [])
            for parameter in (_resolve(document, p) for p in parameters):
                if parameter.get("in") == "path" and parameter["name"] in match.groupdict():
                    found += self._value_problems(document, parameter.get("schema", {}),
                                                  match[parameter["name"]], f"path parameter {parameter['name']}")
            found += self._body_problems(document, operation, body, f"{method.upper()} {template}")
            return found
        return [f"{method.upper()} {path}: no such operation in the vendor's OpenAPI document"]

    def _body_problems(self, document, operation, body, where) -> list[str]:
        request_body = _resolve(document, operation.get("requestBody") or {})
        schema = ((request_body.get("content") or {}).get("application/json") or {}).get("schema")
        if body is None:
            return [f"{where}: a JSON body is required"] if request_body.get("required") else []
        if schema is None:
            return [f"{where}: the document declares no JSON body for this operation"]
        validator = jsonschema.Draft4Validator(_nullable(_inline(document, schema)))
        return [f"{where}: body{''.join(f'[{p!r}]' for p in e.absolute_path)}: {e.message}"
                for e in validator.iter_errors(body)]

    def _value_problems(self, document, schema, raw: str, where: str) -> list[str]:
        schema = _resolve(document, schema)
        if schema.get("type") == "integer" and not raw.isdigit():
            return [f"{where}: {raw!r} is not an integer"]
        return []


def _server_path(document: dict) -> str:
    """The path part of the first server URL (``/api/v2`` for Freshdesk), prefixed to every path."""
    url = ((document.get("servers") or [{}])[0]).get("url", "")
    return re.sub(r"^[a-z]+://[^/]+", "", url).rstrip("/")


def _template_regex(template: str) -> re.Pattern:
    parts = re.split(r"(\{[^}]+\})", template)
    return re.compile("".join(f"(?P<{p[1:-1]}>[^/]+)" if p.startswith("{") else re.escape(p) for p in parts))


def _resolve(document: dict, node: dict) -> dict:
    while isinstance(node, dict) and "$ref" in node:
        node = _get_pointer(document, node["$ref"])
    return node


def _inline(document: dict, schema: Any, depth: int = 0) -> Any:
    """Replace $refs with their targets (bounded depth: recursive schemas stop as 'anything')."""
    if depth > 12:
        return {}
    if isinstance(schema, dict):
        if "$ref" in schema:
            return _inline(document, _get_pointer(document, schema["$ref"]), depth + 1)
        return {k: _inline(document, v, depth + (k in ("properties", "items"))) for k, v in schema.items()
                if k not in ("example", "examples", "discriminator", "xml")}
    if isinstance(schema, list):
        return [_inline(document, v, depth) for v in schema]
    return schema


def _nullable(schema: Any) -> Any:
    """OpenAPI 3.0 ``nullable: true`` means JSON Schema ``type: [T, "null"]``."""
    if isinstance(schema, dict):
        out = {k: _nullable(v) for k, v in schema.items()}
        if out.pop("nullable", False) and "type" in out:
            out["type"] = [out["type"], "null"] if isinstance(out["type"], str) else [*out["type"], "null"]
        return out
    if isinstance(schema, list):
        return [_nullable(v) for v in schema]
    return schema


def _get_pointer(document: dict, ref: str) -> Any:
    node: Any = document
    for part in ref.lstrip("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _set_pointer(document: dict, pointer: str, value: Any) -> None:
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.lstrip("#/").split("/")]
    node = document
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
