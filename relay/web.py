"""The seam between the network layer and the application.

``relay.server`` owns sockets, TLS, h11, limits and timeouts, and turns each HTTP
request into a ``Request``; ``relay.app`` (the ``App``) turns a ``Request`` into a
``Response`` and never sees a socket.  A WebSocket upgrade on ``/api/v1/stream`` is
handed to ``App.handle_stream`` with an ``accept`` callable: the app authenticates
first and either returns a refusal ``Response`` or calls ``accept()`` and runs the
stream until it ends.

Errors the app wants to show are raised as ``HTTPError`` (or returned as
``Response``); the server renders them as API.md's JSON error body.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Awaitable, Callable, Protocol

from policy.zones import Zone

# How long a closing handshake (HTTP or WebSocket) may take before the connection is
# dropped: one bound for every close.
CLOSE_TIMEOUT_S = 2.0


class HTTPError(Exception):
    """An error answer: ``code`` is the stable API code, ``message`` for people
    (Japanese, with English after " / " where operators read it)."""

    def __init__(self, status: int, code: str, message: str,
                 details: dict[str, Any] | None = None,
                 headers: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}
        self.headers = headers

    def response(self) -> "Response":
        return json_response(
            self.status,
            {"error": {"code": self.code, "message": self.message, "details": self.details}},
            headers=self.headers,
        )


class Body(Protocol):
    """The request body, read at most once, with the server's limits enforced
    (size cap -> HTTPError 413, minimum rate / stall -> HTTPError 408)."""

    async def read_all(self, limit: int) -> bytes: ...

    def chunks(self, limit: int) -> AsyncIterator[bytes]: ...


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str  # percent-decoded path, no query
    query: dict[str, str]  # last value wins
    headers: tuple[tuple[str, str], ...]  # names lower-case
    zone: Zone  # from the listener that accepted the connection, never the client
    peer: str  # client IP
    body: Body
    tls: bool

    def header(self, name: str) -> str | None:
        name = name.lower()
        for k, v in self.headers:
            if k == name:
                return v
        return None


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    # For large downloads: an async iterator of chunks (Content-Length in headers).
    stream: AsyncIterator[bytes] | None = field(default=None)


def json_response(status: int, obj: Any, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    body = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Response(status, (("content-type", "application/json; charset=utf-8"), *headers), body)


Accept = Callable[[], Awaitable[Any]]  # -> trio_websocket.WebSocketConnection


class App(Protocol):
    async def handle(self, req: Request) -> Response: ...

    async def handle_stream(self, req: Request, accept: Accept) -> Response | None:
        """Authenticate; return a Response to refuse, or call ``accept()`` and run the
        stream to its end (then return None)."""
        ...
