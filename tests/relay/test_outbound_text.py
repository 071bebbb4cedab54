"""Every text an internet member can see gets the 個人番号 check, not only message
bodies: room names, display names, and the history a room had while it was LGWAN-only
when it first reaches the internet."""

from __future__ import annotations

from policy import mynumber
from tests.audits import SETUP
from tests.relay.test_api import Env, body, code, env

__all__ = ["env"]

NUMBER = "12345678901" + str(mynumber.check_digit("12345678901"))
SPELLED = "１２３４ー５６７８ー９０１" + "０１２３４５６７８９"[mynumber.check_digit("12345678901")]


async def test_a_room_name_with_a_my_number_does_not_reach_an_external_member(env: Env) -> None:
    r = await env.call("POST", "/api/v1/rooms", {"name": f"{SPELLED} の件",
                                                 "members": [env.ids["hoikuen"]]}, as_="tanaka")
    assert r.status == 403 and code(r) == "my_number_blocked"
    rooms = await env.call("GET", "/api/v1/rooms", as_="tanaka")
    assert body(rooms)["rooms"] == []
    entry = [e for e in await env.store.audit_entries(0, 100) if e.action == "outbound.block"]
    assert entry and entry[-1].data["in"] == "room_name"
    assert NUMBER not in str(entry[-1].data)  # the audit holds it masked


async def test_a_display_name_with_a_my_number_is_refused(env: Env) -> None:
    r = await env.call("POST", "/api/v1/admin/accounts", {
        "login": "yamada", "kind": "staff", "password": "a long password",
        "display_name": f"山田 {NUMBER}"}, as_="root")
    assert r.status == 403 and code(r) == "my_number_blocked"
    assert "yamada" not in [a["login"] for a in body(
        await env.call("GET", "/api/v1/admin/accounts", as_="root"))["accounts"]]


async def test_history_is_checked_when_a_room_first_reaches_the_internet(env: Env) -> None:
    # Two admins (LGWAN-only accounts) talk about a My Number: nobody outside can read.
    acct = await env.store.create_account("root2", "another admin pw", "admin", "Root2",
                                          audit=SETUP, now=env.clock())
    env.ids["root2"] = acct.id
    room = await env.room("root", name="総務")
    said = await env.call("POST", f"/api/v1/rooms/{room}/messages",
                          {"body": f"番号は {NUMBER} です"}, as_="root")
    assert said.status == 201
    # Adding a staff member (who may read from the internet) would hand it out.
    r = await env.call("POST", f"/api/v1/rooms/{room}/members",
                       {"account_id": env.ids["tanaka"]}, as_="root")
    assert r.status == 403 and code(r) == "my_number_blocked"
    assert body(r)["error"]["details"]["found"] == ["********" + NUMBER[-4:]]
    members = [x for x in body(await env.call("GET", "/api/v1/rooms", as_="root"))["rooms"]
               if x["id"] == room][0]["members"]
    assert env.ids["tanaka"] not in members
    # Another admin is fine: the room still does not reach the internet.
    assert env.ids["root2"] not in members
    r = await env.call("POST", f"/api/v1/rooms/{room}/members",
                       {"account_id": env.ids["root2"]}, as_="root")
    assert r.status == 200
