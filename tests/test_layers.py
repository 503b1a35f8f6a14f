"""Architecture guide, key contract 1: imports point inward. Walks every module's imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "opsmgr"

# what each layer may import from opsmgr (prefixes); anything else of ours is a violation
ALLOWED = {
    "domain": ("opsmgr.domain", "opsmgr.errors"),
    "store": ("opsmgr.store", "opsmgr.domain", "opsmgr.errors"),
    "services": ("opsmgr.services", "opsmgr.domain", "opsmgr.store", "opsmgr.errors", "opsmgr.config"),
    # the outer layers hold a Database handle and run migrations, but never use repositories or SQL
    "engine": ("opsmgr.engine", "opsmgr.services", "opsmgr.domain", "opsmgr.errors", "opsmgr.config",
               "opsmgr.store.database"),
    "api": ("opsmgr.api", "opsmgr.services", "opsmgr.domain", "opsmgr.errors", "opsmgr.config",
            "opsmgr.engine", "opsmgr.store.database", "opsmgr"),
    "cli": ("opsmgr.cli", "opsmgr.services", "opsmgr.domain", "opsmgr.errors", "opsmgr.config",
            "opsmgr.engine", "opsmgr.api", "opsmgr.store.database", "opsmgr.store.migrate"),
}
THIRD_PARTY_BANNED = {
    "domain": ("sqlalchemy", "fastapi", "starlette", "pydantic", "httpx", "alembic"),
    "services": ("fastapi", "starlette", "sqlalchemy"),
    "engine": ("sqlalchemy", "fastapi"),
    "api": ("sqlalchemy",),
    "cli": ("sqlalchemy",),
}


def imports_of(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            names.extend(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def modules(layer: str) -> list[Path]:
    return sorted((SRC / layer).rglob("*.py"))


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layer_imports_point_inward(layer: str) -> None:
    violations = []
    for path in modules(layer):
        for name in imports_of(path):
            if name.startswith("opsmgr") and name != "opsmgr" and not name.startswith(ALLOWED[layer]):
                # `from opsmgr.store import database` appears as opsmgr.store + opsmgr.store.database
                if name in ("opsmgr.store",) and layer in ("engine", "api", "cli"):
                    continue
                violations.append(f"{path.relative_to(SRC)} imports {name}")
            top = name.split(".")[0]
            if top in THIRD_PARTY_BANNED.get(layer, ()):
                violations.append(f"{path.relative_to(SRC)} imports {name}")
    assert not violations, "\n".join(violations)


def test_only_store_imports_sqlalchemy() -> None:
    """Architecture guide: store/ is the only package that imports SQLAlchemy."""
    offenders = [
        f"{path.relative_to(SRC)} imports {name}"
        for path in SRC.rglob("*.py")
        if path.relative_to(SRC).parts[0] != "store"
        for name in imports_of(path)
        if name.split(".")[0] == "sqlalchemy"
    ]
    assert not offenders, "\n".join(offenders)
