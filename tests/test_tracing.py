"""The request log's line format: the timestamp made once a second reads as the standard one."""
import logging

from mlapi.tracing import LINE_FORMAT, LineFormatter


def record_at(created: float) -> logging.LogRecord:
    record = logging.LogRecord("mlapi.requests", logging.INFO, __file__, 1, "status=%d", (200,), None)
    record.created, record.msecs = created, (created % 1) * 1000
    return record


def test_lines_equal_the_standard_formatter_within_and_across_seconds():
    fast, standard = LineFormatter(), logging.Formatter(LINE_FORMAT)
    for created in (1764577800.001, 1764577800.999, 1764577801.5, 1764577799.25, 1764577801.75):
        assert fast.format(record_at(created)) == standard.format(record_at(created))
