"""API keys (stored only as hashes), roles, and who is calling.

Every request is authenticated in one ``before_request`` hook, so a new endpoint
is covered without opting in. A key goes in ``Authorization: Bearer <key>`` or
``X-API-Key``, on any route; a page also takes the key a person entered once
(:data:`SESSION_KEY`, kept in the page session cookie). No key is the anonymous
tier (when allowed); a key that is unknown, revoked or empty is a 401, never
anonymous. With ``ALLOW_ANONYMOUS`` false, the use cases' pages ask for a key
too. Endpoints marked with :func:`admin_only` answer 401 without a key and 403
to a client key.

A key reads ``mlapi_<lookup id>_<secret>``: the lookup id is public and finds
the row; the SHA-256 of the whole key is then compared with the stored one in
constant time. The secret is 256 random bits, so a plain SHA-256 is the right
hash (a slow password hash protects guessable secrets, which these are not).

A key found valid is remembered by each worker for VERIFIED_FOR_SECONDS, so a
client's stream of requests costs one database query a second, not one each: a key
revoked in the database is refused by every worker within that second. While the
database cannot be reached, a key verified in the last ``KEY_GRACE_SECONDS`` keeps
working (a revocation made meanwhile takes effect when the database answers again);
any other key is a 503 with ``Retry-After`` (:mod:`mlapi.storage.outages`).
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from flask import Flask, Request, current_app, render_template, request, session
from flask_babel import gettext
from sqlalchemy import String, select
from sqlalchemy.orm import Mapped, mapped_column

from mlapi import extensions
from mlapi.access.cors import is_preflight
from mlapi.errors import MlapiError
from mlapi.storage.database import db
from mlapi.storage.outages import REQUEST_DEADLINE_SECONDS, DatabaseUnavailable, Outage, deadline
from mlapi.words import N_

ROLES = ("client", "admin")
KEY_PREFIX = "mlapi"
PUBLIC_ENDPOINTS = {"api.health", "docs.openapi_json", "docs.swagger_ui"}  # probes, and docs for everyone
SESSION_KEY = "api_key"  # a page session's key: its lookup id and SHA-256, never the key itself
VERIFIED_FOR_SECONDS = 1.0  # how long a worker trusts a key it found valid; a revocation waits at most this
MAX_VERIFIED = 10_000  # keys remembered per worker before they are all forgotten at once


class Unauthorized(MlapiError):
    """No usable key where one is needed."""

    status = 401


class KeyNeeded(Unauthorized):
    """A page that reaches a model, asked without a key while anonymous callers are not allowed."""


class Forbidden(MlapiError):
    """A valid key whose role may not do this."""

    status = 403


class ApiKey(db.Model):
    """A named key: its hash, role, optional own limits (requests, items) and usage."""

    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    lookup_id: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    rate_limit: Mapped[str | None] = mapped_column(String(64))
    item_limit: Mapped[str | None] = mapped_column(String(64))
    can_publish: Mapped[bool | None] = mapped_column(default=False)  # a client key that may publish models
    created_at: Mapped[datetime] = mapped_column(default=lambda: datetime.now(UTC))
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]  # a key made for a class can end with it
    usage_day: Mapped[date | None]
    requests_on_usage_day: Mapped[int] = mapped_column(default=0)

    def expired(self) -> bool:
        """Whether the key has an expiry date and it has come (stored naive, as UTC)."""
        if self.expires_at is None:
            return False
        expires = self.expires_at if self.expires_at.tzinfo else self.expires_at.replace(tzinfo=UTC)
        return expires <= datetime.now(UTC)

    def requests_today(self) -> int:
        return self.requests_on_usage_day if self.usage_day == datetime.now(UTC).date() else 0


@dataclass(frozen=True)
class Caller:
    """Who is calling: a key's name and role, or anonymous (name None)."""

    name: str | None = None
    role: str = "anonymous"
    rate_limit: str | None = None  # its own requests per window, else the tier's
    item_limit: str | None = None  # its own items per window, else the tier's
    can_publish: bool = False  # may publish models (admins always may)

    @property
    def may_publish(self) -> bool:
        return self.role == "admin" or self.can_publish


