"""`$var` resolution and outgoing promotion (workflow-semantics §1.3, §1.5)."""

from __future__ import annotations

import pytest

from opsmgr.domain.variables import job_target, parse_reference, pointer_get, promote, resolve, resolve_incoming

JOB = {"device": "r1", "count": 3, "_id": "a" * 24, "nested": {"a": [10, {"b/c": 1, "d~e": 2}]}}
TASKS = {"a1": {"response": {"id": 7}, "error": None}, "b2": {"value": "x", "error": {"message": "boom"}}}


@pytest.mark.parametrize(
    "value,expected",
    [
        ("$var.job.device", "r1"),
        ("$var.job.count", 3),
        ("$var.job._id", "a" * 24),
        ("$var.a1.response", {"id": 7}),
        ("$var.b2.value", "x"),
        ("$var.b2.error", {"message": "boom"}),
        ("$var.job.missing", None),
        ("$var.ffff.value", None),
        ("$var.a1.response#/id", 7),
        ("$var.job.nested#/a/1/b~1c", 1),
        ("$var.job.nested#/a/1/d~0e", 2),
        ("$var.job.nested#/a/5", None),
    ],
)
def test_top_level_references_resolve(value, expected):
    assert resolve(value, JOB, TASKS) == expected


@pytest.mark.parametrize("value", ["plain", "", "$var", "$var.job", "$var..x", "$varjob.x", " $var.job.device", 5,
                                   None, True, [1, 2]])
def test_non_references_stay_as_they_are(value):
    assert resolve(value, JOB, TASKS) == value


def test_a_reference_nested_in_an_object_or_array_stays_literal():
    incoming = {"obj": {"d": "$var.job.device"}, "arr": ["$var.job.device"], "top": "$var.job.device"}
    resolved = resolve_incoming(incoming, JOB, TASKS)
    assert resolved == {"obj": {"d": "$var.job.device"}, "arr": ["$var.job.device"], "top": "r1"}


def test_resolve_incoming_does_not_change_its_input():
    incoming = {"top": "$var.job.device"}
    resolve_incoming(incoming, JOB, TASKS)
    assert incoming == {"top": "$var.job.device"}


def test_parse_reference():
    assert parse_reference("$var.job.x") == ("job", "x", None)
    assert parse_reference("$var.a1.resp#/a/0") == ("a1", "resp", "/a/0")
    assert parse_reference("$var.a1") is None
    assert parse_reference("hello") is None


def test_pointer_get():
    assert pointer_get({"a": {"b": [1, 2]}}, "/a/b/1") == 2
    assert pointer_get({"a": 1}, "") == {"a": 1}
    assert pointer_get({"a": 1}, "/b") is None
    assert pointer_get([1], "/x") is None
    assert pointer_get({"a": None}, "/a/b") is None


@pytest.mark.parametrize(
    "declaration,target",
    [("$var.job.result", "result"), ("", None), (None, None), ("$var.a1.x", None), ("$var.job.r#/x", None), (3, None)],
)
def test_job_target(declaration, target):
    assert job_target(declaration) == target


def test_promote_copies_declared_outputs_to_job_variables():
    declared = {"response": "$var.job.result", "other": None, "kept": "", "gone": "$var.job.missingOutput"}
    results = {"response": {"ok": True}, "other": 1, "kept": 2}
    assert promote(declared, results) == {"result": {"ok": True}, "missingOutput": None}
