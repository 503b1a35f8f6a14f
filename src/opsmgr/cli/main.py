"""`opsmgr`: serve, worker, db, users, groups, workflows, automations. Commands work on the database directly."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from opsmgr.config import Settings
from opsmgr.errors import OpsmgrError
from opsmgr.store.database import Database

app = typer.Typer(help="opsmgr: an operations manager with people in the loop.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
users_app = typer.Typer(help="Local user accounts.", no_args_is_help=True)
groups_app = typer.Typer(help="Groups.", no_args_is_help=True)
workflows_app = typer.Typer(help="Workflows.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(groups_app, name="groups")
app.add_typer(workflows_app, name="workflows")
automations_app = typer.Typer(help="Automations and their triggers.", no_args_is_help=True)
app.add_typer(automations_app, name="automations")
console = Console()
err = Console(stderr=True)


def _setup_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")


def _prepared_db(settings: Settings) -> Database:
    """Open the database, apply migrations and create the built-in roles and admin."""
    from opsmgr.services.auth import bootstrap
    from opsmgr.store.migrate import upgrade

    db = Database(settings.database_url, pool_size=settings.db_pool_size)
    upgrade(db)
    bootstrap(db, settings)
    return db


@contextmanager
def _open_db() -> Iterator[Database]:
    """A prepared database for one command, closed when the command ends."""
    db = _prepared_db(Settings())
    try:
        yield db
    finally:
        db.dispose()


def _fail(exc: OpsmgrError) -> None:
    err.print(f"[red]error:[/red] {exc.message}")
    for problem in exc.details.get("errors", []):
        err.print(f"  {problem['path']}: {problem['message']}")
    raise typer.Exit(1)


@app.command()
def serve(
    host: str = typer.Option(None, help="address to listen on (default 127.0.0.1, env OPSMGR_HOST)"),
    port: int = typer.Option(None, help="port (default 3000, env OPSMGR_PORT)"),
    demo: bool = typer.Option(False, "--demo", help="on an empty database, create demo users, a workflow and jobs"),
) -> None:
    """Run the API server with the embedded engine."""
    import uvicorn

    from opsmgr.api.app import create_app
    from opsmgr.engine.registry import default_registry
    from opsmgr.services import demo as demo_data
    from opsmgr.services import secrets

    settings = Settings()
    if host:
        settings.host = host
    if port:
        settings.port = port
    _setup_logging(settings.log_level)
    try:
        secrets.ensure_key(settings)  # created with mode 0600 on first start; a bad key file stops here
    except OpsmgrError as exc:
        _fail(exc)
    db = _prepared_db(settings)
    registry = default_registry()
    if demo and demo_data.seed(db, registry.known()):
        logging.getLogger("opsmgr").info(
            "demo data created: users alice, bob (NetOps), carol (apiread), dave (operations); password 'demo'"
        )
    application = create_app(settings, db, registry)
    # The app, its routes and SQLAlchemy's metadata live as long as the process: keep them out of the
    # cyclic collector's generations so a full collection under load does not stall every request.
    gc.collect()
    gc.freeze()
    try:
        uvicorn.run(
            application, host=settings.host, port=settings.port, log_level=settings.log_level, access_log=False,
            timeout_graceful_shutdown=10,
        )
    finally:
        db.dispose()


@app.command()
def worker() -> None:
    """Run only the engine (no HTTP), e.g. on extra nodes sharing one PostgreSQL."""
    from opsmgr.engine.registry import default_registry
    from opsmgr.engine.runtime import Engine
    from opsmgr.services import secrets

    settings = Settings()
    _setup_logging(settings.log_level)
    secrets.configure(settings)  # the server's key (OPSMGR_KEY_FILE), read when a task first needs it
    db = _prepared_db(settings)

    async def run() -> None:
        engine = Engine(db, settings, default_registry())
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await engine.start()
        logging.getLogger("opsmgr").info("engine worker %s running", settings.server_id)
        await stop.wait()
        await engine.stop()

    asyncio.run(run())


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the migrations (and create the built-in roles and the admin account)."""
    from opsmgr.store.migrate import current_revision

    _setup_logging("warning")
    with _open_db() as db:
        console.print(f"database at revision {current_revision(db)}")


@users_app.command("add")
def users_add(
    name: str,
    password: str = typer.Option(..., "--password", help="the account's password"),
    role: list[str] = typer.Option([], "--role", help="a role name (repeatable)"),
    group: list[str] = typer.Option([], "--group", help="a group name (repeatable)"),
) -> None:
    """Create a local account."""
    from opsmgr.services import accounts

    with _open_db() as db:
        try:
            doc = accounts.create_account(db, name, password, role, group)
        except OpsmgrError as exc:
            _fail(exc)
        console.print(f"created user {name} ({doc['_id']})")