ANONYMOUS = Caller()


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(name: str, role: str, rate_limit: str | None = None, item_limit: str | None = None,
               can_publish: bool = False, expires_at: datetime | None = None, commit: bool = True) -> str:
    """Store a new key for ``name`` and return it: the only time it is ever shown (``commit``: now, else
    with the caller's next commit)."""
    lookup_id = secrets.token_hex(6)
    key = f"{KEY_PREFIX}_{lookup_id}_{secrets.token_urlsafe(32)}"
    db.session.add(ApiKey(name=name, role=role, lookup_id=lookup_id, key_hash=hash_key(key), rate_limit=rate_limit,
                          item_limit=item_limit, can_publish=can_publish, expires_at=expires_at))
    if commit:
        db.session.commit()
    return key


def presented_key(req: Request) -> str | None:
    """The key the request carries, from ``Authorization: Bearer`` or ``X-API-Key``.

    :raises Unauthorized: an ``Authorization`` header of another scheme.
    """
    header = req.headers.get("Authorization")
    if header is not None:
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise Unauthorized(N_("Send the key as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'."))
        return key.strip()
    key = req.headers.get("X-API-Key")
    if key is not None and not key.strip():
        raise Unauthorized(N_("The X-API-Key header is empty: send your key in it, or leave the header out."))
    return key.strip() if key is not None else None


def lookup_id_of(key: str) -> str | None:
    """The public lookup id of a key of mlapi's shape (``mlapi_<lookup id>_<secret>``), else None."""
    prefix, _, rest = key.partition("_")
    lookup_id, _, secret = rest.partition("_")
    return lookup_id if prefix == KEY_PREFIX and lookup_id and secret else None


def find_key(key: str) -> ApiKey | None:
    """The live (not revoked) key row matching ``key``, its hash compared in constant time."""
    lookup_id = lookup_id_of(key)
    return find_key_by_digest(lookup_id, hash_key(key)) if lookup_id else None


def find_key_by_digest(lookup_id: str, digest: str) -> ApiKey | None:
    """The live key row (not revoked, not expired) with this lookup id and SHA-256 (compared in constant time)."""
    row = db.session.scalar(select(ApiKey).where(ApiKey.lookup_id == lookup_id))
    if row is None or row.revoked_at is not None or not hmac.compare_digest(row.key_hash, digest) or row.expired():
        return None
    return row


class VerifiedKeys:
    """The keys this worker found valid, by their SHA-256: trusted for VERIFIED_FOR_SECONDS, and
    for ``grace`` seconds after their last check while the database cannot be reached."""

    def __init__(self, grace: float, database: Outage) -> None:
        self.grace = grace
        self.database = database
        self.entries: dict[str, tuple[float, int, Caller]] = {}  # digest -> (verified at, key id, caller)

    def forget(self) -> None:
        """Trust no remembered key any more (this worker revoked one)."""
        self.entries.clear()

    def caller(self, key: str) -> tuple[int, Caller] | None:
        """The key's id and caller, from memory if it was found valid just now, else from the database."""
        lookup_id = lookup_id_of(key)
        return self.caller_by_digest(lookup_id, hash_key(key)) if lookup_id else None

    def caller_by_digest(self, lookup_id: str, digest: str) -> tuple[int, Caller] | None:
        """:meth:`caller` for a key known by its lookup id and SHA-256 (a page session's)."""
        entry = self.entries.get(digest)
        if entry is not None and time.monotonic() - entry[0] < VERIFIED_FOR_SECONDS:
            return entry[1], entry[2]
        if not self.database.up:  # known to be away: answer at once, the background loops watch for its return
            return self.in_grace(entry)
        try:
            with deadline(REQUEST_DEADLINE_SECONDS):
                row = find_key_by_digest(lookup_id, digest)
                found = (row.id, Caller(row.name, row.role, row.rate_limit, row.item_limit, bool(row.can_publish))) \
                    if row else None
        except Exception as error:
            self.database.absorb(error)
            return self.in_grace(entry)
        self.database.answered()
        if found is None:
            return None
        if len(self.entries) >= MAX_VERIFIED:
            self.entries.clear()
        self.entries[digest] = (time.monotonic(), *found)
        return found


    def in_grace(self, entry: tuple[float, int, Caller] | None) -> tuple[int, Caller]:
        """The remembered caller while the database is away, if its key was verified recently enough.

        :raises DatabaseUnavailable: it was not (503, Retry-After).
        """
        if entry is not None and time.monotonic() - entry[0] < self.grace:
            return entry[1], entry[2]
        raise DatabaseUnavailable(N_("The API key cannot be checked right now: the database is unreachable. "
                                     "Try again in a few seconds."))


