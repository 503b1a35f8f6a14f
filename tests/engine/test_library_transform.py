"""The `transformation` task and the JST subset it runs (engine/library/transform.py, domain/jst.py)."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest

from opsmgr.domain import jst
from opsmgr.domain.workflow import validate
from opsmgr.engine.library import transform
from opsmgr.engine.registry import Outcome, TaskContext, default_registry
from tests.helpers import task, workflow


def assign(step_id: int, source: tuple[str, Any, str], target: tuple[str, Any, str]) -> dict[str, Any]:
    return {"id": step_id, "type": "assign",
            "from": dict(zip(("location", "name", "ptr"), source, strict=True)),
            "to": dict(zip(("location", "name", "ptr"), target, strict=True))}


def method(step_id: int, library: str, name: str, *args: Any) -> dict[str, Any]:
    return {"id": step_id, "type": "method", "library": library, "method": name, "args": list(args),
            "view": {"row": 1, "col": step_id}}


# shaped like the JST Designer exports of Itential-Pre-Builts/IAP---Data-Manipulation
JST: dict[str, Any] = {
    "_id": "5f08c7a5fd7aaf755869ff34",
    "name": "VPC facts",
    "incoming": [{"$id": "createVpcResponse", "type": "object"}, {"$id": "vpcName", "type": "string"}],
    "outgoing": [{"$id": "vpcId", "type": "string"}, {"$id": "vpcTags", "type": "object"},
                 {"$id": "slug", "type": "string"}, {"$id": "unused", "type": "string"}],
    "steps": [
        assign(1, ("incoming", "createVpcResponse", "/Vpc/VpcId"), ("outgoing", "vpcId", "")),
        assign(2, ("incoming", "vpcName", ""), ("outgoing", "vpcTags", "/Name")),
        assign(3, ("incoming", "createVpcResponse", "/Vpc/State"), ("outgoing", "vpcTags", "/state")),
        # steps come in any order: the data flow decides
        assign(4, ("method", 11, "/return"), ("outgoing", "slug", "")),
        method(11, "Array", "join", None, "-"),
        assign(5, ("method", 10, "/return"), ("method", 11, "/args/0/value")),
        method(10, "String", "split", None, " ", None),
        method(9, "String", "toLowerCase", None),
        assign(6, ("incoming", "vpcName", ""), ("method", 9, "/args/0/value")),
        assign(7, ("method", 9, "/return"), ("method", 10, "/args/0/value")),
    ],
    "functions": [],
    "comments": [],
    "view": {"col": 5, "row": 6},
}
RESPONSE = {"Vpc": {"VpcId": "vpc-0a1b", "State": "pending"}}


def run(incoming: dict[str, Any], job_variables: dict[str, Any] | None = None,
        task_outputs: dict[str, Any] | None = None) -> Outcome:
    ctx = TaskContext(job_id="a" * 24, task_id="t", task_key="f19d", incoming=incoming,
                      job_variables=job_variables or {}, task_outputs=task_outputs or {}, runtime={}, now_ms=0)
    return asyncio.run(transform.transformation(ctx))


def test_fields_are_copied_and_transformed_into_outgoing_variables():
    out = run({"tr_id": "", "transformation": JST, "variableMap": {"createVpcResponse": RESPONSE,
                                                                    "vpcName": "Core VPC East"}})
    assert out.finish_state == "success"
    assert out.outputs == {"vpcId": "vpc-0a1b", "vpcTags": {"Name": "Core VPC East", "state": "pending"},
                           "slug": "core-vpc-east", "unused": None}


def test_var_references_in_the_variable_map_resolve_one_level_deep():
    out = run({"transformation": JST,
               "variableMap": {"createVpcResponse": "$var.997d.result", "vpcName": "$var.job.vpcName"}},
              job_variables={"vpcName": "Edge"}, task_outputs={"997d": {"result": RESPONSE}})
    assert out.outputs["vpcId"] == "vpc-0a1b" and out.outputs["slug"] == "edge"
    # deeper than one level stays literal text, as on Itential
    out = run({"transformation": {**JST, "steps": JST["steps"][:1]},
               "variableMap": {"createVpcResponse": {"Vpc": {"VpcId": "$var.job.vpcName"}}}},
              job_variables={"vpcName": "Edge"})
    assert out.outputs["vpcId"] == "$var.job.vpcName"


@pytest.mark.parametrize(("library", "name", "args", "result"), [
    ("String", "toUpperCase", ["ab"], "AB"),
    ("String", "trim", ["  ab "], "ab"),
    ("String", "split", ["a/b/c", "/", 2], ["a", "b"]),
    ("String", "split", ["abc", None, None], ["abc"]),
    ("Array", "join", [["a", 1, True, None], None], "a,1,true,"),
    ("Array", "length", [[1, 2, 3]], 3),
    ("Array", "getIndex", [["x", "y"], 1], "y"),
    ("Array", "getIndex", [["x", "y"], 5], None),
])
def test_methods(library, name, args, result):
    doc = {"incoming": [], "outgoing": [{"$id": "r"}],
           "steps": [method(1, library, name, *args), assign(2, ("method", 1, "/return"), ("outgoing", "r", ""))]}
    assert jst.run(doc, {}) == {"r": result}


def test_a_method_given_a_wrong_type_is_an_error_outcome():
    doc = copy.deepcopy(JST)
    out = run({"transformation": doc, "variableMap": {"createVpcResponse": RESPONSE, "vpcName": 42}})
    assert out.finish_state == "error" and "toLowerCase" in out.error["message"]


def test_tr_id_only_and_bad_documents_are_error_outcomes_at_run_time():
    assert "tr_id" in run({"tr_id": "5f08c7a5fd7aaf755869ff34"}).error["message"]
    assert run({"transformation": {**JST, "functions": [{"id": "f"}]}}).finish_state == "error"


KNOWN = default_registry().known()


def flow(incoming: dict[str, Any]) -> dict[str, Any]:
    return workflow("t", {"f19d": task("transformation", **incoming)},
                    {"workflow_start": {"f19d": "success"}, "f19d": {"workflow_end": "success"}})


def problems(incoming: dict[str, Any]) -> list[dict[str, str]]:
    return validate(flow(incoming), KNOWN)


def test_import_accepts_the_supported_subset_and_a_var_reference():
    assert problems({"transformation": JST, "variableMap": {}}) == []
    assert problems({"transformation": "$var.job.jst", "variableMap": {}}) == []


def test_import_rejects_a_tr_id_only_task():
    found = problems({"tr_id": "5f08c7a5fd7aaf755869ff34", "variableMap": {}})
    assert found == [{"path": "tasks.f19d.variables.incoming.tr_id",
                      "message": "transformation documents by tr_id are not supported yet; embed the JST as "
                                 "incoming.transformation"}]
    assert "needs its JST document" in problems({"variableMap": {}})[0]["message"]


@pytest.mark.parametrize(("change", "path", "words"), [
    (lambda d: d["functions"].append({"id": "pointerReducer"}), "functions", "custom JST functions"),
    (lambda d: d["steps"].append({"id": 31, "type": "declaration", "library": "String", "method": "new String",
                                  "args": [None]}), "steps.10", "'declaration' steps"),
    (lambda d: d["steps"].append(method(30, "Array", "reduce", None, "pointerReducer", None)), "steps.10",
     "Array.reduce is not supported"),
    (lambda d: d["steps"].append(assign(30, ("static", 1, ""), ("outgoing", "vpcId", ""))), "steps.10.from",
     "'static'"),
    (lambda d: d["steps"].append(assign(30, ("incoming", "nope", ""), ("outgoing", "vpcId", ""))),
     "steps.10.from", "unknown incoming"),
    (lambda d: d["steps"].append(assign(30, ("incoming", "vpcName", ""), ("method", 9, "/args/3/value"))),
     "steps.10.to.ptr", "not an argument"),
    (lambda d: d["steps"].append(assign(30, ("method", 11, "/return"), ("method", 9, "/args/0/value"))),
     "steps", "cycle"),
])
def test_import_names_each_unsupported_construct(change, path, words):
    doc = copy.deepcopy(JST)
    change(doc)
    found = problems({"transformation": doc})
    assert len(found) == 1, found
    assert found[0]["path"] == f"tasks.f19d.variables.incoming.transformation.{path}"
    assert words in found[0]["message"]
