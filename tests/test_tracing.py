"""The request log's line format: the timestamp made once a second reads as the standard one."""
import logging
import time

from mlapi.tracing import LINE_FORMAT, LineFormatter


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
        app.extensions["request_log"].flush()
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
