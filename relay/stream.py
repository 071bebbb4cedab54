"""One WebSocket stream session, after ``relay.app`` has authenticated it.

Two tasks share the connection and end together (the first to finish cancels the
others):

* events: drains the session's hub queue into text frames.  If the client does not
  drain, the queue fills and the hub cancels the whole session (``relay.hub``);
* requests: client frames -- ``{"type": "ping"}`` is answered ``{"type": "pong"}``;
  ``{"type": "send", "room_id", "body", "client_id"}`` runs the same command as HTTP
  (``relay.messages.send``) and is answered ``{"type": "ack", "client_id",
  "message"}`` after COMMIT; ``{"type": "read", "room_id", "up_to"}`` moves the read
  marker.  A bad frame gets ``{"type": "error", "client_id"?, "error": {...}}`` and the
  session carries on.

A stream lives no longer than its login session: it ends when the session expires,
and at once when the session is ended any other way (logout, the account disabled or
its password reset: the command that ends it cuts the hub's subscriptions off).
Keepalive (a ping every ``ws_ping_interval_s``, closed after ``ws_ping_timeout_s``
without a pong) and the frame size cap belong to the server, which owns the
connection (``relay.server``); the session only ends itself.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable

import trio
from trio_websocket import ConnectionClosed, WebSocketConnection
from wsproto.events import TextMessage

from store.db import iso

from relay import errors, hours, messages
from relay.commands import Caller, Context
from relay.hub import OVERFLOW, REVOKED, Subscription, encode
from relay.shapes import Fields, parse_json
from relay.web import CLOSE_TIMEOUT_S, Accept, HTTPError

log = logging.getLogger(__name__)

# Most queued events written to one session in one go.
SEND_BATCH = 64

EXPIRED = "expired"
TOO_MANY = "too many streams"
# RFC 6455 close codes per way of ending.
_CLOSE: dict[str | None, tuple[int, str]] = {
    None: (1000, "bye"),
    OVERFLOW: (1008, "send queue overflow"),
    REVOKED: (1008, "session revoked"),
    EXPIRED: (1008, "session expired"),
    TOO_MANY: (1008, "too many streams"),
}


def _seconds_left(caller: Caller, now: float) -> float:
    expires = datetime.strptime(caller.session.expires_at, "%Y-%m-%dT%H:%M:%S.%fZ")
    return expires.replace(tzinfo=timezone.utc).timestamp() - now


async def run(ctx: Context, caller: Caller, accept: Accept) -> None:
    """Accept the upgrade and run the session until either side ends it, or its
    login session does."""
    try:
        ws: WebSocketConnection = await accept()
    except ConnectionClosed:
        return
    http = ctx.cfg.http
    if (ctx.hub.sessions(caller.account.id) >= http.ws_max_streams_per_account
            or ctx.hub.streams_of_session(caller.account.id, caller.session.id)
            >= http.ws_max_streams_per_session):
        log.info("account %s: over the open-stream limit; closing the new one",
                 caller.account.id)
        await _close(ws, TOO_MANY)
        return
    conn = _Conn(ws)
    sub = ctx.hub.subscribe(caller.account.id, caller.zone, caller.session.id)
    try:
        with sub.scope, trio.move_on_after(_seconds_left(caller, ctx.now())) as expiry:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_until_done, nursery.cancel_scope, _events, conn, sub)
                nursery.start_soon(_until_done, nursery.cancel_scope, _requests, conn,
                                   ctx, caller)
        if expiry.cancelled_caught and sub.ended is None:
            sub.ended = EXPIRED
    finally:
        ctx.hub.unsubscribe(sub)
    # A send cut off half-way (typically: the client stopped reading and overflowed)
    # may have left part of a frame on the wire, so another frame -- even a close
    # frame -- would be garbage: the server drops the transport instead.
    if not conn.torn:
        await _close(ws, sub.ended)


async def _close(ws: WebSocketConnection, ended: str | None) -> None:
    code, reason = _CLOSE.get(ended, _CLOSE[None])
    # Shielded: the session may be ending *because* it was cancelled, and the client
    # still deserves a close frame if it is listening.
    with trio.move_on_after(CLOSE_TIMEOUT_S, shield=True):
        try:
            await ws.aclose(code, reason)
        except (ConnectionClosed, trio.BrokenResourceError, trio.ClosedResourceError):
            pass


async def _until_done(scope: trio.CancelScope, task: Callable[..., Awaitable[None]],
                      *args: Any) -> None:
    """Run one of the session's tasks; when it ends, for whatever reason, the session
    ends."""
    try:
        await task(*args)
    except ConnectionClosed:
        pass
    finally:
        scope.cancel()


class _Conn:
    """The session's WebSocket, remembering whether a send was interrupted."""

    def __init__(self, ws: WebSocketConnection) -> None:
        self.ws = ws
        self._sending = 0

    @property
    def torn(self) -> bool:
        return self._sending > 0

    async def send(self, text: str) -> None:
        self._sending += 1
        await self.ws.send_message(text)
        self._sending -= 1  # not reached if cancelled or failed: the stream is torn

    async def send_many(self, texts: list[str]) -> None:
        """Several text frames in one write: a busy room costs one syscall (and one
        TLS record) per session per wake-up instead of one per event -- the largest
        cost of fan-out (bench/chat.py).  trio-websocket has no public call for it, so
        this follows its ``_send`` with its private parts; setup.cfg pins the minor
        version this was written against (0.12), and the stream tests cover it."""
        if len(texts) == 1:
            return await self.send(texts[0])
        ws = self.ws
        if ws._close_reason:
            raise ConnectionClosed(ws._close_reason)
        self._sending += 1
        data = b"".join(ws._wsproto.send(TextMessage(data=t)) for t in texts)
        async with ws._stream_lock:
            try:
                await ws._stream.send_all(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                await ws._abort_web_socket()
                raise ConnectionClosed(ws._close_reason) from None
        self._sending -= 1


async def _events(conn: _Conn, sub: Subscription) -> None:
    async for text in sub.receive:
        batch = [text]
        while len(batch) < SEND_BATCH:
            try:
                batch.append(sub.receive.receive_nowait())
            except trio.WouldBlock:
                break
        await conn.send_many(batch)
    # The hub closed our queue: revoked or overflowed (sub.ended says which).


async def _requests(conn: _Conn, ctx: Context, caller: Caller) -> None:
    while True:
        frame = await conn.ws.get_message()
        reply = await answer(ctx, caller, frame)
        if reply is not None:
            await conn.send(encode(reply))


async def answer(ctx: Context, caller: Caller, frame: str | bytes) -> dict[str, Any] | None:
    """The reply to one client frame (None: nothing to say).  Never raises for
    anything the client sent."""
    client_id: Any = None
    try:
        if isinstance(frame, bytes):
            raise HTTPError(400, "text_frames_only",
                            "テキストフレームで送ってください / send JSON in text frames")
        obj = parse_json(frame)
        f = Fields(obj)
        client_id = obj.get("client_id") if isinstance(obj.get("client_id"), str) else None
        kind = f.req_str("type")
        if kind == "ping":
            return {"type": "pong"}
        if kind == "send":
            sent_id = f.req_str("client_id")
            message = await ctx.run(messages.send(
                ctx, caller, f.id("room_id"), f.opt_str("body"), sent_id,
                reply_to=f.opt_id("reply_to"), stamp=f.opt_str("stamp"),
                urgent=hours.urgent_of(f.obj)))
            held = hours.notify_at(ctx, message)
            return {"type": "ack", "client_id": sent_id, "message": message.public(),
                    "notify_at": None if held is None else iso(held)}
        if kind == "read":
            read = await ctx.run(messages.mark_read(ctx, caller, f.id("room_id"),
                                                    f.id("up_to")))
            return {"type": "read.ok", "room_id": read.room_id, "up_to": read.up_to}
        raise errors.invalid_field("type", '"ping", "send" or "read"')
    except Exception as exc:
        http = errors.for_exception(exc, "a stream request")
        reply: dict[str, Any] = {"type": "error", "error": {
            "code": http.code, "message": http.message, "details": http.details}}
        if client_id is not None:
            reply["client_id"] = client_id
        return reply
