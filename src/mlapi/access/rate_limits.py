"""Rate limits with the ``limits`` library, in two dimensions: requests and items, per key (per IP without one).

Every request costs one request, in one counter across the API's routes (the pages have a window of
their own, ``RATELIMIT_PAGES``); a prediction also costs its
items (a batch of N is N), charged once its body has passed the schema and the model's own
check, so a body that breaks the schema costs one request and never its items. A batch larger
than the caller's whole item limit is a 422 that says to split it (waiting would not help); one
that does not fit in what is left of the window is a 429 with ``Retry-After``, and its items are
not counted.

The storage is shared by every worker: LMDB on one machine by default
(:mod:`mlapi.access.lmdb_storage`), Redis across instances (``MLAPI_RATELIMIT_STORAGE=redis://...``).
Fixed one-minute (or whatever the limit says) windows. If the storage is down, requests are
still answered (fail open): each failure is counted (``mlapi_ratelimit_storage_failures_total``),
the outage and the recovery are logged once (:mod:`mlapi.storage.outages`), and limits are exact
again as soon as it answers. Redis connections time out after a second, and while the storage is
away one request in two seconds tries it, so a stalled Redis cannot slow the others.

mlapi calls ``limits`` itself rather than through flask-limiter: with one limit per caller
across every route, flask-limiter's resolution of decorated, blueprint and meta limits was
most of what a limit cost per request (docs/performance.md).
"""
from __future__ import annotations

import math
import time
from functools import cache, lru_cache
from typing import NamedTuple

from flask import Config, Flask, Request, Response, current_app, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import ngettext
from limits import RateLimitItem, parse
from limits.errors import ConfigurationError, StorageError
from limits.storage import storage_from_string
from werkzeug.exceptions import TooManyRequests

import mlapi.access.lmdb_storage  # noqa: F401  (registers the mlapi+lmdb storage scheme)
from mlapi import extensions
from mlapi.access.cors import is_preflight
from mlapi.access.keys import Caller
from mlapi.errors import MlapiError, ValidationFailed, handle_http_exception, handle_mlapi_error
from mlapi.observability.metrics import ratelimit_failures_total
from mlapi.words import N_

UNLIMITED_ENDPOINTS = {"api.health", "web.metrics_text"}  # probes; the live view is limited like pages
STORAGE_EXAMPLES = "mlapi+lmdb:////absolute/folder on one machine, redis://host:6379/0 across instances"
REDIS_TIMEOUTS = {"socket_timeout": 1.0, "socket_connect_timeout": 1.0}
PROBE_SECONDS = 2.0  # while the storage is away, one request in this many seconds tries it; the others skip it


class BatchOverLimit(ValidationFailed):
    """A prediction with more items than the caller's whole item limit: only a smaller batch can pass."""


class ItemsExhausted(MlapiError):
    """A prediction whose items do not fit in what is left of the caller's item window."""

    status = 429


class Window(NamedTuple):
    """Where a request left its caller's window: what the rate headers say."""

    limit: RateLimitItem
    count: int  # units counted in the window, this request's included
    resets_at: float  # epoch seconds

    @property
    def exceeded(self) -> bool:
        return self.count > self.limit.amount

    @property
    def remaining(self) -> int:
        return max(0, self.limit.amount - self.count)


