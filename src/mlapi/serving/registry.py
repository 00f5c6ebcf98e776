"""The model registry: versions on disk, an integrity check, and the active pointer.

    artifacts/<name>/<version>/model.skops   the fitted model (skops: loads without running code)
    artifacts/<name>/<version>/card.json     version, created_at, sha256, metrics, ...

A model file is read only after its sha256 matches its card, and only if every type it names
is on the server's allow-list (:mod:`mlapi.serving.model_files`); a pickle is never loaded. The active
version of each model is always an explicit choice recorded in the database: the first start
records the newest version, and after that a new folder serves only once an admin activates it.
If the active version fails to load, the version active before it serves instead and
:meth:`Registry.health` reports the problem; a refused version is tried again when its files
change or when it is activated again.

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

from flask import Flask
from sqlalchemy import String, select
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.local import LocalProxy

from mlapi import extensions
from mlapi.errors import ModelUnavailable
from mlapi.observability.metrics import model_load_failures_total
from mlapi.serving.model_files import PUBLISHED_TYPES, TypeNotAllowed, load_model, save_model
from mlapi.storage.background import ProcessLoop
from mlapi.storage.database import db
from mlapi.storage.outages import BACKGROUND_DEADLINE_SECONDS, REQUEST_DEADLINE_SECONDS, deadline
from mlapi.usecase import Trained, UseCase
from mlapi.words import N_

log = logging.getLogger(__name__)

MODEL_FILE = "model.skops"
PICKLE_FILE = "model.joblib"  # what versions saved before skops hold: never loaded
CARD_FILE = "card.json"
VERSION = re.compile(r"v(\d+)")
TRIALS = 4  # versions a worker keeps loaded to be tried before activation (POST /api/v1/<name>?version=vN)


class ActiveVersion(db.Model):
    """The version of a model chosen to serve (recorded at the first start, then by admins)."""

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
    stepped_back: Mapped[bool | None] = mapped_column(default=False)  # a rollback, not a choice of its own


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
        self.refused: dict[tuple[str, str], tuple] = {}  # (name, version) -> what it was refused with
        self.remembered: dict[str, str] = {}  # the active versions last read, shown while the database is away
        self.tried: dict[tuple[str, str], tuple[tuple, Loaded]] = {}  # versions tried before activation
        self.syncing = ProcessLoop("mlapi-registry-sync", 0, lambda: None)  # init_registry sets the app's loop

    # Reading what is on disk

    def versions(self, name: str) -> list[str]:
        """Complete versions of ``name`` (a card and a skops model file), oldest first."""
        return [v for v in self.folders(name) if (self.artifacts_dir / name / v / MODEL_FILE).is_file()]

    def folders(self, name: str) -> list[str]:
        """Every version folder of ``name`` with a card, whatever its model file, oldest first."""
        folder = self.artifacts_dir / name
        if not folder.is_dir():
            return []
        found = [p.name for p in folder.iterdir() if VERSION.fullmatch(p.name) and (p / CARD_FILE).is_file()]
        return sorted(found, key=lambda v: int(v[1:]))

    def card(self, name: str, version: str) -> dict[str, Any]:
        """The card of one version, as written by training."""
        return json.loads((self.artifacts_dir / name / version / CARD_FILE).read_text())

    def chosen_versions(self) -> dict[str, tuple[str, datetime]]:
        """The recorded choice of every use case that has one: version and when it was chosen."""
        with deadline(BACKGROUND_DEADLINE_SECONDS):
            chosen = {row.name: (row.version, row.changed_at) for row in db.session.scalars(select(ActiveVersion))}
        self.remembered = {name: version for name, (version, _) in chosen.items()}
        return chosen

    def active_version(self, name: str) -> str | None:
        """The version recorded as active (the one last read while the database is away); None if none is."""
        database = extensions.database_outage()
        if not database.up:
            return self.remembered.get(name)
        try:
            with deadline(REQUEST_DEADLINE_SECONDS):
                row = db.session.get(ActiveVersion, name)
                version = row.version if row else None
        except Exception as error:
            database.absorb(error)
            return self.remembered.get(name)
        return version

    def fingerprint(self, name: str, version: str) -> tuple:
        """Size and modification time of the version's files: they change when a copy completes."""
        folder = self.artifacts_dir / name / version
        stats = []
        for file in (CARD_FILE, MODEL_FILE):
            try:
                stat = (folder / file).stat()
                stats.append((stat.st_size, stat.st_mtime_ns))
            except OSError:
                stats.append(None)
        return tuple(stats)

    # Loading

    def load(self, name: str, version: str) -> Loaded:
        """Load one version after checking its sha256 against its card and its types against the allow-list.

        :raises ArtifactRefused: the card or model is missing, the hash differs, or a type is not allowed.
        """
        folder = self.artifacts_dir / name / version
        try:
            card = self.card(name, version)
            if not (folder / MODEL_FILE).is_file() and (folder / PICKLE_FILE).is_file():
                raise ArtifactRefused(N_("{name} {version}: {file} is a pickle, which mlapi never loads; train again: "
                                         "flask --app mlapi train {name}").format(name=name, version=version,
                                                                                 file=PICKLE_FILE))
            if sha256_of(folder / MODEL_FILE) != card["sha256"]:
                raise ArtifactRefused(N_("{name} {version}: {file} does not match the sha256 in its card").format(
                    name=name, version=version, file=MODEL_FILE))
            model = self.read(name, folder / MODEL_FILE, card)
        except Exception as error:  # unreadable card, missing file, a type not allowed, a damaged file
            model_load_failures_total.labels(name).inc()
            if isinstance(error, ArtifactRefused):
                raise
            if isinstance(error, TypeNotAllowed):
                raise ArtifactRefused(f"{name} {version}: {error}") from error
            raise ArtifactRefused(N_("{name} {version}: cannot be loaded ({error})").format(
                name=name, version=version, error=type(error).__name__)) from error
        return Loaded(name, version, model, card)

    def read(self, name: str, path: Path, card: dict[str, Any]) -> Any:
        """The model in ``path``: a trained one as saved, a published one wrapped by its use case for serving.

        :raises ArtifactRefused: a published version of a use case that no longer takes them.
        :raises TypeNotAllowed: the file names a type outside the allow-list.
        """
        use_case = self.use_cases[name]
        if card.get("source") != "published":
            return load_model(path, use_case.model_types)
        if use_case.publishing is None:
            raise ArtifactRefused(N_("{name} {version}: a published model, which {name} does not take").format(
                name=name, version=card.get("version")))
        return use_case.publishing.serve(load_model(path, PUBLISHED_TYPES), card.get("serving", {}))

    def load_active(self) -> None:
        """Load the active version of every use case.

        If the active version fails, the versions active before it are tried, most recent first:
        never a version nobody chose. With none recorded (the first start), the newest version that
        loads is recorded as the active one.
        """
        chosen = self.chosen_versions()
        for name in self.use_cases:
            self.problems[name] = []
            wanted, chosen_at = chosen.get(name, (None, None))
            candidates = [wanted] + [v for v in self.history(name) if v != wanted] if wanted else \
                list(reversed(self.versions(name)))
            if not candidates:
                self.problems[name].append(self.nothing_to_serve(name))
                continue
            for version in candidates:
                try:
                    self.loaded[name] = self.load(name, version)
                    break
                except ArtifactRefused as refused:
                    self.refuse(name, version, refused, chosen_at if version == wanted else None)
            if wanted is None and name in self.loaded:
                self.record_first(name, self.loaded[name].version)
            elif name in self.loaded and self.problems[name]:
                self.problems[name].append(f"{name}: serving {self.loaded[name].version} instead of {wanted}")

    def nothing_to_serve(self, name: str) -> str:
        """Why ``name`` has no version to serve, and what to run."""
        pickled = [v for v in self.folders(name) if (self.artifacts_dir / name / v / PICKLE_FILE).is_file()]
        if pickled:
            return (f"{name}: {', '.join(pickled)} hold a pickle ({PICKLE_FILE}), which mlapi never loads; "
                    f"train again: flask --app mlapi train {name}")
        return f"{name}: no trained version; run 'flask --app mlapi train {name}'"

    def record_first(self, name: str, version: str) -> None:
        """Record ``version`` as active where no choice was recorded yet (the first start or training)."""
        self.choose(name, version)
        log.info("%s: no active version was recorded; %s recorded as active", name, version)

    def history(self, name: str) -> list[str]:
        """The versions once active, most recent first, each once."""
        rows = db.session.scalars(
            select(Activation.version).where(Activation.name == name).order_by(Activation.id.desc())
        ).all()
        return list(dict.fromkeys(rows))

    def refuse(self, name: str, version: str, refused: ArtifactRefused, chosen_at: datetime | None = None) -> None:
        log.error("model refused: %s", refused)
        self.refused[(name, version)] = (self.fingerprint(name, version), chosen_at)
        self.problems[name].append(str(refused))

    def sync(self) -> None:
        """Serve what the database says is active now.

        A refused version is tried again only when its files changed or it was activated again since.
        """
        for name, (wanted, chosen_at) in self.chosen_versions().items():
            serving = self.loaded.get(name)
            if name not in self.use_cases or (serving and serving.version == wanted):
                continue
            if self.refused.get((name, wanted)) == (self.fingerprint(name, wanted), chosen_at):
                continue
            try:
                loaded = self.load(name, wanted)
            except ArtifactRefused as refused:
                self.problems[name] = [p for p in self.problems.get(name, []) if not p.startswith(f"{name} {wanted}:")]
                self.refuse(name, wanted, refused, chosen_at)
                continue
            self.refused.pop((name, wanted), None)
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
            raise ModelUnavailable(N_("The {name} model is not available right now; try again later.").format(
                name=name)) from None

    def trial(self, name: str, version: str) -> Loaded:
        """``version`` of ``name`` loaded to be tried before it is active: the serving one if it is that,
        else kept among the TRIALS last tried (reloaded when its files change).

        :raises ArtifactRefused: the version does not exist or fails its check.
        """
        serving = self.loaded.get(name)
        if serving and serving.version == version:
            return serving
        if version not in self.versions(name):
            raise ArtifactRefused(N_("{name} has no version {version}").format(name=name, version=version))
        fingerprint = self.fingerprint(name, version)
        kept = self.tried.get((name, version))
        if kept is None or kept[0] != fingerprint:
            kept = (fingerprint, self.load(name, version))
            if len(self.tried) >= TRIALS:
                self.tried.pop(next(iter(self.tried)))
        self.tried[(name, version)] = kept
        return kept[1]

    def activate(self, name: str, version: str, rollback: bool = False) -> Loaded:
        """Load and check ``version``, then make it the one that serves (``rollback``: as a step back).

        :raises ArtifactRefused: the version does not exist or fails its check.
        """
        if version not in self.folders(name):
            raise ArtifactRefused(N_("{name} has no version {version}").format(name=name, version=version))
        loaded = self.load(name, version)
        self.choose(name, version, rollback)
        self.refused.pop((name, version), None)
        self.loaded[name] = loaded
        self.problems[name] = []
        return loaded

    def choose(self, name: str, version: str, rollback: bool = False) -> None:
        """Record ``version`` as the active one, and in the history.

        :raises sqlalchemy.exc.OperationalError: the database is away: nothing changed (a 503 to a client).
        """
        now = datetime.now(UTC)
        try:
            with deadline(REQUEST_DEADLINE_SECONDS):
                db.session.merge(ActiveVersion(name=name, version=version, changed_at=now))
                db.session.add(Activation(name=name, version=version, activated_at=now, stepped_back=rollback))
                db.session.commit()
        except Exception:
            db.session.rollback()
            raise
        self.remembered[name] = version

    def pin(self, name: str) -> None:
        """Record the newest version as active when none that can load is recorded (the first training)."""
        versions = self.versions(name)
        if versions and self.active_version(name) not in versions:
            self.record_first(name, versions[-1])

    def rollback_target(self, name: str) -> str | None:
        """The version a rollback would serve: the one activated before the current one, walking back along
        the activations (v3 -> v2 -> v1, never back to v3), skipping versions no longer on disk."""
        database = extensions.database_outage()
        try:
            with deadline(REQUEST_DEADLINE_SECONDS):
                rows = db.session.execute(select(Activation.version, Activation.stepped_back)
                                          .where(Activation.name == name).order_by(Activation.id)).all()
        except Exception as error:
            database.absorb(error)  # the database is away: no rollback can be recorded anyway
            return None
        stack: list[str] = []
        for version, stepped_back in rows:
            if stepped_back and version in stack:
                del stack[stack.index(version) + 1:]  # the versions rolled back from are left behind
            elif not stack or stack[-1] != version:
                stack.append(version)
        current, on_disk = self.active_version(name), set(self.versions(name))
        return next((version for version in reversed(stack) if version != current and version in on_disk), None)

    def rollback(self, name: str) -> Loaded:
        """Serve :meth:`rollback_target` again.

        :raises ArtifactRefused: there is none left, or it fails its check.
        """
        target = self.rollback_target(name)
        if target is None:
            raise ArtifactRefused(N_("{name} has no earlier active version to roll back to").format(name=name))
        return self.activate(name, target, rollback=True)

    def delete(self, name: str, version: str) -> None:
        """Remove a version's files; never the active one. Its empty folder stays, so its number is never
        given to another version (the activation history, rollback and the logs name versions by number).

        :raises ArtifactRefused: the version is active, serving, or does not exist.
        """
        serving = self.loaded.get(name)
        if version == self.active_version(name) or (serving and serving.version == version):
            raise ArtifactRefused(N_("{name} {version} is active: activate another version before deleting it").format(
                name=name, version=version))
        if version not in self.folders(name):
            raise ArtifactRefused(N_("{name} has no version {version}").format(name=name, version=version))
        folder = self.artifacts_dir / name / version
        (folder / CARD_FILE).unlink()  # first: a version without its card is no longer listed
        shutil.rmtree(folder)
        folder.mkdir()

    def health(self) -> tuple[bool, dict[str, str | None], list[str]]:
        """Whether every model serves its active version; the serving versions; the problems."""
        models = {name: (self.loaded[name].version if name in self.loaded else None) for name in self.use_cases}
        problems = [problem for name in self.use_cases for problem in self.problems.get(name, [])]
        return not problems, models, problems

    def published_by(self, publisher: str) -> list[str]:
        """The versions on disk that ``publisher`` (a key's name) published, as 'name vN'."""
        return [f"{name} {version}" for name in self.use_cases for version in self.folders(name)
                if self.card(name, version).get("publisher") == publisher]

    # Writing: training and publishing

    def save(self, name: str, trained: Trained, extra: dict[str, Any]) -> dict[str, Any]:
        """Write ``trained`` as the next version of ``name`` and return its card.

        The card is written last, so a half-written version is never listed.
        """
        folder = self.new_folder(name)
        save_model(trained.model, folder / MODEL_FILE)
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
        return write_card(folder, card)

    def save_published(self, name: str, model_file: Path, card: dict[str, Any]) -> dict[str, Any]:
        """Copy a checked upload in as the next version of ``name`` with ``card``; the card with its version."""
        folder = self.new_folder(name)
        shutil.copyfile(model_file, folder / MODEL_FILE)
        return write_card(folder, {"version": folder.name, **{key: value for key, value in card.items()
                                                              if key != "version"}})

    def new_folder(self, name: str) -> Path:
        """Create the folder of the next version of ``name`` (another process may take a number first)."""
        while True:
            taken = [int(p.name[1:]) for p in (self.artifacts_dir / name).glob("v*") if VERSION.fullmatch(p.name)]
            folder = self.artifacts_dir / name / f"v{max(taken, default=0) + 1}"
            try:
                folder.mkdir(parents=True, exist_ok=False)
            except FileExistsError:
                continue
            return folder


def write_card(folder: Path, card: dict[str, Any]) -> dict[str, Any]:
    """Write ``card`` into ``folder`` in one step (a reader sees all of it or none) and return it."""
    partial = folder / (CARD_FILE + ".partial")
    partial.write_text(json.dumps(card, indent=2))
    os.replace(partial, folder / CARD_FILE)
    return card


def init_registry(app: Flask, use_cases: Iterable[UseCase]) -> Registry:
    """Create the app's registry, load the active version of every model, keep it in sync."""
    made = Registry(Path(app.config["ARTIFACTS_DIR"]), use_cases)
    extensions.registry.install(app, made)
    with app.app_context():
        made.load_active()

    def sync_in_app() -> None:
        database = extensions.database_outage(app)
        with app.app_context():
            try:
                made.sync()
            except Exception as error:
                database.absorb(error)  # the serving versions stay as they are
                return
        database.answered()

    made.syncing = ProcessLoop("mlapi-registry-sync", app.config["SYNC_SECONDS"], sync_in_app)
    return made


def start_sync() -> None:
    """Start this process's sync loop, on its first request (a request hook)."""
    extensions.registry().syncing.ensure_started()


registry: Registry = LocalProxy(extensions.registry)  # type: ignore[assignment]

