"""The request log's line format: the timestamp made once a second reads as the standard one."""
import logging
import time

from mlapi import extensions
from mlapi.observability.access_log import LINE_FORMAT, LineFormatter


def record_at(created: float) -> logging.LogRecord:
    record = logging.LogRecord("mlapi.requests", logging.INFO, __file__, 1, "status=%d", (200,), None)
    record.created, record.msecs = created, (created % 1) * 1000
    return record


def test_lines_equal_the_standard_formatter_within_and_across_seconds():
    fast, standard = LineFormatter(), logging.Formatter(LINE_FORMAT)
    for created in (1764577800.001, 1764577800.999, 1764577801.5, 1764577799.25, 1764577801.75):
        assert fast.format(record_at(created)) == standard.format(record_at(created))


def request_lines(caplog) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == "mlapi.requests"]


def test_lines_are_held_until_the_flush_and_keep_their_requests_time(make_app, caplog):
    app = make_app()
    client = app.test_client()
    with caplog.at_level(logging.INFO, logger="mlapi.requests"):
        started = time.time()
        client.get("/api/v1/health", headers={"X-Request-ID": "first"})
        client.get("/api/v1/health", headers={"X-Request-ID": "second"})
        finished = time.time()
        assert request_lines(caplog) == []
        time.sleep(0.05)
        extensions.access_log(app).flush()
    lines = request_lines(caplog)
    assert [line.getMessage().split()[0] for line in lines] == ["request_id=first", "request_id=second"]
    assert all(started <= line.created <= finished for line in lines)
    assert LineFormatter().format(lines[0]) == logging.Formatter(LINE_FORMAT).format(lines[0])


def test_a_serving_worker_writes_its_lines_by_itself(make_app, caplog):
    app = make_app(REQUEST_LOG_FLUSH_SECONDS=0.05)
    with caplog.at_level(logging.INFO, logger="mlapi.requests"):
        app.test_client().get("/api/v1/health", headers={"X-Request-ID": "by-itself"})
        deadline = time.monotonic() + 5
        while not request_lines(caplog) and time.monotonic() < deadline:
            time.sleep(0.01)
    [line] = request_lines(caplog)
    assert line.getMessage().startswith("request_id=by-itself ")


FORGED = "2026-12-06 10:00:00,000 INFO mlapi.cli admin activated sentiment v9"


def test_a_path_cannot_forge_a_request_line(make_app, caplog):
    app = make_app()
    with caplog.at_level(logging.INFO, logger="mlapi.requests"):
        app.test_client().get(f"/api/v1/none%0a{FORGED.replace(' ', '%20')}%0d%e2%80%a8")
        extensions.access_log(app).flush()
    [line] = request_lines(caplog)
    written = LineFormatter().format(line)
    assert "\n" not in written and "\r" not in written and "\u2028" not in written
    assert written.endswith("path=/api/v1/none%0A2026-12-06%2010:00:00,000%20INFO%20mlapi.cli%20admin%20activated"
                            "%20sentiment%20v9%0D%E2%80%A8")


def test_every_line_escapes_control_characters_and_indents_its_traceback():
    formatter = LineFormatter()
    record = logging.LogRecord("mlapi", logging.ERROR, __file__, 1, "bad input %s", (f"x\n{FORGED}\x1b[2J",), None)
    assert formatter.format(record).endswith(f"bad input x\\x0a{FORGED}\\x1b[2J")
    try:
        raise ValueError(f"from a client:\n{FORGED}")
    except ValueError:
        import sys

        record = logging.LogRecord("mlapi", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    first, *rest = formatter.format(record).split("\n")
    assert first.endswith(" ERROR mlapi failed") and rest
    assert all(line.startswith("    ") for line in rest)
    assert any(line == f"    {FORGED}" for line in rest)  # on a line of its own, but never at the start of one
