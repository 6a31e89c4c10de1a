"""Command-line entry points (flask --app service ...), over the same service functions as the API."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from datetime import UTC

import click
from bson import ObjectId
from flask import Flask
from flask.cli import AppGroup

from service import accounts
from service.access import ROLES, system_principal
from service.clock import SHANGHAI
from service.errors import ServiceError
from service.storage import get_db


def _object_id(value: str | None) -> ObjectId | None:
    if value is None:
        return None
    if not ObjectId.is_valid(value):
        raise click.BadParameter(f"{value!r} is not a valid id.")
    return ObjectId(value)


@click.group("users", cls=AppGroup, help="User accounts.")
def users_cli() -> None:
    pass


@users_cli.command("create")
@click.option("--username", required=True)
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option("--county", "counties", multiple=True, help="County code (repeatable) for county_staff.")
@click.option("--operator", "operator_id", help="Operator id for an enterprise account.")
@click.option("--canteen", "canteen_id", help="Canteen id for a canteen account.")
@click.option("--display-name")
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="Prompted for when omitted; read from stdin with --password -.",
)
def create_user_command(username, role, counties, operator_id, canteen_id, display_name, password):
    if password == "-":  # noqa: S105 - "-" means read it from stdin
        password = sys.stdin.readline().rstrip("\n")
    data = {
        "username": username,
        "role": role,
        "password": password,
        "county_codes": list(counties),
        "operator_id": _object_id(operator_id),
        "canteen_id": _object_id(canteen_id),
        "display_name": display_name,
    }
    try:
        user = accounts.create_user(get_db(), system_principal(), data)
    except ServiceError as error:
        raise click.ClickException(f"{error.message} {error.details or ''}".strip()) from error
    click.echo(f"Created {user['role']} {user['username']} ({user['_id']}).")


@click.group("demo", cls=AppGroup, help="The demo county.")
def demo_cli() -> None:
    pass


@demo_cli.command("load")
def demo_load_command():
    """Load the demo county and the demo accounts (idempotent)."""
    from service import demo

    summary = demo.load(get_db())
    click.echo(demo.describe(summary))


def _echo_import(result: dict) -> None:
    """Print an import's counts and row errors; a rejected row makes the exit status 1."""
    prefix = "Dry run: " if result["dry_run"] else ""
    counts = ", ".join(
        f"{name} {result[name]}" for name in ("rows", "inserted", "updated", "unchanged", "rejected")
    )
    click.echo(prefix + counts)
    for error in result["errors"]:
        column = error.get("column") or error["field"]
        click.echo(f"row {error['row']}, {column}: {error['message']}", err=True)
    if result["errors_truncated"]:
        click.echo("(more row errors not listed)", err=True)
    if result["rejected"]:
        raise SystemExit(1)


def _run_import(run, path: str) -> None:
    try:
        with open(path, "rb") as stream:
            result = run(stream, os.path.basename(path))
    except ServiceError as error:
        raise click.ClickException(f"{error.message} {error.details or ''}".strip()) from error
    _echo_import(result)


@click.group("households", cls=AppGroup, help="The household register (建档立卡贫困户).")
def households_cli() -> None:
    pass


@households_cli.command("import")
@click.argument("path", metavar="FILE", type=click.Path(exists=True, dir_okay=False))
@click.option("--county", "county_code", help="Refuse rows of villages outside this county.")
@click.option("--dry-run", is_flag=True, help="Check and count only; store nothing.")
def households_import_command(path, county_code, dry_run):
    """Upsert households from an xlsx or CSV file (columns 户编号, 村代码, 户主姓名, 身份证号, ...)."""
    from service import household_register

    _run_import(
        lambda stream, name: household_register.import_households(
            get_db(), system_principal(), stream, name, county_code=county_code, dry_run=dry_run
        ),
        path,
    )


@click.group("benefit-links", cls=AppGroup, help="Benefit links (带贫关系) between operators and households.")
def benefit_links_cli() -> None:
    pass


