"""relay.app / relay.routes / the commands / relay.stream without sockets: a real Store on tmp_path,
requests handed straight to ``app.handle``, streams over in-memory WebSockets."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator

import pytest
import trio
import trio.testing
import trio_websocket

from policy import mynumber
from policy.config import PolicyConfig
from relay.accounts import bootstrap_admin
from relay.app import RelayApp, build_app
from relay.config import AuthConfig, Config, HTTPConfig
from relay.web import HTTPError, Request, Response
from store.config import StoreConfig
from store.facade import Store
from tests.audits import SETUP
from tests.metrics import value

PEER = "192.0.2.10"
PASSWORD = "correct horse battery"


@dataclass
class MemBody:
    data: bytes = b""

    async def read_all(self, limit: int) -> bytes:
        if len(self.data) > limit:
            raise HTTPError(413, "body_too_large", "too large")
        return self.data

    async def chunks(self, limit: int) -> AsyncIterator[bytes]:
        yield await self.read_all(limit)


@dataclass
class Clock:
    t: float = 1_800_000_000.0

    def __call__(self) -> float:
        return self.t


@dataclass
class Env:
    app: RelayApp
    store: Store
    clock: Clock
    ids: dict[str, str] = field(default_factory=dict)
    tokens: dict[tuple[str, str], str] = field(default_factory=dict)

    async def call(self, method: str, path: str, json_body: Any = None, *, zone: str = "lgwan",
                   as_: str | None = None, token: str | None = None, raw: bytes | None = None,
                   query: dict[str, str] | None = None, tls: bool = False, peer: str = PEER,
                   headers: tuple[tuple[str, str], ...] = ()) -> Response:
        if as_ is not None:
            token = await self.token(as_, zone)
        hdrs = list(headers)
        if (json_body is not None or raw is not None) and not any(
                k == "content-type" for k, _ in headers):
            hdrs.append(("content-type", "application/json"))
        if token:
            hdrs.append(("authorization", f"Bearer {token}"))
        data = raw if raw is not None else (
            json.dumps(json_body).encode() if json_body is not None else b"")
        return await self.app.handle(Request(method, path, query or {}, tuple(hdrs), zone,  # type: ignore[arg-type]
                                             peer, MemBody(data), tls))

    async def login(self, login: str, zone: str = "lgwan", password: str = PASSWORD,
                    **kw: Any) -> Response:
        return await self.call("POST", "/api/v1/login", {"login": login, "password": password},
                               zone=zone, **kw)

    async def token(self, login: str, zone: str = "lgwan") -> str:
        if (login, zone) not in self.tokens:
            r = await self.login(login, zone)
            assert r.status == 200, body(r)
            self.tokens[login, zone] = body(r)["token"]
        return self.tokens[login, zone]

    async def room(self, creator: str, *members: str, name: str = "子育て支援課",
                   zone: str = "lgwan") -> str:
        r = await self.call("POST", "/api/v1/rooms",
                            {"name": name, "members": [self.ids[m] for m in members]},
                            as_=creator, zone=zone)
        assert r.status == 201, body(r)
        return str(body(r)["id"])


def body(r: Response) -> Any:
    return json.loads(r.body) if r.body else None


def code(r: Response) -> str:
    return str(body(r)["error"]["code"])


def make_config(tmp_path: Path, **policy: Any) -> Config:
    return Config(store=StoreConfig(state_dir=str(tmp_path / "state"), password_memory_kib=64),
                  http=HTTPConfig(ws_send_queue=16, allowed_origins=("https://chat.example.lg.jp",)),
                  auth=AuthConfig(message_burst=1000),
                  policy=PolicyConfig(**policy))


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    cfg = make_config(tmp_path)
    store = await Store.open(cfg.store)
    clock = Clock()
    e = Env(build_app(cfg, store, now=clock), store, clock)
    for login, kind in [("tanaka", "staff"), ("suzuki", "staff"), ("hoikuen", "external"),
                        ("root", "admin"), ("sato", "external")]:
        e.ids[login] = (await store.create_account(login, PASSWORD, kind, login.title(), audit=SETUP, now=time.time())).id  # type: ignore[arg-type]
    try:
        yield e
    finally:
        await store.aclose()


# --------------------------------------------------------------------------- login


async def test_login_me_logout(env: Env) -> None:
    r = await env.login("tanaka")
    assert r.status == 200
    token = body(r)["token"]
    assert body(r)["account"] == {"id": env.ids["tanaka"], "login": "tanaka",
                                  "display_name": "Tanaka", "kind": "staff", "disabled": False,
                                  "password_change_required": False,
                                  "password_in_directory": False}
    assert dict(r.headers).get("set-cookie") is None  # plain listener: no cookie
    me = await env.call("GET", "/api/v1/me", token=token)
    assert me.status == 200 and body(me)["login"] == "tanaka"
    assert (await env.call("POST", "/api/v1/logout", token=token)).status == 204
    again = await env.call("GET", "/api/v1/me", token=token)
    assert again.status == 401 and code(again) == "unauthenticated"


async def test_wrong_password_and_unknown_login_answer_alike(env: Env) -> None:
    wrong = await env.login("tanaka", password="not the password")
    unknown = await env.login("nobody", password="not the password", peer="192.0.2.99")
    assert wrong.status == unknown.status == 401
    assert wrong.body == unknown.body
    assert code(wrong) == "invalid_credentials"
    # The message is for people: Japanese, English after " / ".
    assert " / " in body(wrong)["error"]["message"]
    actions = [(e.action, e.subject) for e in await env.store.audit_entries(0, 100)]
    assert ("login.failed", "tanaka") in actions and ("login.failed", "nobody") in actions


async def test_an_account_not_allowed_in_a_zone_cannot_be_probed_there(env: Env) -> None:
    # The right password of an account that may not use this listener answers exactly
    # like a wrong one: nothing tells a stranger the login exists.
    wrong = await env.login("root", zone="internet", password="wrong password!",
                            peer="192.0.2.50")
    for login, zone in (("hoikuen", "lgwan"), ("root", "internet")):
        r = await env.login(login, zone=zone)
        assert (r.status, body(r)) == (wrong.status, body(wrong))
        assert dict(r.headers) == dict(wrong.headers)
    assert (await env.login("hoikuen", zone="internet")).status == 200
    assert (await env.login("tanaka", zone="internet")).status == 200
    failed = [e for e in await env.store.audit_entries(0, 100) if e.action == "login.failed"]
    assert [e.data.get("reason") for e in failed] == [None, "zone_forbidden", "zone_forbidden"]


async def test_guesses_on_the_internet_never_lock_a_login_out_of_lgwan(env: Env) -> None:
    # An attacker on the internet drains the internet bucket of an LGWAN-only admin and
    # of a staff member...
    for i in range(10):
        for login in ("root", "tanaka"):
            await env.login(login, zone="internet", password=f"guess {i} guess",
                            peer=f"203.0.113.{i}")
    assert (await env.login("tanaka", zone="internet", peer="203.0.113.99")).status == 429
    # ...and both still log in from their LGWAN PCs at once.
    assert (await env.login("root", zone="lgwan")).status == 200
    assert (await env.login("tanaka", zone="lgwan")).status == 200


async def test_login_rate_limited_per_account_with_retry_after(env: Env) -> None:
    for i in range(3):  # burst 3 (default)
        r = await env.login("tanaka", password="guess guess " + str(i), peer=f"198.51.100.{i}")
        assert r.status == 401
    r = await env.login("tanaka", peer="198.51.100.77")  # even the right password waits
    assert r.status == 429 and code(r) == "rate_limited"
    assert dict(r.headers)["retry-after"] == "6"
    env.clock.t += 6
    assert (await env.login("tanaka", peer="198.51.100.77")).status == 200


async def test_login_rate_limited_per_ip_but_successes_do_not_count(env: Env) -> None:
    for _ in range(8):  # more than the per-IP burst of 5, all successful
        assert (await env.login("suzuki")).status == 200
    for i in range(5):
        assert (await env.login(f"guess{i}", password="whatever123")).status == 401
    r = await env.login("suzuki")
    assert r.status == 429 and int(dict(r.headers)["retry-after"]) >= 1
    assert (await env.login("suzuki", peer="192.0.2.11")).status == 200  # another IP


async def test_token_is_bound_to_its_listener(env: Env) -> None:
    internet = await env.token("tanaka", "internet")
    assert (await env.call("GET", "/api/v1/me", token=internet, zone="internet")).status == 200
    r = await env.call("GET", "/api/v1/me", token=internet, zone="lgwan")
    assert r.status == 401


async def test_a_browser_on_the_relay_host_keeps_a_session_on_plain_lgwan(env: Env) -> None:
    # Loopback traffic never crosses a network: the embedded default is usable in a
    # browser on the host (admins log in on LGWAN only); from the network it is not.
    local = await env.login("root", peer="127.0.0.1")
    cookie = dict(local.headers)["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie
    remote = await env.login("tanaka", peer="192.0.2.44")
    assert dict(remote.headers).get("set-cookie") is None


async def test_cookie_on_tls_listener(env: Env) -> None:
    r = await env.login("tanaka", zone="internet", tls=True)
    cookie = dict(r.headers)["set-cookie"]
    for attr in ("HttpOnly", "Secure", "SameSite=Strict", "Path=/"):
        assert attr in cookie
    name_value = cookie.split(";")[0]
    assert name_value == f"kakehashi_internet={body(r)['token']}"
    me = await env.call("GET", "/api/v1/me", zone="internet", tls=True,
                        headers=(("cookie", f"other=1; {name_value}"),))
    assert me.status == 200 and body(me)["login"] == "tanaka"
    # A change with the cookie comes from our own page (its Origin is this host).
    out = await env.call("POST", "/api/v1/logout", zone="internet", tls=True,
                         headers=(("cookie", name_value), ("host", "chat.example.lg.jp"),
                                  ("origin", "https://chat.example.lg.jp")))
    assert out.status == 204 and "Max-Age=0" in dict(out.headers)["set-cookie"]


async def test_bootstrap_admin_once(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    async with await Store.open(cfg.store) as store:
        ctx = build_app(cfg, store).ctx
        password = await bootstrap_admin(ctx)
        assert password and len(password) >= 16
        assert await bootstrap_admin(ctx) is None
        admin = await store.check_password("admin", password, 0.0)
        assert admin is not None and admin.kind == "admin"


# --------------------------------------------------------------------------- rooms, messages


async def test_room_messages_history_and_idempotent_send(env: Env) -> None:
    room = await env.room("tanaka", "suzuki", "hoikuen")
    rooms = body(await env.call("GET", "/api/v1/rooms", as_="suzuki"))["rooms"]
    assert [(r["id"], r["name"], r["unread"], r["last_message"]) for r in rooms] == \
        [(room, "子育て支援課", 0, None)]
    assert sorted(rooms[0]["members"]) == sorted(env.ids[x] for x in ("tanaka", "suzuki", "hoikuen"))

    sent = []
    for i in range(5):
        r = await env.call("POST", f"/api/v1/rooms/{room}/messages",
                           {"body": f"連絡 {i}", "client_id": f"c{i}"}, as_="tanaka")
        assert r.status == 201
        sent.append(body(r))
    m = sent[0]
    assert m["room_id"] == room and m["sender"] == env.ids["tanaka"]
    assert m["origin_zone"] == "lgwan" and m["attachments"] == [] and m["read_count"] == 0
    assert m["created_at"].endswith("Z")
    # Same client_id from the same account: the same message, no duplicate.
    again = await env.call("POST", f"/api/v1/rooms/{room}/messages",
                           {"body": "連絡 0", "client_id": "c0"}, as_="tanaka")
    assert again.status == 201 and body(again)["id"] == m["id"]

    hist = body(await env.call("GET", f"/api/v1/rooms/{room}/messages", as_="hoikuen",
                               zone="internet"))["messages"]
    assert [x["body"] for x in hist] == [f"連絡 {i}" for i in range(5)]  # newest last
    page = body(await env.call("GET", f"/api/v1/rooms/{room}/messages", as_="suzuki",
                               query={"before": sent[3]["id"], "limit": "2"}))["messages"]
    assert [x["body"] for x in page] == ["連絡 1", "連絡 2"]
    rooms = body(await env.call("GET", "/api/v1/rooms", as_="suzuki"))["rooms"]
    assert rooms[0]["unread"] == 5 and rooms[0]["last_message"]["body"] == "連絡 4"


@pytest.mark.parametrize("query, field", [
    ({"limit": "0"}, "limit"), ({"limit": "201"}, "limit"), ({"limit": "x"}, "limit"),
    ({"before": "abc"}, "before"),
])
async def test_history_query_validation(env: Env, query: dict[str, str], field: str) -> None:
    room = await env.room("tanaka", "suzuki")
    r = await env.call("GET", f"/api/v1/rooms/{room}/messages", as_="tanaka", query=query)
    assert r.status == 400 and code(r) == "invalid_field"
    assert body(r)["error"]["details"]["field"] == field


async def test_text_is_normalised_and_limited(env: Env) -> None:
    room = await env.room("tanaka", "suzuki")
    r = await env.call("POST", f"/api/v1/rooms/{room}/messages",
                       {"body": "  請求書_\u202egpj.exe\x00 \r\n"}, as_="tanaka")
    assert r.status == 201 and body(r)["body"] == "請求書_gpj.exe"
    r = await env.call("POST", f"/api/v1/rooms/{room}/messages", {"body": " \u202e "}, as_="tanaka")
    assert r.status == 400 and code(r) == "empty_message"
    r = await env.call("POST", f"/api/v1/rooms/{room}/messages", {"body": "あ" * 10_001},
                       as_="tanaka")
    assert r.status == 400 and code(r) == "message_too_long"
    assert body(r)["error"]["details"]["limit"] == 10_000


async def test_non_members_cannot_see_or_post(env: Env) -> None:
    room = await env.room("tanaka", "suzuki")
    for who, zone in [("hoikuen", "internet"), ("root", "lgwan")]:
        for method, path, payload in [
            ("GET", f"/api/v1/rooms/{room}/messages", None),
            ("POST", f"/api/v1/rooms/{room}/messages", {"body": "こんにちは"}),
            ("POST", f"/api/v1/rooms/{room}/read", {"up_to": "1"}),
        ]:
            r = await env.call(method, path, payload, as_=who, zone=zone)
            assert r.status == 404 and code(r) == "room_not_found", (who, method, path)
        rooms = body(await env.call("GET", "/api/v1/rooms", as_=who, zone=zone))["rooms"]
        assert rooms == []
    # A room that does not exist answers the same.
    r = await env.call("GET", "/api/v1/rooms/999999/messages", as_="hoikuen", zone="internet")
    assert r.status == 404 and code(r) == "room_not_found"


async def test_external_scope(env: Env) -> None:
    # An outside partner sees nobody until it shares a room, then exactly its
    # co-members: their names for cards and logins for @mentions, not the directory.
    r = await env.call("GET", "/api/v1/accounts", as_="hoikuen", zone="internet")
    assert r.status == 200 and body(r)["accounts"] == []
    r = await env.call("POST", "/api/v1/rooms", {"name": "保育園との連絡", "members": [env.ids["hoikuen"]]},
                       as_="tanaka")
    assert r.status == 201, body(r)
    seen = body(await env.call("GET", "/api/v1/accounts", as_="hoikuen", zone="internet"))["accounts"]
    assert sorted(a["login"] for a in seen) == ["hoikuen", "tanaka"]
    assert {a["display_name"] for a in seen if a["login"] == "tanaka"} != {""}
    staff_view = body(await env.call("GET", "/api/v1/accounts", as_="tanaka"))["accounts"]
    assert {a["login"] for a in staff_view} >= {"tanaka", "hoikuen"}
    r = await env.call("POST", "/api/v1/rooms", {"name": "x", "members": [env.ids["tanaka"]]},
                       as_="hoikuen", zone="internet")
    assert r.status == 403 and code(r) == "room_create_forbidden"


async def test_external_room_creation_when_allowed(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, external_can_create_rooms=True)
    async with await Store.open(cfg.store) as store:
        e = Env(build_app(cfg, store, now=Clock()), store, Clock())
        for login, kind in [("tanaka", "staff"), ("suzuki", "staff"), ("hoikuen", "external")]:
            e.ids[login] = (await store.create_account(login, PASSWORD, kind, "", audit=SETUP, now=time.time())).id  # type: ignore[arg-type]
        await e.room("tanaka", "hoikuen")
        # Only with people it already shares a room with.
        r = await e.call("POST", "/api/v1/rooms", {"name": "x", "members": [e.ids["suzuki"]]},
                         as_="hoikuen", zone="internet")
        assert r.status == 403 and code(r) == "member_not_visible"
        await e.room("hoikuen", "tanaka", zone="internet", name="園との連絡")


async def test_read_receipts(env: Env) -> None:
    room = await env.room("tanaka", "suzuki", "hoikuen")
    ids = []
    for i in range(3):
        r = await env.call("POST", f"/api/v1/rooms/{room}/messages", {"body": f"m{i}"}, as_="tanaka")
        ids.append(body(r)["id"])
    readers = body(await env.call("GET", f"/api/v1/messages/{ids[1]}/readers", as_="suzuki"))
    assert readers == {"read": [env.ids["tanaka"]],
                       "unread": sorted([env.ids["suzuki"], env.ids["hoikuen"]], key=int)}
    r = await env.call("POST", f"/api/v1/rooms/{room}/read", {"up_to": ids[1]}, as_="suzuki")
    assert r.status == 204
    readers = body(await env.call("GET", f"/api/v1/messages/{ids[0]}/readers", as_="tanaka"))
    assert set(readers["read"]) == {env.ids["tanaka"], env.ids["suzuki"]}
    assert readers["unread"] == [env.ids["hoikuen"]]
    hist = body(await env.call("GET", f"/api/v1/rooms/{room}/messages", as_="tanaka"))["messages"]
    assert [m["read_count"] for m in hist] == [1, 1, 0]
    # up_to from another room is refused; readers of a room one is not in are hidden.
    other = await env.room("tanaka", "hoikuen", name="別室")
    r = await env.call("POST", f"/api/v1/rooms/{other}/read", {"up_to": ids[0]}, as_="tanaka")
    assert r.status == 404 and code(r) == "message_not_found"
    r = await env.call("GET", f"/api/v1/messages/{ids[0]}/readers", as_="sato", zone="internet")
    assert r.status == 404 and code(r) == "message_not_found"


async def test_add_member(env: Env) -> None:
    room = await env.room("tanaka", "suzuki")
    r = await env.call("POST", f"/api/v1/rooms/{room}/members", {"account_id": env.ids["hoikuen"]},
                       as_="suzuki")
    assert r.status == 200 and env.ids["hoikuen"] in body(r)["members"]
    hist = await env.call("GET", f"/api/v1/rooms/{room}/messages", as_="hoikuen", zone="internet")
    assert hist.status == 200
    r = await env.call("POST", f"/api/v1/rooms/{room}/members", {"account_id": env.ids["sato"]},
                       as_="hoikuen", zone="internet")
    assert r.status == 403 and code(r) == "room_create_forbidden"
    r = await env.call("POST", f"/api/v1/rooms/{room}/members", {"account_id": env.ids["sato"]},
                       as_="root")
    assert r.status == 404 and code(r) == "room_not_found"  # not a member: no such room
    direct = body(await env.call("POST", "/api/v1/rooms", {
        "name": "DM", "kind": "direct", "members": [env.ids["suzuki"]]}, as_="tanaka"))["id"]
    r = await env.call("POST", f"/api/v1/rooms/{direct}/members", {"account_id": env.ids["sato"]},
                       as_="tanaka")
    assert r.status == 400 and code(r) == "direct_room"


async def test_my_number_does_not_leave_lgwan(env: Env) -> None:
    n = "12345678901" + str(mynumber.check_digit("12345678901"))
    room = await env.room("tanaka", "suzuki")  # staff may read from their phones
    r = await env.call("POST", f"/api/v1/rooms/{room}/messages", {"body": f"番号 {n}"}, as_="tanaka")
    assert r.status == 403 and code(r) == "my_number_blocked"
    assert n not in r.body.decode()
    assert "outbound.block" in [e.action for e in await env.store.audit_entries(0, 100)]
    hist = body(await env.call("GET", f"/api/v1/rooms/{room}/messages", as_="tanaka"))
    assert hist["messages"] == []


# --------------------------------------------------------------------------- shapes, routes


@pytest.mark.parametrize("payload, field", [
    ({"name": "x", "members": [1]}, "members[0]"),
    ({"name": "x", "members": "2"}, "members"),
    ({"name": 5, "members": []}, "name"),
    ({"members": []}, "name"),
    ({"name": "x", "kind": "channel", "members": []}, "kind"),
    ([1, 2], ""),
])
async def test_wrong_json_types_name_the_field(env: Env, payload: Any, field: str) -> None:
    r = await env.call("POST", "/api/v1/rooms", payload, as_="tanaka")
    assert r.status == 400 and code(r) == "invalid_field"
    assert body(r)["error"]["details"]["field"] == field


async def test_malformed_json_then_the_next_request_works(env: Env) -> None:
    room = await env.room("tanaka", "suzuki")
    r = await env.call("POST", f"/api/v1/rooms/{room}/messages", raw=b'{"body": "x"',
                       as_="tanaka")
    assert r.status == 400 and code(r) == "malformed_json"
    r = await env.call("POST", f"/api/v1/rooms/{room}/messages", raw=b"\xff\xfe", as_="tanaka")
    assert r.status == 400 and code(r) == "malformed_json"
    r = await env.call("POST", f"/api/v1/rooms/{room}/messages", {"body": 7}, as_="tanaka")
    assert r.status == 400 and body(r)["error"]["details"]["field"] == "body"
    r = await env.call("POST", f"/api/v1/rooms/{room}/messages", {"body": "ok"}, as_="tanaka")
    assert r.status == 201


async def test_unknown_route_wrong_method_and_health(env: Env) -> None:
    r = await env.call("GET", "/api/v1/nope")
    assert r.status == 404 and code(r) == "not_found"
    r = await env.call("DELETE", "/api/v1/rooms", as_="tanaka")
    assert r.status == 405 and code(r) == "method_not_allowed"
    assert dict(r.headers)["allow"] == "GET, POST"
    assert (await env.call("GET", "/api/v1/rooms")).status == 401
    for zone in ("lgwan", "internet"):
        # This app was never started (no disarm workers): it must not claim health.
        h = await env.call("GET", "/healthz", zone=zone)
        assert h.status == 503 and body(h) == {"status": "unavailable",
                                               "failing": ["disarm_workers"]}
    assert (await env.call("GET", "/api/v1/stream", zone="lgwan")).status == 426


async def test_healthz_says_unavailable_when_the_store_is_gone(env: Env) -> None:
    await env.store.aclose()
    h = await env.call("GET", "/healthz")
    assert h.status == 503 and "store" in body(h)["failing"]
    assert dict(h.headers)["retry-after"] == "5"


async def test_metrics_on_lgwan_only(env: Env) -> None:
    room = await env.room("tanaka", "suzuki")
    await env.call("POST", f"/api/v1/rooms/{room}/messages", {"body": "x"}, as_="tanaka")
    r = await env.call("GET", "/metrics")
    assert r.status == 200 and dict(r.headers)["content-type"].startswith("text/plain")
    text = r.body.decode()
    assert value(text, "kakehashi_messages_posted_total") == 1
    assert value(text, "kakehashi_http_responses_total", zone="lgwan", code="2xx") >= 2
    assert (await env.call("GET", "/metrics", zone="internet")).status == 404


# --------------------------------------------------------------------------- admin


async def test_admin_paths_do_not_exist_on_the_internet(env: Env) -> None:
    unknown = await env.call("GET", "/api/v1/does-not-exist", zone="internet")
    staff = await env.token("tanaka", "internet")
    for method, path in [("GET", "/api/v1/admin/accounts"), ("POST", "/api/v1/admin/accounts"),
                         ("GET", "/api/v1/admin/audit/verify"), ("DELETE", "/api/v1/admin/audit"),
                         ("POST", f"/api/v1/admin/accounts/{env.ids['tanaka']}/disable")]:
        for token in (None, staff):
            r = await env.call(method, path, {}, zone="internet", token=token)
            assert (r.status, r.body) == (unknown.status, unknown.body), (method, path)


async def test_admin_accounts_and_audit(env: Env) -> None:
    r = await env.call("GET", "/api/v1/admin/accounts", as_="tanaka")
    assert r.status == 403 and code(r) == "forbidden"
    listed = body(await env.call("GET", "/api/v1/admin/accounts", as_="root"))["accounts"]
    assert {a["login"] for a in listed} == {"tanaka", "suzuki", "hoikuen", "root", "sato"}

    r = await env.call("POST", "/api/v1/admin/accounts",
                       {"login": "yamada", "kind": "staff", "display_name": "山田"}, as_="root")
    assert r.status == 201
    created = body(r)
    assert created["kind"] == "staff" and created["display_name"] == "山田"
    assert (await env.login("yamada", password=created["initial_password"])).status == 200
    r = await env.call("POST", "/api/v1/admin/accounts",
                       {"login": "yamada", "kind": "staff", "password": PASSWORD}, as_="root")
    assert r.status == 409 and code(r) == "login_exists"
    r = await env.call("POST", "/api/v1/admin/accounts",
                       {"login": "x y", "kind": "staff", "password": PASSWORD}, as_="root")
    assert r.status == 400 and code(r) == "invalid_login"
    r = await env.call("POST", "/api/v1/admin/accounts",
                       {"login": "kimura", "kind": "staff", "password": "short"}, as_="root")
    assert r.status == 400 and code(r) == "weak_password"

    token = await env.token("suzuki")
    r = await env.call("POST", f"/api/v1/admin/accounts/{env.ids['suzuki']}/disable", as_="root")
    assert r.status == 200 and body(r)["disabled"] is True
    assert (await env.call("GET", "/api/v1/me", token=token)).status == 401
    assert (await env.login("suzuki", peer="192.0.2.77")).status == 401

    r = await env.call("POST", f"/api/v1/admin/accounts/{env.ids['tanaka']}/reset", as_="root")
    assert r.status == 200
    new_password = body(r)["password"]
    assert (await env.login("tanaka", password=new_password, peer="192.0.2.78")).status == 200

    entries = body(await env.call("GET", "/api/v1/admin/audit", as_="root",
                                  query={"limit": "1000"}))["entries"]
    actions = [e["action"] for e in entries]
    for a in ("account.created", "account.disabled", "account.password_reset", "login.ok"):
        assert a in actions
    assert new_password not in json.dumps(entries) and PASSWORD not in json.dumps(entries)
    later = body(await env.call("GET", "/api/v1/admin/audit", as_="root",
                                query={"after": entries[-2]["id"]}))["entries"]
    assert [e["id"] for e in later][0] == entries[-1]["id"]
    v = body(await env.call("GET", "/api/v1/admin/audit/verify", as_="root"))
    assert v["ok"] is True and v["first_bad"] is None and v["entries"] >= len(entries)


# --------------------------------------------------------------------------- stream


class WSPair:
    """An in-memory WebSocket: the app's side via ``accept``, the test's as ``client``."""

    def __init__(self, nursery: trio.Nursery, lockstep: bool = False) -> None:
        self.nursery = nursery
        # lockstep: no buffer in between, so a client that stops reading stops the
        # server's sends, as a full TCP window would.
        pair = trio.testing.lockstep_stream_pair if lockstep else trio.testing.memory_stream_pair
        self.server_stream, self.client_stream = pair()

    async def accept(self) -> trio_websocket.WebSocketConnection:
        req = await trio_websocket.wrap_server_stream(self.nursery, self.server_stream)
        return await req.accept()

    async def client(self) -> trio_websocket.WebSocketConnection:
        return await trio_websocket.wrap_client_stream(
            self.nursery, self.client_stream, "relay.test", "/api/v1/stream")  # type: ignore[arg-type]


def stream_request(zone: str, token: str | None = None, *, query_token: bool = False,
                   origin: str | None = None) -> Request:
    headers: list[tuple[str, str]] = []
    query = {}
    if token and not query_token:
        headers.append(("authorization", f"Bearer {token}"))
    elif token:
        query["token"] = token
    if origin:
        headers.append(("origin", origin))
    return Request("GET", "/api/v1/stream", query, tuple(headers), zone, PEER,  # type: ignore[arg-type]
                   MemBody(), zone == "internet")


async def recv(ws: trio_websocket.WebSocketConnection) -> Any:
    with trio.fail_after(5):
        return json.loads(await ws.get_message())


async def open_stream(env: Env, nursery: trio.Nursery, login: str, zone: str,
                      lockstep: bool = False, **kw: Any) -> trio_websocket.WebSocketConnection:
    pair = WSPair(nursery, lockstep)
    token = await env.token(login, zone)
    nursery.start_soon(env.app.handle_stream, stream_request(zone, token, **kw), pair.accept)
    ws = await pair.client()
    # Subscribed once the hub counts it: events published after this reach it.
    with trio.fail_after(5):
        while env.app.hub.sessions(env.ids[login]) == 0:
            await trio.sleep(0.001)
    return ws


async def test_stream_refusals(env: Env) -> None:
    async def never() -> None:
        raise AssertionError("accept() called for a refused stream")

    r = await env.app.handle_stream(stream_request("lgwan"), never)
    assert r is not None and r.status == 401
    token = await env.token("tanaka", "lgwan")
    r = await env.app.handle_stream(stream_request("lgwan", token, origin="https://evil.example"),
                                    never)
    assert r is not None and r.status == 403 and code(r) == "origin_forbidden"
    r = await env.app.handle_stream(stream_request("internet", token), never)
    assert r is not None and r.status == 401  # an lgwan token on the internet listener


async def test_stream_chat_ack_events_and_bad_frames(env: Env) -> None:
    room = await env.room("tanaka", "suzuki", "hoikuen")
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            office = await open_stream(env, nursery, "tanaka", "lgwan")
            phone = await open_stream(env, nursery, "suzuki", "internet", query_token=True,
                                      origin="https://chat.example.lg.jp")
            partner = await open_stream(env, nursery, "hoikuen", "internet")

            await office.send_message(json.dumps({"type": "ping"}))
            assert await recv(office) == {"type": "pong"}
            await office.send_message('{"type": "send", "room_id": ')  # malformed
            err = await recv(office)
            assert err["type"] == "error" and err["error"]["code"] == "malformed_json"
            await office.send_message(json.dumps({"type": "send", "room_id": room, "body": 5,
                                                  "client_id": "k1"}))
            err = await recv(office)
            assert err["client_id"] == "k1" and err["error"]["details"]["field"] == "body"

            await office.send_message(json.dumps({"type": "send", "room_id": room,
                                                  "body": "本日の会議は 15 時から", "client_id": "k2"}))
            first, second = await recv(office), await recv(office)
            by_type = {first["type"]: first, second["type"]: second}
            ack = by_type["ack"]
            assert ack["client_id"] == "k2" and ack["message"]["body"] == "本日の会議は 15 時から"
            assert by_type["message.created"]["message"] == ack["message"]
            stored = await env.store.get_message(ack["message"]["id"])  # committed before the ack
            assert stored.body == "本日の会議は 15 時から"
            for ws in (phone, partner):
                ev = await recv(ws)
                assert ev == {"type": "message.created", "message": ack["message"],
                              "notify": True}

            # HTTP read -> message.read to every member's stream.
            r = await env.call("POST", f"/api/v1/rooms/{room}/read",
                               {"up_to": ack["message"]["id"]}, as_="hoikuen", zone="internet")
            assert r.status == 204
            for ws in (office, phone, partner):
                ev = await recv(ws)
                assert ev == {"type": "message.read", "room_id": room,
                              "account_id": env.ids["hoikuen"], "up_to": ack["message"]["id"]}

            # Reading over the stream works like the HTTP call.
            await phone.send_message(json.dumps({"type": "read", "room_id": room,
                                                 "up_to": ack["message"]["id"]}))
            frames = {f["type"]: f for f in [await recv(phone), await recv(phone)]}
            assert frames["message.read"] == {"type": "message.read", "room_id": room,
                                              "account_id": env.ids["suzuki"],
                                              "up_to": ack["message"]["id"]}
            assert frames["read.ok"]["up_to"] == ack["message"]["id"]
            for ws in (office, partner):
                assert (await recv(ws))["account_id"] == env.ids["suzuki"]

            # Over the stream, a non-member room is as absent as over HTTP.
            other = await env.room("tanaka", "suzuki", name="職員のみ")
            for ws in (office, phone):
                assert (await recv(ws))["type"] == "room.created"
            await partner.send_message(json.dumps({"type": "send", "room_id": other,
                                                   "body": "x", "client_id": "p1"}))
            err = await recv(partner)
            assert err["error"]["code"] == "room_not_found" and err["client_id"] == "p1"

            # Logout ends the streams opened with that session.
            await env.call("POST", "/api/v1/logout", as_="suzuki", zone="internet")
            with trio.fail_after(5):
                with pytest.raises(trio_websocket.ConnectionClosed) as closed:
                    while True:
                        await phone.get_message()
            assert closed.value.reason.code == 1008
            nursery.cancel_scope.cancel()


async def test_stream_that_does_not_drain_is_cut_off(env: Env) -> None:
    room = await env.room("tanaka", "suzuki")
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            slow = await open_stream(env, nursery, "suzuki", "lgwan", lockstep=True)
            fast = await open_stream(env, nursery, "suzuki", "internet")
            bodies = []

            async def read_fast() -> None:
                while len(bodies) < 60:
                    bodies.append((await recv(fast))["message"]["body"])

            nursery.start_soon(read_fast)
            for i in range(60):  # the slow client never reads; its queue holds 16
                r = await env.call("POST", f"/api/v1/rooms/{room}/messages", {"body": f"m{i}"},
                                   as_="tanaka")
                assert r.status == 201  # the sender is never held up
                await trio.sleep(0)
            with trio.fail_after(5):
                while len(bodies) < 60:
                    await trio.sleep(0.01)
            assert bodies == [f"m{i}" for i in range(60)]  # the other session got everything
            assert env.app.hub.overflowed == 1
            assert env.app.hub.sessions(env.ids["suzuki"]) == 1  # only the fast one is left
            del slow
            nursery.cancel_scope.cancel()


async def test_failed_logins_still_count_after_a_restart(env: Env) -> None:
    for i in range(3):  # the account's burst of 3, spent on wrong passwords
        r = await env.login("tanaka", password="guess guess " + str(i), peer=f"198.51.100.{i}")
        assert r.status == 401
    # relayd restarts: a new app on the same store, its limiters empty.
    restarted = Env(build_app(env.app.cfg, env.store, now=env.clock), env.store, env.clock)
    r = await restarted.login("tanaka", peer="198.51.100.77")
    assert r.status == 429 and code(r) == "rate_limited"  # no fresh set of guesses
    env.clock.t += 6  # one token back, as before the restart
    assert (await restarted.login("tanaka", peer="198.51.100.77")).status == 200
