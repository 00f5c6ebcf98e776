"""What one request carries from hook to hook, on the request itself: ``request.state``."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flask import Request
from werkzeug.utils import cached_property

from mlapi import extensions
from mlapi.access.keys import ANONYMOUS, Caller

if TYPE_CHECKING:
    from mlapi.access.rate_limits import Window
    from mlapi.usecase import UseCase


@dataclass(slots=True)
class RequestState:
    """Each field is written by one step of the request path (:mod:`mlapi.request_path`) and read by later ones."""

    request_id: str = ""  # start_request: the client's X-Request-ID, or a new one
    started: float = 0.0  # start_request: time.perf_counter() as the request began
    caller: Caller = ANONYMOUS  # authenticate: the key's name and role
    window_counted: bool = False  # enforce_limit: whether the rate limit has counted this request
    window: Window | None = None  # enforce_limit: where the request left its caller's window, if limits apply
    predicting: str | None = None  # predict: the use case asked, once the body reached validation
    model: dict[str, str] | None = None  # predict: the name and version that answered
    results: list[dict[str, Any]] = field(default_factory=list)  # predict: one result per item


class MlapiRequest(Request):
    """Flask's request with its :class:`RequestState` and the use case its route belongs to."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.state = RequestState()

    @cached_property
    def use_case(self) -> UseCase | None:
        """The use case whose route this request matched (its blueprint), or None.

        Routing happens as the request starts, before any hook or view can ask.
        """
        return extensions.registry().use_cases.get(self.blueprint or "")
