"""flask --app mlapi train | models | keys (and alerts: mlapi.alerts.cli)."""
from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
from flask import Flask, current_app, render_template
from flask.cli import AppGroup, with_appcontext
from flask_babel import force_locale
from limits import parse as parse_limit
from sqlalchemy import select

from mlapi import extensions
from mlapi.access.keys import ROLES, ApiKey, create_key
from mlapi.alerts.cli import alerts_group
from mlapi.catalog import USE_CASES
from mlapi.publishing.publish import MAX_NOTE, PublishBusy, PublishRefused, publish
from mlapi.serving.registry import ArtifactRefused, registry
from mlapi.serving.training import train_use_case
from mlapi.storage.database import db
from mlapi.web.i18n import LANGUAGES

NAMES = [use_case.name for use_case in USE_CASES]


@click.command("train")
@click.argument("name", type=click.Choice(["all", *NAMES]), default="all")
@click.option("--missing", is_flag=True, help="Only use cases that have no trained version yet.")
@click.option("--sample", type=click.FloatRange(0.01, 1.0), default=1.0, show_default=True,
              help="Fraction of the training rows to fit on (quick trials); the test split stays whole.")
@click.option("--activate", is_flag=True, help="Serve the new version at once (otherwise the active one stays).")
@with_appcontext
def train_command(name: str, missing: bool, sample: float, activate: bool) -> None:
    """Train NAME (or all) as a new version and print its held-out metrics.

    The version that serves stays the same unless --activate is given (or nothing
    was active yet), so the new card can be compared first (flask --app mlapi models list).
    """
    data_dir = Path(current_app.config["DATA_DIR"])
    for chosen in NAMES if name == "all" else [name]:
        if missing and registry.versions(chosen):
            click.echo(f"{chosen}: already trained ({registry.versions(chosen)[-1]}), skipped")
            continue
        steps = registry.use_cases[chosen].training_steps
        with click.progressbar(length=len(steps) + 1, label=f"Training {chosen}", item_show_func=lambda s: s) as bar:
            card = train_use_case(registry, chosen, data_dir, sample, step=lambda label: bar.update(1, label))
            bar.update(1, "saved")
        registry.pin(chosen)  # the first version trained becomes the active one; later ones wait for --activate
        click.echo(f"{chosen} {card['version']} held-out metrics:")
        for metric, value in card["metrics"].items():
            click.echo(f"  {metric}: {value}")
        if activate:
            registry.activate(chosen, card["version"])
        click.echo(f"{chosen}: {registry.active_version(chosen)} is active")


@contextmanager
def refusals_as_errors() -> Iterator[None]:
    """Show a refused registry change as a one-line error, exit status 1."""
    try:
        yield
    except ArtifactRefused as refused:
        raise click.ClickException(str(refused)) from None


models_group = AppGroup("models", help="List versions and choose the one that serves.")


@models_group.command("list")
@click.argument("name", type=click.Choice(NAMES), required=False)
def list_models(name: str | None) -> None:
    """Every version of NAME (or of every model) with its metrics; * marks the active one."""
    for listed in [name] if name else NAMES:
        active = registry.active_version(listed)
        click.echo(listed)
        for version in registry.versions(listed):
            mark = "*" if version == active else " "
            card = registry.card(listed, version)
            figures = ", ".join(f"{key}={value}" for key, value in card["metrics"].items() if isinstance(value, float))
            origin = f"  published by {card.get('publisher') or 'the command line'}" \
                if card.get("source") == "published" else ""
            click.echo(f"  {mark} {version}  {figures}{origin}")


