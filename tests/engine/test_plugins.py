"""Task plugins: the `opsmgr.tasks` entry-point group, and the example plugin in examples/ when installed."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
from typing import Any

import pytest
from fastapi.testclient import TestClient

from opsmgr.api.app import create_app
from opsmgr.engine import registry as registry_module
from opsmgr.engine.registry import Outcome, Registry, TaskContext, default_registry, load_plugins
from tests.helpers import create_workflow, start_job, task, wait_for_job, workflow

ADMIN = ("admin", "admin")
HERE = __name__


async def hello(ctx: TaskContext) -> Outcome:
    return Outcome(outputs={"greeting": f"hello {ctx.incoming.get('name')}"})


def good_plugin(registry: Registry) -> None:
    registry.register("Greeter", "hello", hello)
    registry.register("Greeter", "approve", None)  # a plugin may add manual tasks too


def half_broken_plugin(registry: Registry) -> None:
    registry.register("Broken", "first", hello)
    raise RuntimeError("cannot reach the device inventory")


def overriding_plugin(registry: Registry) -> None:
    registry.register("WorkFlowEngine", "stub", hello)  # may not replace a built-in
    registry.register("Override", "extra", hello)


def fake_entry_points(monkeypatch: pytest.MonkeyPatch, *targets: tuple[str, str]) -> None:
    """Make `importlib.metadata.entry_points(group=...)` report only these `(name, module:attr)` plugins."""
    points = [importlib.metadata.EntryPoint(name, value, "opsmgr.tasks") for name, value in targets]

    def entry_points(**params: Any) -> list[importlib.metadata.EntryPoint]:
        return [p for p in points if p.group == params.get("group")]

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)


def test_plugins_are_loaded_from_the_entry_point_group(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_entry_points(monkeypatch, ("greeter", f"{HERE}:good_plugin"))
    registry = default_registry()
    assert registry.get("Greeter", "hello").impl is hello  # type: ignore[union-attr]
    assert registry.get("Greeter", "approve").impl is None  # type: ignore[union-attr]
    assert ("WorkFlowEngine", "stub") in registry.known()  # the built-ins are still there


def test_a_broken_plugin_is_logged_and_skipped(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture):
    fake_entry_points(monkeypatch, ("broken", f"{HERE}:half_broken_plugin"), ("missing", "no_such_module:register"),
                      ("greeter", f"{HERE}:good_plugin"))
    with caplog.at_level(logging.ERROR, logger="opsmgr.engine.plugins"):
        registry = Registry()
        assert load_plugins(registry) == ["greeter"]
    assert registry.known() == {("Greeter", "hello"), ("Greeter", "approve")}  # nothing of the broken one
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "'broken'" in messages and "'missing'" in messages
    assert "cannot reach the device inventory" in caplog.text


def test_a_plugin_cannot_replace_a_registered_task(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_entry_points(monkeypatch, ("override", f"{HERE}:overriding_plugin"))
    registry = default_registry()
    assert registry.get("WorkFlowEngine", "stub").impl is not hello  # type: ignore[union-attr]
    assert registry.get("Override", "extra").impl is hello  # type: ignore[union-attr]


def test_no_plugins_installed_is_fine(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_entry_points(monkeypatch)
    assert load_plugins(Registry()) == []
    assert registry_module.PLUGIN_GROUP == "opsmgr.tasks"


def greeter_workflow() -> dict[str, Any]:
    entry = task("hello", app="Greeter", type_="automatic", name="$var.job.who")
    entry["variables"]["outgoing"] = {"greeting": "$var.job.greeting"}
    return workflow("greet", {"a1": entry}, {"workflow_start": {"a1": "success"}, "a1": {"workflow_end": "success"}})


def test_a_plugin_task_is_rejected_at_import_until_the_plugin_is_installed(db, settings, monkeypatch) -> None:
    fake_entry_points(monkeypatch)
    with TestClient(create_app(settings, db, default_registry())) as client:
        r = client.post("/automation-studio/automations", json={"automation": greeter_workflow()}, auth=ADMIN)
        assert r.status_code == 400 and "Greeter.hello" in r.text

    fake_entry_points(monkeypatch, ("greeter", f"{HERE}:good_plugin"))
    with TestClient(create_app(settings, db, default_registry())) as client:
        create_workflow(client, greeter_workflow())
        job = wait_for_job(client, start_job(client, "greet", {"who": "r1"})["_id"])
        assert job["status"] == "complete" and job["variables"]["greeting"] == "hello r1"


# the example plugin (examples/opsmgr-example-adapter; scripts/test.sh installs it) ---------------------------

needs_example = pytest.mark.skipif(
    importlib.util.find_spec("opsmgr_example_adapter") is None,
    reason="examples/opsmgr-example-adapter is not installed (pip install -e examples/opsmgr-example-adapter)",
)


@needs_example
def test_the_installed_example_plugin_runs_in_a_workflow(client) -> None:
    normalize = task("normalizeInterfaceName", app="ExampleAdapter", type_="automatic", name="$var.job.port")
    normalize["variables"]["outgoing"] = {"interfaceName": "$var.job.interface"}
    contains = task("cidrContains", app="ExampleAdapter", type_="automatic", cidr="10.0.0.0/8",
                    address="$var.job.address")
    contains["variables"]["outgoing"] = {"contains": "$var.job.inside"}
    bad = task("normalizeInterfaceName", app="ExampleAdapter", type_="automatic", name="nonsense")
    handled = task("newVariable", name="handled", value="$var.a3.error")
    doc = workflow(
        "example adapter",
        {"a1": normalize, "a2": contains, "a3": bad, "a4": handled},
        {"workflow_start": {"a1": "success"}, "a1": {"a2": "success"}, "a2": {"a3": "success"},
         "a3": {"a4": "error"}, "a4": {"workflow_end": "success"}},
    )
    create_workflow(client, doc)
    job = wait_for_job(client, start_job(client, "example adapter", {"port": "gi0/1", "address": "10.1.2.3"})["_id"])
    assert job["status"] == "complete", job["error"]
    assert job["variables"]["interface"] == "GigabitEthernet0/1" and job["variables"]["inside"] is True
    assert "nonsense" in job["variables"]["handled"]["message"]