def required_role(app: Flask, req: Request) -> str:
    """The role the matched view asks for: ``admin`` for :func:`admin_only` views, else ``client``."""
    view = app.view_functions.get(req.endpoint or "")
    return getattr(view, "required_role", "client")


def authenticate() -> None:
    """Name the caller (``request.state.caller``) from the request's key or the page session's; enforce the role.

    :raises Unauthorized: a bad or empty key, or no key where one is needed (401).
    :raises KeyNeeded: a use case's page without a key while anonymous callers are not allowed (401).
    :raises Forbidden: a client key on an admin endpoint (403).
    """
    app, req = current_app._get_current_object(), request._get_current_object()
    if is_preflight(req):
        return
    state = req.state
    api = req.path.startswith("/api/")
    key = presented_key(req)
    if key is not None:
        found = extensions.verified_keys(app).caller(key)
        if found is None:
            if app.config["ALLOW_ANONYMOUS"]:
                raise Unauthorized(N_("The API key is unknown, revoked or expired; ask whoever gave it to you for a "
                                      "new one, or leave the key out to use the anonymous tier."))
            raise Unauthorized(N_("The API key is unknown, revoked or expired; ask whoever gave it to you for a new "
                                  "one."))
    else:
        found = None if api else session_caller(app)
    if found is not None:
        key_id, state.caller = found
        extensions.key_usage(app).add(key_id)
    if api and req.endpoint in PUBLIC_ENDPOINTS:
        return
    role = state.caller.role
    if api and required_role(app, req) == "admin":
        if role == "anonymous":
            raise Unauthorized(N_("This endpoint needs an API key: send 'Authorization: Bearer <key>'."))
        if role != "admin":
            raise Forbidden(N_("This endpoint needs an admin key; yours is a client key."))
    elif role == "anonymous" and not app.config["ALLOW_ANONYMOUS"]:
        if api:
            raise Unauthorized(N_("This endpoint needs an API key: send 'Authorization: Bearer <key>'."))
        if req.use_case is not None:
            raise KeyNeeded(N_("This service needs an API key: enter yours to use its pages."))


def session_caller(app: Flask) -> tuple[int, Caller] | None:
    """The key a person entered on a page of this browser, if it is still valid (else it is forgotten)."""
    saved = session.get(SESSION_KEY)
    if not isinstance(saved, dict):
        return None
    found = extensions.verified_keys(app).caller_by_digest(str(saved.get("lookup")), str(saved.get("digest")))
    if found is None:
        session.pop(SESSION_KEY, None)
    return found


def remember_key(lookup_id: str, digest: str) -> None:
    """Keep a key for this browser's pages, by its lookup id and hash."""
    session[SESSION_KEY] = {"lookup": lookup_id, "digest": digest}


def key_page(error: KeyNeeded):
    """The page that asks for a key, then brings the person back where they were."""
    return render_template("errors/key_needed.html", detail=gettext(error.detail), next=request.path), error.status


def admin_only(view: Callable) -> Callable:
    """Mark a view as needing an admin key (checked by :func:`authenticate`)."""
    view.required_role = "admin"
    return view


def init_app(app: Flask) -> None:
    """The app's verified keys and its key page (the hook is in :mod:`mlapi.request_path`)."""
    extensions.verified_keys.install(app, VerifiedKeys(float(app.config["KEY_GRACE_SECONDS"]),
                                                       extensions.database_outage(app)))
    app.register_error_handler(KeyNeeded, key_page)
