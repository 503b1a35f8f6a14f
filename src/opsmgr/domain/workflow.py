"""Workflow documents in Itential's export format (workflow-semantics §1): validation and graph queries.

A workflow is `{name, tasks: {key: task}, transitions: {from: {to: {type, state}}}, ...}`. `validate`
lists every problem at once, so an import can be rejected with a 400 naming all of them.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from opsmgr.domain import jst
from opsmgr.domain.documents import unstorable
from opsmgr.domain.ids import TASK_KEY_RE, TERMINATORS

START, END = TERMINATORS
TRANSITION_TYPES = ("standard", "revert")
TRANSITION_STATES = ("success", "error", "failure", "loop")
MAX_NAME = 500  # the name column's size; jobs carry the name too


def _problem(path: str, message: str) -> dict[str, str]:
    return {"path": path, "message": message}


def _transformation_problems(path: str, incoming: Mapping[str, Any]) -> list[dict[str, str]]:
    """A transformation task must embed a JST opsmgr can run (domain.jst): there is no JST store yet."""
    doc, where = incoming.get("transformation"), f"{path}.variables.incoming.transformation"
    if isinstance(doc, str) and doc.startswith("$var."):
        return []  # supplied at run time; checked then
    if not isinstance(doc, Mapping):
        if incoming.get("tr_id"):
            return [_problem(f"{path}.variables.incoming.tr_id", "transformation documents by tr_id are not "
                             "supported yet; embed the JST as incoming.transformation")]
        return [_problem(where, "a transformation task needs its JST document as incoming.transformation")]
    return [_problem(f"{where}.{p['path']}" if p["path"] else where, p["message"]) for p in jst.problems(doc)]


def validate(doc: object, known_tasks: Collection[tuple[str, str]]) -> list[dict[str, str]]:
    """Every problem that would stop `doc` from running, as `{path, message}`; empty when valid."""
    if not isinstance(doc, Mapping):
        return [_problem("", "a workflow must be a JSON object")]
    problems: list[dict[str, str]] = []
    name = doc.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append(_problem("name", "a workflow needs a non-empty name"))
    elif len(name) > MAX_NAME:
        problems.append(_problem("name", f"a workflow name has at most {MAX_NAME} characters"))
    problems.extend(unstorable(doc))
    tasks = doc.get("tasks")
    transitions = doc.get("transitions")
    if not isinstance(tasks, Mapping):
        problems.append(_problem("tasks", "tasks must be an object keyed by task id"))
        tasks = {}
    if not isinstance(transitions, Mapping):
        problems.append(_problem("transitions", "transitions must be an object keyed by task id"))
        transitions = {}
    for terminator in TERMINATORS:
        if terminator not in tasks:
            problems.append(_problem(f"tasks.{terminator}", f"every workflow needs a {terminator} task"))

    for key, task in tasks.items():
        path = f"tasks.{key}"
        if key not in TERMINATORS and not TASK_KEY_RE.match(str(key)):
            problems.append(_problem(path, "task id must be 1-4 lowercase hex characters"))
        if not isinstance(task, Mapping):
            problems.append(_problem(path, "a task must be an object"))
            continue
        if key not in transitions:
            problems.append(_problem(f"transitions.{key}", "task has no transitions entry (use {} for none)"))
        if key in TERMINATORS:
            continue
        app, method = task.get("app"), task.get("name")
        if not isinstance(app, str) or not isinstance(method, str):
            problems.append(_problem(path, "a task needs string app and name"))
        elif (app, method) not in known_tasks:
            problems.append(_problem(path, f"unknown task {app}.{method}"))
        if task.get("type") == "manual" and not task.get("view"):
            problems.append(_problem(f"{path}.view", "a manual task needs a view"))
        variables = task.get("variables", {})
        if not isinstance(variables, Mapping) or not isinstance(variables.get("incoming", {}), Mapping):
            problems.append(_problem(f"{path}.variables", "variables.incoming must be an object"))
        elif (app, method) == ("WorkFlowEngine", "transformation"):
            problems.extend(_transformation_problems(path, variables.get("incoming") or {}))

    for source, targets in transitions.items():
        if not isinstance(targets, Mapping):
            problems.append(_problem(f"transitions.{source}", "must be an object of target task ids"))
            continue
        if source not in tasks and targets:
            problems.append(_problem(f"transitions.{source}", f"transitions from unknown task {source}"))
        for target, spec in targets.items():
            path = f"transitions.{source}.{target}"
            if target not in tasks:
                problems.append(_problem(path, f"transition to unknown task {target}"))
            if not isinstance(spec, Mapping):
                problems.append(_problem(path, "a transition must be {type, state}"))
                continue
            if spec.get("type") not in TRANSITION_TYPES:
                problems.append(_problem(f"{path}.type", "type must be standard or revert"))
            if spec.get("state") not in TRANSITION_STATES:
                problems.append(_problem(f"{path}.state", "state must be success, error, failure or loop"))

    # the graph checks run on the well-formed part too, so one answer lists every problem
    graph = Graph.of(_well_formed(tasks, transitions))
    reachable = graph.reachable_from(START) if START in tasks else set(tasks)
    for key in tasks:
        if key not in reachable:
            problems.append(_problem(f"tasks.{key}", f"task {key} is unreachable from workflow_start"))
    cycle = graph.standard_cycle()
    if cycle:
        problems.append(
            _problem("transitions", "standard transitions form a cycle: " + " -> ".join(cycle))
        )
    problems.extend(_loop_problems(graph, tasks))
    return problems


def loop_bodies(graph: Graph) -> dict[str, set[str]]:
    """forEach key -> the tasks of its loop body: the targets of its `loop` transitions and every task
    reached from them by standard transitions (the body ends at tasks with no outgoing transition)."""
    bodies: dict[str, set[str]] = {}
    for key in graph.tasks:
        starts = [e.target for e in graph.outgoing[key] if e.state == "loop"]
        if not starts:
            continue
        body, todo = set(starts), list(starts)
        while todo:
            for edge in graph.outgoing[todo.pop()]:
                if edge.type == "standard" and edge.state != "loop" and edge.target not in body:
                    body.add(edge.target)
                    todo.append(edge.target)
        bodies[key] = body - {key}
    return bodies


def _loop_problems(graph: Graph, tasks: Mapping[str, Any]) -> list[dict[str, str]]:
    """forEach loops the engine can run: `loop` leaves only a forEach, and its body (what the loop
    transition leads to) neither reaches workflow_end nor is entered from outside it."""
    problems = []
    for key, body in loop_bodies(graph).items():
        task = tasks.get(key)
        if not isinstance(task, Mapping) or task.get("name") != "forEach":
            problems.append(_problem(f"transitions.{key}", "a loop transition can only leave a forEach task"))
            continue
        if END in body:
            problems.append(_problem(f"transitions.{key}", f"the loop body of forEach {key} reaches workflow_end; "
                                     "its last task must have no transition"))
        for member in sorted(body - {END}):
            outside = sorted(e.source for e in graph.standard_in(member) if e.source not in body)
            if outside:
                problems.append(_problem(f"transitions.{outside[0]}", f"task {member} is in the loop body of "
                                         f"forEach {key} and cannot be reached from outside it"))
    return problems


def _well_formed(tasks: Mapping[str, Any], transitions: Mapping[str, Any]) -> dict[str, Any]:
    """The tasks and the valid transitions between them, for graph checks of a flawed document."""
    kept: dict[str, dict[str, Any]] = {key: {} for key in tasks}
    for source, targets in transitions.items():
        if source not in tasks or not isinstance(targets, Mapping):
            continue
        for target, spec in targets.items():
            if (
                target in tasks
                and isinstance(spec, Mapping)
                and spec.get("type") in TRANSITION_TYPES
                and spec.get("state") in TRANSITION_STATES
            ):
                kept[source][target] = spec
    return {"tasks": tasks, "transitions": kept}


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    type: str
    state: str


@dataclass
class Graph:
    """Adjacency of a workflow's transitions, precomputed for the engine."""

    tasks: Mapping[str, Mapping[str, Any]]
    outgoing: dict[str, list[Edge]] = field(default_factory=dict)
    incoming: dict[str, list[Edge]] = field(default_factory=dict)

    @classmethod
    def of(cls, doc: Mapping[str, Any]) -> Graph:
        tasks: Mapping[str, Mapping[str, Any]] = doc["tasks"]
        graph = cls(tasks)
        for key in tasks:
            graph.outgoing[key] = []
            graph.incoming[key] = []
        for source, targets in doc["transitions"].items():
            if source not in tasks:
                continue
            for target, spec in targets.items():
                edge = Edge(source, target, spec["type"], spec["state"])
                graph.outgoing[source].append(edge)
                graph.incoming[target].append(edge)
        return graph

    def standard_out(self, key: str, state: str) -> list[str]:
        """Targets of the standard transitions leaving `key` on `state`."""
        return [e.target for e in self.outgoing[key] if e.type == "standard" and e.state == state]

    def standard_in(self, key: str) -> list[Edge]:
        return [e for e in self.incoming[key] if e.type == "standard" and e.state != "loop"]

    def reachable_from(self, start: str) -> set[str]:
        seen, todo = {start}, [start]
        while todo:
            for edge in self.outgoing[todo.pop()]:
                if edge.target not in seen:
                    seen.add(edge.target)
                    todo.append(edge.target)
        return seen

    def standard_cycle(self) -> list[str] | None:
        """A cycle made of standard transitions, if any (the canvas forbids them)."""
        color: dict[str, int] = {}
        stack: list[str] = []

        def visit(key: str) -> list[str] | None:
            color[key] = 1
            stack.append(key)
            for edge in self.outgoing[key]:
                if edge.type != "standard" or edge.state == "loop":
                    continue
                if color.get(edge.target) == 1:
                    return [*stack[stack.index(edge.target) :], edge.target]
                if edge.target not in color:
                    found = visit(edge.target)
                    if found:
                        return found
            stack.pop()
            color[key] = 2
            return None

        for key in self.tasks:
            if key not in color:
                found = visit(key)
                if found:
                    return found
        return None

    def topological(self) -> list[str]:
        """Task keys ordered so that every standard predecessor comes first."""
        order: list[str] = []
        indegree = {k: len(self.standard_in(k)) for k in self.tasks}
        ready = [k for k, n in indegree.items() if n == 0]
        while ready:
            key = ready.pop()
            order.append(key)
            for edge in self.outgoing[key]:
                if edge.type == "standard" and edge.state != "loop":
                    indegree[edge.target] -= 1
                    if indegree[edge.target] == 0:
                        ready.append(edge.target)
        return order
