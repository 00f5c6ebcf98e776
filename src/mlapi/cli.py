"""flask --app mlapi train | models."""
from __future__ import annotations

from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from mlapi.catalog import USE_CASES
from mlapi.registry import ArtifactRefused, registry
from mlapi.training import train_use_case

NAMES = [use_case.name for use_case in USE_CASES]


@click.command("train")
@click.argument("name", type=click.Choice(["all", *NAMES]), default="all")
@click.option("--missing", is_flag=True, help="Only use cases that have no trained version yet.")
@click.option("--sample", type=click.FloatRange(0.01, 1.0), default=1.0, show_default=True,
              help="Fraction of the data to train on (quick trials).")
@with_appcontext
def train_command(name: str, missing: bool, sample: float) -> None:
    """Train NAME (or all) as a new version and print its held-out metrics."""
    data_dir = Path(current_app.config["DATA_DIR"])
    for chosen in NAMES if name == "all" else [name]:
        if missing and registry.versions(chosen):
            click.echo(f"{chosen}: already trained ({registry.versions(chosen)[-1]}), skipped")
            continue
        steps = registry.use_cases[chosen].training_steps
        with click.progressbar(length=len(steps) + 1, label=f"Training {chosen}", item_show_func=lambda s: s) as bar:
            card = train_use_case(registry, chosen, data_dir, sample, step=lambda label: bar.update(1, label))
            bar.update(1, "saved")
        click.echo(f"{chosen} {card['version']} held-out metrics:")
        for metric, value in card["metrics"].items():
            click.echo(f"  {metric}: {value}")


models_group = AppGroup("models", help="List versions and choose the one that serves.")


@models_group.command("list")
def list_models() -> None:
    """Every version of every model with its metrics; * marks the one serving."""
    for name in registry.use_cases:
        serving = registry.loaded.get(name)
        click.echo(name)
        for version in registry.versions(name):
            mark = "*" if serving and serving.version == version else " "
            metrics = registry.card(name, version)["metrics"]
            figures = ", ".join(f"{key}={value}" for key, value in metrics.items() if isinstance(value, float))
            click.echo(f"  {mark} {version}  {figures}")


@models_group.command("activate")
@click.argument("name", type=click.Choice(NAMES))
@click.argument("version")
def activate(name: str, version: str) -> None:
    """Make VERSION of NAME the one that serves (it is loaded and checked first)."""
    try:
        registry.activate(name, version)
    except ArtifactRefused as refused:
        raise click.ClickException(str(refused)) from None
    click.echo(f"{name}: {version} is now active")


def init_app(app: Flask) -> None:
    """Register the commands on ``app``."""
    app.cli.add_command(train_command)
    app.cli.add_command(models_group)
