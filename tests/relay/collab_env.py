"""Helpers shared by the tests of working together (stamps, reactions, replies,
mentions, edits, search): posting through ``env.call`` and reading stream events."""

from __future__ import annotations

from typing import Any

import trio
import trio_websocket

from tests.relay.test_api import Env, body, code, recv

__all__ = ["post", "until", "quiet", "body", "code"]


async def post(env: Env, room: str, as_: str, zone: str = "lgwan", **fields: Any) -> Any:
    """POST a message; its JSON (asserting 201)."""
    r = await env.call("POST", f"/api/v1/rooms/{room}/messages", fields, as_=as_, zone=zone)
    assert r.status == 201, body(r)
    return body(r)


async def until(ws: trio_websocket.WebSocketConnection, kind: str) -> Any:
    """The next event of this type (others, like message.read, are skipped)."""
    while True:
        event = await recv(ws)
        if event["type"] == kind:
            return event


async def quiet(ws: trio_websocket.WebSocketConnection, seconds: float = 0.05) -> list[Any]:
    """Whatever the stream sends within ``seconds`` (to show nothing more came)."""
    got = []
    with trio.move_on_after(seconds):
        while True:
            got.append(await recv(ws))
    return got
