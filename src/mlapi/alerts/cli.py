"""flask --app mlapi alerts add | list | remove | load | history."""
from __future__ import annotations

import json

import click
from flask.cli import AppGroup

from mlapi.alerts.evaluator import recent_alerts, remove_and_resolve
from mlapi.alerts.rules import RuleRefused, add, all_rules, duration_text, make_rule, stamp
from mlapi.alerts.signals import known
from mlapi.observability.prediction_log import utc_now

alerts_group = AppGroup("alerts", help="Alert rules: add, list, remove, load a set; the last alerts.")


def new_rule(name: str, use_case: str | None, when: str, window: str, min_count: int, cooldown: str) -> bool:
    """Add a rule and say so; False (said too) if one of its name exists.

    :raises click.ClickException: a part is not valid.
    """
    try:
        rule = make_rule(name, use_case, when, window, min_count, cooldown, known=known(), now=utc_now())
    except RuleRefused as refused:
        raise click.ClickException(f"{name}: {refused.field}: {refused}") from None
    if not add(rule):
        click.echo(f"{name}: a rule of that name exists already (remove it first to change it)")
        return False
    click.echo(f"{name}: {rule.use_case or 'all'}: {rule.condition} over {duration_text(rule.window_seconds)} "
               f"(at least {rule.min_count}), cool-down {duration_text(rule.cooldown_seconds)}")
    return True


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
    if not new_rule(name, use_case, when, window, min_count, cooldown):
        raise SystemExit(1)


@alerts_group.command("load")
@click.argument("file", type=click.File())
def load_command(file) -> None:
    """Add every rule of a JSON list (examples/alert_rules.json): name, use_case, condition, window, min_count,
    cooldown. A rule whose name exists already is left as it is."""
    for entry in json.load(file):
        new_rule(entry["name"], entry.get("use_case"), entry["condition"], entry.get("window", "10m"),
                 entry.get("min_count", 20), entry.get("cooldown", "30m"))


@alerts_group.command("list")
def list_command() -> None:
    """Every rule."""
    rules = all_rules()
    width = max([len(rule.name) for rule in rules] + [4]) + 2
    click.echo(f"{'name':<{width}}{'use case':<11}{'window':>7}{'min':>7}{'cool-down':>11}  condition")
    for rule in rules:
        click.echo(f"{rule.name:<{width}}{rule.use_case or 'all':<11}{duration_text(rule.window_seconds):>7}"
                   f"{rule.min_count:>7}{duration_text(rule.cooldown_seconds):>11}  {rule.condition}")


@alerts_group.command("remove")
@click.argument("name")
def remove_command(name: str) -> None:
    """Remove the rule NAME (its open alerts are resolved, and sent so; past ones stay)."""
    if remove_and_resolve(name) is None:
        raise click.ClickException(f"no rule named {name!r}")
    click.echo(f"{name}: removed")


@alerts_group.command("history")
def history_command() -> None:
    """The last 20 alerts, newest first."""
    events = recent_alerts()
    if not events:
        click.echo("no alert has fired yet")
    for event in events:
        state = "FIRING" if event.resolved_at is None else f"resolved {stamp(event.resolved_at)}"
        click.echo(f"{stamp(event.fired_at)}  {event.rule:<24}{event.use_case:<11}{event.condition} "
                   f"(value {event.value:.4g})  {state}")
