"""JSON Pointers (RFC 6901) and the `encryption` decorators that name them (workflow-semantics §4).

A pointer is `""` (the whole document) or a sequence of `/`-prefixed reference tokens, where `~1` stands
for `/` and `~0` for `~` (unescaped in that order, so `~01` is the text `~1`). An array index is `0` or a
number without leading zeros. Pure functions: nothing here mutates its arguments.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from opsmgr.errors import Invalid

MISSING: Any = object()


def escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def parse(pointer: Any) -> list[str]:
    """The unescaped reference tokens of `pointer`; Invalid when it is not an RFC 6901 pointer."""
    if not isinstance(pointer, str) or (pointer and not pointer.startswith("/")):
        raise Invalid(f"{pointer!r} is not a JSON pointer: it must be empty or start with '/'")
    if not pointer:
        return []
    raw = pointer[1:].split("/")
    for token in raw:
        rest = token.replace("~0", "").replace("~1", "")
        if "~" in rest:
            raise Invalid(f"{pointer!r} is not a JSON pointer: '~' must be followed by 0 or 1")
    return [unescape(t) for t in raw]


def join(tokens: list[str] | tuple[str, ...]) -> str:
    return "".join("/" + escape(t) for t in tokens)


def _index(token: str, size: int) -> int | None:
    if token == "0" or (token.isdigit() and token.isascii() and not token.startswith("0")):
        index = int(token)
        return index if index < size else None
    return None


def _child(value: Any, token: str) -> Any:
    if isinstance(value, Mapping):
        return value.get(token, MISSING)
    if isinstance(value, list):
        index = _index(token, len(value))
        return MISSING if index is None else value[index]
    return MISSING


def get(document: Any, pointer: str, default: Any = None) -> Any:
    """The value `pointer` refers to in `document`, or `default` when there is none."""
    value = document
    for token in parse(pointer):
        value = _child(value, token)
        if value is MISSING:
            return default
    return value


def has(document: Any, pointer: str) -> bool:
    return get(document, pointer, MISSING) is not MISSING


def replace(document: Any, pointer: str, change: Callable[[Any], Any]) -> Any:
    """A copy of `document` in which the value at `pointer` is `change(value)`. Only the containers on the
    way are copied; when nothing is at `pointer`, `document` itself comes back unchanged."""
    return _replace(document, parse(pointer), change)


def _replace(value: Any, tokens: list[str], change: Callable[[Any], Any]) -> Any:
    if not tokens:
        return change(value)
    head, rest = tokens[0], tokens[1:]
    child = _child(value, head)
    if child is MISSING:
        return value
    new = _replace(child, rest, change)
    if new is child:
        return value
    if isinstance(value, Mapping):
        return {**value, head: new}
    copy = list(value)
    copy[int(head)] = new
    return copy


def set_value(document: Any, pointer: str, new: Any) -> Any:
    """A copy of `document` with `new` at `pointer` (which must already exist, or name a new key of an
    existing object). `document` itself comes back when the parent does not exist."""
    tokens = parse(pointer)
    if not tokens:
        return new
    parent, last = tokens[:-1], tokens[-1]

    def put(container: Any) -> Any:
        if isinstance(container, Mapping):
            return {**container, last: new}
        if isinstance(container, list):
            index = _index(last, len(container))
            if index is not None:
                return [*container[:index], new, *container[index + 1:]]
        return container

    return _replace(document, parent, put)


def walk(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every (pointer, value) of a JSON document, the document itself first, then depth first."""
    yield prefix, value
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from walk(item, f"{prefix}/{escape(str(key))}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from walk(item, f"{prefix}/{i}")


def encryption_pointers(decorators: Any) -> list[str]:
    """The pointers of the `encryption` entries of a decorators list (other entries, e.g. `query`, and
    malformed ones are left out; `check_decorators` reports the malformed ones)."""
    found = []
    for entry in decorators if isinstance(decorators, list) else []:
        if isinstance(entry, Mapping) and entry.get("type") == "encryption":
            pointer = entry.get("pointer")
            try:
                parse(pointer)
            except Invalid:
                continue
            found.append(str(pointer))
    return found


def check_decorators(decorators: Any, path: str) -> list[dict[str, str]]:
    """`{path, message}` for each `encryption` decorator whose pointer is not a JSON pointer."""
    problems = []
    for i, entry in enumerate(decorators if isinstance(decorators, list) else []):
        if isinstance(entry, Mapping) and entry.get("type") == "encryption":
            try:
                parse(entry.get("pointer"))
            except Invalid as exc:
                problems.append({"path": f"{path}.{i}.pointer", "message": exc.message})
    return problems


def under(pointer: str, base: str) -> str | None:
    """The rest of `pointer` below `base` (`/variables/a~1b` under `/variables` → `/a~1b`), else None."""
    if pointer == base:
        return ""
    if pointer.startswith(base + "/"):
        return pointer[len(base):]
    return None
