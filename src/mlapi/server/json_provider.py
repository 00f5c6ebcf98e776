"""Flask's JSON read and written by orjson: the same documents, several times faster.

Flask's default provider stays in charge of everything else (``default`` for the types
it knows, indentation in debug mode, whatever orjson refuses). Keys stay sorted and dates
stay HTTP dates, as Flask writes them. Anything orjson refuses (an integer beyond 64 bits,
say) is written by the standard encoder instead, so no response fails for it. Unlike the
standard encoder, text is written as UTF-8 rather than ``\\u`` escapes, and a NaN becomes
``null`` rather than invalid JSON.

Request bodies of up to SMALL_BODY bytes (one item) are read by orjson too, and give the
same values. A body it refuses is read again by the standard decoder, which accepts what
orjson does not (``NaN``, a byte order mark, UTF-16) and otherwise raises as before
(``ValueError``, or ``RecursionError`` for deep nesting). orjson would read an integer beyond
64 bits as a float, so a body with a run of 20 digits or more goes to the standard decoder
from the start. Larger bodies (batches, images) go there too: for them the scan for such a
run costs about what orjson saves. For a one-item body orjson is several times faster than the
standard decoder inside a loaded server (docs/performance.md).
"""
from __future__ import annotations

from typing import Any

import orjson
from flask.json.provider import DefaultJSONProvider

SMALL_BODY = 16 * 1024  # bytes: one text, transaction or list of ratings
DIGITS_AS_ZEROS = bytes.maketrans(b"0123456789", b"0" * 10)
TWENTY_DIGITS = b"0" * 20  # after DIGITS_AS_ZEROS: may be an integer beyond 64 bits, which orjson reads as a float
OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_PASSTHROUGH_DATETIME


class OrjsonProvider(DefaultJSONProvider):
    """:class:`DefaultJSONProvider` whose compact ``dumps`` and whose ``loads`` are orjson's."""

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        if kwargs.get("indent") is None:
            try:
                return orjson.dumps(obj, default=self.default, option=OPTIONS).decode()
            except orjson.JSONEncodeError:
                pass  # the standard encoder below writes it, or explains why not
        return super().dumps(obj, **kwargs)

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        if (not kwargs and isinstance(s, bytes) and len(s) <= SMALL_BODY
                and TWENTY_DIGITS not in s.translate(DIGITS_AS_ZEROS)):
            try:
                return orjson.loads(s)
            except orjson.JSONDecodeError:
                pass  # the standard decoder below reads it, or raises what it always raised
        return super().loads(s, **kwargs)
