"""Command-line entry points (flask --app service ...), over the same service functions as the API."""

from __future__ import annotations

import sys

import click
from bson import ObjectId
from flask import Flask
from flask.cli import AppGroup

from service import accounts
from service.access import ROLES, system_principal
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


def init_app(app: Flask) -> None:
    app.cli.add_command(users_cli)
    app.cli.add_command(demo_cli)