class RateLimits:
    """One app's limiter: its storage and its count of storage failures.

    A fixed window is the storage's own increment (the first hit opens a window that
    expires after the limit's period), so mlapi calls it directly: the request is allowed
    while the count, this hit included, is within the limit (as ``limits``' fixed-window
    strategy decides), and the rate headers come from the same count.
    """

    def __init__(self, app: Flask) -> None:
        self.enabled = bool(app.config["RATELIMIT_ENABLED"])
        uri = app.config["RATELIMIT_STORAGE"]
        timeouts = REDIS_TIMEOUTS if uri.startswith(("redis", "rediss")) else {}
        try:
            self.storage = storage_from_string(uri, wrap_exceptions=True, **timeouts)
        except ConfigurationError as error:
            raise ConfigurationError(f"MLAPI_RATELIMIT_STORAGE: {error} (use {STORAGE_EXAMPLES})") from error
        # One call where the storage can count and answer the window's end together (LMDB), else two.
        self.increment = getattr(self.storage, "incr_with_expiry", self.incr_then_expiry)
        self.pair = getattr(self.storage, "incr_pair", None)  # both windows of a prediction in one call (LMDB)
        self.prefix = app.config["RATELIMIT_KEY_PREFIX"]
        self.outage = extensions.limit_storage_outage(app)
        self.failures = 0
        self.next_probe = 0.0  # while the storage is away, when a request next tries it
        for setting in ("RATELIMIT_ANONYMOUS", "RATELIMIT_CLIENT", "RATELIMIT_ANONYMOUS_ITEMS",
                        "RATELIMIT_CLIENT_ITEMS", "RATELIMIT_PAGES"):
            parsed_limit(app.config[setting])  # a malformed setting stops the start, not a request

    def hit(self, limit: RateLimitItem, identity: str, cost: int) -> Window | None:
        """Count ``cost`` units against ``identity``; None when the storage failed (logged and counted)."""
        key = counter_key(limit, self.prefix, identity)
        if not self.outage.up and time.monotonic() < self.next_probe:
            return self.answered_without_limit()  # known to be away: one request in PROBE_SECONDS tries it
        try:
            count, resets_at = self.increment(key, limit.get_expiry(), cost)
        except StorageError as error:
            self.outage.failed(error.storage_error)
            self.next_probe = time.monotonic() + PROBE_SECONDS
            return self.answered_without_limit()
        if not self.outage.up:
            self.outage.answered()
        return Window(limit, count, resets_at)

    def hit_pair(self, requests: RateLimitItem, items: RateLimitItem, identity: str,
                 count: int) -> tuple[Window | None, Window | None]:
        """One request and ``count`` items against ``identity``, in one storage call where it can (LMDB).

        The request always counts; the items count only if the request was within its limit and they fit
        (otherwise the item window answers as if they had counted, so it shows exceeded). None for a window
        when the storage failed, or for the items when the request was refused.
        """
        if not self.outage.up and time.monotonic() < self.next_probe:
            return self.answered_without_limit(), None
        if self.pair is None:
            return self.hit_one_then_other(requests, items, identity, count)
        request_key, item_key = counter_key(requests, self.prefix, identity), counter_key(items, self.prefix,
                                                                                           "items:" + identity)
        try:
            spent, taken = self.pair((request_key, requests.get_expiry(), 1), requests.amount,
                                     (item_key, items.get_expiry(), count), items.amount)
        except StorageError as error:
            self.outage.failed(error.storage_error)
            self.next_probe = time.monotonic() + PROBE_SECONDS
            return self.answered_without_limit(), None
        if not self.outage.up:
            self.outage.answered()
        window = Window(requests, *spent)
        return window, None if window.exceeded else Window(items, *taken)

    def hit_one_then_other(self, requests: RateLimitItem, items: RateLimitItem, identity: str,
                           count: int) -> tuple[Window | None, Window | None]:
        """:meth:`hit_pair` in two calls, for storages without a pair of counters in one call (Redis)."""
        window = self.hit(requests, identity, 1)
        if window is None or window.exceeded:
            return window, None
        taken = self.hit(items, "items:" + identity, count)
        if taken is not None and taken.exceeded:
            self.hit(items, "items:" + identity, -count)  # refused: its items are given back
        return window, taken

    def answered_without_limit(self) -> None:
        """Count a request answered without a limit."""
        self.failures += 1
        ratelimit_failures_total.inc()

    def incr_then_expiry(self, key: str, expiry: int, amount: int) -> tuple[int, float]:
        """The count after the hit, and the window's end: two calls, for storages other than LMDB."""
        return self.storage.incr(key, expiry, amount=amount), self.storage.get_expiry(key)

    def problem(self) -> str | None:
        """Why limits are not being enforced right now, or None when the storage answers."""
        if not self.enabled or self.storage.check():  # a storage's check answers False, never raises
            return None
        return ("rate-limit storage unreachable: requests are answered without limits "
                f"({self.failures} so far in this worker)")


@lru_cache(maxsize=4096)
def counter_key(limit: RateLimitItem, prefix: str, identity: str) -> str:
    """The storage key of ``identity``'s counter for ``limit``, remembered for the callers seen lately."""
    return limit.key_for(prefix, identity)


