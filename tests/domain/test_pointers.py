"""RFC 6901 JSON pointers and masking of encrypted values (workflow-semantics §4, decisions §7)."""

from __future__ import annotations

import pytest

from opsmgr.domain import pointers
from opsmgr.domain.documents import MASK, job_document, masked, masked_task_variables
from opsmgr.errors import Invalid

DOC = {"foo": ["bar", "baz"], "": 0, "a/b": 1, "c%d": 2, "e^f": 3, "g|h": 4, "i\\j": 5, 'k"l': 6, " ": 7,
       "m~n": 8, "~1": 9}


@pytest.mark.parametrize(("pointer", "expected"), [
    ("", DOC), ("/foo", ["bar", "baz"]), ("/foo/0", "bar"), ("/", 0), ("/a~1b", 1), ("/c%d", 2), ("/e^f", 3),
    ("/g|h", 4), ("/i\\j", 5), ("/k\"l", 6), ("/ ", 7), ("/m~0n", 8), ("/~01", 9),
])
def test_rfc6901_examples(pointer, expected):
    assert pointers.get(DOC, pointer) == expected


def test_escapes_round_trip_and_order():
    assert pointers.escape("a/b~c") == "a~1b~0c"
    assert pointers.unescape("a~1b~0c") == "a/b~c"
    assert pointers.unescape("~01") == "~1"  # ~0 is unescaped last: the text "~1", not "/"
    assert pointers.parse("/a~1b/~0/0") == ["a/b", "~", "0"]
    assert pointers.join(["a/b", "~", "0"]) == "/a~1b/~0/0"


@pytest.mark.parametrize("bad", ["a", "a/b", "/a~2", "/~", None, 3])
def test_malformed_pointers_are_invalid(bad):
    with pytest.raises(Invalid):
        pointers.parse(bad)


def test_array_indexes():
    doc = {"a": [10, 20, [30]]}
    assert pointers.get(doc, "/a/1") == 20
    assert pointers.get(doc, "/a/2/0") == 30
    assert pointers.get(doc, "/a/01") is None  # no leading zeros
    assert pointers.get(doc, "/a/3") is None and pointers.get(doc, "/a/-") is None
    assert pointers.get(doc, "/a/x", "missing") == "missing"
    assert pointers.has(doc, "/a/0") and not pointers.has(doc, "/b")


def test_replace_and_set_copy_only_the_path():
    doc = {"v": {"p": "secret", "q": [1, {"r": 2}]}, "other": {"x": 1}}
    new = pointers.replace(doc, "/v/q/1/r", lambda v: v + 1)
    assert new["v"]["q"][1]["r"] == 3 and doc["v"]["q"][1]["r"] == 2
    assert new["other"] is doc["other"]
    assert pointers.replace(doc, "/v/missing/x", lambda v: 0) is doc
    assert pointers.set_value(doc, "/v/new", 5)["v"]["new"] == 5
    assert pointers.set_value(doc, "/v/q/0", "z")["v"]["q"] == ["z", {"r": 2}]
    assert pointers.set_value(doc, "/nope/x", 1) is doc
    assert pointers.set_value(doc, "", 1) == 1


def test_walk_yields_escaped_pointers():
    found = dict(pointers.walk({"a/b": [{"~": 1}]}))
    assert found["/a~1b/0/~0"] == 1
    assert set(found) == {"", "/a~1b", "/a~1b/0", "/a~1b/0/~0"}


def test_encryption_pointers_and_problems():
    decorators = [
        {"type": "encryption", "pointer": "/variables/password"},
        {"type": "query", "pointer": "/incoming/x", "displayPath": "x"},
        {"type": "encryption", "pointer": "no-slash"},
        "junk",
    ]
    assert pointers.encryption_pointers(decorators) == ["/variables/password"]
    assert pointers.encryption_pointers(None) == []
    problems = pointers.check_decorators(decorators, "decorators")
    assert [p["path"] for p in problems] == ["decorators.2.pointer"]
    assert pointers.under("/variables/a~1b", "/variables") == "/a~1b"
    assert pointers.under("/variablesX", "/variables") is None


SEALED = {"$enc": "v1", "key": "k", "at": "/variables/p", "nonce": "n", "data": "d"}


def test_masked_hides_sealed_values_anywhere_and_values_at_pointers():
    value = {"p": SEALED, "list": [SEALED, 1], "plain": "x", "shown": "y", "none": None, "a/b": "z"}
    out = masked(value, ["/plain", "/none", "/absent", "/a~1b"])
    assert out == {"p": MASK, "list": [MASK, 1], "plain": MASK, "shown": "y", "none": None, "a/b": MASK}
    assert value["p"] is SEALED  # not changed in place
    untouched = {"a": [1, {"b": 2}]}
    assert masked(untouched) is untouched


def test_task_variables_are_masked_at_their_decorators():
    variables = {"incoming": {"pw": "plain", "x": 1}, "outgoing": {"t": SEALED}, "error": None,
                 "decorators": [{"type": "encryption", "pointer": "/incoming/pw"}]}
    out = masked_task_variables(variables)
    assert out["incoming"] == {"pw": MASK, "x": 1} and out["outgoing"] == {"t": MASK}


def test_job_document_masks_variables_and_literal_task_values():
    definition = {"name": "t", "variables": {
        "incoming": {"lit": "hunter2", "ref": "$var.job.pw"}, "outgoing": {},
        "decorators": [{"type": "encryption", "pointer": "/incoming/lit"},
                       {"type": "encryption", "pointer": "/incoming/ref"}]}}
    row = {"id": "0" * 24, "workflow": {"tasks": {"t": definition}, "transitions": {},
                                        "decorators": [{"type": "encryption", "pointer": "/variables/pw"}]},
           "progress": {}, "variables": {"pw": "plain?", "ok": 1, "s": SEALED}, "type": "automation",
           "created": 0, "last_updated": 0, "name": "n", "description": None, "status": "running", "error": None,
           "watchers": [], "ancestors": [], "parent": None, "created_by": None, "last_updated_by": None,
           "start_time": 0, "end_time": None}
    doc = job_document(row, [])
    assert doc["variables"] == {"pw": MASK, "ok": 1, "s": MASK}
    assert doc["tasks"]["t"]["variables"]["incoming"] == {"lit": MASK, "ref": "$var.job.pw"}
