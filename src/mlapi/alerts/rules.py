"""Alert rules and the alerts they fired: the tables, and the condition a rule states.

A rule has a name, a use case (or none: every use case), a condition over a window, the least count the
window must hold before the condition is judged, and a cool-down: after firing, a rule fires again for
the same use case only once the cool-down has passed. A condition reads ``SIGNAL OP NUMBER``
(docs/alerts.md has each signal):

    share(negative) > 0.4      the share of a predicted class among the window's predicted items
    error_rate > 0.05          answered 4xx and 5xx among the window's prediction requests
    server_error_rate > 0      5xx only
    p95_ms > 250               the 95th percentile of the answered predictions' latency
    drift >= 0.2               the serving version's predicted classes against its held-out ones (/monitor's)
    rate_limited > 0.2         requests refused with 429 among all the window's prediction requests
    version_mismatch > 0       1 while the version answering is not the active one
    quality(accuracy) < 0.8    a live-quality metric from the feedback on the serving version (docs/quality.md)
"""
from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import DateTime, Float, Integer, String, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from mlapi.storage.database import db
from mlapi.words import N_

SIGNALS = {  # signal -> whether it takes an argument in parentheses
    "share": True, "error_rate": False, "server_error_rate": False, "p95_ms": False, "drift": False,
    "rate_limited": False, "version_mismatch": False, "quality": True,
}
OPERATORS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}
CONDITION = re.compile(r"\s*(?P<signal>[a-z_0-9]{1,32})\s*(?:\(\s*(?P<argument>[A-Za-z0-9_.-]{1,64})\s*\))?\s*"
                       r"(?P<op>>=|<=|>|<)\s*(?P<threshold>-?[0-9]{1,15}(?:\.[0-9]{1,15})?(?:[eE][-+]?[0-9]{1,3})?)\s*")
DURATION = re.compile(r"\s*(?P<amount>[0-9]{1,7})\s*(?P<unit>s|m|h|d)?\s*")
SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_WINDOW_SECONDS = 7 * 86400


class AlertRule(db.Model):
    """A rule, as ``alerts add`` or ``POST /api/v1/alerts/rules`` made it."""

    __tablename__ = "alert_rules"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    use_case: Mapped[str | None] = mapped_column(String(64))  # None: every use case, each on its own
    condition: Mapped[str] = mapped_column(String(200))
    window_seconds: Mapped[int] = mapped_column(Integer)
    min_count: Mapped[int] = mapped_column(Integer)
    cooldown_seconds: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime)

    def as_dict(self) -> dict:
        return {"name": self.name, "use_case": self.use_case, "condition": self.condition,
                "window_seconds": self.window_seconds, "min_count": self.min_count,
                "cooldown_seconds": self.cooldown_seconds}


class AlertEvent(db.Model):
    """An alert: a rule that fired for a use case, with the value that crossed; resolved once it no longer holds."""

    __tablename__ = "alert_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    rule: Mapped[str] = mapped_column(String(64), index=True)
    use_case: Mapped[str] = mapped_column(String(64))
    condition: Mapped[str] = mapped_column(String(200))
    value: Mapped[float] = mapped_column(Float)
    fired_at: Mapped[datetime] = mapped_column(DateTime, index=True)  # UTC, naive
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime)
    resolved_value: Mapped[float | None] = mapped_column(Float)  # None: resolved for want of data

    def as_dict(self) -> dict:
        return {"id": self.id, "rule": self.rule, "use_case": self.use_case, "condition": self.condition,
                "value": self.value, "fired_at": stamp(self.fired_at), "resolved_at": stamp(self.resolved_at),
                "resolved_value": self.resolved_value, "firing": self.resolved_at is None}


class AlertTick(db.Model):
    """One evaluation round: its number is claimed by one insert, so one process in all the instances
    sharing the database evaluates it (the others' inserts fail on the primary key)."""

    __tablename__ = "alert_ticks"
    tick: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(DateTime, index=True)


def stamp(moment: datetime | None) -> str | None:
    """A naive UTC time as ISO 8601 with its Z."""
    return moment.isoformat(timespec="seconds") + "Z" if moment else None


@dataclass(frozen=True)
class Condition:
    """``signal(argument) op threshold``, parsed."""

    signal: str
    argument: str | None
    op: str
    threshold: float

    def holds(self, value: float) -> bool:
        return OPERATORS[self.op](value, self.threshold)

    def __str__(self) -> str:
        argument = f"({self.argument})" if self.argument else ""
        return f"{self.signal}{argument} {self.op} {self.threshold:.15g}"  # read back as the same number


def parse_condition(text: str) -> Condition:
    """The condition ``text`` states.

    :raises ValueError: it does not read ``SIGNAL OP NUMBER`` with a known signal (the message says what does).
    """
    match = CONDITION.fullmatch(text or "")
    signal = match and match["signal"]
    if not match or signal not in SIGNALS or SIGNALS[signal] != bool(match["argument"]) or not math.isfinite(
            float(match["threshold"])):
        raise ValueError(N_("A condition reads SIGNAL OP NUMBER, e.g. 'share(negative) > 0.4'; the signals are "
                            "share(CLASS), error_rate, server_error_rate, p95_ms, drift, rate_limited, "
                            "version_mismatch and quality(METRIC)."))
    return Condition(signal, match["argument"], match["op"], float(match["threshold"]))


