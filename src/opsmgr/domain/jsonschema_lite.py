"""A small JSON Schema validator for the subset that trigger schemas use (pure Python, no I/O).

Why not the `jsonschema` package: the subset below covers the schemas real endpoint triggers carry,
the answer must list every violation as `{path, message}` in our own words (decisions §2), and the
package would bring four more dependencies (one of them compiled) for one call site.

Supported keywords (draft-07 meaning):
  type (a name or a list of names: object, array, string, number, integer, boolean, null),
  properties, required, additionalProperties (false or a schema), enum, const,
  items (one schema for every element), minItems, maxItems,
  minLength, maxLength, pattern (Python `re.search`, close to ECMA 262 for ordinary patterns),
  minimum, maximum, exclusiveMinimum, exclusiveMaximum (numbers, draft-06+ form).
`true` / `{}` accept anything, `false` rejects everything. Every other keyword (title, description,
$schema, $id, default, examples, format, $ref, allOf/anyOf/oneOf, ...) is ignored: a trigger whose schema
relies on them is validated only by the keywords above. `check_schema` reports schemas that are not
objects/booleans or whose supported keywords have the wrong shape, so a broken schema is refused when
the trigger is saved rather than when it runs.
"""

from __future__ import annotations

import re
from typing import Any

TYPES = ("object", "array", "string", "number", "integer", "boolean", "null")


def _is_type(value: Any, name: str) -> bool:
    if name == "object":
        return isinstance(value, dict)
    if name == "array":
        return isinstance(value, list)
    if name == "string":
        return isinstance(value, str)
    if name == "boolean":
        return isinstance(value, bool)
    if name == "null":
        return value is None
    if isinstance(value, bool):
        return False
    if name == "number":
        return isinstance(value, int | float)
    if name == "integer":
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    return False


def _type_name(value: Any) -> str:
    for name in ("null", "boolean", "integer", "number", "string", "array", "object"):
        if _is_type(value, name):
            return name
    return type(value).__name__


def _join(path: str, key: str | int) -> str:
    return f"{path}.{key}" if path else str(key)


def validate(instance: Any, schema: Any, path: str = "") -> list[dict[str, str]]:
    """Every violation of `schema` by `instance` as `{path, message}` (path: dotted, "" = the root)."""
    problems: list[dict[str, str]] = []
    _validate(instance, schema, path, problems)
    return problems


def _validate(value: Any, schema: Any, path: str, out: list[dict[str, str]]) -> None:
    if schema is True or schema is None:
        return
    if schema is False:
        out.append({"path": path, "message": "no value is allowed here"})
        return
    if not isinstance(schema, dict):
        return
    where = path or "(body)"
    if "type" in schema:
        names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_is_type(value, n) for n in names):
            out.append({"path": path, "message": f"{where} must be of type {' or '.join(map(str, names))}, "
                        f"got {_type_name(value)}"})
            return  # the other keywords would only repeat the mismatch
    if "enum" in schema and isinstance(schema["enum"], list) and not any(_equal(value, e) for e in schema["enum"]):
        allowed = ", ".join(repr(e) for e in schema["enum"])
        out.append({"path": path, "message": f"{where} must be one of {allowed}"})
    if "const" in schema and not _equal(value, schema["const"]):
        out.append({"path": path, "message": f"{where} must be {schema['const']!r}"})
    if isinstance(value, dict):
        _object(value, schema, path, out)
    elif isinstance(value, list):
        _array(value, schema, path, out)
    elif isinstance(value, str):
        _string(value, schema, path, where, out)
    elif _is_type(value, "number"):
        _number(value, schema, path, where, out)


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return bool(a == b)


def _object(value: dict[str, Any], schema: dict[str, Any], path: str, out: list[dict[str, str]]) -> None:
    props = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
    assert isinstance(props, dict)
    for name in schema.get("required") or []:
        if name not in value:
            out.append({"path": _join(path, name), "message": f"{name} is required"})
    extra = schema.get("additionalProperties", True)
    for key, item in value.items():
        if key in props:
            _validate(item, props[key], _join(path, key), out)
        elif extra is False:
            out.append({"path": _join(path, key), "message": f"{key} is not an allowed property"})
        elif isinstance(extra, dict):
            _validate(item, extra, _join(path, key), out)


