"""Checking the rules: once every ``ALERTS_EVERY_SECONDS`` (a minute), by one process of all that share the database.

Every worker runs a loop that wakes a few times a round; the first to insert the round's number into
``alert_ticks`` evaluates it, and every other insert fails on the primary key: one evaluation a round across
all workers and instances, with no lock to expire or to leave behind. A rule that holds and has no open alert
(and is past its cool-down) fires: an :class:`AlertEvent` is stored, counted in ``mlapi_alerts_fired_total``
and sent to the webhooks. An open alert whose rule no longer holds (or has too little data to judge) is
resolved, and that is sent too. While the database is away nothing is evaluated; the round is tried again.
"""
from __future__ import annotations

import logging
import math
import time
from datetime import timedelta
from typing import Any

from flask import Flask
from prometheus_client import Counter
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from mlapi import extensions
from mlapi.alerts.rules import AlertEvent, AlertRule, AlertTick, parse_condition, remove, stamp
from mlapi.alerts.signals import measure
from mlapi.alerts.webhooks import Deliveries, configured_webhooks
from mlapi.observability.prediction_log import utc_now
from mlapi.storage.background import ProcessLoop
from mlapi.storage.database import db
from mlapi.storage.outages import BACKGROUND_DEADLINE_SECONDS, deadline, is_outage

log = logging.getLogger(__name__)
KEPT_TICKS = timedelta(days=1)
RECENT = 20  # alerts /monitor lists

alerts_fired_total = Counter("mlapi_alerts_fired", "Alerts fired, by rule and use case.", ["rule", "use_case"])


class AlertEvaluator:
    """This process's share of the alert rounds, and where alerts are sent."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.every = float(app.config["ALERTS_EVERY_SECONDS"])
        self.deliveries = Deliveries(configured_webhooks(str(app.config["ALERT_WEBHOOKS"])),
                                     str(app.config["ALERT_WEBHOOK_SECRET"]))
        self.public_url = str(app.config["PUBLIC_URL"] or "").rstrip("/")
        self.done = -1  # the last round this process claimed or saw claimed
        self.loop = ProcessLoop("mlapi-alerts", self.every / 6 if self.every > 0 else 0, self.each_round)

    def each_round(self) -> None:
        """The loop's wake-up: evaluate the current round if no process has yet."""
        tick = int(time.time() // self.every)
        if tick == self.done:
            return
        with self.app.app_context():
            database = extensions.database_outage()
            if not database.up:
                return
            try:
                if self.claim(tick):
                    with deadline(BACKGROUND_DEADLINE_SECONDS):  # a stalled database cannot hold the loop
                        self.evaluate()
                self.done = tick
            except Exception as error:
                db.session.rollback()
                if not is_outage(error):
                    raise
                database.absorb(error)

    def claim(self, tick: int) -> bool:
        """Whether this process won round ``tick`` (then it also forgets rounds older than a day)."""
        with deadline(BACKGROUND_DEADLINE_SECONDS):
            try:
                db.session.add(AlertTick(tick=tick, at=utc_now()))
                db.session.commit()
            except IntegrityError:
                db.session.rollback()
                return False
            db.session.execute(delete(AlertTick).where(AlertTick.at < utc_now() - KEPT_TICKS))
            db.session.commit()
        return True

    def evaluate(self) -> list[dict[str, Any]]:
        """Judge every rule for its use cases now; store, count and send what fired or resolved. What was sent."""
        now = utc_now()
        names = tuple(extensions.registry().use_cases)
        rules = db.session.scalars(select(AlertRule).order_by(AlertRule.name)).all()
        open_alerts = {(event.rule, event.use_case): event for event in
                       db.session.scalars(select(AlertEvent).where(AlertEvent.resolved_at.is_(None)))}
        longest: dict[str, int] = {}
        for rule in rules:
            for name in [rule.use_case] if rule.use_case else names:
                longest[name] = max(longest.get(name, 0), rule.window_seconds)
        windows: dict = {}
        changed: list[tuple[str, AlertEvent, AlertRule]] = []
        for rule in rules:
            try:
                condition = parse_condition(rule.condition)
            except ValueError:  # stored by an mlapi that read conditions otherwise: the other rules still count
                log.error("alert rule %s: its condition %r cannot be read; it is skipped", rule.name, rule.condition)
                continue
            for name in [rule.use_case] if rule.use_case else names:
                if name not in names:
                    continue
                value = measure(rule, condition, name, now, longest, windows)
                holds = value is not None and math.isfinite(value) and condition.holds(value)
                opened = open_alerts.get((rule.name, name))
                if holds and opened is None and self.cooled(rule, name, now):
                    event = AlertEvent(rule=rule.name, use_case=name, condition=rule.condition, value=value,
                                       fired_at=now)
                    db.session.add(event)
                    changed.append(("fired", event, rule))
                elif not holds and opened is not None:
                    opened.resolved_at, opened.resolved_value = now, value
                    changed.append(("resolved", opened, rule))
        db.session.commit()
        sent = []
        for kind, event, rule in changed:
            if kind == "fired":
                alerts_fired_total.labels(event.rule, event.use_case).inc()
                log.warning("alert %s fired on %s: %s (value %.4g)", event.rule, event.use_case, event.condition,
                            event.value)
            else:
                log.info("alert %s resolved on %s", event.rule, event.use_case)
            sent.append(self.announce(kind, event, rule.window_seconds, rule.min_count))
        return sent

    def cooled(self, rule: AlertRule, name: str, now) -> bool:
        """Whether the rule's last alert for ``name`` fired at least its cool-down ago (or never)."""
        last = db.session.scalar(select(AlertEvent.fired_at).where(AlertEvent.rule == rule.name,
                                                                   AlertEvent.use_case == name)
                                 .order_by(AlertEvent.fired_at.desc()).limit(1))
        return last is None or (now - last).total_seconds() >= rule.cooldown_seconds

    def announce(self, kind: str, event: AlertEvent, window_seconds: int, min_count: int) -> dict[str, Any]:
        """Send ``event`` (``fired`` or ``resolved``) to the webhooks; the body sent."""
        alert = {"event": kind, **event.as_dict(), "window_seconds": window_seconds,
                 "min_count": min_count, "sent_at": stamp(utc_now()),
                 "monitor": f"{self.public_url}/monitor" if self.public_url else "/monitor"}
        self.deliveries.send(alert)
        return alert


def remove_and_resolve(name: str) -> dict | None:
    """Remove the rule ``name``; each alert it still had open is resolved and sent as such. The rule, or None."""
    found = remove(name, utc_now())
    if found is None:
        return None
    removed, resolved = found
    for event in resolved:
        extensions.alert_evaluator().announce("resolved", event, removed["window_seconds"], removed["min_count"])
    return removed


def start_alerts() -> None:
    """Start this process's alert loop, on its first request (a request hook)."""
    extensions.alert_evaluator().loop.ensure_started()


def recent_alerts(limit: int = RECENT) -> list[AlertEvent]:
    """The last ``limit`` alerts, newest first."""
    return list(db.session.scalars(select(AlertEvent).order_by(AlertEvent.fired_at.desc(), AlertEvent.id.desc())
                                   .limit(limit)))


def init_app(app: Flask) -> AlertEvaluator:
    return extensions.alert_evaluator.install(app, AlertEvaluator(app))
