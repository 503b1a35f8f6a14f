"""Hostile search input (issue #4 acceptance; decisions §2, §9): unknown operators or fields, wrong types,
huge numbers, quotes, `%`, `_`, backslashes, SQL fragments, NUL and unicode in values and field names
give a 400 naming the parameter or a correct answer, never a 500; `%` and `_` match literally."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import create_workflow, start_job, task, wait_for_job, workflow

ADMIN = ("admin", "admin")
ROUTES = ["/operations-manager/jobs", "/operations-manager/tasks", "/operations-manager/tasks/workable",
          "/operations-manager/tasks/retryable", "/automation-studio/workflows"]
OPS = ["equals", "contains", "starts-with", "ends-with", "in", "not-in", "gt", "gte", "lt", "lte", "exists"]
FIELDS = ["name", "_id", "status", "metrics.start_time", "description", "variables.x", "variables.a.b",
          "metrics.server_id", "created"]
NASTY = ["'", '"', "%", "_", "\\", "%_%", "' OR '1'='1", "'; DROP TABLE job; --", "\\%", "[*]", "*", "?", "[",
         "é☃𝄞", "\u202e", "1e999", "-0", "9" * 40, "NaN", "null", "true", "{}", "[]", "$enc", "a,b,,", ","]


@pytest.fixture
def named(client):
    """Jobs whose names hold LIKE/GLOB wildcards, and one with variables."""
    wf = workflow("w%_x", {"a1": task("stub")},
                  {"workflow_start": {"a1": "success"}, "a1": {"workflow_end": "success"}})
    create_workflow(client, wf)
    ids = [wait_for_job(client, start_job(client, "w%_x", variables={"x": "50%_off", "a": {"b": 2}})["_id"])["_id"]]
    for name in ("wax", "w_x", "w\\x", "w[x]"):
        create_workflow(client, {**wf, "name": name})
        ids.append(wait_for_job(client, start_job(client, name)["_id"])["_id"])
    return ids


def _names(client, params) -> list[str]:
    r = client.get("/operations-manager/jobs", params={**params, "limit": "100"}, auth=ADMIN)
    assert r.status_code == 200, r.text
    return sorted(j["name"] for j in r.json()["data"])


def test_wildcards_match_literally(client, named):
    assert _names(client, {"contains[name]": "%"}) == ["w%_x"]
    assert _names(client, {"contains[name]": "_"}) == ["w%_x", "w_x"]
    assert _names(client, {"starts-with[name]": "w_"}) == ["w_x"]
    assert _names(client, {"ends-with[name]": "%_x"}) == ["w%_x"]
    assert _names(client, {"contains[name]": "\\"}) == ["w\\x"]
    assert _names(client, {"contains[name]": "[x]"}) == ["w[x]"]
    assert _names(client, {"contains[name]": "*"}) == []
    assert _names(client, {"contains[name]": "?"}) == []
    assert _names(client, {"contains[name]": "W"}) == []  # case-sensitive (docs/api.md)
    assert _names(client, {"contains[variables.x]": "%_"}) == ["w%_x"]
    assert _names(client, {"equals[variables.x]": "50%_off"}) == ["w%_x"]
    assert _names(client, {"starts-with[variables.x]": "5_"}) == []


@pytest.mark.parametrize("params, path", [
    ({"bogus[name]": "x"}, "bogus[name]"),
    ({"equals[colour]": "x"}, "equals[colour]"),
    ({"equals[name": "x"}, "equals[name"),
    ({"equals[]": "x"}, "equals[]"),
    ({"equals[variables.a b]": "x"}, "equals[variables.a b]"),
    ({"equals[variables.é]": "x"}, "equals[variables.é]"),
    ({"equals[variables.a'--]": "x"}, "equals[variables.a'--]"),
    ({"equals[variables." + "a." * 9 + "a]": "x"}, "equals[variables." + "a." * 9 + "a]"),
    ({"gt[metrics.start_time]": "9" * 40}, "gt[metrics.start_time]"),
    ({"gt[metrics.start_time]": "' OR 1=1"}, "gt[metrics.start_time]"),
    ({"equals[name]": "a\x00"}, "equals[name]"),
    ({"limit": "99999999999999999999999"}, "limit"),
    ({"limit": "-5"}, "limit"),
    ({"skip": "-1"}, "skip"),
    ({"skip": "1" * 30}, "skip"),
    ({"sort": "name; DROP TABLE job"}, "sort"),
    ({"order": "asc"}, "order"),
    ({"dereference": "job"}, "dereference"),
    ({"contains[description]": "-only"}, "contains[description]"),
])
def test_bad_input_is_a_400_naming_the_parameter(client, params, path):
    r = client.get("/operations-manager/jobs", params=params, auth=ADMIN)
    assert r.status_code == 400, r.text
    assert r.json()["metadata"]["errors"][0]["path"] == path


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("value", NASTY)
def test_nasty_values_never_500(client, named, route, value):
    for op in OPS:
        for field in ("name", "variables.x", "description", "metrics.start_time"):
            r = client.get(route, params={f"{op}[{field}]": value}, auth=ADMIN)
            assert r.status_code in (200, 400), (route, op, field, value, r.text)


SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def test_arbitrary_strings_as_values_and_fields_never_500(client, named):
    """Any text as a value of any operator, as a field name, and as paging values: 400 or 200."""

    @SETTINGS
    @given(route=st.sampled_from(ROUTES), op=st.sampled_from([*OPS, "bogus"]),
           field=st.sampled_from(FIELDS) | st.text(max_size=20).map(lambda t: f"variables.{t}") | st.text(max_size=20),
           value=st.text(max_size=30), paging=st.sampled_from(["limit", "skip", "sort", "order", "include",
                                                               "dereference", None]), paging_value=st.text(max_size=8))
    def check(route, op, field, value, paging, paging_value):
        params = [(f"{op}[{field}]", value)]
        if paging:
            params.append((paging, paging_value))
        r = client.get(route, params=params, auth=ADMIN)
        assert r.status_code in (200, 400), (route, params, r.text)
        if r.status_code == 400 and "metadata" in r.json():
            assert r.json()["metadata"]["errors"][0]["path"] in {k for k, _ in params}

    check()


def test_arbitrary_values_on_plain_fields_answer_like_python(client, named):
    """For text fields the answer of equals/contains/starts-with/ends-with is Python's `==`/`in`/
    `startswith`/`endswith` over the stored names: nothing in the value is special."""
    names = _names(client, {})

    @SETTINGS
    @given(op=st.sampled_from(["equals", "contains", "starts-with", "ends-with"]),
           value=st.text(alphabet="w%_x\\[]*?aWX", max_size=4) | st.text(max_size=4))
    def check(op, value):
        r = client.get("/operations-manager/jobs", params={f"{op}[name]": value, "limit": "100"}, auth=ADMIN)
        if "\x00" in value:
            assert r.status_code == 400
            return
        test = {"equals": str.__eq__, "contains": lambda n, v: v in n, "starts-with": str.startswith,
                "ends-with": str.endswith}[op]
        assert r.status_code == 200, r.text
        assert sorted(j["name"] for j in r.json()["data"]) == [n for n in names if test(n, value)]

    check()
