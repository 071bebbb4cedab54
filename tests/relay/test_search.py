"""Search: Japanese substrings in the caller's rooms only, filters, snippets, and
hostile queries, on both listeners."""

from __future__ import annotations

import sqlite3

from relay.search import snippet
from tests.relay.collab_env import body, code, post
from tests.relay.test_api import Env, env  # noqa: F401  (fixture)


async def _search(env: Env, as_: str, zone: str = "lgwan", **query: str) -> list[dict]:
    r = await env.call("GET", "/api/v1/search", as_=as_, zone=zone, query=query)
    assert r.status == 200, body(r)
    return body(r)["results"]


async def _refused(env: Env, q: str, as_: str = "tanaka") -> tuple[int, str]:
    r = await env.call("GET", "/api/v1/search", as_=as_, query={"q": q})
    return r.status, code(r)


async def test_japanese_substrings_of_two_to_four_characters_are_found_newest_first(
        env: Env) -> None:
    room = await env.room("tanaka", "suzuki", "hoikuen")
    a = await post(env, room, "tanaka", body="防災訓練の資料を共有します")
    b = await post(env, room, "hoikuen", "internet", body="保育園の防災訓練は来週です")
    await post(env, room, "suzuki", body="予算の件、了解しました")
    for q in ("防災", "防災訓", "防災訓練"):
        found = await _search(env, "suzuki", q=q)
        assert [r["message"]["id"] for r in found] == [b["id"], a["id"]]
    # Ends of bodies and ASCII in either case are found too.
    assert [r["message"]["id"] for r in await _search(env, "tanaka", q="です")] == [b["id"]]
    last = await post(env, room, "tanaka", body="会議は OK")
    assert [r["message"]["id"] for r in await _search(env, "tanaka", q="ok")] == [last["id"]]
    found = await _search(env, "hoikuen", "internet", q="訓練")
    assert len(found) == 2 and found[0]["message"]["body"] == "保育園の防災訓練は来週です"


async def test_only_rooms_of_the_caller_are_searched_whatever_their_kind(env: Env) -> None:
    shared = await env.room("tanaka", "hoikuen")
    staff = await env.room("tanaka", "suzuki", name="職員のみ")
    await post(env, shared, "tanaka", body="園の行事予定について")
    await post(env, staff, "tanaka", body="行事予定の内部調整")
    assert len(await _search(env, "tanaka", q="行事予定")) == 2
    partner = await _search(env, "hoikuen", "internet", q="行事予定")
    assert [r["message"]["room_id"] for r in partner] == [shared]
    assert await _search(env, "root", q="行事予定") == []  # an admin in neither room
    assert await _search(env, "sato", "internet", q="行事予定") == []
    r = await env.call("GET", "/api/v1/search", as_="hoikuen", zone="internet",
                       query={"q": "行事予定", "room": staff})
    assert (r.status, code(r)) == (404, "room_not_found")


async def test_filters_and_paging(env: Env) -> None:
    one = await env.room("tanaka", "suzuki")
    two = await env.room("tanaka", "suzuki", name="別室")
    sent = []
    for i in range(6):
        env.clock.t += 3600
        sent.append(await post(env, (one, two)[i % 2], ("tanaka", "suzuki")[i // 3],
                               body=f"議事録 第{i}回"))
    ids = lambda rs: [r["message"]["id"] for r in rs]  # noqa: E731
    assert ids(await _search(env, "tanaka", q="議事録", room=one)) == [
        sent[4]["id"], sent[2]["id"], sent[0]["id"]]
    assert ids(await _search(env, "tanaka", q="議事録", sender=env.ids["suzuki"])) == [
        sent[5]["id"], sent[4]["id"], sent[3]["id"]]
    after, before = sent[1]["created_at"], sent[4]["created_at"]
    assert ids(await _search(env, "tanaka", q="議事録", after=after, before=before)) == [
        sent[3]["id"], sent[2]["id"]]
    page = await _search(env, "tanaka", q="議事録", limit="2")
    more = await _search(env, "tanaka", q="議事録", limit="2",
                         before_id=page[-1]["message"]["id"])
    assert ids(page) + ids(more) == [m["id"] for m in reversed(sent)][:4]
    assert await _search(env, "tanaka", q="議事録", after="2100-01-01") == []
    for bad in ({"after": "yesterday"}, {"before": "2026-11-22T03:04:05"}, {"limit": "0"},
                {"room": "x"}):
        r = await env.call("GET", "/api/v1/search", as_="tanaka", query={"q": "議事録", **bad})
        assert (r.status, code(r)) == (400, "invalid_field"), bad


async def test_fts_syntax_and_oversized_queries_are_text_or_refused(env: Env) -> None:
    room = await env.room("tanaka", "suzuki")
    quoted = await post(env, room, "tanaka", body='件名に "至急" と * を付けて NEAR(a b) OR c')
    await post(env, room, "tanaka", body="至急の連絡")
    for q in ('"至急"', "* を", "NEAR(", "OR c", '" と', "b)"):
        found = await _search(env, "tanaka", q=q)
        assert [r["message"]["id"] for r in found] == [quoted["id"]], q
    for q in ('""', "AND", "NOT 至急", "至急 OR 連絡", "body:至急", "^至急", "a*", "_%", "\\%"):
        assert await _search(env, "tanaka", q=q) == [], q  # text that neither body has
    assert await _refused(env, '"') == (400, "query_too_short")
    assert await _refused(env, "x" * 10_000) == (400, "query_too_long")
    assert await _refused(env, "至" * 101) == (400, "query_too_long")
    assert await _refused(env, "至") == (400, "query_too_short")
    assert await _refused(env, "   ") == (400, "query_too_short")
    r = await env.call("GET", "/api/v1/search", as_="tanaka")
    assert (r.status, code(r)) == (400, "invalid_field")


async def test_edits_and_deletes_keep_the_search_in_step(env: Env) -> None:
    room = await env.room("tanaka", "hoikuen")
    m = await post(env, room, "hoikuen", "internet", body="お迎えは 16 時です")
    await env.call("PATCH", f"/api/v1/messages/{m['id']}", {"body": "お迎えは 17 時です"},
                   as_="hoikuen", zone="internet")
    assert await _search(env, "tanaka", q="16 時") == []
    assert [r["message"]["id"] for r in await _search(env, "tanaka", q="17 時")] == [m["id"]]
    await env.call("DELETE", f"/api/v1/messages/{m['id']}", as_="hoikuen", zone="internet")
    for q in ("お迎え", "17 時", "迎え"):
        assert await _search(env, "tanaka", q=q) == []
    # The index matches the messages exactly (FTS5 compares it with its content).
    with sqlite3.connect(env.store.paths.db) as raw:
        raw.execute("INSERT INTO messages_fts(messages_fts) VALUES ('integrity-check')")


async def test_a_snippet_is_plain_text_with_the_matches_marked_by_offsets(env: Env) -> None:
    room = await env.room("tanaka", "suzuki")
    text = "<b>前置き</b>" + "あ" * 60 + "\n予算案を確認。予算は来月" + "い" * 80
    await post(env, room, "tanaka", body=text)
    [hit] = await _search(env, "suzuki", q="予算")
    shown, marks = hit["snippet"], hit["highlights"]
    assert shown.startswith("…") and shown.endswith("…") and "\n" not in shown
    assert [shown[s:e] for s, e in marks] == ["予算", "予算"]
    assert snippet("<i>予算</i>", "予算") == ("<i>予算</i>", [[3, 5]])  # text, never markup
    assert snippet("OK です ok", "ok") == ("OK です ok", [[0, 2], [6, 8]])
