"""End to end: a real relayd on 127.0.0.1, an LGWAN office PC and a phone on the
internet listener chatting, with everything the API promises checked over the wire."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import trio
import trio_websocket

from tests.e2e.harness import (
    HTTPClient, Relayd, Reply, relayd, start_relayd, ws_recv_json, ws_send_json,
)

pytestmark = pytest.mark.e2e

FAST_KDF = {"store": {"password_memory_kib": 64}}
PASSWORDS = {"tanaka": "tanaka-password-1", "suzuki": "suzuki-password-1",
             "hoikuen": "hoikuen-password-1"}
KINDS = {"tanaka": "staff", "suzuki": "staff", "hoikuen": "external"}


def ok(reply: Reply, status: int = 200) -> Any:
    assert reply.status == status, (reply.status, reply.body)
    return reply.json() if reply.body else None


async def login(r: Relayd, zone: str, name: str, password: str) -> tuple[HTTPClient, dict[str, Any]]:
    client = r.client(zone)
    body = ok(await client.request("POST", "/api/v1/login",
                                   json={"login": name, "password": password}))
    client.token = body["token"]
    return client, body


async def setup_accounts(r: Relayd) -> dict[str, str]:
    assert r.admin_password, r.log()
    admin, _ = await login(r, "lgwan", "admin", r.admin_password)
    ids = {}
    for name, kind in KINDS.items():
        sponsor = {"sponsor": ids["tanaka"]} if kind == "external" else {}
        acct = ok(await admin.request("POST", "/api/v1/admin/accounts", json={
            "login": name, "kind": kind, "password": PASSWORDS[name], **sponsor}), 201)
        ids[name] = acct["id"]
    await admin.aclose()
    return ids


async def next_event(ws: trio_websocket.WebSocketConnection, type_: str) -> dict[str, Any]:
    """The next event of ``type_`` (others, e.g. room.created, are skipped)."""
    while True:
        ev = await ws_recv_json(ws)
        if ev["type"] == type_:
            return ev  # type: ignore[no-any-return]


async def test_lgwan_and_internet_staff_chat_live_and_after_restart(tmp_path: Path) -> None:
    with trio.fail_after(120):
        with relayd(tmp_path, FAST_KDF) as r:
            ids = await setup_accounts(r)
            office, _ = await login(r, "lgwan", "tanaka", PASSWORDS["tanaka"])
            phone, body = await login(r, "internet", "suzuki", PASSWORDS["suzuki"])
            cookie = (await r.client("internet").request(
                "POST", "/api/v1/login",
                json={"login": "suzuki", "password": PASSWORDS["suzuki"]})).headers["set-cookie"]
            assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=Strict" in cookie

            room = ok(await office.request("POST", "/api/v1/rooms", json={
                "name": "子育て支援課 連絡", "kind": "group", "members": [ids["suzuki"]]}), 201)
            room_id = room["id"]

            async with r.ws("lgwan", office.token) as office_ws, \
                    r.ws("internet", phone.token, query_token=True) as phone_ws:
                # Both sessions are live: a ping over each proves the subscription exists.
                for ws in (office_ws, phone_ws):
                    await ws_send_json(ws, {"type": "ping"})
                    assert await next_event(ws, "pong") == {"type": "pong"}

                # Office -> phone over HTTP; the 201 comes after commit, the event live.
                sent = ok(await office.request("POST", f"/api/v1/rooms/{room_id}/messages", json={
                    "body": "明日の健診は 9 時からです", "client_id": "pc-1"}), 201)
                assert sent["origin_zone"] == "lgwan"
                ev = await next_event(phone_ws, "message.created")
                assert ev["message"] == sent
                # The sender's own sessions hear it too (its other devices stay in step).
                assert (await next_event(office_ws, "message.created"))["message"] == sent

                # Phone -> office over the stream; ack after commit, event to the office.
                await ws_send_json(phone_ws, {"type": "send", "room_id": room_id,
                                              "body": "了解です", "client_id": "ph-1"})
                ack = await next_event(phone_ws, "ack")
                assert ack["client_id"] == "ph-1" and ack["message"]["origin_zone"] == "internet"
                ev = await next_event(office_ws, "message.created")
                assert ev["message"]["body"] == "了解です"
                assert ev["message"]["sender"] == ids["suzuki"]

                # A retry of a lost ack returns the same message, no duplicate.
                again = ok(await phone.request("POST", f"/api/v1/rooms/{room_id}/messages",
                                               json={"body": "了解です", "client_id": "ph-1"}), 201)
                assert again["id"] == ack["message"]["id"]

                # Read receipts (既読): the office reads up to the phone's reply; the
                # phone hears it live and the readers endpoint agrees.
                reply_id = ack["message"]["id"]
                unread = ok(await phone.request("GET", f"/api/v1/messages/{reply_id}/readers"))
                assert unread == {"read": [ids["suzuki"]], "unread": [ids["tanaka"]]}
                ok(await office.request("POST", f"/api/v1/rooms/{room_id}/read",
                                        json={"up_to": reply_id}), 204)
                ev = await next_event(phone_ws, "message.read")
                assert ev == {"type": "message.read", "room_id": room_id,
                              "account_id": ids["tanaka"], "up_to": reply_id}
                readers = ok(await phone.request("GET", f"/api/v1/messages/{reply_id}/readers"))
                assert sorted(readers["read"]) == sorted([ids["tanaka"], ids["suzuki"]])
                assert readers["unread"] == []
                # Answering implies having read what came before.
                earlier = ok(await office.request("GET", f"/api/v1/messages/{sent['id']}/readers"))
                assert earlier["unread"] == []

                # A malformed request on another connection disturbs nobody.
                bad = await r.client("lgwan", office.token).request(
                    "POST", f"/api/v1/rooms/{room_id}/messages", body=b'{"body": ',
                    headers={"content-type": "application/json"})
                assert bad.status == 400 and bad.error_code == "malformed_json"
                ok(await office.request("POST", f"/api/v1/rooms/{room_id}/messages",
                                        json={"body": "続けて送れます"}), 201)
                ev = await next_event(phone_ws, "message.created")
                assert ev["message"]["body"] == "続けて送れます"

            history = ok(await phone.request("GET", f"/api/v1/rooms/{room_id}/messages"))
            bodies = [m["body"] for m in history["messages"]]
            assert bodies == ["明日の健診は 9 時からです", "了解です", "続けて送れます"]
            before = {"history": history, "readers": readers}
            await office.aclose()
            await phone.aclose()

        # Restart on the same state: accounts, rooms, messages and read state survive.
        r2 = start_relayd(tmp_path, FAST_KDF, state_dir=r.state_dir)
        try:
            assert r2.admin_password is None  # the admin exists: no new password
            phone, _ = await login(r2, "internet", "suzuki", PASSWORDS["suzuki"])
            history = ok(await phone.request("GET", f"/api/v1/rooms/{room_id}/messages"))
            assert history == before["history"]
            readers = ok(await phone.request("GET", f"/api/v1/messages/{reply_id}/readers"))
            assert readers == before["readers"]
            rooms = ok(await phone.request("GET", "/api/v1/rooms"))["rooms"]
            assert [x["id"] for x in rooms] == [room_id]
            await phone.aclose()
        finally:
            r2.stop()


async def test_boundaries_external_admin_and_zones(tmp_path: Path) -> None:
    with trio.fail_after(120):
        with relayd(tmp_path, FAST_KDF) as r:
            ids = await setup_accounts(r)
            office, _ = await login(r, "lgwan", "tanaka", PASSWORDS["tanaka"])
            staff_room = ok(await office.request("POST", "/api/v1/rooms", json={
                "name": "職員のみ", "members": [ids["suzuki"]]}), 201)["id"]
            shared = ok(await office.request("POST", "/api/v1/rooms", json={
                "name": "保育園との連絡", "members": [ids["hoikuen"]]}), 201)["id"]

            # The external account works on the internet listener only; on LGWAN its
            # right password answers like a wrong one (it cannot be probed there).
            refused = await r.client("lgwan").request("POST", "/api/v1/login", json={
                "login": "hoikuen", "password": PASSWORDS["hoikuen"]})
            assert refused.status == 401 and refused.error_code == "invalid_credentials"
            partner, _ = await login(r, "internet", "hoikuen", PASSWORDS["hoikuen"])

            rooms = ok(await partner.request("GET", "/api/v1/rooms"))["rooms"]
            assert [x["id"] for x in rooms] == [shared]
            for method, path, payload in [
                ("GET", f"/api/v1/rooms/{staff_room}/messages", None),
                ("POST", f"/api/v1/rooms/{staff_room}/messages", {"body": "見えますか"}),
            ]:
                reply = await partner.request(method, path, json=payload)
                assert reply.status == 404 and reply.error_code == "room_not_found"
            # Its directory is the people of its one room, not the office's.
            directory = ok(await partner.request("GET", "/api/v1/accounts"))["accounts"]
            assert sorted(a["id"] for a in directory) == sorted([ids["tanaka"], ids["hoikuen"]])
            assert ids["suzuki"] not in {a["id"] for a in directory}
            async with r.ws("internet", partner.token) as partner_ws:
                await ws_send_json(partner_ws, {"type": "send", "room_id": staff_room,
                                                "body": "x", "client_id": "e1"})
                err = await next_event(partner_ws, "error")
                assert err["error"]["code"] == "room_not_found"
                # ... and it never hears what is said in the staff room.
                ok(await office.request("POST", f"/api/v1/rooms/{staff_room}/messages",
                                        json={"body": "内部の話"}), 201)
                ok(await office.request("POST", f"/api/v1/rooms/{shared}/messages",
                                        json={"body": "明日はお迎え 17 時です"}), 201)
                ev = await next_event(partner_ws, "message.created")
                assert ev["message"]["body"] == "明日はお迎え 17 時です"

            # Admin paths do not exist on the internet listener, whoever asks.
            unknown = await partner.request("GET", "/api/v1/no-such-thing")
            for path in ("/api/v1/admin/accounts", "/api/v1/admin/audit/verify"):
                reply = await partner.request("GET", path)
                assert (reply.status, reply.body) == (unknown.status, unknown.body)
                assert reply.status == 404 and reply.error_code == "not_found"

            # On LGWAN the audit log has the logins and verifies.
            admin, _ = await login(r, "lgwan", "admin", r.admin_password or "")
            verify = ok(await admin.request("GET", "/api/v1/admin/audit/verify"))
            assert verify["ok"] is True and verify["first_bad"] is None
            entries = ok(await admin.request("GET", "/api/v1/admin/audit?limit=1000"))["entries"]
            actions = {e["action"] for e in entries}
            # (the external account's LGWAN attempt is a failed login, like a wrong password)
            assert {"login.ok", "login.failed", "account.created", "room.created"} <= actions
            # Wrong JSON types name the field.
            bad = await office.request("POST", "/api/v1/rooms", json={"name": "x", "members": [1]})
            assert bad.status == 400 and json.loads(bad.body)["error"]["details"]["field"] == "members[0]"
            for c in (office, partner, admin):
                await c.aclose()
