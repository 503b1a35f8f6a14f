"""An example opsmgr task plugin: network utility tasks under the app `ExampleAdapter`.

`register(registry)` is the `opsmgr.tasks` entry point named in this package's pyproject.toml.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from opsmgr.engine.registry import Outcome, Registry, TaskContext

APP = "ExampleAdapter"

# short prefix (lower case) -> the long interface name, longest prefixes first when matching
PREFIXES = {
    "hundredgige": "HundredGigE",
    "hu": "HundredGigE",
    "fortygigabitethernet": "FortyGigabitEthernet",
    "fo": "FortyGigabitEthernet",
    "tengigabitethernet": "TenGigabitEthernet",
    "te": "TenGigabitEthernet",
    "gigabitethernet": "GigabitEthernet",
    "gi": "GigabitEthernet",
    "ge": "GigabitEthernet",
    "fastethernet": "FastEthernet",
    "fa": "FastEthernet",
    "ethernet": "Ethernet",
    "eth": "Ethernet",
    "et": "Ethernet",
    "port-channel": "Port-channel",
    "po": "Port-channel",
    "loopback": "Loopback",
    "lo": "Loopback",
    "vlan": "Vlan",
    "vl": "Vlan",
    "tunnel": "Tunnel",
    "tu": "Tunnel",
    "management": "Management",
    "mgmt": "Management",
}
_NAME = re.compile(r"^\s*([A-Za-z][A-Za-z-]*?)\s*(\d[\d/.:]*)\s*$")


def _error(task: str, message: str) -> Outcome:
    return Outcome("error", error={"message": f"{APP}.{task}: {message}"})


def normalize(name: str) -> str | None:
    """`gi0/1` → `GigabitEthernet0/1`; None when the prefix is not a known interface type."""
    match = _NAME.match(name)
    if not match:
        return None
    prefix, number = match.group(1).lower(), match.group(2)
    long_name = PREFIXES.get(prefix)
    if long_name is None:
        # an abbreviation of a long name, as IOS accepts (`Gig0/1`, `TenGig1/0/1`)
        candidates = {v for k, v in PREFIXES.items() if len(prefix) >= 2 and k.startswith(prefix) and len(k) > 4}
        if len(candidates) != 1:
            return None
        long_name = candidates.pop()
    return f"{long_name}{number}"


async def normalize_interface_name(ctx: TaskContext) -> Outcome:
    """`name` (any common abbreviation) → `interfaceName` (the long vendor form)."""
    name = ctx.incoming.get("name")
    if not isinstance(name, str):
        return _error("normalizeInterfaceName", f"name must be a string, got {name!r}")
    normalized = normalize(name)
    if normalized is None:
        return _error("normalizeInterfaceName", f"{name!r} is not a known interface name")
    return Outcome(outputs={"interfaceName": normalized})


def _network(value: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    if not isinstance(value, str):
        raise ValueError(f"must be a string, got {value!r}")
    return ipaddress.ip_network(value.strip(), strict=False)


async def cidr_contains(ctx: TaskContext) -> Outcome:
    """`contains`: whether `address` (an address or a prefix) lies inside `cidr`."""
    try:
        network = _network(ctx.incoming.get("cidr"))
    except ValueError as exc:
        return _error("cidrContains", f"cidr {exc}")
    try:
        address = _network(ctx.incoming.get("address"))
    except ValueError as exc:
        return _error("cidrContains", f"address {exc}")
    inside = address.version == network.version and address.subnet_of(network)  # type: ignore[arg-type]
    return Outcome(outputs={"contains": inside})


def register(registry: Registry) -> None:
    """The `opsmgr.tasks` entry point."""
    registry.register(APP, "normalizeInterfaceName", normalize_interface_name)
    registry.register(APP, "cidrContains", cidr_contains)
