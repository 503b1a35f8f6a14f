"""Compiles a parsed search `Query` (opsmgr.domain.search) into SQLAlchemy Core clauses."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Table, and_, true

from opsmgr.domain.search import Condition, Query


def condition_clause(table: Table, cond: Condition) -> ColumnElement[bool]:
    col = table.c[cond.field.column]
    op, value = cond.op, cond.value
    if op == "equals":
        return col == value
    if op == "in":
        return col.in_(value)
    if op == "not-in":
        return (col.not_in(value)) | col.is_(None)
    if op == "contains":
        return col.contains(value, autoescape=True)
    if op == "starts-with":
        return col.startswith(value, autoescape=True)
    if op == "ends-with":
        return col.endswith(value, autoescape=True)
    if op == "gt":
        return col > value
    if op == "gte":
        return col >= value
    if op == "lt":
        return col < value
    if op == "lte":
        return col <= value
    if op == "exists":
        return col.is_not(None) if value else col.is_(None)
    raise AssertionError(op)


def where_clause(table: Table, query: Query) -> ColumnElement[bool]:
    clauses = [condition_clause(table, c) for c in query.conditions]
    return and_(true(), *clauses)


def order_by(table: Table, query: Query, tie_break: str = "id") -> list[Any]:
    """Sort column then the primary key, so pages are stable under ties."""
    assert query.sort is not None
    col = table.c[query.sort.column]
    key = table.c[tie_break]
    if query.order == -1:
        return [col.desc(), key.desc()]
    return [col.asc(), key.asc()]
