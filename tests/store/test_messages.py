"""Messages, idempotent sends, group commit seen from the facade, read state, paging."""

from __future__ import annotations

import functools

from pathlib import Path

import pytest
import trio
import trio.testing

from store.errors import MessageNotFound, NotMember, RoomNotFound
from store.facade import Store
from store.records import Account, Room
from tests.store.conftest import TEST_TIMEOUT_S, config
from tests.audits import SETUP

NOW = 1_800_000_000.0


async def _room(store: Store, n: int = 3) -> tuple[list[Account], Room]:
    people = [await store.create_account(f"user{i}", "pw", "staff", f"User {i}", audit=SETUP, now=NOW)
              for i in range(n)]
    room = await store.create_room("総務課", "group", [p.id for p in people[1:]], people[0].id, NOW, audit=SETUP)
    return people, room


async def test_same_client_id_returns_the_same_message(store: Store) -> None:
    with trio.fail_after(TEST_TIMEOUT_S):
        (a, b, _), room = await _room(store)
        first, created = await store.post_message(room.id, a.id, "こんにちは", "lgwan", "c-1", NOW)
        again, created_again = await store.post_message(room.id, a.id, "retry", "lgwan", "c-1",
                                                        NOW + 1)
        assert created and not created_again
        assert again.id == first.id and again.body == "こんにちは"
        # Another sender may use the same client_id: it is scoped per sender.
        other, created_other = await store.post_message(room.id, b.id, "hi", "internet", "c-1",
                                                        NOW)
        assert created_other and other.id != first.id
        assert [m.id for m in await store.history(room.id, None, 50)] == [first.id, other.id]


async def test_concurrent_retries_of_one_client_id_store_one_message(store: Store) -> None:
    with trio.fail_after(TEST_TIMEOUT_S):
        (a, _, _), room = await _room(store)
        results: list[tuple[str, bool]] = []

        async def send() -> None:
            m, created = await store.post_message(room.id, a.id, "x", "lgwan", "dup", NOW)
            results.append((m.id, created))

        async with trio.open_nursery() as nursery:
            for _ in range(20):
                nursery.start_soon(send)
        assert len({mid for mid, _ in results}) == 1
        assert sum(created for _, created in results) == 1
        assert len(await store.history(room.id, None, 200)) == 1


async def test_many_concurrent_posts_all_commit_and_survive_reopen(state_dir: Path) -> None:
    with trio.fail_after(TEST_TIMEOUT_S):
        store = await Store.open(config(state_dir, group_commit_ms=5.0))
        (a, b, c), room = await _room(store)
        acked: set[str] = set()

        async def sender(who: Account, k: int) -> None:
            for j in range(25):
                m, created = await store.post_message(room.id, who.id, f"{k}-{j}", "lgwan",
                                                      f"{k}-{j}", NOW)
                assert created
                acked.add(m.id)

        async with trio.open_nursery() as nursery:
            for k in range(40):
                nursery.start_soon(sender, (a, b, c)[k % 3], k)
        groups, ops = store.commit_stats
        await store.aclose()
        assert len(acked) == 1000
        # Group commit really grouped: fewer COMMITs than operations.
        assert groups < ops

        reopened = await Store.open(config(state_dir))
        try:
            seen: list[str] = []
            before = None
            while True:
                page = await reopened.history(room.id, before, 200)
                if not page:
                    break
                seen = [m.id for m in page] + seen
                before = page[0].id
            assert set(seen) == acked and len(seen) == 1000
            assert [int(x) for x in seen] == sorted(int(x) for x in seen)
        finally:
            await reopened.aclose()


async def test_one_failing_post_does_not_fail_the_rest(state_dir: Path) -> None:
    with trio.fail_after(TEST_TIMEOUT_S):
        # A wide window so the good and the bad posts share one transaction.
        store = await Store.open(config(state_dir, group_commit_ms=100.0))
        try:
            (a, b, _), room = await _room(store)
            outsider = await store.create_account("outsider", None, "external", "", audit=SETUP, now=NOW)
            outcomes: dict[str, object] = {}

            async def post(name: str, who: Account) -> None:
                try:
                    outcomes[name] = (await store.post_message(room.id, who.id, name, "lgwan",
                                                               None, NOW))[0]
                except NotMember as exc:
                    outcomes[name] = exc

            groups_before, _ = store.commit_stats
            async with trio.open_nursery() as nursery:
                for i in range(10):
                    nursery.start_soon(post, f"ok{i}", a if i % 2 else b)
                nursery.start_soon(post, "bad", outsider)
            groups_after, _ = store.commit_stats
            assert isinstance(outcomes.pop("bad"), NotMember)
            assert len(outcomes) == 10
            bodies = sorted(m.body for m in await store.history(room.id, None, 50))
            assert bodies == sorted(f"ok{i}" for i in range(10))
            assert groups_after - groups_before <= 3
        finally:
            await store.aclose()


