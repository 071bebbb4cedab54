"""The disarm queue's order: one account's flood waits behind everyone else's next
file, the zones take turns, and the queue refuses what it cannot hold."""

from __future__ import annotations

from pathlib import Path

from relay.fairqueue import FairQueue
from tests.relay.test_api import Env, code, env

__all__ = ["env"]


def drain(q: FairQueue[str], finish: bool = True) -> list[str]:
    out = []
    while (job := q.pop()) is not None:
        owner, item = job
        out.append(item)
        if finish:
            q.done(owner)
    return out


def test_uploaders_take_turns_in_the_order_they_came() -> None:
    q: FairQueue[str] = FairQueue(workers=2, per_owner=100, total=1000)
    for i in range(5):
        q.push("flood", "internet", f"flood{i}")
    q.push("small", "internet", "small0")
    q.push("third", "internet", "third0")
    assert drain(q) == ["flood0", "small0", "third0", "flood1", "flood2", "flood3", "flood4"]


def test_the_zones_take_turns() -> None:
    q: FairQueue[str] = FairQueue(workers=2, per_owner=100, total=1000)
    for i in range(3):
        q.push("a", "internet", f"i{i}")
    q.push("b", "lgwan", "l0")
    q.push("c", "lgwan", "l1")
    assert drain(q) == ["l0", "i0", "l1", "i1", "i2"]  # alternating, LGWAN first


def test_one_uploader_always_leaves_a_worker_for_the_others() -> None:
    q: FairQueue[str] = FairQueue(workers=2, per_owner=100, total=1000)
    for i in range(4):
        q.push("flood", "internet", f"flood{i}")
    assert q.pop() == ("flood", "flood0")
    # Even alone, the flood does not take the second worker: a small file that comes
    # a moment later must not wait behind two long jobs.
    assert q.pop() is None
    q.push("small", "internet", "small0")
    assert q.pop() == ("small", "small0")
    q.done("flood")
    assert q.pop() == ("flood", "flood1")


def test_the_queue_is_bounded_per_uploader_and_in_all() -> None:
    q: FairQueue[str] = FairQueue(workers=2, per_owner=2, total=3)
    assert q.admits("a")
    q.push("a", "internet", "a0")
    q.push("a", "internet", "a1")
    assert not q.admits("a") and q.admits("b")
    assert q.pop() == ("a", "a0")  # running counts too: a still holds 2
    assert not q.admits("a")
    q.done("a")
    assert q.admits("a")
    q.push("b", "lgwan", "b0")
    q.push("c", "lgwan", "c0")
    assert len(q) == 3 and not q.admits("d")


async def test_an_upload_over_the_queue_bound_is_refused_before_its_body(
        env: Env, tmp_path: Path) -> None:
    # The app's workers never start here: every upload stays queued.
    room = await env.room("tanaka", "hoikuen", zone="internet")
    limit = env.app.cfg.auth.upload_queue_per_account
    for i in range(limit):
        r = await env.call("POST", f"/api/v1/rooms/{room}/files", raw=b"hello %d" % i,
                           query={"name": f"f{i}.txt"}, as_="hoikuen", zone="internet",
                           headers=(("content-type", "text/plain"),))
        assert r.status == 201
    r = await env.call("POST", f"/api/v1/rooms/{room}/files", raw=b"one more",
                       query={"name": "more.txt"}, as_="hoikuen", zone="internet",
                       headers=(("content-type", "text/plain"),))
    assert r.status == 429 and code(r) == "upload_queue_full"
    assert dict(r.headers)["retry-after"] == "5"
    # Another account is not held up by the first one's flood.
    ok = await env.call("POST", f"/api/v1/rooms/{room}/files", raw=b"mine",
                        query={"name": "mine.txt"}, as_="tanaka", zone="internet",
                        headers=(("content-type", "text/plain"),))
    assert ok.status == 201
