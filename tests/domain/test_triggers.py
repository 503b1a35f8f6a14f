"""Pure trigger rules: the oneOf validation, schedule arithmetic, job variables, and the JSON Schema subset."""

from __future__ import annotations

import pytest

from opsmgr.domain import jsonschema_lite
from opsmgr.domain import triggers as rules

AID = "a" * 24


def paths(body, **kw) -> list[str]:
    return [p["path"] for p in rules.check(body, **kw)]


@pytest.mark.parametrize("body", [
    {"name": "e", "type": "endpoint", "actionId": AID, "routeName": "go", "schema": {"type": "object"}},
    {"name": "m", "type": "manual", "actionId": AID, "formData": {"a": 1}, "legacyWrapper": False},
    {"name": "s", "type": "schedule", "actionId": AID, "firstRunAt": 0, "repeatUnit": "day", "repeatFrequency": 1},
    {"name": "v", "type": "eventSystem", "actionId": AID, "source": "s", "topic": "t"},
])
def test_each_variant_is_valid(body):
    assert rules.check(body) == []


def test_type_selects_the_variant_and_errors_name_fields():
    assert paths({"name": "x", "actionId": AID}) == ["type"]
    assert paths({"name": "x", "type": "endpoint", "actionId": AID}) == ["routeName"]
    assert paths({"name": "x", "type": "manual", "actionId": AID, "routeName": "go"}) == ["routeName"]
    assert paths({"name": "x", "type": "manual", "actionId": AID, "_id": AID}) == ["_id"]
    assert paths({"name": "x", "type": "manual", "actionId": AID, "_id": AID}, import_=True) == []
    assert paths({"name": "x", "type": "schedule", "actionId": AID, "firstRunAt": 0, "repeatUnit": "day"}) == [
        "repeatFrequency"]
    assert paths({"name": "x", "type": "schedule", "actionId": AID, "firstRunAt": 0, "repeatUnit": "day",
                  "repeatFrequency": 1, "repeatInterval": 5}) == ["repeatInterval"]
    assert paths([], path="triggers.0.") == ["triggers.0"]


def test_patch_may_not_change_type():
    assert [p["path"] for p in rules.check_patch("manual", {"type": "endpoint", "bogus": 1})] == ["type", "bogus"]
    assert rules.check_patch("manual", {"type": "manual", "enabled": False}) == []


def test_next_run_at():
    doc = {"type": "schedule", "enabled": True, "firstRunAt": 1000, "repeatInterval": 100}
    assert rules.next_run_at(doc, 500) == 1000
    assert rules.next_run_at(doc, 1000) == 1100
    assert rules.next_run_at(doc, 1250) == 1300
    assert rules.next_run_at({**doc, "repeatInterval": None}, 2000) is None
    assert rules.next_run_at({**doc, "enabled": False}, 0) is None


def test_job_variables_and_cloned_route_names():
    assert rules.job_variables({"a": 1}, True) == {"formData": {"a": 1}}
    assert rules.job_variables({"a": 1}, False) == {"a": 1}
    assert rules.cloned_route_name("go", {"go", "go-copy"}) == "go-copy2"


def test_json_schema_subset():
    schema = {"type": "object", "required": ["a"], "additionalProperties": False, "properties": {
        "a": {"type": "string", "pattern": "^r[0-9]+$", "maxLength": 3},
        "n": {"type": "number", "minimum": 0, "exclusiveMaximum": 10},
        "tags": {"type": "array", "items": {"enum": ["x", "y"]}, "maxItems": 2},
        "flag": {"type": ["boolean", "null"]}}}
    assert jsonschema_lite.validate({"a": "r1", "n": 9.5, "tags": ["x"], "flag": None}, schema) == []
    bad = jsonschema_lite.validate({"a": "x1234", "n": 10, "tags": ["z", "x", "y"], "flag": 1, "q": 0}, schema)
    assert sorted(p["path"] for p in bad) == ["a", "a", "flag", "n", "q", "tags", "tags.0"]
    assert [p["path"] for p in jsonschema_lite.validate({}, schema)] == ["a"]
    assert jsonschema_lite.validate(True, {"type": "integer"})[0]["path"] == ""
    assert jsonschema_lite.validate(3.0, {"type": "integer"}) == []
    assert jsonschema_lite.validate(1, False) and jsonschema_lite.validate(1, True) == []


def test_check_schema_refuses_broken_schemas():
    assert jsonschema_lite.check_schema({"type": "object", "title": "t", "$schema": "x"}) == []
    found = jsonschema_lite.check_schema({"type": "thing", "required": "a", "pattern": "(", "properties": {"a": 1}})
    assert sorted(p["path"] for p in found) == ["schema.pattern", "schema.properties.a", "schema.required",
                                                "schema.type"]