async def test_read_markers_unread_counts_and_readers(store: Store) -> None:
    with trio.fail_after(TEST_TIMEOUT_S):
        (a, b, c), room = await _room(store)
        m1, _ = await store.post_message(room.id, a.id, "1", "lgwan", None, NOW)
        m2, _ = await store.post_message(room.id, a.id, "2", "lgwan", None, NOW + 1)
        m3, _ = await store.post_message(room.id, b.id, "3", "internet", None, NOW + 2)

        def unread(summaries: list) -> int:  # type: ignore[type-arg]
            (only,) = summaries
            return int(only.unread)

        # a wrote m1, m2 and so has read them; b's own m3 moved b's marker to m3.
        assert unread(await store.rooms_for(a.id)) == 1
        assert unread(await store.rooms_for(b.id)) == 0
        assert unread(await store.rooms_for(c.id)) == 3
        assert (await store.rooms_for(c.id))[0].last_message.id == m3.id  # type: ignore[union-attr]

        readers = await store.readers(m1.id)
        assert set(readers.read) == {a.id, b.id} and readers.unread == (c.id,)
        assert (await store.get_message(m1.id)).read_count == 1  # b, not the sender a

        assert await store.mark_read(room.id, c.id, m2.id)
        assert not await store.mark_read(room.id, c.id, m1.id)  # never backwards
        assert unread(await store.rooms_for(c.id)) == 1
        counts = [m.read_count for m in await store.history(room.id, None, 10)]
        assert counts == [2, 2, 0]  # m1, m2 read by b and c; nobody but b has m3
        readers3 = await store.readers(m3.id)
        assert readers3.read == (b.id,) and set(readers3.unread) == {a.id, c.id}

        with pytest.raises(MessageNotFound):
            await store.mark_read(room.id, c.id, "999999")
        outsider = await store.create_account("x", None, "external", "", audit=SETUP, now=NOW)
        with pytest.raises(NotMember):
            await store.mark_read(room.id, outsider.id, m1.id)


async def test_history_pages_newest_last(store: Store) -> None:
    with trio.fail_after(TEST_TIMEOUT_S):
        (a, _, _), room = await _room(store)
        ids = [(await store.post_message(room.id, a.id, str(i), "lgwan", None, NOW + i))[0].id
               for i in range(25)]
        newest = await store.history(room.id, None, 10)
        assert [m.id for m in newest] == ids[-10:]
        older = await store.history(room.id, newest[0].id, 10)
        assert [m.id for m in older] == ids[5:15]
        oldest = await store.history(room.id, older[0].id, 10)
        assert [m.id for m in oldest] == ids[:5]
        assert await store.history(room.id, oldest[0].id, 10) == []
        with pytest.raises(RoomNotFound):
            await store.history("424242", None, 10)


async def test_posting_needs_a_room_and_membership(store: Store) -> None:
    with trio.fail_after(TEST_TIMEOUT_S):
        (a, _, _), room = await _room(store)
        with pytest.raises(RoomNotFound) as info:
            await store.post_message("777", a.id, "x", "lgwan", None, NOW)
        assert info.value.status == 404 and info.value.code == "room_not_found"
        outsider = await store.create_account("outsider", None, "external", "", audit=SETUP, now=NOW)
        with pytest.raises(NotMember):
            await store.post_message(room.id, outsider.id, "x", "internet", None, NOW)
        await store.add_member(room.id, outsider.id, audit=SETUP, now=NOW)
        m, _ = await store.post_message(room.id, outsider.id, "x", "internet", None, NOW)
        assert m.origin_zone == "internet"


async def test_close_commits_queued_writes_then_refuses_work(state_dir: Path) -> None:
    with trio.fail_after(TEST_TIMEOUT_S):
        store = await Store.open(config(state_dir, group_commit_ms=50.0))
        (a, _, _), room = await _room(store)
        acked: list[str] = []

        async def post(i: int) -> None:
            acked.append((await store.post_message(room.id, a.id, str(i), "lgwan", None,
                                                   NOW))[0].id)

        async with trio.open_nursery() as nursery:
            for i in range(10):
                nursery.start_soon(post, i)
            await trio.testing.wait_all_tasks_blocked()
            nursery.start_soon(store.aclose)
        assert len(acked) == 10
        from store.errors import StoreUnavailable
        with pytest.raises(StoreUnavailable):
            await store.post_message(room.id, a.id, "late", "lgwan", None, NOW)
        with pytest.raises(StoreUnavailable):
            await store.history(room.id, None, 10)
        reopened = await Store.open(config(state_dir))
        try:
            assert len(await reopened.history(room.id, None, 50)) == 10
        finally:
            await reopened.aclose()


async def test_a_room_read_while_a_member_is_added_is_never_remembered_stale(
        store: Store) -> None:
    # get_room keeps rooms in memory; a member added afterwards, or while the read was
    # on its way, must be seen by the next look-up (a new member's first send).
    people, room = await _room(store)
    assert (await store.get_room(room.id)).members == room.members  # now remembered
    late = await store.create_account("late", "pw", "staff", "Late", audit=SETUP, now=NOW)
    await store.add_member(room.id, late.id, audit=SETUP, now=NOW)
    assert late.id in (await store.get_room(room.id)).members
    newer = await store.create_account("newer", "pw", "staff", "Newer", audit=SETUP, now=NOW)
    async with trio.open_nursery() as nursery:
        for _ in range(20):  # reads racing the write
            nursery.start_soon(store.get_room, room.id)
        nursery.start_soon(functools.partial(store.add_member, room.id, newer.id,
                                                 audit=SETUP, now=NOW))
    assert newer.id in (await store.get_room(room.id)).members
    await store.post_message(room.id, newer.id, "よろしくお願いします", "lgwan", None, NOW)
