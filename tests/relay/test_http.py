"""relay.http as byte transcripts: bytes in, requests / errors / bytes out, no sockets."""

from __future__ import annotations

import json
from typing import Any

import h11
import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from relay import errors, http
from relay.web import HTTPError, Response, json_response


def feed(data: bytes, limit: int = 16 * 1024) -> tuple[h11.Connection, Any]:
    conn = http.new_connection(limit)
    conn.receive_data(data)
    return conn, http.next_event(conn, limit)


def parse_answer(data: bytes) -> tuple[int, dict[str, str], bytes]:
    """Read a server answer back with an h11 client: status, headers, body."""
    client = h11.Connection(h11.CLIENT)
    client.send(h11.Request(method="GET", target="/", headers=[("host", "x")]))
    client.send(h11.EndOfMessage())
    client.receive_data(data)
    status, headers, body = 0, {}, b""
    while True:
        ev = client.next_event()
        if isinstance(ev, h11.Response):
            status = ev.status_code
            headers = {k.decode(): v.decode() for k, v in ev.headers}
        elif isinstance(ev, h11.Data):
            body += ev.data
        elif isinstance(ev, h11.EndOfMessage):
            return status, headers, body
        else:
            raise AssertionError(f"incomplete answer: {ev!r}")


# --------------------------------------------------------------------------- heads


