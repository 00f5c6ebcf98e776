"""flask --app mlapi alerts add | list | remove | load | history."""
from __future__ import annotations

import json

import click
from flask.cli import AppGroup

from mlapi.alerts.evaluator import recent_alerts
from mlapi.alerts.rules import add, all_rules, make_rule, remove, stamp
from mlapi.alerts.signals import predicted_classes
from mlapi.observability.prediction_log import utc_now

alerts_group = AppGroup("alerts", help="Alert rules: add, list, remove, load a set; the last alerts.")


def new_rule(name: str, use_case: str | None, when: str, window: str, min_count: int, cooldown: str) -> None:
    try:
        rule = make_rule(name, use_case, when, window, min_count, cooldown, classes=predicted_classes(), now=utc_now())
    except ValueError as refused:
        raise click.ClickException(f"{name}: {refused}") from None
    if not add(rule):
        raise click.ClickException(f"a rule named {name!r} exists already; remove it first")
    click.echo(f"{name}: {rule.use_case or 'all'}: {rule.condition} over {rule.window_seconds} s "
               f"(at least {rule.min_count}), cool-down {rule.cooldown_seconds} s")


@alerts_group.command("add")
@click.argument("name")
@click.option("--when", "when", required=True, help="The condition, e.g. 'share(negative) > 0.4' (docs/alerts.md).")
@click.option("--use-case", default="all", show_default=True, help="A use case, or all (each judged on its own).")
@click.option("--window", default="10m", show_default=True, help="What the condition looks at: 30s, 10m, 1h.")
@click.option("--min-count", type=int, default=20, show_default=True,
              help="Judge only once the window holds this many items, requests or feedback.")
@click.option("--cooldown", default="30m", show_default=True, help="Least time between two firings.")
def add_command(name: str, when: str, use_case: str, window: str, min_count: int, cooldown: str) -> None:
    """Add the rule NAME."""
    new_rule(name, use_case, when, window, min_count, cooldown)


@alerts_group.command("load")
@click.argument("file", type=click.File())
def load_command(file) -> None:
    """Add every rule of a JSON list (examples/alert_rules.json): name, use_case, condition, window, ..."""
    for entry in json.load(file):
        new_rule(entry["name"], entry.get("use_case"), entry["condition"], entry.get("window", "10m"),
                 entry.get("min_count", 20), entry.get("cooldown", "30m"))


@alerts_group.command("list")
def list_command() -> None:
    """Every rule."""
    click.echo(f"{'name':<24}{'use case':<12}{'window':>8}{'min':>7}{'cool-down':>11}  condition")
    for rule in all_rules():
        click.echo(f"{rule.name:<24}{rule.use_case or 'all':<12}{rule.window_seconds:>7}s{rule.min_count:>7}"
                   f"{rule.cooldown_seconds:>10}s  {rule.condition}")


@alerts_group.command("remove")
@click.argument("name")
def remove_command(name: str) -> None:
    """Remove the rule NAME (its open alerts are resolved; past ones stay)."""
    if remove(name, utc_now()) is None:
        raise click.ClickException(f"no rule named {name!r}")
    click.echo(f"{name}: removed")


@alerts_group.command("history")
def history_command() -> None:
    """The last 20 alerts, newest first."""
    for event in recent_alerts():
        state = "FIRING" if event.resolved_at is None else f"resolved {stamp(event.resolved_at)}"
        click.echo(f"{stamp(event.fired_at)}  {event.rule:<24}{event.use_case:<12}{event.condition} "
                   f"(value {event.value:.4g})  {state}")
