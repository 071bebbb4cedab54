"""relay.hub: fan-out to every session, bounded queues, slow clients cut off."""

from __future__ import annotations

import json

import trio

from relay.hub import OVERFLOW, REVOKED, Hub


def drain(sub) -> list[dict]:  # type: ignore[no-untyped-def]
    out = []
    while True:
        try:
            out.append(json.loads(sub.receive.receive_nowait()))
        except trio.WouldBlock:
            return out


async def test_every_session_of_every_member_in_both_zones() -> None:
    hub = Hub(queue_size=8)
    a_lgwan = hub.subscribe("1", "lgwan", "s1")
    a_phone = hub.subscribe("1", "internet", "s2")
    b = hub.subscribe("2", "internet", "s3")
    outsider = hub.subscribe("3", "lgwan", "s4")
    n = hub.publish(["1", "2", "1"], {"type": "message.created", "message": {"body": "こんにちは"}})
    assert n == 3
    for sub in (a_lgwan, a_phone, b):
        assert drain(sub) == [{"type": "message.created", "message": {"body": "こんにちは"}}]
    assert drain(outsider) == []


async def test_form_is_chosen_and_encoded_once_per_zone() -> None:
    hub = Hub(queue_size=8)
    subs = [hub.subscribe(str(i), "lgwan" if i % 2 else "internet", f"s{i}") for i in range(10)]
    calls: list[str] = []

    def form(zone: str) -> dict:
        calls.append(zone)
        return {"type": "file.ready", "variant": "sanitized" if zone == "lgwan" else "original"}

    hub.publish([str(i) for i in range(10)], form)
    assert sorted(calls) == ["internet", "lgwan"]
    for sub in subs:
        [event] = drain(sub)
        assert event["variant"] == ("sanitized" if sub.zone == "lgwan" else "original")


async def test_a_client_that_does_not_drain_is_disconnected_not_waited_for() -> None:
    hub = Hub(queue_size=4)
    got: list[dict] = []
    slow_ended = trio.Event()

    async def slow_session() -> None:
        sub = hub.subscribe("1", "internet", "slow")
        with sub.scope:
            await trio.sleep_forever()  # never reads its queue
        assert sub.ended == OVERFLOW
        hub.unsubscribe(sub)
        slow_ended.set()

    async def fast_session(ready: trio.Event) -> None:
        sub = hub.subscribe("2", "lgwan", "fast")
        ready.set()
        async for text in sub.receive:
            got.append(json.loads(text))
            if len(got) == 20:
                break
        hub.unsubscribe(sub)

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(slow_session)
            ready = trio.Event()
            nursery.start_soon(fast_session, ready)
            await ready.wait()
            await trio.sleep(0)
            for i in range(20):
                hub.publish(["1", "2"], {"type": "message.created", "n": i})
                await trio.sleep(0)  # let the fast reader run, as the event loop would
            await slow_ended.wait()
    assert [e["n"] for e in got] == list(range(20))
    assert hub.overflowed == 1
    assert hub.sessions() == 0


async def test_overflow_only_drops_the_full_queue() -> None:
    hub = Hub(queue_size=2)
    full = hub.subscribe("1", "lgwan", "a")
    other = hub.subscribe("1", "internet", "b")
    hub.publish(["1"], {"n": 1})
    hub.publish(["1"], {"n": 2})
    drain(other)
    assert hub.publish(["1"], {"n": 3}) == 1  # only `other` had room
    assert full.ended == OVERFLOW and full.scope.cancel_called
    assert other.ended is None and hub.sessions("1") == 1
    # What was queued before the overflow is still readable, then the queue ends.
    assert [json.loads(full.receive.receive_nowait())["n"] for _ in range(2)] == [1, 2]
    try:
        full.receive.receive_nowait()
    except trio.EndOfChannel:
        pass
    else:
        raise AssertionError("an overflowed queue must end")


async def test_disconnect_account_and_session() -> None:
    hub = Hub(queue_size=4)
    s1 = hub.subscribe("1", "lgwan", "sess-a")
    s2 = hub.subscribe("1", "internet", "sess-b")
    s3 = hub.subscribe("2", "lgwan", "sess-c")
    assert hub.disconnect_session("sess-b", "1") == 1
    assert s2.ended == REVOKED and s1.ended is None
    assert hub.disconnect_account("1") == 1
    assert s1.ended == REVOKED
    assert hub.publish(["1", "2"], {"type": "x"}) == 1
    assert hub.sessions("1") == 0 and hub.sessions("2") == 1
    assert hub.streams_of_session("2", "sess-c") == 1
    hub.unsubscribe(s3)
    hub.unsubscribe(s3)  # idempotent
    assert hub.sessions() == 0
