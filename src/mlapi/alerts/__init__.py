"""Alerts: rules over the traffic the service already records, checked once a minute by one process,
each firing stored, shown on /monitor, counted in /metrics and sent to webhooks (docs/alerts.md)."""