def parse_duration(text: str | int) -> int:
    """Seconds from ``30s``, ``10m``, ``2h``, ``1d`` or a bare number of minutes.

    :raises ValueError: anything else, or more than a week.
    """
    match = DURATION.fullmatch(str(text))
    if not match:
        raise ValueError(N_("A duration is a whole number with s, m, h or d after it, e.g. 30s, 10m or 1h."))
    seconds = int(match["amount"]) * SECONDS[match["unit"] or "m"]
    if not 0 < seconds <= MAX_WINDOW_SECONDS:
        raise ValueError(N_("A duration is more than 0 seconds and at most 7 days."))
    return seconds


NAME = re.compile(r"[\w.-]{1,64}")


class RuleRefused(ValueError):
    """A part of a rule that is not valid: ``field`` names it, the message says why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Known:
    """What rules may name, per use case: the classes it predicts (for share) and its live metrics (for quality)."""

    classes: dict[str, set[str]]
    metrics: dict[str, tuple[str, ...]]

    def of(self, kind: str, use_case: str | None) -> set[str]:
        """The classes or metrics of ``use_case``, or of any (None: a rule for every use case)."""
        found = getattr(self, kind)
        return set(found.get(use_case, ())) if use_case else set().union(*map(set, found.values()))


def make_rule(name: str, use_case: str | None, condition: str, window: str | int = "10m", min_count: int = 20,
              cooldown: str | int = "30m", *, known: Known, now: datetime) -> AlertRule:
    """A new rule from what a person typed; ``use_case`` None or ``all``: every use case.

    :raises RuleRefused: a part is not valid (the field and a message that says why).
    """
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise RuleRefused("name", N_("A rule's name is 1 to 64 letters, digits, '.', '-' or '_'."))
    use_case = None if use_case in (None, "", "all") else use_case
    if use_case is not None and use_case not in known.classes:
        raise RuleRefused("use_case", N_("There is no use case named '{name}'; use one of {names}, or all.").format(
            name=use_case, names=", ".join(known.classes)))
    try:
        parsed = parse_condition(condition)
    except ValueError as refused:
        raise RuleRefused("condition", str(refused)) from None
    for signal, kind, message in (
            ("share", "classes", N_("share() takes a class the use case predicts: {names}.")),
            ("quality", "metrics", N_("quality() takes a live metric of the use case: {names}."))):
        names = known.of(kind, use_case)
        if parsed.signal == signal and parsed.argument not in names:
            raise RuleRefused("condition", message.format(names=", ".join(sorted(names)) or "-"))
    if not isinstance(min_count, int) or isinstance(min_count, bool) or not 1 <= min_count <= 1_000_000:
        raise RuleRefused("min_count", N_("min_count is a whole number from 1 to 1,000,000."))
    durations = {}
    for field, text in (("window", window), ("cooldown", cooldown)):
        try:
            durations[field] = parse_duration(text)
        except ValueError as refused:
            raise RuleRefused(field, str(refused)) from None
    return AlertRule(name=name, use_case=use_case, condition=str(parsed), window_seconds=durations["window"],
                     min_count=min_count, cooldown_seconds=durations["cooldown"], created_at=now)


def duration_text(seconds: int) -> str:
    """``600`` as ``10m``, ``86400`` as ``1d``: the largest unit that divides it."""
    unit = next(unit for unit in ("d", "h", "m", "s") if seconds % SECONDS[unit] == 0)
    return f"{seconds // SECONDS[unit]}{unit}"


def add(rule: AlertRule) -> bool:
    """Store ``rule`` unless one of its name exists (then False, also when another request stored it first)."""
    db.session.add(rule)
    try:
        db.session.commit()
    except IntegrityError:  # the name is unique
        db.session.rollback()
        return False
    return True


def remove(name: str, now: datetime) -> tuple[dict, list[AlertEvent]] | None:
    """Delete the rule ``name`` and resolve its open alerts (their history stays): the rule and the alerts it
    resolved, or None if there is no such rule (or another request removed it first)."""
    rule = db.session.scalar(select(AlertRule).where(AlertRule.name == name)) if NAME.fullmatch(name) else None
    if rule is None:
        return None
    removed = rule.as_dict()
    if db.session.execute(delete(AlertRule).where(AlertRule.id == rule.id)).rowcount != 1:
        db.session.rollback()
        return None
    resolved = list(db.session.scalars(select(AlertEvent).where(AlertEvent.rule == name,
                                                                AlertEvent.resolved_at.is_(None))))
    for event in resolved:
        event.resolved_at = now
    db.session.commit()
    return removed, resolved


def all_rules() -> list[AlertRule]:
    return list(db.session.scalars(select(AlertRule).order_by(AlertRule.name)))