@models_group.command("import")
@click.argument("name", type=click.Choice(NAMES))
@click.argument("file", type=click.File("rb"))
@click.option("--note", default="", help="What it is, in a line (shown on /models).")
@with_appcontext
def import_model(name: str, file, note: str) -> None:
    """Publish FILE (a model saved with skops.io.dump) as a new version of NAME, checked and measured like an
    upload; it serves once activated."""
    if len(note.strip()) > MAX_NOTE:
        raise click.BadParameter(f"at most {MAX_NOTE} characters", param_hint="--note")
    try:
        card = publish(registry, current_app.config, name, file, note.strip(), via="command line")
    except (PublishRefused, PublishBusy) as refused:
        raise click.ClickException(refused.detail) from None
    click.echo(f"{name} {card['version']} published ({card['params']['model']}); held-out metrics:")
    for metric, value in card["metrics"].items():
        if not isinstance(value, (dict, str)):
            click.echo(f"  {metric}: {value}")
    click.echo(f"Serve it with: flask --app mlapi models activate {name} {card['version']}")


@models_group.command("activate")
@click.argument("name", type=click.Choice(NAMES))
@click.argument("version")
def activate(name: str, version: str) -> None:
    """Make VERSION of NAME the one that serves (it is loaded and checked first)."""
    with refusals_as_errors():
        registry.activate(name, version)
    click.echo(f"{name}: {version} is now active; running servers switch within about two seconds")


@models_group.command("rollback")
@click.argument("name", type=click.Choice(NAMES))
def rollback(name: str) -> None:
    """Serve the version activated before the current one again (v3 -> v2 -> v1)."""
    current = registry.active_version(name)
    with refusals_as_errors():
        loaded = registry.rollback(name)
    click.echo(f"{name}: back to {loaded.version} (from {current})")


@models_group.command("delete")
@click.argument("name", type=click.Choice(NAMES))
@click.argument("version")
def delete(name: str, version: str) -> None:
    """Delete VERSION of NAME from disk (never the active one)."""
    with refusals_as_errors():
        registry.delete(name, version)
    click.echo(f"{name}: {version} deleted")


keys_group = AppGroup("keys", help="Create, list and revoke API keys.")