def test_head_is_decoded_path_and_query_last_value_wins() -> None:
    _, ev = feed(b"GET /api/v1/rooms/%E5%BD%B9%E5%A0%B4?limit=5&limit=7&q=a%20b HTTP/1.1\r\n"
                 b"Host: x\r\nX-Thing: V\r\n\r\n")
    head = http.parse_head(ev)
    assert head.method == "GET"
    assert head.path == "/api/v1/rooms/役場"
    assert head.query == {"limit": "7", "q": "a b"}
    assert ("x-thing", "V") in head.headers
    assert head.content_length == 0  # no framing headers: no body
    _, chunked = feed(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    assert http.parse_head(chunked).content_length is None


@pytest.mark.parametrize("target", [b"http://evil.example/x", b"*", b"/%FF%FE", b"/a%00b"])
def test_odd_targets_are_400(target: bytes) -> None:
    _, ev = feed(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    with pytest.raises(HTTPError) as info:
        http.parse_head(ev)
    assert info.value.status == 400 and info.value.code == "bad_request"


def test_malformed_request_line_is_400_and_answered_as_json() -> None:
    conn = http.new_connection(16 * 1024)
    conn.receive_data(b"HELLO THERE\r\n\r\n")
    with pytest.raises(HTTPError) as info:
        http.next_event(conn, 16 * 1024)
    assert info.value.status == 400
    status, headers, body = parse_answer(http.error_bytes(conn, info.value))
    assert status == 400
    assert json.loads(body)["error"]["code"] == "bad_request"
    assert headers["connection"] == "close"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["cache-control"] == "no-store"


def test_header_block_over_the_limit_is_431() -> None:
    conn = http.new_connection(1024)
    conn.receive_data(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 2000 + b"\r\n")
    with pytest.raises(HTTPError) as info:
        http.next_event(conn, 1024)
    assert info.value.status == 431
    status, _, body = parse_answer(http.error_bytes(conn, info.value))
    assert status == 431
    assert json.loads(body)["error"] == {
        "code": "headers_too_large", "message": info.value.message, "details": {"limit": 1024}}


def test_header_block_arriving_whole_is_measured_too() -> None:
    # h11 alone checks only incomplete heads; a complete one in one read must not pass.
    head = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 2000 + b"\r\n\r\n"
    conn = http.new_connection(1024)
    conn.receive_data(head)
    with pytest.raises(HTTPError) as info:
        http.next_event(conn, 1024)
    assert info.value.status == 431


def test_header_block_size_is_counted_as_sent() -> None:
    head = b"GET /x HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 900 + b"\r\n\r\n"
    _, ev = feed(head, 1024)
    assert isinstance(ev, h11.Request)
    assert http.head_size(ev) == len(head)
    with pytest.raises(HTTPError):
        feed(head, len(head) - 1)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_any_bytes_give_a_request_more_data_or_an_api_error(data: bytes) -> None:
    # The peer can send anything: the parser answers with an event or a 400/431, never
    # with some other exception that would escape as a crash.
    conn = http.new_connection(512)
    conn.receive_data(data)
    try:
        ev = http.next_event(conn, 512)
    except HTTPError as err:
        assert err.status in (400, 431)
        assert http.error_bytes(conn, err).startswith(b"HTTP/1.1 4")
        return
    if isinstance(ev, h11.Request):
        try:
            http.parse_head(ev)
        except HTTPError as err:
            assert err.status == 400


@pytest.mark.parametrize(("raw", "want"), [
    (b"GET /api/v1/stream HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", True),
    (b"GET /api/v1/stream HTTP/1.1\r\nHost: x\r\nUpgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\n\r\n", True),
    (b"GET /api/v1/stream HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n", False),
    (b"GET /api/v1/stream HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n", False),
    (b"POST /api/v1/stream HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
     b"Content-Length: 0\r\n\r\n", False),
])
def test_websocket_upgrade_detection(raw: bytes, want: bool) -> None:
    _, ev = feed(raw)
    assert http.is_websocket_upgrade(ev) is want


def test_replay_gives_back_the_head_as_sent_plus_what_followed() -> None:
    head = (b"GET /api/v1/stream?token=abc HTTP/1.1\r\nHost: relay.example\r\n"
            b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\n\r\n")
    conn, ev = feed(head + b"\x81\x85early")
    assert isinstance(conn.next_event(), h11.EndOfMessage)
    assert conn.next_event() is h11.PAUSED
    trailing, closed = conn.trailing_data
    assert http.replay_bytes(ev, trailing) == head + b"\x81\x85early"
    assert not closed


# --------------------------------------------------------------------------- answers


def test_response_head_adds_defaults_and_length_but_keeps_the_apps_own() -> None:
    conn, _ = feed(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    conn.next_event()
    resp = Response(200, (("Cache-Control", "private, max-age=60"), ("content-type", "text/plain")),
                    b"hello")
    data = conn.send(http.response_head(resp, close=False)) + conn.send(h11.Data(data=resp.body)) \
        + conn.send(h11.EndOfMessage())
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    status, headers, body = parse_answer(data)
    assert headers["cache-control"] == "private, max-age=60"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["content-length"] == "5" and body == b"hello"
    assert "connection" not in headers


def test_no_content_has_no_length_and_close_is_announced() -> None:
    h = http.response_head(Response(204), close=True)
    names = [k for k, _ in h.headers]
    assert b"content-length" not in names
    assert (b"connection", b"close") in list(h.headers)


def test_error_answer_carries_retry_after_for_429() -> None:
    conn = http.new_connection(16 * 1024)
    status, headers, body = parse_answer(http.error_bytes(conn, errors.too_many_connections()))
    assert status == 429 and headers["retry-after"] == "5"
    assert json.loads(body)["error"]["code"] == "too_many_connections"


def test_json_response_body_is_utf8_api_shape() -> None:
    resp = HTTPError(404, "room_not_found", "ルームがありません / no such room").response()
    assert resp == json_response(404, {"error": {"code": "room_not_found",
                                                 "message": "ルームがありません / no such room",
                                                 "details": {}}})


# --------------------------------------------------------------------------- body


def test_body_rate_deadline_moves_with_the_bytes() -> None:
    rate = http.BodyRate(start=100.0, min_bps=500)
    assert rate.deadline() == 101.0  # the first second is free
    rate.feed(1000, now=101.5)
    assert rate.deadline() == 103.0  # 1000 bytes buy two more seconds at 500 B/s
    off = http.BodyRate(start=100.0, min_bps=0, stall_s=10.0)
    off.feed(1, now=150.0)
    assert off.deadline() == 160.0  # no rate: only a silence limit


class Script:
    """A body source from a list: bytes are chunks, "slow" stalls past the deadline."""

    def __init__(self, *steps: bytes | str) -> None:
        self.steps = list(steps)
        self.now = 0.0
        self.deadlines: list[float] = []
        self.pulls = 0

    async def pull(self, deadline: float) -> bytes:
        self.pulls += 1
        self.deadlines.append(deadline)
        step = self.steps.pop(0) if self.steps else b""
        if step == "slow":
            raise trio.TooSlowError
        assert isinstance(step, bytes)
        self.now += 0.5
        return step

    def body(self, length: int | None, min_bps: int = 500) -> http.RequestBody:
        return http.RequestBody(self.pull, lambda: self.now, content_length=length,
                                min_bps=min_bps, stall_s=10.0)


async def test_body_reads_all_chunks_under_the_limit() -> None:
    s = Script(b"ab", b"cd", b"")
    body = s.body(None)
    assert await body.read_all(10) == b"abcd"
    assert body.complete and body.unread() == 0
    # The deadline passed to each pull follows BodyRate: 1 s grace + bytes / 500.
    assert s.deadlines == [1.0, 1.0 + 2 / 500, 1.0 + 4 / 500]


async def test_declared_length_over_the_limit_is_413_before_reading() -> None:
    s = Script(b"x" * 100)
    body = s.body(5000)
    with pytest.raises(HTTPError) as info:
        await body.read_all(1000)
    assert info.value.status == 413 and info.value.details == {"limit": 1000}
    assert s.pulls == 0 and body.failed


async def test_undeclared_body_over_the_limit_is_413_when_it_gets_there() -> None:
    s = Script(b"x" * 600, b"x" * 600, b"x" * 600, b"")
    body = s.body(None)
    got = []
    with pytest.raises(HTTPError) as info:
        async for chunk in body.chunks(1000):
            got.append(chunk)
    assert info.value.status == 413
    assert got == [b"x" * 600] and body.failed and s.pulls == 2


async def test_a_stalled_body_is_408() -> None:
    body = Script(b"abc", "slow").body(100)
    with pytest.raises(HTTPError) as info:
        await body.read_all(1000)
    assert info.value.status == 408 and info.value.code == "request_timeout"
    assert body.unread() == 97 and body.failed


async def test_body_is_read_once() -> None:
    body = Script(b"").body(0)
    assert await body.read_all(10) == b""
    with pytest.raises(RuntimeError):
        await body.read_all(10)
