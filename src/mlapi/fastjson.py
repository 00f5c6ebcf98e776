"""Flask's JSON responses encoded by orjson: the same documents, written several times faster.

Flask's default provider stays in charge of everything else (parsing request bodies,
``default`` for the types it knows, indentation in debug mode); only ``dumps`` changes.
Keys stay sorted and dates stay HTTP dates, as Flask writes them. Anything orjson
refuses (an integer beyond 64 bits, say) is written by the standard encoder instead,
so no response fails for it. Unlike the standard encoder, text is written as UTF-8
rather than ``\\u`` escapes, and a NaN becomes ``null`` rather than invalid JSON.
"""
from __future__ import annotations

from typing import Any

import orjson
from flask.json.provider import DefaultJSONProvider

OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_PASSTHROUGH_DATETIME


class OrjsonProvider(DefaultJSONProvider):
    """:class:`DefaultJSONProvider` whose compact ``dumps`` is orjson's."""

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        if kwargs.get("indent") is None:
            try:
                return orjson.dumps(obj, default=self.default, option=OPTIONS).decode()
            except orjson.JSONEncodeError:
                pass  # the standard encoder below writes it, or explains why not
        return super().dumps(obj, **kwargs)
