"""HTTP/1.1 on top of h11, without sockets: request heads in, response bytes out.

``relay.server`` owns the sockets and the clock; this module owns the protocol
decisions, so they can be tested as byte transcripts:

* turning h11's events and errors into ``Request`` objects or API.md error answers
  (malformed -> 400, header block over the limit -> 431);
* the response head, with the default security headers and ``Connection: close``
  when the connection cannot be reused;
* the request body (``RequestBody``): read at most once, a size cap (413) checked
  against ``Content-Length`` before reading and against the bytes actually read, and a
  minimum rate after the first second (408).  Its only I/O is the ``pull`` callable
  the server hands it; the rate arithmetic (``BodyRate``) is plain and takes ``now``;
* the bytes to replay in front of a WebSocket upgrade, so trio-websocket can run its
  own handshake on a request whose head h11 has already read.

Every limit is a named default here or in ``relay.config.HTTPConfig``.
"""

from __future__ import annotations

import http
import urllib.parse
from dataclasses import dataclass
from typing import AsyncIterator, Awaitable, Callable

import h11
import trio

from policy.zones import Zone
from relay.errors import bad_request, body_too_large, headers_too_large, request_timeout
from relay.web import HTTPError, Request, Response

# --------------------------------------------------------------------------- limits

# Seconds a body may take before the minimum rate applies (docs/SECURITY.md: "after the
# first second").
BODY_GRACE_S = 1.0
# Bytes asked of the socket per receive.
RECEIVE_BYTES = 64 * 1024
# At most this much unread request body is drained to keep a connection alive;
# more and the connection is closed instead.
MAX_DRAIN_BYTES = 64 * 1024

DEFAULT_HEADERS: tuple[tuple[str, str], ...] = (
    ("x-content-type-options", "nosniff"),
    ("cache-control", "no-store"),
)

STREAM_PATH = "/api/v1/stream"

# --------------------------------------------------------------------------- reading


def new_connection(max_header_bytes: int) -> h11.Connection:
    """A server-side h11 connection whose header block is capped (-> 431)."""
    return h11.Connection(h11.SERVER, max_incomplete_event_size=max_header_bytes)


def next_event(conn: h11.Connection, max_header_bytes: int) -> h11.Event | type[h11.NEED_DATA] | type[h11.PAUSED]:
    """``conn.next_event()`` with the peer's protocol errors as API errors."""
    try:
        event = conn.next_event()
    except h11.RemoteProtocolError as exc:
        if exc.error_status_hint == 431:
            raise headers_too_large(max_header_bytes) from None
        raise bad_request(str(exc)) from None
    # h11 caps only a head that is still incomplete; one that arrived whole in a
    # single read is measured here.
    if isinstance(event, h11.Request) and head_size(event) > max_header_bytes:
        raise headers_too_large(max_header_bytes)
    return event


def head_size(event: h11.Request) -> int:
    """Bytes of the request line and header block (as sent, less optional spaces)."""
    size = len(event.method) + len(event.target) + len(b"  HTTP/1.1\r\n\r\n")
    return size + sum(len(k) + len(v) + 4 for k, v in event.headers.raw_items())


def is_websocket_upgrade(event: h11.Request) -> bool:
    """A GET asking to switch to WebSocket (the path is checked by the caller)."""
    if event.method != b"GET":
        return False
    upgrade = connection = b""
    for name, value in event.headers:
        if name == b"upgrade":
            upgrade = value.lower()
        elif name == b"connection":
            connection = value.lower()
    return upgrade == b"websocket" and b"upgrade" in {t.strip() for t in connection.split(b",")}


@dataclass(frozen=True, slots=True)
class Head:
    """What the request head says, decoded."""

    method: str
    path: str
    query: dict[str, str]
    headers: tuple[tuple[str, str], ...]
    content_length: int | None


def parse_head(event: h11.Request) -> Head:
    """Decode an h11 request head; anything but an origin-form target is a 400."""
    target = event.target.decode("ascii", "replace")
    if not target.startswith("/"):
        raise bad_request("request target must be an absolute path")
    raw_path, _, raw_query = target.partition("?")
    try:
        path = urllib.parse.unquote(raw_path, errors="strict")
        query = dict(urllib.parse.parse_qsl(raw_query, keep_blank_values=True,
                                            errors="strict"))
    except UnicodeDecodeError:
        raise bad_request("request target is not UTF-8") from None
    if "\x00" in path:
        raise bad_request("NUL in path")
    headers = tuple((k.decode("ascii"), v.decode("latin-1")) for k, v in event.headers)
    # A request without Content-Length or Transfer-Encoding has no body (RFC 9112
    # 6.3); chunked bodies have no length known in advance.
    length: int | None = 0
    names = {k for k, _ in headers}
    if {"content-length", "transfer-encoding"} <= names:
        # The classic request-smuggling shape (RFC 9112 6.1): refused, and the error
        # answer closes the connection, so nothing after it on the wire is served.
        raise bad_request("both Content-Length and Transfer-Encoding")
    for k, v in headers:
        if k == "content-length":
            length = int(v)  # h11 has validated it
        elif k == "transfer-encoding":
            length = None
    return Head(event.method.decode("ascii"), path, query, headers, length)


