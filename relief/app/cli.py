"""The ``relief`` command: serve, db, seed, token, check (and the planning commands)."""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from dispatch.cli import plan_command, scenario_app
from exchange.cli import app as sync_app
from relief.platform.db import Database
from relief.platform.dbtypes import utcnow
from relief.platform.models import ApiToken, Role
from relief.platform.settings import get_settings

T = TypeVar("T")

app = typer.Typer(help="Nantong emergency relief supplies: inventory and dispatch.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(token_app, name="token")
app.command("plan")(plan_command)
app.add_typer(scenario_app, name="scenario")
app.add_typer(sync_app, name="sync")


def _database() -> Database:
    return Database.from_settings(get_settings())


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address")] = None,
    port: Annotated[int | None, typer.Option(help="Port")] = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help="API processes (PostgreSQL "
                                         "only for more than one)")] = 1,
    plan_workers: Annotated[int | None, typer.Option(
        min=0, max=16, help="PostgreSQL: `relief worker` processes to start beside the API "
        "(default 1; 0 when planning workers run elsewhere)")] = None,
    reload: Annotated[bool, typer.Option(help="Reload on code changes")] = False,
) -> None:
    """Serve the API (OpenAPI docs at /docs) and, on PostgreSQL, planning workers."""
    from relief.app import serving

    serving.serve(get_settings(), host=host, port=port, workers=workers,
                  plan_workers=plan_workers, reload=reload)


@app.command()
def worker(
    urgent_slots: Annotated[int | None, typer.Option(
        min=0, max=8, help="Urgent-lane jobs run at once (default RELIEF_PLAN_URGENT_SLOTS)")]
    = None,
    long_slots: Annotated[int | None, typer.Option(
        min=0, max=8, help="Long-lane jobs run at once (default RELIEF_PLAN_LONG_SLOTS)")]
    = None,
    metrics_port: Annotated[int | None, typer.Option(
        help="Serve this worker's Prometheus metrics on this port")] = None,
) -> None:
    """Run planning workers (PostgreSQL) until SIGTERM or Ctrl-C; any number, any machine."""
    from relief.app import serving

    settings = get_settings()
    update = {k: v for k, v in (("plan_urgent_slots", urgent_slots),
                                ("plan_long_slots", long_slots)) if v is not None}
    serving.run_worker(settings.model_copy(update=update), metrics_port=metrics_port)


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Migrate the database up (default: to the newest revision)."""
    from relief.app import migrations

    migrations.upgrade(get_settings().database_url, revision)
    typer.echo(f"database at {revision}")


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument()]) -> None:
    """Migrate the database down to ``revision`` (``base`` empties it)."""
    from relief.app import migrations

    migrations.downgrade(get_settings().database_url, revision)
    typer.echo(f"database at {revision}")


@db_app.command("diff")
def db_diff() -> None:
    """Exit 1 if the database schema differs from the models (a missing migration)."""
    from relief.app import migrations

    diffs = migrations.schema_differences(get_settings().database_url)
    for diff in diffs:
        typer.echo(str(diff))
    raise typer.Exit(1 if diffs else 0)


@app.command()
def seed(
    if_empty: Annotated[bool, typer.Option("--if-empty", help="Only seed an empty database")]
    = False,
) -> None:
    """Load Nantong's divisions, depots, catalogue, reserves, targets and opening stock."""
    from seed.loader import database_is_empty, load

    database = _database()
    with database.read_session() as session:
        if if_empty and not database_is_empty(session):
            typer.echo("database already holds data; seed skipped")
            return
    report = database.write(lambda session: load(session, today=get_settings().today()))
    for name, count in report.items():
        typer.echo(f"{name:>22}: {count} added")


def _cli_actor(actor: str | None) -> str:
    """How a CLI user is named in the audit trail: ``cli:<name>`` (default: the OS user)."""
    if actor:
        return f"cli:{actor}"
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        raise typer.BadParameter("cannot tell who you are: pass --actor") from None


ActorOption = Annotated[str | None, typer.Option(
    "--actor", help="Who runs this, for the audit trail (default: the OS user)")]


