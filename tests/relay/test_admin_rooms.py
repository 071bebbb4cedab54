"""The admin's rooms and one-time codes over the API (relay.routes_admin): a real Store
on tmp_path and requests handed to ``app.handle``, as tests/relay/test_api.py does.

Each change must be the same command relayctl runs, audited with the admin (not the
operator's null) as its actor; non-admins get 403, the internet listener has no such
paths at all.  A TOTP code is computed from the secret the route answered, as an
authenticator app would, and opens a login on the internet listener.
"""

from __future__ import annotations

from typing import Any

from relay import directory
from relay.commands import OPERATOR
from tests.relay import test_api
from tests.relay.test_api import Env, body, code
from tests.relay.test_totp import totp_code

env = test_api.env  # the fixture: accounts tanaka, suzuki (staff), hoikuen, sato (external), root (admin)


async def audit(env: Env, action: str) -> list[dict[str, Any]]:
    return [e.public() for e in await env.store.audit_entries(0, 10_000) if e.action == action]


async def rooms(env: Env, **query: str) -> dict[str, dict[str, Any]]:
    r = await env.call("GET", "/api/v1/admin/rooms", as_="root", query=query)
    assert r.status == 200, body(r)
    return {room["name"]: room for room in body(r)["rooms"]}


async def test_list_add_remove_archive_unarchive_each_audited_with_the_admin(env: Env) -> None:
    room_id = await env.room("tanaka", "suzuki", name="防災訓練")
    await env.room("suzuki", "tanaka", name="子育て支援課")
    listed = await rooms(env)
    assert set(listed) == {"防災訓練", "子育て支援課"}
    assert sorted(listed["防災訓練"]["member_logins"]) == ["suzuki", "tanaka"]
    assert listed["防災訓練"]["archived"] is False and listed["防災訓練"]["department"] == ""

    # Added by login; the new member now sees the room in their own list.
    r = await env.call("POST", f"/api/v1/admin/rooms/{room_id}/members",
                       {"login": "hoikuen", "add": True}, as_="root")
    assert r.status == 200, body(r)
    assert sorted(body(r)["room"]["member_logins"]) == ["hoikuen", "suzuki", "tanaka"]
    mine = body(await env.call("GET", "/api/v1/rooms", as_="hoikuen", zone="internet"))["rooms"]
    assert room_id in [x["id"] for x in mine]
    [added] = await audit(env, "room.member_added")
    assert added["actor"] == env.ids["root"] and added["subject"] == room_id
    assert added["data"] == {"account_id": env.ids["hoikuen"]}

    r = await env.call("POST", f"/api/v1/admin/rooms/{room_id}/members",
                       {"login": "hoikuen", "add": False}, as_="root")
    assert r.status == 200 and "hoikuen" not in body(r)["room"]["member_logins"]
    mine = body(await env.call("GET", "/api/v1/rooms", as_="hoikuen", zone="internet"))["rooms"]
    assert room_id not in [x["id"] for x in mine]
    [removed] = await audit(env, "room.member_removed")
    assert removed["actor"] == env.ids["root"] and removed["data"]["account_id"] == env.ids["hoikuen"]

    r = await env.call("POST", f"/api/v1/admin/rooms/{room_id}/archive", {"archived": True},
                       as_="root")
    assert r.status == 200 and body(r)["room"]["archived"] is True
    assert set(await rooms(env, archived="true")) == {"防災訓練"}
    assert set(await rooms(env, archived="false")) == {"子育て支援課"}
    # Archived: read-only for its members, and no one joins it.
    r = await env.call("POST", f"/api/v1/rooms/{room_id}/messages",
                       {"body": "訓練は中止", "client_id": "c-archived-1"}, as_="tanaka")
    assert r.status == 403 and code(r) == "room_archived"
    r = await env.call("POST", f"/api/v1/admin/rooms/{room_id}/members",
                       {"login": "sato", "add": True}, as_="root")
    assert r.status == 403 and code(r) == "room_archived"

    r = await env.call("POST", f"/api/v1/admin/rooms/{room_id}/archive", {"archived": False},
                       as_="root")
    assert r.status == 200 and body(r)["room"]["archived"] is False
    r = await env.call("POST", f"/api/v1/rooms/{room_id}/messages",
                       {"body": "訓練は予定どおり", "client_id": "c-archived-2"}, as_="tanaka")
    assert r.status == 201, body(r)
    for action in ("room.archived", "room.unarchived"):
        [entry] = await audit(env, action)
        assert entry["actor"] == env.ids["root"] and entry["data"] == {"name": "防災訓練"}
    v = body(await env.call("GET", "/api/v1/admin/audit/verify", as_="root"))
    assert v["ok"] is True


async def test_rooms_of_a_department_and_those_under_it(env: Env) -> None:
    ctx = env.app.ctx
    await ctx.run(directory.add_department(ctx, OPERATOR, "総務部", None))
    await ctx.run(directory.add_department(ctx, OPERATOR, "総務課", "総務部"))
    await ctx.run(directory.add_department(ctx, OPERATOR, "福祉部", None))
    await ctx.run(directory.create_room(ctx, OPERATOR, "総務課連絡", ["tanaka"], "総務部/総務課"))
    await ctx.run(directory.create_room(ctx, OPERATOR, "福祉部連絡", ["suzuki"], "福祉部"))
    await env.room("tanaka", "suzuki", name="雑談")
    under = await rooms(env, department="総務部")
    assert set(under) == {"総務課連絡"} and under["総務課連絡"]["department"] == "総務部/総務課"
    assert set(await rooms(env)) == {"総務課連絡", "福祉部連絡", "雑談"}
    r = await env.call("GET", "/api/v1/admin/rooms", as_="root", query={"department": "土木部"})
    assert r.status == 404 and code(r) == "department_not_found"


