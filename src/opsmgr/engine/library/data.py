"""Object and job tasks: updateJobDescription, deepmerge, decision, makeData, modify, setObjectKey.

Names and sources (docs.itential.com task references unless noted):
- `updateJobDescription`: `description` → `description` (observed in real exports, §3.6). Sets the job's
  `description` through `Outcome.job_description`.
- `deepmerge`: `data_to_merge: [{key, value: {task, variable}}]` → `merged_object`, like `merge`. `key` is
  ignored (docs). Objects are merged recursively, the later one winning a conflict; inputs that are not
  objects are ignored (docs, since 2023.1). Arrays met at the same key are concatenated, as the npm
  `deepmerge` package does by default (our reading: the docs say nothing about nested arrays).
- `decision` (deprecated, §3.6: `decisionArray` → `return_value`, "next task id"). Our reading, since no
  public schema was found: `decisionArray` is a list of branches
  `{"all_true_flag": bool = true, "evaluations": [<evaluation items>], "nextTask": "<task key>"}`; the
  first branch whose evaluations hold (an empty list always holds, so a last branch without evaluations is
  the default) gives `success` with `return_value` = its `nextTask`; none → `failure`, `return_value`
  null. opsmgr routes by finish state, so the job follows the task's success/failure transitions; the
  chosen task key is reported, not jumped to.
- `makeData`: `input` (string with `<!name!>` placeholders), `variables` (object), `outputType`
  (`string`|`json`|`number`|`boolean`, default `string`) → `output` (§3.6). A string value is put in as it
  is, any other value as JSON text. A placeholder with no variable, or a result that does not convert to
  `outputType`, is an error naming it.
- `modify`: `object_to_update`, `query` (optional), `new_value` → `updated_object` (docs). Without a query,
  or when `object_to_update` is not an object, `updated_object` is `new_value`. With one, a copy of the
  object gets `new_value` at that path (dotted keys / `:get(key)`; missing keys are created). Like
  Itential, it does not step into arrays: a path through an array is an error.
- `setObjectKey`: `obj` (object), `path` (array of keys/indexes, or a dotted string), `value` (docs) →
  `updatedObject` (our name: the docs page we found lists no outgoing variable). Missing parts of the
  path are created (an array when the next part is an integer), as lodash `_.set` does.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from typing import Any

from opsmgr.engine.builtins import compare, reference
from opsmgr.engine.library import bad, integer, type_name
from opsmgr.engine.library.query import QueryError, parse
from opsmgr.engine.registry import Outcome, TaskContext

PLACEHOLDER = re.compile(r"<!([^!<>]+)!>")
OUTPUT_TYPES = ("string", "json", "number", "boolean")


async def update_job_description(ctx: TaskContext) -> Outcome:
    """Overwrite the job's description with `description`."""
    description = ctx.incoming.get("description")
    if not isinstance(description, str):
        return bad("updateJobDescription", "description", f"must be a string, got {type_name(description)}")
    return Outcome(outputs={"description": description}, job_description=description)