@cache
def parsed_limit(text: str) -> RateLimitItem:
    """A limit such as ``600/minute``, parsed once per distinct text."""
    return parse(text)


def caller_identity(caller: Caller, req: Request) -> str:
    """The counter a request hits: its key's name, or its client IP when anonymous."""
    return f"key:{caller.name}" if caller.name else f"ip:{req.remote_addr}"


def caller_limit(caller: Caller, config: Config) -> RateLimitItem:
    """The key's own request limit if it has one, else the default for its tier."""
    if caller.rate_limit:
        return parsed_limit(caller.rate_limit)
    return parsed_limit(config["RATELIMIT_ANONYMOUS" if caller.name is None else "RATELIMIT_CLIENT"])


def caller_item_limit(caller: Caller, config: Config) -> RateLimitItem:
    """The key's own item limit if it has one, else the default for its tier."""
    if caller.item_limit:
        return parsed_limit(caller.item_limit)
    return parsed_limit(config["RATELIMIT_ANONYMOUS_ITEMS" if caller.name is None else "RATELIMIT_CLIENT_ITEMS"])


def unlimited(app: Flask, req: Request) -> bool:
    """Static files, a page's images (routes marked ``free``), probes and CORS preflights are never counted
    (an unknown path is)."""
    endpoint = req.endpoint or ""
    return (endpoint in UNLIMITED_ENDPOINTS or endpoint.rpartition(".")[2] == "static" or is_preflight(req)
            or getattr(app.view_functions.get(endpoint), "free_of_limits", False))


def count_request() -> Window | None:
    """Count the request against its caller's window, once; None when limits do not apply or failed.

    Pages (every route outside /api/) count in their own window, ``RATELIMIT_PAGES`` per IP or key: a
    class behind one address browsing the pages never spends the API budget, nor the API the pages'.
    """
    app, req = current_app._get_current_object(), request._get_current_object()
    state = req.state
    limits = extensions.rate_limits(app)
    state.window_counted = True
    if limits.enabled and not unlimited(app, req):
        identity = caller_identity(state.caller, req)
        if req.path.startswith("/api/"):
            state.window = limits.hit(caller_limit(state.caller, app.config), identity, 1)
        else:
            state.window = limits.hit(parsed_limit(app.config["RATELIMIT_PAGES"]), "pages:" + identity, 1)
    return state.window


def enforce_limit() -> None:
    """Count the request (after authentication has named the caller), unless it is a prediction through the
    API: :func:`charge_items` counts those with their items, in one storage call, once they are valid.

    :raises TooManyRequests: the window is spent (429; the request still counts).
    """
    req = request._get_current_object()
    if req.use_case is not None and req.endpoint == req.use_case.name + ".predict_json":
        return
    window = count_request()
    if window is not None and window.exceeded:
        raise TooManyRequests(requests_per(window.limit))


def charge_items(count: int, batch_field: str) -> None:
    """Charge a validated prediction's ``count`` items to its caller's item window, and its request if the
    request path left that to this moment (``POST /api/v1/<name>``: both in one storage call).

    :raises BatchOverLimit: more items than the caller's whole item limit (422: split the batch).
    :raises TooManyRequests: the request window is spent (429).
    :raises ItemsExhausted: the items do not fit in what is left of the window (429; they are not counted).
    """
    app, req = current_app._get_current_object(), request._get_current_object()
    limits, state = extensions.rate_limits(app), req.state
    if not limits.enabled:
        return
    limit = caller_item_limit(state.caller, app.config)
    if count > limit.amount:
        message = N_("{count} items are more than your limit of {limit} items per {period}: send them in batches of "
                     "at most {limit}.").format(count=count, limit=limit.amount, period=page_period(limit))
        raise BatchOverLimit(message, {batch_field: [message]})
    identity = caller_identity(state.caller, req)
    if state.window_counted:  # a page: its request was counted as it arrived
        window = limits.hit(limit, "items:" + identity, count)
        if window is not None and window.exceeded:
            limits.hit(limit, "items:" + identity, -count)  # refused: its items are given back
    else:
        state.window_counted = True
        state.window, window = limits.hit_pair(caller_limit(state.caller, app.config), limit, identity, count)
        if state.window is not None and state.window.exceeded:
            raise TooManyRequests(requests_per(state.window.limit))
    if window is not None and window.exceeded:
        state.items_window = window._replace(count=window.count - count)
        raise ItemsExhausted(N_("{count} items do not fit in what is left of your limit of {limit} items per {period} "
                                "({left}); retry after the seconds in the Retry-After header, or send a smaller "
                                "batch.").format(count=count, limit=limit.amount, period=page_period(limit),
                                                 left=state.items_window.remaining))
    state.items_window = window