@benefit_links_cli.command("import")
@click.argument("path", metavar="FILE", type=click.Path(exists=True, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Check and count only; store nothing.")
def benefit_links_import_command(path, dry_run):
    """Create or update links from an xlsx or CSV file (columns 经营主体统一社会信用代码, 户编号, ...)."""
    from service import link_register

    _run_import(
        lambda stream, name: link_register.import_links(
            get_db(), system_principal(), stream, name, dry_run=dry_run
        ),
        path,
    )


@click.group("canteens", cls=AppGroup, help="Unit canteens (单位食堂) and their purchases.")
def canteens_cli() -> None:
    pass


@canteens_cli.command("import-purchases")
@click.argument("path", metavar="FILE", type=click.Path(exists=True, dir_okay=False))
@click.option("--canteen", "canteen_id", required=True, help="The canteen the file belongs to (id).")
@click.option("--dry-run", is_flag=True, help="Check and count only; store nothing.")
def canteens_import_purchases_command(path, canteen_id, dry_run):
    """Log a canteen's purchases from an xlsx or CSV file in the upload template's columns."""
    from service import canteen_purchase_upload

    _run_import(
        lambda stream, name: canteen_purchase_upload.import_purchases(
            get_db(), system_principal(), stream, name, canteen_id=_object_id(canteen_id), dry_run=dry_run
        ),
        path,
    )


@click.group("ledger", cls=AppGroup, help="The sales ledger and its derived figures.")
def ledger_cli() -> None:
    pass


@ledger_cli.command("rebuild")
@click.option("--county", "counties", multiple=True, help="County code (repeatable); default all.")
@click.option("--all", "all_partitions", is_flag=True, help="Every county-month, not only the dirty ones.")
def ledger_rebuild_command(counties, all_partitions):
    """Recompute the derived figures of dirty (or all) county-months from the raw ledger."""
    from service import ledger_rebuilds

    rebuilt = ledger_rebuilds.rebuild(get_db(), counties or None, all_partitions=all_partitions)
    for county, month, counts in rebuilt:
        click.echo(f"{county} {month}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    click.echo(f"Rebuilt {len(rebuilt)} county-month partition(s).")


@ledger_cli.command("verify")
@click.option("--county", "counties", multiple=True, help="County code (repeatable); default all.")
@click.option("--from", "from_month", help="First month, YYYY-MM.")
@click.option("--to", "to_month", help="Last month, YYYY-MM.")
def ledger_verify_command(counties, from_month, to_month):
    """Recompute everything from the raw ledger, compare it with the control totals entered from outside,
    and print every difference (exit 1 if any)."""
    from service import reconcile

    checked, differences = reconcile.verify(get_db(), counties or None, from_month, to_month)
    compared, external = reconcile.verify_control_totals(get_db(), counties or None, from_month, to_month)
    for difference in [*differences, *external]:
        click.echo(str(difference))
    click.echo(f"Checked {checked} county-month partition(s): {len(differences)} difference(s).")
    click.echo(f"Compared {compared} control total(s) with the ledger: {len(external)} difference(s).")
    if differences or external:
        raise SystemExit(1)


@ledger_cli.command("rematch")
@click.option("--county", "counties", multiple=True, help="County code (repeatable); default all.")
def ledger_rematch_command(counties):
    """Match unmatched sale lines again against the catalogue's SKUs and barcodes."""
    from service import ledger_rebuilds

    result = ledger_rebuilds.rematch(get_db(), counties or None)
    click.echo(", ".join(f"{k} {v}" for k, v in result.items()))


@click.group("sales", cls=AppGroup, help="Sales imports.")
def sales_cli() -> None:
    pass


@contextlib.contextmanager
def _import_progress(total_bytes: int) -> Iterator[Callable[[int, int], None]]:
    """Progress bars (bytes of the file, rows) on a terminal; quiet when stderr is not a tty."""
    from tqdm import tqdm

    quiet = not sys.stderr.isatty()
    with (
        tqdm(total=total_bytes, unit="B", unit_scale=True, desc="file", disable=quiet) as size_bar,
        tqdm(unit=" rows", desc="rows", disable=quiet) as rows_bar,
    ):

        def update(rows: int, size: int) -> None:
            size_bar.update(size - size_bar.n)
            rows_bar.update(rows - rows_bar.n)

        yield update


def _echo_run(run: dict) -> None:
    """Print a run's outcome, counts and kept row errors; a failed run or a rejected row exits 1."""
    from service import import_runs

    prefix = "Dry run: " if run["dry_run"] else ""
    # A confirmation still running elsewhere has no duration or counts yet.
    took = f" in {run['duration_ms']} ms" if run.get("duration_ms") is not None else ""
    where = f"({run['adapter']}, county {run['county_code']})"
    click.echo(f"{prefix}import run {run['_id']} {where} {run['status']}{took}")
    click.echo(import_runs.summary(run))
    for error in run.get("errors") or []:
        click.echo(f"row {error['row']}, {error['field']}: {error['message']}", err=True)
    if run.get("errors_truncated"):
        click.echo(f"({run['error_count'] - len(run['errors'])} more row errors not kept)", err=True)
    if run["dry_run"] and run.get("kept_until"):
        until = run["kept_until"].replace(tzinfo=run["kept_until"].tzinfo or UTC).astimezone(SHANGHAI)
        click.echo(
            f"The files are kept until {until.isoformat(timespec='minutes')} to be confirmed: "
            f"flask --app service sales confirm {run['_id']}"
        )
    if run["status"] != import_runs.SUCCEEDED or run.get("rejected"):
        raise SystemExit(1)


def _import_failure(error: ServiceError) -> click.ClickException:
    """A refused or failed import, naming the failed run when one was recorded."""
    run_id = error.details.get("import_run_id")
    details = {name: value for name, value in error.details.items() if name != "import_run_id"}
    suffix = f" (import run {run_id} failed)" if run_id else ""
    return click.ClickException(f"{error.message} {details or ''}".strip() + suffix)


@sales_cli.command("import")
@click.option("--channel", required=True, help="The importer: jd, taobao, pdd, p832, ...")
@click.argument(
    "paths", metavar="FILE [FILE]", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False)
)
@click.option("--county", "county_code", required=True, help="The county the sales belong to.")
@click.option(
    "--dry-run",
    is_flag=True,
    help="Check and count only; store no sales (the run is recorded, its files kept for `sales confirm`).",
)
def sales_import_command(channel, paths, county_code, dry_run):
    """Import a channel's export into the sales ledger, and record the run.

    One file; for 淘宝 (taobao), the two files of one export, the order report (订单报表) and the
    item report (宝贝报表), in either order.
    """
    from service import imports

    try:
        with contextlib.ExitStack() as files:
            sources = [(files.enter_context(open(path, "rb")), os.path.basename(path)) for path in paths]
            total = sum(os.path.getsize(path) for path in paths)
            progress = files.enter_context(_import_progress(total))
            run = imports.run_import(
                get_db(),
                system_principal("cli"),
                channel,
                sources,
                county_code=county_code,
                dry_run=dry_run,
                progress=progress,
            )
    except ServiceError as error:
        raise _import_failure(error) from error
    _echo_run(run)


@sales_cli.command("confirm")
@click.argument("run_id", metavar="RUN_ID")
def sales_confirm_command(run_id):
    """Import a successful dry run's kept files for real, once, and print the new run.

    Confirming a dry run confirmed before prints the run that confirmation made.
    """
    from service import import_confirm, import_runs

    dry_run_id = _object_id(run_id)
    db = get_db()
    try:
        dry_run = import_runs.get_run(db, system_principal("cli"), dry_run_id)
        total = sum(file.get("size") or 0 for file in dry_run.get("files") or [dry_run["source"]])
        with _import_progress(total) as progress:
            confirmation = import_confirm.confirm_run(
                db, system_principal("cli"), dry_run_id, progress=progress
            )
    except ServiceError as error:
        raise _import_failure(error) from error
    if not confirmation.created:
        click.echo(f"Dry run {dry_run_id} was confirmed before, by import run {confirmation.run['_id']}.")
    _echo_run(confirmation.run)


def _moment_option(ctx, param, value):
    if value is None:
        return None
    from service import pull

    try:
        return pull.parse_moment(value)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None


@sales_cli.command("pull")
@click.option("--channel", required=True, type=click.Choice(["taobao-api"]), help="The API to pull from.")
@click.option("--since", callback=_moment_option, help="ISO 8601 start (default: the shop's saved cursor).")
@click.option("--until", callback=_moment_option, help="ISO 8601 end (default: now minus a small lag).")
def sales_pull_command(channel, since, until):
    """Pull a shop's orders from the open platform into the sales ledger, resuming from its cursor.

    Without an offset, --since and --until are Asia/Shanghai times. Exits 1 if the pull stopped
    early (run it again to resume) or rejected a line.
    """
    from flask import current_app

    from service import pull
    from service.clock import SHANGHAI

    def local(moment):
        return moment.astimezone(SHANGHAI).isoformat() if moment else "none"

    try:
        report = pull.run_pull(get_db(), current_app.config, since=since, until=until)
    except ServiceError as error:
        raise click.ClickException(f"{error.message} {error.details or ''}".strip()) from error
    click.echo(
        f"{channel} {local(report.since)} → {local(report.until)}: {report.windows} window(s), "
        f"{report.pages} page(s), {report.orders} order line(s)"
    )
    click.echo(", ".join(f"{name} {number}" for name, number in report.counts().items()))
    click.echo(f"cursor {local(report.cursor)}" + ("" if report.cursor_moved else " (not moved)"))
    for error in report.result.errors:
        click.echo(f"row {error['row']}, {error['field']}: {error['message']}", err=True)
    if report.error:
        where = " – ".join(local(moment) for moment in report.failed_window or ())
        click.echo(f"Stopped early in window {where}: {report.error} Run again to resume.", err=True)
    if report.error or report.result.rejected:
        raise SystemExit(1)


def init_app(app: Flask) -> None:
    app.cli.add_command(ledger_cli)
    app.cli.add_command(users_cli)
    app.cli.add_command(demo_cli)
    app.cli.add_command(households_cli)
    app.cli.add_command(benefit_links_cli)
    app.cli.add_command(canteens_cli)
    app.cli.add_command(sales_cli)
