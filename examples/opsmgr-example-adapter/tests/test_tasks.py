"""The example plugin's tasks, called directly, and its entry point as opsmgr loads it."""

from __future__ import annotations

import asyncio
import importlib.metadata
from typing import Any

import pytest
from opsmgr_example_adapter import APP, cidr_contains, normalize_interface_name, register

from opsmgr.engine.registry import Outcome, Registry, TaskContext, default_registry


def run(impl: Any, **incoming: Any) -> Outcome:
    ctx = TaskContext(job_id="j", task_id="t", task_key="a1", incoming=incoming, job_variables={},
                      task_outputs={}, runtime={}, now_ms=0)
    return asyncio.run(impl(ctx))  # type: ignore[no-any-return]


@pytest.mark.parametrize(("short", "long"), [
    ("gi0/1", "GigabitEthernet0/1"),
    ("Gi0/0/1", "GigabitEthernet0/0/1"),
    ("Gig1/2", "GigabitEthernet1/2"),
    ("te1/0/1", "TenGigabitEthernet1/0/1"),
    ("Eth1/1", "Ethernet1/1"),
    ("po10", "Port-channel10"),
    ("Lo0", "Loopback0"),
    ("vlan 100", "Vlan100"),
    ("GigabitEthernet0/1", "GigabitEthernet0/1"),
    ("Gi0/1.100", "GigabitEthernet0/1.100"),
])
def test_normalize_interface_name(short: str, long: str) -> None:
    outcome = run(normalize_interface_name, name=short)
    assert outcome.finish_state == "success" and outcome.outputs == {"interfaceName": long}


@pytest.mark.parametrize("bad", ["xyz0/1", "gi", "", 7, None])
def test_normalize_interface_name_rejects_what_it_cannot_read(bad: Any) -> None:
    outcome = run(normalize_interface_name, name=bad)
    assert outcome.finish_state == "error" and "normalizeInterfaceName" in outcome.error["message"]


@pytest.mark.parametrize(("cidr", "address", "inside"), [
    ("10.0.0.0/8", "10.1.2.3", True),
    ("10.0.0.0/8", "11.1.2.3", False),
    ("10.0.0.0/8", "10.20.0.0/16", True),
    ("10.1.0.0/16", "10.0.0.0/8", False),
    ("192.168.1.7/24", "192.168.1.200", True),  # host bits in the prefix are ignored
    ("2001:db8::/32", "2001:db8::1", True),
    ("10.0.0.0/8", "2001:db8::1", False),
])
def test_cidr_contains(cidr: str, address: str, inside: bool) -> None:
    outcome = run(cidr_contains, cidr=cidr, address=address)
    assert outcome.finish_state == "success" and outcome.outputs == {"contains": inside}


@pytest.mark.parametrize(("cidr", "address", "field"), [("10.0.0.0/33", "10.0.0.1", "cidr"),
                                                          ("10.0.0.0/8", "ten", "address"),
                                                          (None, "10.0.0.1", "cidr")])
def test_cidr_contains_rejects_bad_input(cidr: Any, address: Any, field: str) -> None:
    outcome = run(cidr_contains, cidr=cidr, address=address)
    assert outcome.finish_state == "error" and f"cidrContains: {field}" in outcome.error["message"]


def test_register_adds_both_tasks() -> None:
    registry = Registry()
    register(registry)
    assert registry.known() == {(APP, "normalizeInterfaceName"), (APP, "cidrContains")}


def test_the_installed_entry_point_is_loaded_by_opsmgr() -> None:
    names = [e.name for e in importlib.metadata.entry_points(group="opsmgr.tasks")]
    assert "example-adapter" in names
    known = default_registry().known()
    assert (APP, "normalizeInterfaceName") in known and (APP, "cidrContains") in known