@users_app.command("list")
def users_list() -> None:
    from opsmgr.services import accounts

    with _open_db() as db:
        table = Table("id", "username", "roles", "groups", "inactive")
        for acct in accounts.list_accounts(db, 0, 10_000)["results"]:
            table.add_row(acct["_id"], acct["username"], str(len(acct["assignedRoles"])), str(len(acct["memberOf"])),
                          str(acct["inactive"]))
        console.print(table)


@groups_app.command("add")
def groups_add(
    name: str,
    role: list[str] = typer.Option([], "--role", help="a role name (repeatable)"),
    description: str = typer.Option("", help="what the group is for"),
) -> None:
    """Create a group."""
    from opsmgr.services import accounts

    with _open_db() as db:
        try:
            doc = accounts.create_group(db, name, description, role)
        except OpsmgrError as exc:
            _fail(exc)
        console.print(f"created group {name} ({doc['_id']})")


@groups_app.command("list")
def groups_list() -> None:
    from opsmgr.services import accounts

    with _open_db() as db:
        table = Table("id", "name", "members", "description")
        for g in accounts.list_groups(db, 0, 10_000)["results"]:
            table.add_row(g["_id"], g["name"], str(len(g["members"])), g["description"])
        console.print(table)


@workflows_app.command("import")
def workflows_import(files: list[Path]) -> None:
    """Import workflow JSON files (each a workflow, or a list of them); all or nothing."""
    from opsmgr.engine.registry import default_registry
    from opsmgr.services import auth, workflows

    docs: list[object] = []
    for path in files:
        try:
            loaded = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            err.print(f"[red]error:[/red] {path}: {exc}")
            raise typer.Exit(1) from None
        docs.extend(loaded if isinstance(loaded, list) else [loaded])
    with _open_db() as db:
        try:
            imported = workflows.import_workflows(db, auth.system_principal(db), docs, default_registry().known())
        except OpsmgrError as exc:
            _fail(exc)
        for wf in imported:
            console.print(f"imported workflow {wf['name']} ({wf['_id']})")


@automations_app.command("export")
def automations_export(automation_id: str) -> None:
    """Print the portable export of an automation: its triggers, its groups and its workflow document."""
    from opsmgr.services import auth, automations, workflows

    with _open_db() as db:
        try:
            doc = automations.export_automation(db, auth.system_principal(db), automation_id)
            if doc.get("componentName"):
                doc["workflow"] = workflows.get_workflow_by_name(db, doc["componentName"])
        except OpsmgrError as exc:
            _fail(exc)
    print(json.dumps(doc, indent=2, sort_keys=True))


@automations_app.command("import")
def automations_import(file: Path) -> None:
    """Import an `automations export` file (or a list of them): the workflow when none has its name,
    then the automation with its triggers; groups are matched by id, then by name."""
    from opsmgr.engine.registry import default_registry
    from opsmgr.errors import NotFound
    from opsmgr.services import auth, automations, workflows

    try:
        loaded = json.loads(file.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        err.print(f"[red]error:[/red] {file}: {exc}")
        raise typer.Exit(1) from None
    items = loaded if isinstance(loaded, list) else [loaded]
    failed = False
    with _open_db() as db:
        admin = auth.system_principal(db)
        for item in items:
            if not isinstance(item, dict):
                err.print("[red]error:[/red] an export must be a JSON object")
                raise typer.Exit(1)
            item = dict(item)
            wf = item.pop("workflow", None)
            try:
                if isinstance(wf, dict) and isinstance(wf.get("name"), str):
                    try:
                        workflows.get_workflow_by_name(db, wf["name"])
                    except NotFound:
                        workflows.import_workflows(db, admin, [wf], default_registry().known())
                        console.print(f"imported workflow {wf['name']}")
                (result,) = automations.import_automations(db, admin, [item])
            except OpsmgrError as exc:
                _fail(exc)
            if result["success"]:
                data = result["data"]
                console.print(f"imported automation {data['name']} ({data['_id']})")
            else:
                failed = True
                err.print(f"[red]error:[/red] {result['message']}")
                for problem in result.get("errors", []):
                    err.print(f"  {problem['path']}: {problem['message']}")
    if failed:
        raise typer.Exit(1)


def main() -> None:
    app()
