"""The `transformation` task (WorkFlowEngine; workflow-semantics §3.6): run a JST document.

Itential runs the JST stored under `tr_id`. opsmgr has no JST store yet, so the document is embedded in
the task: `incoming.transformation` (an object, or a whole-value `$var` reference to one). Workflow import
refuses a task with only a `tr_id`, and any JST construct outside the subset of `opsmgr.domain.jst`.

Incoming: `transformation` (the JST), `variableMap` (incoming `$id` → value; a `"$var.job.x"` or
`"$var.<task>.x"` value there is resolved, one level deep, as on Itential §1.5), `options`
(`extractOutput`, `validateIncoming`, `revertToDefaultValue`: accepted, not used). Outgoing: one variable
per outgoing `$id` of the JST (null when the JST assigns nothing to it). A method that gets a value it
cannot work on (e.g. `String.split` on a number) ends the task in `error`.
"""

from __future__ import annotations

from collections.abc import Mapping

from opsmgr.domain import jst
from opsmgr.domain.variables import resolve
from opsmgr.engine.library import bad, type_name
from opsmgr.engine.registry import Outcome, TaskContext


async def transformation(ctx: TaskContext) -> Outcome:
    """Map `variableMap` through the embedded JST; each outgoing field becomes an output."""
    doc = ctx.incoming.get("transformation")
    if not isinstance(doc, Mapping):
        if ctx.incoming.get("tr_id"):
            return bad("transformation", "tr_id", "is not supported yet; embed the JST as incoming.transformation")
        return bad("transformation", "transformation", f"must be a JST document (object), got {type_name(doc)}")
    variable_map = ctx.incoming.get("variableMap") or {}
    if not isinstance(variable_map, Mapping):
        return bad("transformation", "variableMap", f"must be an object, got {type_name(variable_map)}")
    values = {key: resolve(value, ctx.job_variables, ctx.task_outputs) for key, value in variable_map.items()}
    try:
        return Outcome(outputs=jst.run(doc, values))
    except jst.JSTError as exc:
        return bad("transformation", "transformation", str(exc))