def make_request(head: Head, *, zone: Zone, peer: str, tls: bool, body: "RequestBody") -> Request:
    return Request(method=head.method, path=head.path, query=head.query,
                   headers=head.headers, zone=zone, peer=peer, body=body, tls=tls)


def replay_bytes(event: h11.Request, trailing: bytes) -> bytes:
    """The request head as bytes again, plus whatever the client sent after it.

    trio-websocket (wsproto) wants to read the upgrade request itself; h11 keeps the
    original header names, so the replay carries the same head the client sent.
    """
    lines = [b"%s %s HTTP/%s" % (event.method, event.target, event.http_version)]
    lines += [name + b": " + value for name, value in event.headers.raw_items()]
    return b"\r\n".join(lines) + b"\r\n\r\n" + trailing


# --------------------------------------------------------------------------- writing


def response_head(resp: Response, *, close: bool) -> h11.Response:
    """The h11 response head: app headers, the defaults it did not set, a length for
    in-memory bodies, and ``Connection: close`` when the connection ends after it."""
    names = {k.lower() for k, _ in resp.headers}
    headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in resp.headers]
    headers += [(k.encode(), v.encode()) for k, v in DEFAULT_HEADERS if k not in names]
    if resp.stream is None and "content-length" not in names and not _bodiless(resp.status):
        headers.append((b"content-length", str(len(resp.body)).encode()))
    if close and "connection" not in names:
        headers.append((b"connection", b"close"))
    return h11.Response(status_code=resp.status, headers=headers, reason=_reason(resp.status))


def _reason(status: int) -> bytes:
    try:
        return http.HTTPStatus(status).phrase.encode("ascii")
    except ValueError:
        return b""


def _bodiless(status: int) -> bool:
    return status < 200 or status in (204, 304)


def error_bytes(conn: h11.Connection, err: HTTPError) -> bytes:
    """A complete error answer that ends the connection, or b"" if h11 cannot send
    one any more (a response already started)."""
    if conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
        return b""
    resp = err.response()
    try:
        data = conn.send(response_head(resp, close=True)) or b""
        if resp.body:
            data += conn.send(h11.Data(data=resp.body)) or b""
        data += conn.send(h11.EndOfMessage()) or b""
    except h11.LocalProtocolError:
        return b""
    return data


# --------------------------------------------------------------------------- body


@dataclass(slots=True)
class BodyRate:
    """Minimum-rate bookkeeping: after ``grace_s`` the body must have averaged at
    least ``min_bps`` since it started.  ``deadline()`` is the moment the bytes read
    so far stop being enough; every chunk moves it forward."""

    start: float
    min_bps: int
    grace_s: float = BODY_GRACE_S
    stall_s: float = 10.0  # used only when min_bps == 0: the longest silence allowed
    received: int = 0
    last: float = 0.0

    def __post_init__(self) -> None:
        self.last = self.start

    def feed(self, n: int, now: float) -> None:
        self.received += n
        self.last = now

    def deadline(self) -> float:
        if self.min_bps <= 0:
            return self.last + self.stall_s
        return self.start + self.grace_s + self.received / self.min_bps


# The server's side of the body: wait (until the deadline) for the next piece of the
# body; b"" means the body is complete.  Raises trio.TooSlowError past the deadline.
Pull = Callable[[float], Awaitable[bytes]]


class RequestBody:
    """``relay.web.Body`` over one request: read at most once, capped and rate-limited.

    ``pull(deadline)`` comes from the server; ``clock()`` is its current time (trio's).
    """

    def __init__(self, pull: Pull, clock: Callable[[], float], *,
                 content_length: int | None, min_bps: int, stall_s: float) -> None:
        self._pull = pull
        self._clock = clock
        self._length = content_length
        self._min_bps = min_bps
        self._stall_s = stall_s
        self._started = False
        self.complete = content_length == 0
        self.failed = False  # a 413 or 408 was raised: the rest is never read
        self.received = 0

    def unread(self) -> int | None:
        """Body bytes the client has yet to send, if known."""
        if self.complete:
            return 0
        return None if self._length is None else self._length - self.received

    async def read_all(self, limit: int) -> bytes:
        parts = [chunk async for chunk in self.chunks(limit)]
        return b"".join(parts)

    def chunks(self, limit: int) -> AsyncIterator[bytes]:
        if self._started:
            raise RuntimeError("request body already read")
        self._started = True
        return self._chunks(limit)

    async def _chunks(self, limit: int) -> AsyncIterator[bytes]:
        if self._length is not None and self._length > limit:
            self.failed = True
            raise body_too_large(limit)
        rate = BodyRate(self._clock(), self._min_bps, stall_s=self._stall_s)
        while not self.complete:
            try:
                chunk = await self._pull(rate.deadline())
            except trio.TooSlowError:
                self.failed = True
                raise request_timeout() from None
            if not chunk:
                self.complete = True
                break
            self.received += len(chunk)
            if self.received > limit:
                self.failed = True
                raise body_too_large(limit)
            rate.feed(len(chunk), self._clock())
            yield chunk
