"""A stream lives no longer than its session: every way a session ends closes its
streams at once, and nothing is stored through a session that has ended.  Plus the
caps on streams, and the request checks a browser client relies on (Origin on
cookie-authenticated changes, JSON that says it is JSON, hostile JSON as 400)."""

from __future__ import annotations

import json
from typing import Any, Awaitable, Callable

import pytest
import trio
import trio_websocket

from relay import accounts, control
from relay.commands import OPERATOR
from relay.web import Request
from tests.relay.test_api import (
    PEER, Env, MemBody, WSPair, body, code, env, open_stream, stream_request,
)

__all__ = ["env"]  # the fixture, used by name

CLOSE_WITHIN_S = 1.0


async def closed_code(ws: trio_websocket.WebSocketConnection) -> int | None:
    """Read until the server closes the stream; its close code."""
    with trio.fail_after(CLOSE_WITHIN_S):
        try:
            while True:
                await ws.get_message()
        except trio_websocket.ConnectionClosed as exc:
            return exc.reason.code if exc.reason else None


async def reset(env: Env) -> None:
    r = await env.call("POST", f"/api/v1/admin/accounts/{env.ids['tanaka']}/reset", as_="root")
    assert r.status == 200


async def disable(env: Env) -> None:
    r = await env.call("POST", f"/api/v1/admin/accounts/{env.ids['tanaka']}/disable",
                       as_="root")
    assert r.status == 200


async def disable_by_relayctl(env: Env) -> None:
    got = await control.execute(env.app.ctx, {"op": "account.disable",
                                              "args": {"login": "tanaka"}})
    assert "ok" in got


async def re_enrol_totp(env: Env) -> None:
    await env.app.ctx.run(accounts.enrol_totp(env.app.ctx, OPERATOR, "tanaka"))


async def logout(env: Env) -> None:
    r = await env.call("POST", "/api/v1/logout", token=await env.token("tanaka", "lgwan"))
    assert r.status == 204


ENDINGS: dict[str, Callable[[Env], Awaitable[None]]] = {
    "logout": logout, "disable": disable, "disable by relayctl": disable_by_relayctl,
    "password reset": reset, "totp re-enrolment": re_enrol_totp,
}


@pytest.mark.parametrize("how", sorted(ENDINGS))
async def test_every_way_a_session_ends_closes_its_stream_at_once(env: Env, how: str) -> None:
    room = await env.room("tanaka", "suzuki")
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            ws = await open_stream(env, nursery, "tanaka", "lgwan")
            await ENDINGS[how](env)
            assert await closed_code(ws) == 1008
            # The token is dead too, and nothing more is stored through it.
            token = await env.token("tanaka", "lgwan")
            env.tokens.pop(("tanaka", "lgwan"))
            r = await env.call("POST", f"/api/v1/rooms/{room}/messages", {"body": "まだ?"},
                               token=token)
            assert r.status == 401
            nursery.cancel_scope.cancel()


async def test_a_stream_ends_when_its_session_expires(env: Env) -> None:
    await env.token("tanaka", "lgwan")  # a session of 12 hours from now...
    env.clock.t += 12 * 3600 - 0.5  # ...of which half a second is left
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            ws = await open_stream(env, nursery, "tanaka", "lgwan")
            with trio.fail_after(0.5 + CLOSE_WITHIN_S):
                try:
                    while True:
                        await ws.get_message()
                except trio_websocket.ConnectionClosed as exc:
                    assert exc.reason is not None and exc.reason.code == 1008
                    assert exc.reason.reason == "session expired"
            nursery.cancel_scope.cancel()


async def test_a_send_racing_the_end_of_its_session_is_not_stored(env: Env) -> None:
    room = await env.room("tanaka", "suzuki")
    token = await env.token("tanaka", "lgwan")
    caller = await env.app.ctx.store.session_for_token(token, env.clock())
    assert caller is not None
    # The session ends after the request was authenticated, before its write commits.
    await disable(env)
    from relay.commands import Caller
    from relay.messages import send
    account, session = caller
    with pytest.raises(Exception) as refused:
        await env.app.ctx.run(send(env.app.ctx, Caller(account, session, token, "lgwan"), room,
                                   "遅れて届いた送信", None))
    assert getattr(refused.value, "code", None) == "unauthenticated"
    history = await env.call("GET", f"/api/v1/rooms/{room}/messages", as_="suzuki")
    assert [m["body"] for m in body(history)["messages"]] == []


async def test_streams_are_capped_per_session_with_a_clear_close(env: Env) -> None:
    cap = env.app.cfg.http.ws_max_streams_per_session
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            token = await env.token("tanaka", "lgwan")
            for _ in range(cap):
                pair = WSPair(nursery)
                nursery.start_soon(env.app.handle_stream, stream_request("lgwan", token),
                                   pair.accept)
                await pair.client()
            while env.app.hub.sessions(env.ids["tanaka"]) < cap:
                await trio.sleep(0.001)
            pair = WSPair(nursery)
            nursery.start_soon(env.app.handle_stream, stream_request("lgwan", token),
                               pair.accept)
            extra = await pair.client()
            with trio.fail_after(5):
                with pytest.raises(trio_websocket.ConnectionClosed) as closed:
                    await extra.get_message()
            assert closed.value.reason is not None
            assert (closed.value.reason.code, closed.value.reason.reason) == (
                1008, "too many streams")
            assert env.app.hub.sessions(env.ids["tanaka"]) == cap
            nursery.cancel_scope.cancel()


