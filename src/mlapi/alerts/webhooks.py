"""Sending an alert to the configured webhooks: JSON, signed, retried with back-off, never in a request.

``MLAPI_ALERT_WEBHOOKS`` lists URLs (spaces or commas between them); one written ``slack:https://...`` gets a
Slack-compatible body (``{"text": ...}``) instead of mlapi's own. Every POST carries
``X-Mlapi-Signature: sha256=<hex>``, the HMAC-SHA256 of the exact body under ``MLAPI_ALERT_WEBHOOK_SECRET``, so a
receiver can tell it came from this service (examples/webhook_receiver.py checks it). Each delivery runs in a
thread of its own, tried up to ``ATTEMPTS`` times ``BACKOFF_SECONDS`` apart (doubling), ``TIMEOUT_SECONDS`` each:
a receiver that is down or slow holds only that thread.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import re
import threading
import time
import urllib.request
from dataclasses import dataclass

import orjson
from prometheus_client import Counter

log = logging.getLogger(__name__)
ATTEMPTS = 5
BACKOFF_SECONDS = 2.0  # before the second attempt; then 4, 8, 16
TIMEOUT_SECONDS = 5.0
SIGNATURE_HEADER = "X-Mlapi-Signature"

deliveries_total = Counter("mlapi_alert_deliveries", "Alert webhook deliveries, by outcome (sent, retried, failed).",
                           ["outcome"])


@dataclass(frozen=True)
class Webhook:
    url: str
    slack: bool = False


def configured_webhooks(setting: str) -> tuple[Webhook, ...]:
    """The webhooks ``MLAPI_ALERT_WEBHOOKS`` lists.

    :raises ValueError: an entry that is not an http(s) URL.
    """
    hooks = []
    for entry in re.split(r"[\s,]+", setting.strip()):
        if not entry:
            continue
        slack = entry.startswith("slack:")
        url = entry.removeprefix("slack:")
        if not re.match(r"https?://[^\s/]+", url):
            raise ValueError(f"MLAPI_ALERT_WEBHOOKS: {entry!r} is not an http:// or https:// URL "
                             "(prefix slack: for a Slack-compatible body)")
        hooks.append(Webhook(url, slack))
    return tuple(hooks)


def signature(secret: str, body: bytes) -> str:
    """The value of the signature header for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def slack_text(alert: dict) -> str:
    """The alert in a line, for a Slack channel."""
    if alert["event"] == "fired":
        return (f":rotating_light: mlapi alert *{alert['rule']}* on {alert['use_case']}: {alert['condition']} "
                f"(now {alert['value']:.4g})")
    return f":white_check_mark: mlapi alert *{alert['rule']}* on {alert['use_case']} resolved"


class Deliveries:
    """Sends each alert to every webhook, each in a thread of its own."""

    def __init__(self, hooks: tuple[Webhook, ...], secret: str) -> None:
        if any(not hook.slack for hook in hooks) and not secret:
            raise ValueError("MLAPI_ALERT_WEBHOOKS needs MLAPI_ALERT_WEBHOOK_SECRET: receivers check the signature")
        self.hooks = hooks
        self.secret = secret

    def send(self, alert: dict) -> list[threading.Thread]:
        """Start delivering ``alert`` to every webhook; the threads, for whoever wants to wait."""
        threads = []
        for hook in self.hooks:
            body = orjson.dumps({"text": slack_text(alert)} if hook.slack else alert)
            thread = threading.Thread(target=self.deliver, args=(hook.url, body), name="mlapi-alert-webhook",
                                      daemon=True)
            thread.start()
            threads.append(thread)
        return threads

    def deliver(self, url: str, body: bytes) -> bool:
        """POST ``body`` to ``url`` until a 2xx answers or the attempts run out."""
        headers = {"Content-Type": "application/json", "User-Agent": "mlapi-alerts",
                   SIGNATURE_HEADER: signature(self.secret, body)}
        for attempt in range(ATTEMPTS):
            if attempt:
                deliveries_total.labels("retried").inc()
                time.sleep(BACKOFF_SECONDS * 2 ** (attempt - 1))
            try:
                with urllib.request.urlopen(urllib.request.Request(url, body, headers, method="POST"),
                                            timeout=TIMEOUT_SECONDS) as answer:
                    if 200 <= answer.status < 300:
                        deliveries_total.labels("sent").inc()
                        return True
            except OSError as error:  # refused, timed out, or an HTTP error status (HTTPError is an OSError)
                log.warning("alert webhook %s: attempt %d failed: %s", url, attempt + 1, error)
        deliveries_total.labels("failed").inc()
        log.error("alert webhook %s: gave up after %d attempts", url, ATTEMPTS)
        return False
