"""Search through the store: every message holding the query in the caller's rooms and
no other, whether its body is already in the index or still queued for it, at once
after edits and deletes, and after writes made around the store."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import trio

from store import search
from store.facade import Store
from store.records import Account, Message, Room
from store.search import SearchQuery
from tests.audits import SETUP
from tests.store.conftest import TEST_TIMEOUT_S, config

NOW = 1_800_000_000.0
# Few characters, so that every two of them occur in many bodies, in either case.
CHARS = "防災訓練予算会議ですます。、 OKokÉéΣσςİ\""
ALL = 100_000


def _body(rnd: random.Random) -> str:
    return "".join(rnd.choice(CHARS) for _ in range(rnd.randint(1, 24))).strip() or "予"


async def _people_and_rooms(store: Store) -> tuple[list[Account], Room, Room, Room]:
    people = [await store.create_account(f"user{i}", None, "staff", "", audit=SETUP, now=NOW)
              for i in range(3)]
    a, b, c = people
    mine = await store.create_room("総務課", "group", [b.id], a.id, NOW, audit=SETUP)
    also = await store.create_room("防災", "group", [c.id], a.id, NOW, audit=SETUP)
    other = await store.create_room("他課", "group", [c.id], b.id, NOW, audit=SETUP)
    return people, mine, also, other


async def _post_many(store: Store, rooms: list[tuple[Room, Account]],
                     bodies: list[str]) -> None:
    """The bodies over the (room, sender) pairs, many senders at once (so the writer
    groups them, as under load)."""
    plan = [(rooms[i % len(rooms)], text) for i, text in enumerate(bodies)]

    async def sender(part: list[tuple[tuple[Room, Account], str]]) -> None:
        for (room, who), text in part:
            await store.post_message(room.id, who.id, text, "lgwan", None, NOW)

    async with trio.open_nursery() as nursery:
        for k in range(20):
            nursery.start_soon(sender, plan[k::20])


def _fold(text: str) -> str:
    """Case-insensitive as the index is: each character to its lowercase one (sigma
    whatever its form)."""
    return "".join(ch.lower() if len(ch.lower()) == 1 else ch
                   for ch in text).replace("ς", "σ")


def _expected(db: Path, account_id: str, text: str) -> list[str]:
    """What search must answer, read straight from the messages."""
    with sqlite3.connect(db) as c:
        rows = c.execute(
            "SELECT id, body FROM messages WHERE deleted_at IS NULL AND room_id IN "
            "(SELECT room_id FROM room_members WHERE account_id = ?) ORDER BY id DESC",
            (int(account_id),)).fetchall()
    return [str(mid) for mid, body in rows if _fold(text) in _fold(body)]


async def _ids(store: Store, account_id: str, text: str, **filters: str) -> list[str]:
    found: list[Message] = await store.search(SearchQuery(account_id, text, ALL, **filters))
    return [m.id for m in found]


def _queued(db: Path) -> int:
    with sqlite3.connect(db) as c:
        return int(c.execute("SELECT count(*) FROM messages_fts_pending").fetchone()[0])


QUERIES = ("防災", "ます", "す。", "。、", "ok", "OK", "Ok", "éÉ", "σΣ", "Σ防", "ςσ", "İo", " O",
           '"防', "訓練予", "ですます", "防災訓練", "予算会議", "防災訓練予算", "鬱麒", "ok ")


async def test_every_message_holding_the_query_in_the_callers_rooms_and_no_other(
        store: Store) -> None:
    with trio.fail_after(TEST_TIMEOUT_S * 2):
        (a, b, c), mine, also, other = await _people_and_rooms(store)
        rnd = random.Random(5)
        # Every trigram of "防災訓練", yet not it.
        await store.post_message(mine.id, a.id, "防災訓と災訓練", "lgwan", None, NOW)
        # More than one batch of the index, and a queue left over.
        await _post_many(store, [(mine, a), (mine, b), (also, c), (other, c)],
                         [_body(rnd) for _ in range(search.INDEX_BATCH * 2 + 100)])
        assert 0 < _queued(store.paths.db) < search.INDEX_BATCH
        for text in QUERIES:
            assert await _ids(store, a.id, text) == _expected(store.paths.db, a.id, text), text
            # Someone in the other room only sees that room.
            assert await _ids(store, b.id, text) == _expected(store.paths.db, b.id, text), text
        # Newest first, a page at a time, within one room.
        first = await store.search(SearchQuery(a.id, "防災", 5, room_id=also.id))
        more = await store.search(SearchQuery(a.id, "防災", 5, room_id=also.id,
                                              before_id=first[-1].id))
        whole = [m for m in _expected(store.paths.db, a.id, "防災")
                 if m in set(await _ids(store, c.id, "防災"))]
        assert [m.id for m in first + more] == whole[:10]
        assert {m.room_id for m in first + more} == {also.id}


async def test_edits_and_deletes_are_reflected_at_once_indexed_or_queued(
        store: Store) -> None:
    with trio.fail_after(TEST_TIMEOUT_S * 2):
        (a, b, _), mine, _, _ = await _people_and_rooms(store)
        old = await store.post_message(mine.id, a.id, "防災訓練の資料", "lgwan", None, NOW)
        gone = await store.post_message(mine.id, b.id, "防災無線の点検", "lgwan", None, NOW)
        await _post_many(store, [(mine, a)], [f"連絡 {i}" for i in range(search.INDEX_BATCH)])
        late = await store.post_message(mine.id, a.id, "避難訓練の日程", "lgwan", None, NOW)
        late_gone = await store.post_message(mine.id, b.id, "避難所の鍵", "lgwan", None, NOW)
        with sqlite3.connect(store.paths.db) as raw:
            queued = {str(r[0]) for r in raw.execute("SELECT id FROM messages_fts_pending")}
        # The first two are in the index, the last two still queued.
        assert old[0].id not in queued and late[0].id in queued
        for message, by, text in ((old[0], a, "予算の資料"), (late[0], a, "避難経路の図")):
            await store.edit_message(message.id, by.id, text, (), NOW + 1, audit=SETUP)
        for message, by in ((gone[0], b), (late_gone[0], b)):
            await store.delete_message(message.id, by.id, NOW + 2, audit=SETUP)
        for text, ids in (("訓練", []), ("防災", []), ("予算の", [old[0].id]),
                          ("経路", [late[0].id]), ("避難", [late[0].id]), ("点検", []),
                          ("の鍵", []), ("避難所", [])):
            assert await _ids(store, a.id, text) == ids, text
            assert _expected(store.paths.db, a.id, text) == ids, text
        # Once the queue is indexed too, the answers stay the same.
        await _post_many(store, [(mine, b)], [f"報告 {i}" for i in range(search.INDEX_BATCH)])
        assert late[0].id not in {str(r[0]) for r in sqlite3.connect(store.paths.db).execute(
            "SELECT id FROM messages_fts_pending")}
        for text in ("訓練", "予算の", "経路", "避難", "点検"):
            assert await _ids(store, a.id, text) == _expected(store.paths.db, a.id, text)
        with sqlite3.connect(store.paths.db) as raw:
            raw.execute("INSERT INTO messages_fts(messages_fts) VALUES ('integrity-check')")


async def test_messages_written_around_the_store_are_found_and_indexed_at_open(
        state_dir: Path) -> None:
    with trio.fail_after(TEST_TIMEOUT_S * 2):
        store = await Store.open(config(state_dir))
        (a, _, _), mine, _, _ = await _people_and_rooms(store)
        await store.aclose()
        bodies = [f"直接書いた {i} 件目" for i in range(search.INDEX_BATCH + 3)]
        with sqlite3.connect(state_dir / "kakehashi.db") as raw:
            raw.executemany("INSERT INTO messages (room_id, sender, body, created_at, "
                            "origin_zone) VALUES (?, ?, ?, '2027-01-01T00:00:00.000Z', "
                            "'lgwan')", [(int(mine.id), int(a.id), b) for b in bodies])
        store = await Store.open(config(state_dir))
        try:
            # The writer indexes the queue before its first operation.
            await store.create_account("after", None, "staff", "", audit=SETUP, now=NOW)
            assert _queued(store.paths.db) == 0
            found = await _ids(store, a.id, "件目")
            assert len(found) == len(bodies)
            assert await _ids(store, a.id, "12 件") == _expected(store.paths.db, a.id, "12 件")
        finally:
            await store.aclose()
        # A few left queued are found before the writer indexes them.
        with sqlite3.connect(state_dir / "kakehashi.db") as raw:
            raw.execute("INSERT INTO messages (room_id, sender, body, created_at, "
                        "origin_zone) VALUES (?, ?, '後から一件', '2027-01-01T00:00:00.000Z', "
                        "'lgwan')", (int(mine.id), int(a.id)))
        store = await Store.open(config(state_dir))
        try:
            assert _queued(store.paths.db) == 1
            assert len(await _ids(store, a.id, "一件")) == 1
        finally:
            await store.aclose()
