"""The search syntax parser (domain/search.py): decisions §9, ops-manager-api §4."""

from __future__ import annotations

import pytest

from opsmgr.domain import search
from opsmgr.domain.search import Field, Loose, TextQuery
from opsmgr.errors import Invalid

FIELDS = search.fields(
    Field("_id", "id"),
    Field("name", "name"),
    Field("description", "description", text_search=True),
    Field("metrics.start_time", "start_time", "date"),
    Field("enabled", "enabled", "bool"),
    Field("variables", "variables", "json"),
    Field("tasks.*", "document", "json", ("tasks",)),
)


def parse(*pairs: tuple[str, str], **kw) -> search.Query:
    return search.parse(list(pairs), FIELDS, default_sort="name", **kw)


def bad(*pairs: tuple[str, str], **kw) -> dict:
    with pytest.raises(Invalid) as exc:
        parse(*pairs, **kw)
    return exc.value.details["errors"][0]


def test_declared_fields_are_typed():
    q = parse(("equals[name]", "x"), ("gt[metrics.start_time]", "1970-01-01T00:00:01.001Z"),
              ("in[enabled]", "true,0"), ("exists[name]", "false"))
    assert [(c.op, c.field.name, c.value) for c in q.conditions] == [
        ("equals", "name", "x"), ("gt", "metrics.start_time", 1001), ("in", "enabled", [True, False]),
        ("exists", "name", False)]


def test_dates_accept_iso_and_epoch_ms_exactly():
    """decisions §9: dates as ISO strings or epoch ms; no float rounding of milliseconds."""
    for ms in (0, 1, 999, 1700000000123, 1733312345679, -1):
        from datetime import UTC, datetime, timedelta
        iso = (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)).isoformat()
        assert parse(("equals[metrics.start_time]", iso)).conditions[0].value == ms
        assert parse(("equals[metrics.start_time]", str(ms))).conditions[0].value == ms
    assert parse(("lt[metrics.start_time]", "2024-01-01")).conditions[0].value == 1704067200000


def test_json_paths_resolve_below_their_column():
    cond = parse(("equals[variables.a.b-c_1]", "5")).conditions[0]
    assert cond.field == Field("variables.a.b-c_1", "variables", "json", ("a", "b-c_1"))
    assert cond.value == Loose("5", 5, None)
    cond = parse(("exists[tasks.a1.name]", "true")).conditions[0]
    assert cond.field.column == "document" and cond.field.path == ("tasks", "a1", "name")


@pytest.mark.parametrize("raw, number, boolean", [
    ("5", 5, None), ("-0", 0, None), ("1.5", 1.5, None), ("1e3", 1000.0, None), ("01", None, None),
    ("1e999", None, None), ("true", None, True), ("false", None, False), ("True", None, None), ("x", None, None),
    ("9" * 30, 1e30, None), (" 5", None, None),
])
def test_loose_values(raw, number, boolean):
    assert search.loose(raw) == Loose(raw, number, boolean)


@pytest.mark.parametrize("name", [
    "variables", "variables.", "variables..a", "variables.a b", "variables.a%", "variables.$enc", "variables.é",
    "variables." + "a" * 65, "variables." + ".".join("a" * 9), "nope", "name.x", "tasks", "variables.*",
])
def test_bad_paths_are_a_400_naming_the_parameter(name):
    problem = bad((f"equals[{name}]", "1"))
    assert problem["path"] == f"equals[{name}]"


def test_text_search_on_a_text_search_field():
    cond = parse(("contains[description]", 'Core  "Site A"  -lab -"dry  Run" router')).conditions[0]
    assert cond.op == "text"
    assert cond.value == TextQuery(("core", "router"), ("site a",), ("lab", "dry run"))
    assert parse(("contains[description]", '"unclosed phrase')).conditions[0].value.phrases == ("unclosed phrase",)
    assert parse(("contains[description]", "-")).conditions[0].value.words == ("-",)
    for raw in ("", "   ", "-only", '-"x y"', '""'):
        assert "not negated" in bad(("contains[description]", raw))["message"]
    assert "at most" in bad(("contains[description]", " ".join(["w"] * 33)))["message"]


@pytest.mark.parametrize("pairs, path", [
    ((("bogus[name]", "x"),), "bogus[name]"),
    ((("equals", "x"),), "equals"),
    ((("equals[name", "x"),), "equals[name"),
    ((("contains[metrics.start_time]", "1"),), "contains[metrics.start_time]"),
    ((("gt[enabled]", "true"),), "gt[enabled]"),
    ((("equals[enabled]", "yes"),), "equals[enabled]"),
    ((("equals[name]", "a\x00b"),), "equals[name]"),
    ((("equals[variables.a]", "a\x00b"),), "equals[variables.a]"),
    ((("in[name]", "a," * 500),), "in[name]"),
    ((("limit", "0"),), "limit"),
    ((("limit", "501"),), "limit"),
    ((("limit", "1" * 5000),), "limit"),
    ((("skip", "-1"),), "skip"),
    ((("skip", str(10**9 + 1)),), "skip"),
    ((("order", "0"),), "order"),
    ((("sort", "variables.a"),), "sort"),
    ((("sort", "variables.*"),), "sort"),
    ((("include", " , "),), "include"),
    ((("include", "name"), ("exclude", "name")), "exclude"),
    ((("dereference", "job"),), "dereference"),
])
def test_bad_parameters(pairs, path):
    assert bad(*pairs)["path"] == path


def test_paging_and_projection():
    q = parse(("limit", "500"), ("skip", "1000000000"), ("order", "-1"), ("sort", "metrics.start_time"),
              ("include", "name,_id"), ("exclude", "_id"), ("token", "t"))
    assert (q.limit, q.skip, q.order, q.sort.name) == (500, 10**9, -1, "metrics.start_time")
    assert q.include == ["name", "_id"] and q.exclude == ["_id"]


def test_dereference_values_are_checked_against_the_known_ones():
    """ops-manager-api §4.6: unknown dereference value → 400 naming it."""
    q = parse(("dereference", "job,accounts.metrics.owner,job"), dereferences=("job", "accounts.metrics.owner"))
    assert q.dereference == ["job", "accounts.metrics.owner"]
    problem = bad(("dereference", "job,jobs"), dereferences=("job",))
    assert problem["path"] == "dereference" and "'jobs'" in problem["message"]


def test_projection_rules():
    doc = {"_id": 1, "name": "n", "metrics": {"a": 1, "b": 2}}
    assert search.project(doc, ["metrics.a"], None) == {"_id": 1, "metrics": {"a": 1}}
    assert search.project(doc, ["name"], ["_id"]) == {"name": "n"}
    assert search.project(doc, None, ["metrics.b", "_id"]) == {"name": "n", "metrics": {"a": 1}}
    assert doc == {"_id": 1, "name": "n", "metrics": {"a": 1, "b": 2}}