def requests_per(limit: RateLimitItem) -> str:
    """The request limit as a 429 says it: ``60 requests per minute`` (a message itself, translated in its turn)."""
    return N_("{amount} requests per {period}").format(amount=limit.amount, period=page_period(limit))


def page_period(limit: RateLimitItem | None) -> str:
    """The window as a 429 (a page's or a problem's) says it, in the reader's language: ``minute``, ``2 minutes``."""
    unit, count = (limit.GRANULARITY.name, limit.multiples) if limit else ("minute", 1)
    return {"second": ngettext("second", "%(num)d seconds", count),
            "minute": ngettext("minute", "%(num)d minutes", count),
            "hour": ngettext("hour", "%(num)d hours", count),
            "day": ngettext("day", "%(num)d days", count),
            "month": ngettext("month", "%(num)d months", count),
            "year": ngettext("year", "%(num)d years", count)}[unit]


def add_rate_headers(response: Response) -> Response:
    """Where the request left its windows; on a 429, when to retry.

    ``X-RateLimit-*`` is the request window; a prediction adds ``X-RateLimit-Items-*``, and
    ``X-RateLimit-Nearest`` names the window with the smaller share left (``requests`` or
    ``items``). A request refused before its turn (an unknown key: 401, a client key on an admin
    endpoint: 403) is counted here, against its IP or its key, so it carries the headers too and
    key guessing spends the anonymous budget.
    """
    state = request._get_current_object().state
    window = state.window if state.window_counted else count_request()
    if window is None:
        return response
    headers = response.headers  # only this hook sets these: add, without set's scan for an earlier one
    headers.add("X-RateLimit-Limit", str(window.limit.amount))
    headers.add("X-RateLimit-Remaining", str(window.remaining))
    headers.add("X-RateLimit-Reset", str(int(window.resets_at)))
    items, nearest = state.items_window, "requests"
    if items is not None:
        headers.add("X-RateLimit-Items-Limit", str(items.limit.amount))
        headers.add("X-RateLimit-Items-Remaining", str(items.remaining))
        headers.add("X-RateLimit-Items-Reset", str(int(items.resets_at)))
        if items.remaining * window.limit.amount < window.remaining * items.limit.amount:
            nearest = "items"
    headers.add("X-RateLimit-Nearest", nearest)
    if response.status_code == 429:
        refused = items if items is not None and not window.exceeded else window
        headers.add("Retry-After", str(max(1, math.ceil(refused.resets_at - time.time()))))
    return response


def too_many_on_a_page(error: TooManyRequests | ItemsExhausted) -> ResponseReturnValue:
    """A 429 on a page: in words, how many seconds to wait, and the form's input kept to send again.
    Under /api/ the usual problem details."""
    req = request._get_current_object()
    if req.path.startswith("/api/"):
        return handle_mlapi_error(error) if isinstance(error, MlapiError) else handle_http_exception(error)
    window = req.state.items_window if isinstance(error, ItemsExhausted) else req.state.window
    seconds = max(1, math.ceil(window.resets_at - time.time())) if window else 60
    kept = list(req.form.items(multi=True)) if req.method == "POST" else []
    page = render_template("errors/too_many.html", seconds=seconds, kept=kept, files=bool(req.files),
                           limit=window.limit.amount if window else None, items=isinstance(error, ItemsExhausted),
                           period=page_period(window.limit if window else None))
    return page, 429


def init_app(app: Flask) -> RateLimits:
    """The limiter of ``app`` (its storage and counters belong to this app alone; its hooks are in
    :mod:`mlapi.request_path`), and its 429 page."""
    app.register_error_handler(TooManyRequests, too_many_on_a_page)
    app.register_error_handler(ItemsExhausted, too_many_on_a_page)
    return extensions.rate_limits.install(app, RateLimits(app))