# --------------------------------------------------------------------------- requests


def cookie_request(env: Env, token: str, method: str, path: str, obj: Any,
                   headers: tuple[tuple[str, str], ...]) -> Request:
    data = json.dumps(obj).encode()
    hdrs = (("cookie", f"kakehashi_internet={token}"), ("host", "chat.example.lg.jp"),
            *headers)
    return Request(method, path, {}, hdrs, "internet", PEER, MemBody(data), True)


async def test_cookie_changes_from_another_site_are_refused(env: Env) -> None:
    token = await env.token("tanaka", "internet")
    room = await env.room("tanaka", "suzuki", zone="internet")
    path = f"/api/v1/rooms/{room}/messages"
    json_type = ("content-type", "application/json")
    for origin in (None, "https://evil.example", "http://chat.example.lg.jp"):
        headers = (json_type,) + ((("origin", origin),) if origin else ())
        r = await env.app.handle(cookie_request(env, token, "POST", path, {"body": "x"},
                                                headers))
        assert r.status == 403 and code(r) == "origin_forbidden", origin
    ok = await env.app.handle(cookie_request(env, token, "POST", path, {"body": "同じサイトから"},
                                             (json_type, ("origin", "https://chat.example.lg.jp"))))
    assert ok.status == 201
    # Reading with the cookie needs no Origin; a bearer token needs none for anything.
    read = await env.app.handle(cookie_request(env, token, "GET", path, None, ()))
    assert read.status == 200
    bearer = await env.call("POST", path, {"body": "アプリから"}, token=token, zone="internet")
    assert bearer.status == 201
    texts = [m["body"] for m in body(read)["messages"]]
    assert "x" not in texts


async def test_a_json_body_must_say_it_is_json(env: Env) -> None:
    room = await env.room("tanaka", "suzuki")
    for ctype in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
        r = await env.call("POST", f"/api/v1/rooms/{room}/messages", {"body": "フォーム"},
                           as_="tanaka", headers=(("content-type", ctype),))
        assert r.status == 415 and code(r) == "unsupported_media_type", ctype
    history = await env.call("GET", f"/api/v1/rooms/{room}/messages", as_="tanaka")
    assert body(history)["messages"] == []


HOSTILE = {
    "nested 100,000 deep": b"[" * 100_000 + b"]" * 100_000,
    "an integer of 5,000 digits": b'{"body": "x", "client_id": ' + b"9" * 5000 + b"}",
    "a lone surrogate": b'{"body": "\\ud800 \\u3042", "client_id": "c1"}',
    "a lone surrogate in a key": b'{"\\udfff": 1, "body": "x"}',
}


@pytest.mark.parametrize("what", sorted(HOSTILE))
async def test_hostile_json_is_a_client_error(env: Env, what: str,
                                              caplog: pytest.LogCaptureFixture) -> None:
    room = await env.room("tanaka", "suzuki")
    r = await env.call("POST", f"/api/v1/rooms/{room}/messages", raw=HOSTILE[what],
                       as_="tanaka")
    assert r.status == 400 and code(r) == "malformed_json"
    assert not [rec for rec in caplog.records if rec.levelname == "ERROR"]


@pytest.mark.parametrize("what", sorted(HOSTILE))
async def test_hostile_json_over_the_stream_is_answered_and_the_stream_goes_on(
        env: Env, what: str) -> None:
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            ws = await open_stream(env, nursery, "tanaka", "lgwan")
            await ws.send_message(HOSTILE[what].decode())
            reply = json.loads(await ws.get_message())
            assert reply["type"] == "error" and reply["error"]["code"] == "malformed_json"
            await ws.send_message('{"type": "ping"}')
            assert json.loads(await ws.get_message()) == {"type": "pong"}
            nursery.cancel_scope.cancel()


async def test_an_admin_cannot_decide_their_own_original_request(env: Env) -> None:
    from tests.relay.test_commands import internet_file
    room = await env.room("root", "hoikuen")
    file_id = await internet_file(env, room)
    made = await env.call("POST", f"/api/v1/files/{file_id}/original-requests",
                          {"reason": "自分で確認"}, as_="root")
    assert made.status == 201
    r = await env.call("POST", f"/api/v1/admin/original-requests/{body(made)['id']}/decision",
                       {"approve": True}, as_="root")
    assert r.status == 403 and code(r) == "own_request"
    original = await env.call("GET", f"/api/v1/files/{file_id}/original", as_="root")
    assert original.status == 403