def valid_limit(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Check a limit such as '600/minute' or '10 per second'."""
    if value is None:
        return None
    try:
        parse_limit(value)
    except ValueError:
        raise click.BadParameter("write it like '600/minute', '10/second' or '5000 per day'") from None
    return value


def expiry(ctx: click.Context, param: click.Parameter, value: datetime | None) -> datetime | None:
    """A date alone (or at 00:00) means the end of that day, UTC; a date and time, that moment, UTC."""
    if value is None:
        return None
    moment = value.replace(tzinfo=UTC)
    if value.hour == value.minute == 0:
        moment += timedelta(days=1)
    if moment <= datetime.now(UTC):
        raise click.BadParameter("that moment has passed")
    return moment


def key_options(command):
    """The options every new key takes: role, limits, publish right, expiry."""
    options = [
        click.option("--role", type=click.Choice(ROLES), default="client", show_default=True),
        click.option("--limit", callback=valid_limit,
                     help="Its own limit of requests, e.g. '1200/minute' (default: the tier's)."),
        click.option("--item-limit", callback=valid_limit,
                     help="Its own limit of items predicted (a batch of N is N), e.g. '50000/minute' "
                          "(default: the tier's)."),
        click.option("--publish", "can_publish", is_flag=True,
                     help="A client key that may publish models (admin keys always may; only admins activate)."),
        click.option("--expires", type=click.DateTime(["%Y-%m-%d", "%Y-%m-%d %H:%M"]), callback=expiry,
                     help="When it stops working: YYYY-MM-DD (the end of that day, UTC) or 'YYYY-MM-DD HH:MM' (UTC)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def name_taken(names: list[str]) -> None:
    """:raises click.ClickException: a key has one of ``names`` already (revoked keys keep theirs)."""
    taken = db.session.scalars(select(ApiKey.name).where(ApiKey.name.in_(names))).all()
    if taken:
        raise click.ClickException(f"keys named {', '.join(sorted(taken))} exist already (revoked keys keep their "
                                   "name)")


@keys_group.command("create")
@click.argument("name")
@key_options
def create(name: str, role: str, limit: str | None, item_limit: str | None, can_publish: bool,
           expires: datetime | None) -> None:
    """Create a key called NAME and print it (the only time it is shown)."""
    name_taken([name])
    key = create_key(name, role, limit, item_limit, can_publish, expires)
    click.echo(key)
    click.echo(f"Keep it safe: only its hash is stored. Use it as 'Authorization: Bearer {key[:18]}...'.", err=True)


@keys_group.command("create-batch")
@click.argument("prefix")
@click.option("--count", type=click.IntRange(1, 500), required=True, help="How many keys: PREFIX-01 .. PREFIX-NN.")
@click.option("--page", "page_path", type=click.Path(dir_okay=False, writable=True),
              help="Where to write the printable page of keys (default: var/keys-PREFIX.html).")
@click.option("--lang", type=click.Choice(list(LANGUAGES)), default="en", show_default=True,
              help="The printable page's language.")
@key_options
def create_batch(prefix: str, count: int, page_path: str | None, lang: str, role: str, limit: str | None,
                 item_limit: str | None, can_publish: bool, expires: datetime | None) -> None:
    """Create COUNT keys named PREFIX-01, PREFIX-02 ... for a class: print them as CSV (name,key,role,expires)
    and write a printable page with one card per key, to cut out and hand round."""
    width = max(2, len(str(count)))
    names = [f"{prefix}-{number:0{width}d}" for number in range(1, count + 1)]
    name_taken(names)
    keys = [(name, create_key(name, role, limit, item_limit, can_publish, expires, commit=False)) for name in names]
    db.session.commit()
    until = expires.strftime("%Y-%m-%d %H:%M UTC") if expires else ""
    table = io.StringIO()
    out = csv.writer(table, lineterminator="\n")
    out.writerow(["name", "key", "role", "expires"])
    out.writerows([name, key, role, until] for name, key in keys)
    click.echo(table.getvalue(), nl=False)
    page = Path(page_path or Path(current_app.config["VAR_DIR"]) / f"keys-{prefix}.html")
    page.parent.mkdir(parents=True, exist_ok=True)
    with force_locale(LANGUAGES[lang]):
        page.write_text(render_template("keys_printable.html", keys=keys, role=role, expires=until,
                                        address=current_app.config["PUBLIC_URL"],
                                        publish=can_publish or role == "admin"))
    click.echo(f"{count} keys created; a printable page of them: {page} (only their hashes are stored)", err=True)


@keys_group.command("list")
def list_keys() -> None:
    """Every key: name, role, whether it may publish, limits, created, last used, requests today (never the key)."""
    rows = db.session.scalars(select(ApiKey).order_by(ApiKey.name)).all()
    click.echo(f"{'name':<20}{'role':<8}{'publish':<8}{'limit':<16}{'item limit':<16}{'created':<18}"
               f"{'last used':<18}{'expires':<18}{'today':>6}  state")
    for row in rows:
        state = "revoked" if row.revoked_at else "expired" if row.expired() else "active"
        publishes = "yes" if row.role == "admin" or row.can_publish else "no"
        click.echo(
            f"{row.name:<20}{row.role:<8}{publishes:<8}{row.rate_limit or 'default':<16}"
            f"{row.item_limit or 'default':<16}"
            f"{short_time(row.created_at):<18}"
            f"{short_time(row.last_used_at):<18}{short_time(row.expires_at):<18}{row.requests_today():>6}  {state}"
        )


@keys_group.command("revoke")
@click.argument("name")
def revoke(name: str) -> None:
    """Revoke the key called NAME: it answers 401 from now on."""
    row = db.session.scalar(select(ApiKey).where(ApiKey.name == name, ApiKey.revoked_at.is_(None)))
    if row is None:
        raise click.ClickException(f"no active key named {name!r}")
    row.revoked_at = datetime.now(UTC)
    db.session.commit()
    extensions.verified_keys().forget()  # other workers stop trusting it within a second
    click.echo(f"{name}: revoked")


def short_time(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else "never"


def init_app(app: Flask) -> None:
    """Register the commands on ``app``."""
    app.cli.add_command(train_command)
    app.cli.add_command(models_group)
    app.cli.add_command(keys_group)
    app.cli.add_command(alerts_group)
