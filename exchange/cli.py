"""``relief sync``: configure provincial sources and pull from them.

    relief sync source add --name jiangsu --base-url https://... [--option KEY=VALUE ...]
    relief sync source update --name jiangsu [--base-url URL] [--option KEY=VALUE] [--inactive]
    relief sync source list
    relief sync pull --source jiangsu [--feed warehouses ...]
    relief sync runs [--source jiangsu]
    relief sync reset-cursor --source jiangsu [--feed stock ...] [--cursor C]
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from exchange.models import Entity

app = typer.Typer(help="Provincial exchange: sources and pulls (see docs/integration.md).",
                  no_args_is_help=True)
source_app = typer.Typer(help="Configured provincial sources.", no_args_is_help=True)
app.add_typer(source_app, name="source")

ACTOR = "system:cli"


def _database() -> Any:
    from relief.platform.db import Database
    from relief.platform.settings import get_settings

    return Database.from_settings(get_settings())


def _options(pairs: list[str] | None) -> dict[str, Any]:
    """KEY=VALUE pairs; a VALUE that parses as JSON is taken as JSON, else as text."""
    options: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="--option")
        try:
            options[key.strip()] = json.loads(value)
        except ValueError:
            options[key.strip()] = value
    return options


def _fail(exc: Exception) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(1)


@source_app.command("add")
def source_add(
    name: Annotated[str, typer.Option(help="Source name, e.g. jiangsu")],
    base_url: Annotated[str | None, typer.Option(help="Root URL of the provincial endpoint")]
    = None,
    option: Annotated[list[str] | None, typer.Option(help="KEY=VALUE (repeatable), e.g. "
                                                          "page_size=500, token_env=VAR")] = None,
) -> None:
    """Configure a provincial source."""
    from pydantic import ValidationError

    from exchange import service
    from exchange.models import ExchangeSourceCreate
    from relief.platform.errors import ReliefError

    try:
        data = ExchangeSourceCreate(name=name, base_url=base_url, options=_options(option))
        _database().write(lambda s: service.create_source(s, data=data, actor=ACTOR))
    except (ValidationError, ReliefError) as exc:
        raise _fail(exc) from None
    typer.echo(f"source {name} added")


@source_app.command("update")
def source_update(
    name: Annotated[str, typer.Option(help="Source name")],
    base_url: Annotated[str | None, typer.Option(help="New root URL")] = None,
    option: Annotated[list[str] | None, typer.Option(help="KEY=VALUE to set (repeatable)")]
    = None,
    active: Annotated[bool | None, typer.Option("--active/--inactive", help="Enable or "
                                                "disable the source")] = None,
) -> None:
    """Change a source's URL, options (merged) or active flag."""
    from pydantic import ValidationError

    from exchange import service
    from exchange.models import ExchangeSourceUpdate
    from relief.platform.errors import ReliefError

    fields: dict[str, Any] = {}
    if base_url is not None:
        fields["base_url"] = base_url
    if option:
        fields["options"] = _options(option)
    if active is not None:
        fields["active"] = active
    try:
        data = ExchangeSourceUpdate(**fields)
        _database().write(lambda s: service.update_source(s, name=name, data=data, actor=ACTOR))
    except (ValidationError, ReliefError) as exc:
        raise _fail(exc) from None
    typer.echo(f"source {name} updated")


@source_app.command("list")
def source_list() -> None:
    """Configured sources with their committed cursors."""
    from exchange import service

    with _database().read_session() as session:
        sources = service.list_sources(session)
    for src in sources:
        state = "active" if src.active else "inactive"
        typer.echo(f"{src.name}\t{state}\t{src.base_url or '-'}\t{json.dumps(src.options)}")
        for feed, cursor in sorted(src.cursors.items()):
            typer.echo(f"    {feed}: {cursor}")


@app.command("pull")
def pull(
    source: Annotated[str, typer.Option(help="Source name")],
    feed: Annotated[list[Entity] | None, typer.Option(help="Feed (repeatable; default: the "
                                                           "source's feeds)")] = None,
) -> None:
    """Pull from a provincial source, resuming after the last committed page of each feed."""
    from exchange import connector
    from exchange.models import RunStatus
    from relief.platform.errors import ReliefError
    from relief.platform.settings import get_settings

    def progress(entity: Entity, page: int, counts: dict[str, int]) -> None:
        done = ", ".join(f"{k} {v}" for k, v in counts.items() if v)
        typer.echo(f"  {entity.value} page {page}: {done or 'empty'}")

    try:
        run = connector.pull(_database(), source=source, today=get_settings().today,
                             feeds=feed, on_page=progress)
    except ReliefError as exc:
        raise _fail(exc) from None
    typer.echo(f"run {run.id} {run.status.value}: {run.pages} pages, created {run.created}, "
               f"updated {run.updated}, unchanged {run.unchanged}, stale {run.stale}, "
               f"rejected {run.rejected}, retries {run.retries}")
    for error in run.errors[-5:]:
        typer.echo(f"  {error.get('feed') or ''} {error['message_zh']} / {error['message']}",
                   err=True)
    if run.status != RunStatus.succeeded:
        raise typer.Exit(1)


@app.command("reset-cursor")
def reset_cursor(
    source: Annotated[str, typer.Option(help="Source name")],
    feed: Annotated[list[Entity] | None, typer.Option(help="Feed (repeatable; default: every "
                                                           "feed)")] = None,
    cursor: Annotated[str | None, typer.Option(help="Position to pull from next (default: the "
                                                    "beginning)")] = None,
) -> None:
    """Set where the next pull of a source's feeds starts (audited; a running pull stops)."""
    from exchange import service
    from relief.platform.errors import ReliefError

    try:
        done = _database().write(lambda s: service.reset_cursor(
            s, source_name=source, feeds=feed, cursor=cursor, actor=ACTOR))
    except ReliefError as exc:
        raise _fail(exc) from None
    where = "the beginning" if cursor is None else repr(cursor)
    typer.echo(f"{source}: {', '.join(f.value for f in done)} reset to {where}")


@app.command("runs")
def runs(
    source: Annotated[str | None, typer.Option(help="Only this source")] = None,
    limit: Annotated[int, typer.Option(help="How many")] = 20,
) -> None:
    """The sync log, newest first."""
    from exchange import service

    with _database().read_session() as session:
        rows, _ = service.list_runs(session, source=source, status=None, limit=limit, offset=0)
    for r in rows:
        typer.echo(f"{r.id}\t{r.source}\t{r.kind.value}\t{r.status.value}\t"
                   f"{r.started_at:%Y-%m-%d %H:%M:%S}\tpages {r.pages}\tcreated {r.created}\t"
                   f"updated {r.updated}\tunchanged {r.unchanged}\tstale {r.stale}\t"
                   f"rejected {r.rejected}\tretries {r.retries}")