async def test_bad_requests_name_what_is_wrong(env: Env) -> None:
    room_id = await env.room("tanaka", "suzuki", name="防災訓練")
    member = f"/api/v1/admin/rooms/{room_id}/members"
    r = await env.call("POST", member, {"login": "hoikuen"}, as_="root")  # "add" left out
    assert r.status == 400 and code(r) == "invalid_field"
    assert body(r)["error"]["details"]["field"] == "add"
    r = await env.call("POST", member, {"login": "nobody", "add": True}, as_="root")
    assert r.status == 404 and code(r) == "account_not_found"
    r = await env.call("POST", "/api/v1/admin/rooms/999999/members",
                       {"login": "hoikuen", "add": True}, as_="root")
    assert r.status == 404 and code(r) == "room_not_found"
    r = await env.call("POST", f"/api/v1/admin/rooms/{room_id}/archive", {"archived": "yes"},
                       as_="root")
    assert r.status == 400 and code(r) == "invalid_field"
    for value in ("maybe", ""):  # true or false, as for GET /api/v1/tasks?done=
        r = await env.call("GET", "/api/v1/admin/rooms", as_="root", query={"archived": value})
        assert r.status == 400 and code(r) == "invalid_field", value
    r = await env.call("POST", "/api/v1/admin/accounts/999999/totp", as_="root")
    assert r.status == 404 and code(r) == "account_not_found"
    assert await audit(env, "room.member_added") == []


async def test_a_non_admin_is_refused_and_the_internet_has_no_such_paths(env: Env) -> None:
    room_id = await env.room("tanaka", "suzuki", name="防災訓練")
    calls = [("GET", "/api/v1/admin/rooms", None),
             ("POST", f"/api/v1/admin/rooms/{room_id}/members", {"login": "hoikuen", "add": True}),
             ("POST", f"/api/v1/admin/rooms/{room_id}/archive", {"archived": True}),
             ("POST", f"/api/v1/admin/accounts/{env.ids['suzuki']}/totp", None)]
    unknown = await env.call("GET", "/api/v1/does-not-exist", zone="internet")
    staff_internet = await env.token("tanaka", "internet")
    for method, path, payload in calls:
        r = await env.call(method, path, payload, as_="tanaka")
        assert r.status == 403 and code(r) == "forbidden", path
        for token in (None, staff_internet):
            r = await env.call(method, path, payload, zone="internet", token=token)
            assert (r.status, r.body) == (unknown.status, unknown.body), path
    assert (await rooms(env))["防災訓練"]["archived"] is False
    assert await audit(env, "account.totp_enrolled") == []
    assert await audit(env, "room.member_added") == []


async def test_totp_enrolled_by_an_admin_then_a_login_with_its_code_on_the_internet(env: Env) -> None:
    assert (await env.login("suzuki", zone="internet")).status == 200  # no code asked yet
    old_session = await env.token("suzuki")
    r = await env.call("POST", f"/api/v1/admin/accounts/{env.ids['suzuki']}/totp", as_="root")
    assert r.status == 200, body(r)
    enrolled = body(r)
    assert enrolled["login"] == "suzuki"
    assert enrolled["uri"].startswith("otpauth://totp/")
    assert f"secret={enrolled['secret']}" in enrolled["uri"]
    # Enrolling ends the account's sessions (the secret may have leaked with a phone).
    assert (await env.call("GET", "/api/v1/me", token=old_session)).status == 401

    r = await env.login("suzuki", zone="internet")
    assert r.status == 401 and code(r) == "totp_required"
    r = await env.call("POST", "/api/v1/login",
                       {"login": "suzuki", "password": "correct horse battery",
                        "totp": totp_code(enrolled["secret"], env.clock())}, zone="internet")
    assert r.status == 200, body(r)
    [entry] = await audit(env, "account.totp_enrolled")
    assert entry["actor"] == env.ids["root"] and entry["subject"] == env.ids["suzuki"]
    assert enrolled["secret"] not in str(await env.store.audit_entries(0, 10_000))

    # Enrolling again replaces it: the first secret's codes no longer open the account.
    again = body(await env.call("POST", f"/api/v1/admin/accounts/{env.ids['suzuki']}/totp",
                                as_="root"))
    assert again["secret"] != enrolled["secret"]
    env.clock.t += 60
    r = await env.call("POST", "/api/v1/login",
                       {"login": "suzuki", "password": "correct horse battery",
                        "totp": totp_code(enrolled["secret"], env.clock())}, zone="internet")
    assert r.status == 401 and code(r) == "totp_invalid"
    r = await env.call("POST", "/api/v1/login",
                       {"login": "suzuki", "password": "correct horse battery",
                        "totp": totp_code(again["secret"], env.clock())}, zone="internet")
    assert r.status == 200, body(r)
