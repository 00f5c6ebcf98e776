"""The model registry: versions on disk, an integrity check, and the active pointer.

    artifacts/<name>/<version>/model.joblib   the fitted model (written by training only)
    artifacts/<name>/<version>/card.json      version, created_at, sha256, metrics, ...

A model file is unpickled only after its sha256 matches its card. The active
version of each model lives in the database (newest when none was chosen);
if it fails to load, the newest version that loads is served instead and
:meth:`Registry.health` reports the problem.

Hot swap: every worker process reads the active versions from the database
once a second (:meth:`Registry.sync`, in a background thread), loads and
checks a newly chosen version off the request path, then swaps it in with one
assignment. A request takes one :class:`Loaded` and is served wholly by it.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
from flask import Flask, Request, current_app
from sqlalchemy import String, select
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.local import LocalProxy
from werkzeug.utils import cached_property

from mlapi.background import ProcessLoop
from mlapi.errors import ModelUnavailable
from mlapi.extensions import db
from mlapi.metrics import model_load_failures_total
from mlapi.usecase import Trained, UseCase

log = logging.getLogger(__name__)

MODEL_FILE = "model.joblib"
CARD_FILE = "card.json"
VERSION = re.compile(r"v(\d+)")


class ActiveVersion(db.Model):
    """The version of a model chosen to serve; absent means the newest."""

    __tablename__ = "active_versions"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[str] = mapped_column(String(32))
    changed_at: Mapped[datetime] = mapped_column(default=lambda: datetime.now(UTC))


class Activation(db.Model):
    """Every choice of an active version, oldest first: what rollback goes back along."""

    __tablename__ = "activations"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[str] = mapped_column(String(32))
    activated_at: Mapped[datetime] = mapped_column(default=lambda: datetime.now(UTC))


@dataclass(frozen=True)
class Loaded:
    """A model in memory with the card it was checked against."""

    name: str
    version: str
    model: Any
    card: dict[str, Any]


class ArtifactRefused(Exception):
    """A version that must not be served: missing, unreadable, or failing its sha256."""


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


class Registry:
    """Every use case's versions, and the one loaded version of each that serves."""

    def __init__(self, artifacts_dir: Path, use_cases: Iterable[UseCase]) -> None:
        self.artifacts_dir = artifacts_dir
        self.use_cases = {use_case.name: use_case for use_case in use_cases}
        self.loaded: dict[str, Loaded] = {}
        self.problems: dict[str, list[str]] = {}
        self.refused: set[tuple[str, str]] = set()  # (name, version) that failed: not retried by sync

    # Reading what is on disk

    def versions(self, name: str) -> list[str]:
        """Complete versions of ``name`` (those with a card), oldest first."""
        folder = self.artifacts_dir / name
        if not folder.is_dir():
            return []
        found = [p.name for p in folder.iterdir() if VERSION.fullmatch(p.name) and (p / CARD_FILE).is_file()]
        return sorted(found, key=lambda v: int(v[1:]))

    def card(self, name: str, version: str) -> dict[str, Any]:
        """The card of one version, as written by training."""
        return json.loads((self.artifacts_dir / name / version / CARD_FILE).read_text())

    def active_version(self, name: str, chosen: str | None = None) -> str | None:
        """The chosen version (from the database unless given), else the newest; None when untrained."""
        if chosen is None:
            row = db.session.get(ActiveVersion, name)
            chosen = row.version if row else None
        versions = self.versions(name)
        if chosen in versions:
            return chosen
        return versions[-1] if versions else None

    # Loading

    def load(self, name: str, version: str) -> Loaded:
        """Load one version after checking its sha256 against its card.

        :raises ArtifactRefused: the card or model is missing, or the hash differs.
        """
        folder = self.artifacts_dir / name / version
        try:
            card = self.card(name, version)
            if sha256_of(folder / MODEL_FILE) != card["sha256"]:
                raise ArtifactRefused(f"{name} {version}: {MODEL_FILE} does not match the sha256 in its card")
            model = joblib.load(folder / MODEL_FILE)
        except Exception as error:  # unreadable card, missing file, unpickling failure
            model_load_failures_total.labels(name).inc()
            if isinstance(error, ArtifactRefused):
                raise
            raise ArtifactRefused(f"{name} {version}: cannot be loaded ({type(error).__name__})") from error
        return Loaded(name, version, model, card)

    def load_active(self) -> None:
        """Load the active version of every use case, falling back to the newest good one."""
        for name in self.use_cases:
            self.problems[name] = []
            wanted = self.active_version(name)
            if wanted is None:
                self.problems[name].append(f"{name}: no trained version; run 'flask --app mlapi train {name}'")
                continue
            candidates = [wanted] + [v for v in reversed(self.versions(name)) if v != wanted]
            for version in candidates:
                try:
                    self.loaded[name] = self.load(name, version)
                    break
                except ArtifactRefused as refused:
                    self.refuse(name, version, refused)
            if name in self.loaded and self.problems[name]:
                self.problems[name].append(f"{name}: serving {self.loaded[name].version} instead of {wanted}")

    def refuse(self, name: str, version: str, refused: ArtifactRefused) -> None:
        log.error("model refused: %s", refused)
        self.refused.add((name, version))
        self.problems[name].append(str(refused))

    def sync(self) -> None:
        """Serve what the database says is active now; a version that fails is never served."""
        chosen = {row.name: row.version for row in db.session.scalars(select(ActiveVersion))}
        for name in self.use_cases:
            wanted = self.active_version(name, chosen.get(name))
            serving = self.loaded.get(name)
            if wanted is None or (serving and serving.version == wanted) or (name, wanted) in self.refused:
                continue
            try:
                loaded = self.load(name, wanted)
            except ArtifactRefused as refused:
                self.refuse(name, wanted, refused)
                continue
            self.loaded[name] = loaded
            self.problems[name] = []
            log.info("now serving %s %s", name, wanted)

    def get(self, name: str) -> Loaded:
        """The serving version of ``name``.

        :raises ModelUnavailable: no version of it could be loaded.
        """
        try:
            return self.loaded[name]
        except KeyError:
            raise ModelUnavailable(f"The {name} model is not available right now; try again later.") from None

    def activate(self, name: str, version: str) -> Loaded:
        """Load and check ``version``, then make it the one that serves.

        :raises ArtifactRefused: the version does not exist or fails its check.
        """
        if version not in self.versions(name):
            raise ArtifactRefused(f"{name} has no version {version}")
        loaded = self.load(name, version)
        self.choose(name, version)
        self.loaded[name] = loaded
        self.problems[name] = []
        return loaded

    def choose(self, name: str, version: str) -> None:
        """Record ``version`` as the active one, and in the history."""
        now = datetime.now(UTC)
        db.session.merge(ActiveVersion(name=name, version=version, changed_at=now))
        db.session.add(Activation(name=name, version=version, activated_at=now))
        db.session.commit()

    def pin(self, name: str) -> None:
        """Make the version serving now the chosen one, so that a newer version does not take over."""
        current = self.active_version(name)
        if current is not None and db.session.get(ActiveVersion, name) is None:
            self.choose(name, current)

    def rollback(self, name: str) -> Loaded:
        """Go back to the version that was active before the current one.

        :raises ArtifactRefused: there is none left, or it fails its check.
        """
        current = self.active_version(name)
        history = db.session.scalars(
            select(Activation.version).where(Activation.name == name).order_by(Activation.id.desc())
        ).all()
        earlier = [v for v in history if v != current and v in self.versions(name)]
        if not earlier:
            raise ArtifactRefused(f"{name} has no earlier active version to roll back to")
        return self.activate(name, earlier[0])

    def delete(self, name: str, version: str) -> None:
        """Remove a version from disk; never the active one.

        :raises ArtifactRefused: the version is active, serving, or does not exist.
        """
        serving = self.loaded.get(name)
        if version == self.active_version(name) or (serving and serving.version == version):
            raise ArtifactRefused(f"{name} {version} is active: activate another version before deleting it")
        if version not in self.versions(name):
            raise ArtifactRefused(f"{name} has no version {version}")
        shutil.rmtree(self.artifacts_dir / name / version)

    def health(self) -> tuple[bool, dict[str, str | None], list[str]]:
        """Whether every model serves its active version; the serving versions; the problems."""
        models = {name: (self.loaded[name].version if name in self.loaded else None) for name in self.use_cases}
        problems = [problem for name in self.use_cases for problem in self.problems.get(name, [])]
        return not problems, models, problems

    # Writing (training only)

    def save(self, name: str, trained: Trained, extra: dict[str, Any]) -> dict[str, Any]:
        """Write ``trained`` as the next version of ``name`` and return its card.

        The card is written last, so a half-written version is never listed.
        """
        versions = self.versions(name)
        number = max((int(v[1:]) for v in versions), default=0) + 1
        folder = self.artifacts_dir / name / f"v{number}"
        folder.mkdir(parents=True, exist_ok=False)
        joblib.dump(trained.model, folder / MODEL_FILE)
        card = {
            "version": folder.name,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "sha256": sha256_of(folder / MODEL_FILE),
            "metrics": trained.metrics,
            "dataset": trained.dataset,
            "params": trained.params,
            "label_shares": trained.label_shares,
            **extra,
        }
        partial = folder / (CARD_FILE + ".partial")
        partial.write_text(json.dumps(card, indent=2))
        os.replace(partial, folder / CARD_FILE)
        return card


def init_registry(app: Flask, use_cases: Iterable[UseCase]) -> Registry:
    """Create the app's registry, load the active version of every model, keep it in sync."""
    made = Registry(Path(app.config["ARTIFACTS_DIR"]), use_cases)
    app.extensions["registry"] = made
    with app.app_context():
        made.load_active()

    def sync_in_app() -> None:
        with app.app_context():
            made.sync()

    syncing = ProcessLoop("mlapi-registry-sync", app.config["SYNC_SECONDS"], sync_in_app)
    app.before_request(syncing.ensure_started)
    return made


registry: Registry = LocalProxy(lambda: current_app.extensions["registry"])  # type: ignore[assignment]


class UseCaseRequest(Request):
    """Flask's request, knowing its use case: several hooks ask for it, and it is found once a request."""

    @cached_property
    def use_case(self) -> UseCase | None:
        """The use case whose route this request matched (its blueprint), or None.

        Routing happens as the request starts, before any hook or view can ask.
        """
        return current_app.extensions["registry"].use_cases.get(self.blueprint or "")