def deep_merge(left: dict[str, Any], right: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(left)
    for key, value in right.items():
        current = merged.get(key)
        if isinstance(current, dict) and isinstance(value, Mapping):
            merged[key] = deep_merge(current, value)
        elif isinstance(current, list) and isinstance(value, list):
            merged[key] = [*current, *copy.deepcopy(value)]
        else:
            merged[key] = copy.deepcopy(value)
    return merged


async def deepmerge(ctx: TaskContext) -> Outcome:
    """Fold the objects of `data_to_merge` together, recursively; non-objects are ignored."""
    items = ctx.incoming.get("data_to_merge")
    if items is None:
        items = []
    if not isinstance(items, list):
        return bad("deepmerge", "data_to_merge", f"must be a list, got {type_name(items)}")
    merged: dict[str, Any] = {}
    for i, item in enumerate(items):
        if not isinstance(item, Mapping) or not isinstance(item.get("value"), Mapping):
            return bad("deepmerge", f"data_to_merge[{i}]", "must be {key, value: {task, variable}}")
        value = reference(item["value"], ctx)
        if isinstance(value, Mapping):
            merged = deep_merge(merged, value)
    return Outcome(outputs={"merged_object": merged})


async def decision(ctx: TaskContext) -> Outcome:
    """Deprecated multi-way branch: the first branch of `decisionArray` that holds names the next task."""
    branches = ctx.incoming.get("decisionArray")
    if not isinstance(branches, list):
        return bad("decision", "decisionArray", f"must be a list of branches, got {type_name(branches)}")
    for i, branch in enumerate(branches):
        if not isinstance(branch, Mapping):
            return bad("decision", f"decisionArray[{i}]", f"must be an object, got {type_name(branch)}")
        evaluations = branch.get("evaluations") or []
        if not isinstance(evaluations, list) or not all(isinstance(e, Mapping) for e in evaluations):
            return bad("decision", f"decisionArray[{i}].evaluations", "must be a list of evaluations")
        try:
            checks = [
                compare(reference(e.get("operand_1"), ctx), e.get("operator", "=="), reference(e.get("operand_2"), ctx))
                for e in evaluations
            ]
        except ValueError as exc:
            return bad("decision", f"decisionArray[{i}]", f"has a bad evaluation: {exc}")
        held = all(checks) if branch.get("all_true_flag", True) else any(checks)
        if held or not checks:
            return Outcome(outputs={"return_value": branch.get("nextTask")})
    return Outcome("failure", {"return_value": None})


async def make_data(ctx: TaskContext) -> Outcome:
    """Fill the `<!name!>` placeholders of `input` from `variables` and convert to `outputType`."""
    template = ctx.incoming.get("input")
    if not isinstance(template, str):
        return bad("makeData", "input", f"must be a string, got {type_name(template)}")
    variables = ctx.incoming.get("variables")
    if variables is None:
        variables = {}
    if not isinstance(variables, Mapping):
        return bad("makeData", "variables", f"must be an object, got {type_name(variables)}")
    output_type = ctx.incoming.get("outputType") or "string"
    if output_type not in OUTPUT_TYPES:
        return bad("makeData", "outputType", f"must be one of {', '.join(OUTPUT_TYPES)}, got {output_type!r}")
    missing = sorted({m.group(1) for m in PLACEHOLDER.finditer(template) if m.group(1) not in variables})
    if missing:
        return bad("makeData", "variables", f"has no value for {', '.join(f'<!{n}!>' for n in missing)}")

    def fill(match: re.Match[str]) -> str:
        value = variables[match.group(1)]
        return value if isinstance(value, str) else json.dumps(value)

    text = PLACEHOLDER.sub(fill, template)
    if output_type == "string":
        return Outcome(outputs={"output": text})
    if output_type == "json":
        try:
            return Outcome(outputs={"output": json.loads(text)})
        except ValueError as exc:
            return bad("makeData", "input", f"does not make valid JSON ({exc}): {text[:200]!r}")
    if output_type == "number":
        try:
            number = float(text.strip())
        except ValueError:
            return bad("makeData", "input", f"does not make a number: {text[:200]!r}")
        if number != number or number in (float("inf"), float("-inf")):
            return bad("makeData", "input", f"does not make a finite number: {text[:200]!r}")
        return Outcome(outputs={"output": int(number) if number.is_integer() else number})
    flag = text.strip().lower()
    if flag not in ("true", "false"):
        return bad("makeData", "input", f"does not make a boolean (true or false): {text[:200]!r}")
    return Outcome(outputs={"output": flag == "true"})


async def modify(ctx: TaskContext) -> Outcome:
    """A copy of `object_to_update` with `new_value` at `query` (or `new_value` itself)."""
    target = ctx.incoming.get("object_to_update")
    expression = ctx.incoming.get("query")
    new_value = ctx.incoming.get("new_value")
    if expression is not None and not isinstance(expression, str):
        return bad("modify", "query", f"must be a string, got {type_name(expression)}")
    if not expression or not expression.strip() or not isinstance(target, Mapping):
        return Outcome(outputs={"updated_object": copy.deepcopy(new_value)})
    try:
        steps = parse(expression)
    except QueryError as exc:
        return bad("modify", "query", str(exc))
    if any(step.kind != "key" for step in steps):
        return bad("modify", "query", f"may only name object keys (modify does not change arrays): {expression!r}")
    updated = copy.deepcopy(dict(target))
    node: Any = updated
    for depth, step in enumerate(steps[:-1]):
        child = node.get(step.key)
        if child is None:
            child = node[step.key] = {}
        if not isinstance(child, dict):
            where = ".".join(s.key for s in steps[: depth + 1])
            return bad("modify", "query", f"goes through {where!r}, which is a {type_name(child)}, not an object")
        node = child
    node[steps[-1].key] = copy.deepcopy(new_value)
    return Outcome(outputs={"updated_object": updated})


def _path(value: Any) -> list[str | int] | None:
    if isinstance(value, str):
        parts: list[str | int] = []
        for piece in re.findall(r"[^.\[\]]+", value):
            number = integer(piece) if re.fullmatch(r"\d+", piece) else None
            parts.append(piece if number is None else number)
        return parts or None
    if isinstance(value, list) and value and all(isinstance(p, str | int) and not isinstance(p, bool) for p in value):
        return list(value)
    return None


async def set_object_key(ctx: TaskContext) -> Outcome:
    """Set `value` at `path` in a copy of `obj`, creating the path as needed."""
    obj = ctx.incoming.get("obj")
    if not isinstance(obj, Mapping):
        return bad("setObjectKey", "obj", f"must be an object, got {type_name(obj)}")
    path = _path(ctx.incoming.get("path"))
    if path is None:
        return bad("setObjectKey", "path", f"must be a non-empty array of keys, got {ctx.incoming.get('path')!r}")
    updated = copy.deepcopy(dict(obj))
    node: Any = updated
    for i, part in enumerate(path):
        last = i == len(path) - 1
        fresh: Any = None if last else ([] if isinstance(path[i + 1], int) else {})
        if isinstance(node, dict):
            key = str(part)
            if last:
                node[key] = copy.deepcopy(ctx.incoming.get("value"))
            elif not isinstance(node.get(key), dict | list):
                node[key] = fresh
            node = node[key]
        elif isinstance(node, list) and isinstance(part, int) and part >= 0:
            while len(node) <= part:
                node.append(None)
            if last:
                node[part] = copy.deepcopy(ctx.incoming.get("value"))
            elif not isinstance(node[part], dict | list):
                node[part] = fresh
            node = node[part]
        else:
            return bad("setObjectKey", "path", f"element {part!r} cannot index an array")
    return Outcome(outputs={"updatedObject": updated})