@token_app.command("create")
def token_create(
    role: Annotated[Role, typer.Option(help="admin, depot_manager, dispatcher, viewer, "
                                            "integration")],
    name: Annotated[str, typer.Option(help="Who or what holds the token (unique among "
                                           "unrevoked tokens)")],
    depot: Annotated[list[str] | None, typer.Option(help="Depot code (repeatable); "
                                                         "depot managers write only there")]
    = None,
    scope: Annotated[list[str] | None, typer.Option(help="Extra scope (repeatable)")] = None,
    expires_in_days: Annotated[float | None, typer.Option(
        min=0.001, max=3650, help="The token stops working after this many days "
        "(default: never, until revoked)")] = None,
    actor: ActorOption = None,
) -> None:
    """Create an API token; the secret is printed once, as the last line."""
    from relief.platform.tokens import create_token
    from supplies.masterdata import depots_by_codes

    depots = depot or []
    if role == Role.depot_manager and not depots:
        raise typer.BadParameter("a depot_manager token needs at least one --depot")
    expires_at = utcnow() + timedelta(days=expires_in_days) if expires_in_days else None

    def create(session: Session) -> str:
        depots_by_codes(session, depots)
        _, secret = create_token(session, name=name, role=role, depots=depots,
                                 scopes=scope or [], expires_at=expires_at,
                                 actor=_cli_actor(actor))
        return secret

    secret = _write_or_exit(create)
    until = f", expires {expires_at:%Y-%m-%d %H:%M} UTC" if expires_at else ""
    typer.echo(f"token for {name} ({role.value}{': ' + ', '.join(depots) if depots else ''}"
               f"{until})")
    typer.echo(secret)


def _write_or_exit(use_case: Callable[[Session], T]) -> T:
    """Run a write; a refused request (unknown name, taken name...) is printed, exit 1."""
    from relief.platform.errors import ReliefError

    try:
        return _database().write(use_case)
    except ReliefError as exc:
        typer.echo(f"{exc.text('zh')} / {exc.message}", err=True)
        raise typer.Exit(1) from None


@token_app.command("revoke")
def token_revoke(name: Annotated[str, typer.Option(help="Token name")],
                 actor: ActorOption = None) -> None:
    """Revoke the (one) unrevoked token with this name; its console sessions end with it."""
    from relief.platform import tokens

    _write_or_exit(lambda s: tokens.revoke_token(s, tokens.active_by_name(s, name),
                                                 actor=_cli_actor(actor)))
    typer.echo(f"revoked token {name}")


@token_app.command("rotate")
def token_rotate(
    name: Annotated[str, typer.Option(help="Token name")],
    expires_in_days: Annotated[float | None, typer.Option(
        min=0.001, max=3650, help="The new token's lifetime in days (default: keep the old "
        "token's expiry)")] = None,
    actor: ActorOption = None,
) -> None:
    """Give a token a new secret (same name, role, depots, scopes) and revoke the old one, in
    one transaction; the new secret is printed once, as the last line."""
    from relief.platform import tokens

    def rotate(session: Session) -> str:
        old = tokens.active_by_name(session, name)
        if expires_in_days is None:
            done = tokens.rotate_token(session, old, actor=_cli_actor(actor))
        else:
            done = tokens.rotate_token(session, old, actor=_cli_actor(actor),
                                       expires_at=utcnow() + timedelta(days=expires_in_days),
                                       keep_expiry=False)
        return done.secret

    secret = _write_or_exit(rotate)
    typer.echo(f"rotated token {name}: the old secret no longer works")
    typer.echo(secret)