def _array(value: list[Any], schema: dict[str, Any], path: str, out: list[dict[str, str]]) -> None:
    where = path or "(body)"
    if isinstance(schema.get("minItems"), int) and len(value) < schema["minItems"]:
        out.append({"path": path, "message": f"{where} must have at least {schema['minItems']} items"})
    if isinstance(schema.get("maxItems"), int) and len(value) > schema["maxItems"]:
        out.append({"path": path, "message": f"{where} must have at most {schema['maxItems']} items"})
    items = schema.get("items")
    if isinstance(items, dict | bool):
        for i, item in enumerate(value):
            _validate(item, items, _join(path, i), out)


def _string(value: str, schema: dict[str, Any], path: str, where: str, out: list[dict[str, str]]) -> None:
    if isinstance(schema.get("minLength"), int) and len(value) < schema["minLength"]:
        out.append({"path": path, "message": f"{where} must be at least {schema['minLength']} characters long"})
    if isinstance(schema.get("maxLength"), int) and len(value) > schema["maxLength"]:
        out.append({"path": path, "message": f"{where} must be at most {schema['maxLength']} characters long"})
    pattern = schema.get("pattern")
    if isinstance(pattern, str):
        try:
            matched = re.search(pattern, value) is not None
        except re.error:
            matched = True  # refused by check_schema when the trigger was saved
        if not matched:
            out.append({"path": path, "message": f"{where} must match the pattern {pattern!r}"})


def _number(value: float, schema: dict[str, Any], path: str, where: str, out: list[dict[str, str]]) -> None:
    checks = (
        ("minimum", lambda v, b: v >= b, "at least"),
        ("maximum", lambda v, b: v <= b, "at most"),
        ("exclusiveMinimum", lambda v, b: v > b, "greater than"),
        ("exclusiveMaximum", lambda v, b: v < b, "less than"),
    )
    for keyword, holds, words in checks:
        bound = schema.get(keyword)
        if _is_type(bound, "number") and not holds(value, bound):
            out.append({"path": path, "message": f"{where} must be {words} {bound}"})


def check_schema(schema: Any, path: str = "schema") -> list[dict[str, str]]:
    """Problems with the supported keywords of a schema (`{path, message}`); [] when it is usable."""
    if isinstance(schema, bool):
        return []
    if not isinstance(schema, dict):
        return [{"path": path, "message": "a JSON Schema must be an object or a boolean"}]
    out: list[dict[str, str]] = []
    if "type" in schema:
        names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        bad = [n for n in names if n not in TYPES]
        if bad or not names:
            out.append({"path": f"{path}.type", "message": f"type must name one of {', '.join(TYPES)}"})
    if "properties" in schema:
        if not isinstance(schema["properties"], dict):
            out.append({"path": f"{path}.properties", "message": "properties must be an object"})
        else:
            for key, sub in schema["properties"].items():
                out += check_schema(sub, f"{path}.properties.{key}")
    if "required" in schema and not (
        isinstance(schema["required"], list) and all(isinstance(r, str) for r in schema["required"])
    ):
        out.append({"path": f"{path}.required", "message": "required must be an array of strings"})
    if "additionalProperties" in schema:
        out += check_schema(schema["additionalProperties"], f"{path}.additionalProperties")
    if "items" in schema and not isinstance(schema["items"], list):
        out += check_schema(schema["items"], f"{path}.items")
    if "enum" in schema and not isinstance(schema["enum"], list):
        out.append({"path": f"{path}.enum", "message": "enum must be an array"})
    for keyword in ("minLength", "maxLength", "minItems", "maxItems"):
        if keyword in schema and not (isinstance(schema[keyword], int) and not isinstance(schema[keyword], bool)
                                      and schema[keyword] >= 0):
            out.append({"path": f"{path}.{keyword}", "message": f"{keyword} must be a non-negative integer"})
    for keyword in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        if keyword in schema and not _is_type(schema[keyword], "number"):
            out.append({"path": f"{path}.{keyword}", "message": f"{keyword} must be a number"})
    if "pattern" in schema:
        try:
            re.compile(schema["pattern"])
        except (re.error, TypeError):
            out.append({"path": f"{path}.pattern", "message": "pattern must be a valid regular expression"})
    return out