@app.command("demo-tokens")
def demo_tokens() -> None:
    """Replace the demo tokens (one per role) and print how to use them."""
    from relief.platform.auth import create_token
    from relief.platform.tokens import revoke_token
    from supplies.models import Depot

    def create(session: Session) -> list[tuple[str, str, str, str]]:
        for old in session.execute(select(ApiToken).where(
                ApiToken.name.like("demo-%"), ApiToken.revoked_at.is_(None))).scalars():
            revoke_token(session, old, actor="cli:demo-tokens")
        depots = list(session.execute(
            select(Depot.code).where(Depot.tier == "county", Depot.kind == "government")
            .order_by(Depot.code).limit(1)
        ).scalars())
        grants: list[tuple[Role, list[str], list[str]]] = [
            (Role.admin, [], []),
            (Role.depot_manager, depots, []),
            (Role.dispatcher, [], ["draw:city", "draw:agreement", "draw:province"]),
            (Role.viewer, [], []),
            (Role.integration, [], ["exchange:read", "exchange:write"]),
        ]
        out = []
        for role, depot_codes, scopes in grants:
            _, secret = create_token(session, name=f"demo-{role.value}", role=role,
                                     depots=depot_codes, scopes=scopes,
                                     actor="cli:demo-tokens")
            out.append((role.value, ", ".join(depot_codes), ", ".join(scopes), secret))
        return out

    tokens = _database().write(create)
    typer.echo("\nDemo tokens (new ones each run; older demo tokens are revoked):")
    for role, depots, scopes, secret in tokens:
        where = f" for depot {depots}" if depots else ""
        grants = f" with scopes {scopes}" if scopes else ""
        typer.echo(f"  {role:<14}{where}{grants}\n    {secret}")
    admin, integration = tokens[0][3], tokens[-1][3]
    typer.echo(
        "\nTry:\n"
        f"  curl -H 'Authorization: Bearer {admin}' http://127.0.0.1:8000/api/v1/stock/summary\n"
        f"  curl -H 'Authorization: Bearer {integration}' "
        "'http://127.0.0.1:8000/api/v1/exchange/depots?limit=5'\n"
        "  Web console: http://127.0.0.1:8000/console/ (log in with a token above)\n"
        "  OpenAPI docs: http://127.0.0.1:8000/docs (Authorize with a token above)\n"
    )


@app.command()
def backup(
    target: Annotated[Path, typer.Argument(help="Backup file to write (PostgreSQL: pg_dump "
                                           "custom format; SQLite: a database file)")],
) -> None:
    """Write a consistent backup of the database while the service runs."""
    from relief.app import backup as backups

    try:
        written = backups.backup(get_settings().database_url, target)
    except backups.BackupError as exc:
        typer.echo(f"backup failed: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"backup written to {written} ({written.stat().st_size} bytes)")


@app.command()
def restore(
    source: Annotated[Path, typer.Argument(help="A file written by `relief backup`")],
    yes: Annotated[bool, typer.Option("--yes", help="Replace the database without asking")]
    = False,
) -> None:
    """Replace the whole database with a backup (stop the API and workers first); gives the
    database a new epoch so exchange mirrors re-read their feeds, then checks the ledger."""
    from relief.app import backup as backups

    url = get_settings().database_url
    if not yes:
        typer.confirm(f"Replace everything in {make_url(url).render_as_string()} with "
                      f"{source}?", abort=True)
    try:
        done = backups.restore(url, source)
    except backups.BackupError as exc:
        typer.echo(f"restore failed: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"restored {source}; database epoch {done.old_epoch} -> {done.new_epoch}")
    for problem in done.problems:
        typer.echo(f"PROBLEM: {problem}", err=True)
    if not done.ledger_ok:
        raise typer.Exit(1)
    typer.echo("ledger OK")


@app.command()
def check() -> None:
    """Prove every quant equals the sum of its moves; exit 1 on any broken rule."""
    from supplies.ledger import verify

    with _database().read_session() as session:
        result = verify(session)
    typer.echo(f"checked {result.quants} quants against {result.moves} moves")
    for problem in result.problems:
        typer.echo(f"PROBLEM: {problem}", err=True)
    if not result.ok:
        raise typer.Exit(1)
    typer.echo("ledger OK")


def _register_domain_commands() -> None:
    from dispatch import incident_cli
    from relief.app.wiring import cli_planning

    incident_cli.runner_factory = cli_planning
    app.add_typer(incident_cli.app, name="incident")

    from dispatch.readiness import cli as readiness_cli
    from relief.app.wiring import readiness_engine

    readiness_cli.engine_factory = readiness_engine
    app.add_typer(readiness_cli.app, name="readiness")


_register_domain_commands()


def main() -> None:
    """Entry point for ``python -m relief.app.cli``."""
    app(prog_name="relief")


if __name__ == "__main__":
    sys.exit(main())
