"""The web client in a real browser, over loopback: the four figures of the web client
issue, each beside the floor it cannot beat, measured in the same run.

    .venv/bin/python -m bench.browser                      # the issue's sizes
    .venv/bin/python -m bench.browser --members 100 --history 2000 --seconds 10   # quicker

Starts relayd (a subprocess on 127.0.0.1, state in a temp dir; the bench settings of
bench/_client.py plus browser cookies on the plain LGWAN listener) and fills it through
the real API: ``--members`` staff accounts, one of them the clerk whose page is
measured; the clerk is in ``--rooms`` rooms (each with a message, so the list has
previews), one of them with ``--history`` messages and one with every member.  Then
Debian's chromium (Playwright, headless, as the browser tests drive it) on the LGWAN
listener:

(a) **login to a usable room list** (target ≤ 1 s with 100 rooms): from the click on
    ログイン until every room of the list is drawn.  Floor: the same requests the page
    needs (login, then accounts, rooms and stamps together), made by ``fetch`` in the
    page and parsed, without drawing anything;
(b) **opening the room with 10,000 messages** (target ≤ 300 ms to the newest page): from
    the click on the room until its newest message is drawn.  Floor: ``fetch`` of the
    newest page of messages (the request the page makes), parsed;
(c) **scrolling back** (target: smooth and bounded): the list scrolled to its top again
    and again; each older page's time from the scroll to drawn, the most messages and
    DOM elements the page ever holds, and the browser's long tasks (> 50 ms);
(d) **a 500-member room at 20 msg/s** (target: the page does not fall behind): members
    post over HTTP at ``--rate`` for ``--seconds`` while the clerk's page shows the
    room; each message's lag from its send to its card in the page.  Floor: a bare
    WebSocket client of the clerk (bench/_client.py ``WS``) receiving the same
    ``message.created`` events.  Every message must show, and the lag in the last
    quarter may not exceed the first quarter's by more than 200 ms (no backlog).

Times are taken inside the page (``performance.now()``) where the page does the work,
and wall-clock epoch times (shared by the page and this process) for (d).  Nothing
asserts: the figures are printed with PASS / MISS against the targets.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import trio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._client import (  # noqa: E402
    BENCH_PASSWORD, WS, Account, _bounded, bench_config, create_room, loadavg, relayd_target,
    settings_lines, setup_accounts, verdict)
from tests.e2e.harness import relayd  # noqa: E402
from tests.web.conftest import CHROMIUM  # noqa: E402


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q / 100 * len(s)))]


def fmt(values: list[float]) -> str:
    return (f"p50 {pct(values, 50):7.1f} ms  p99 {pct(values, 99):7.1f} ms  "
            f"max {max(values):7.1f} ms  (n={len(values)})")


# ------------------------------------------------------------------ filling relayd

NEWEST = "これが最新のメッセージです"



async def post(r: Any, a: Account, room: str, body: str) -> None:
    c = r.client(a.zone, a.token)
    try:
        rep = await c.request("POST", f"/api/v1/rooms/{room}/messages", json={"body": body})
    finally:
        await c.aclose()
    assert rep.status == 201, rep.body


async def fill(r: Any, args: argparse.Namespace) -> dict[str, Any]:
    t = time.monotonic()
    accounts = await setup_accounts(r, ["lgwan"] * args.members, prefix="w")
    clerk, others = accounts[0], accounts[1:]
    rnd = random.Random(7)
    small = args.rooms - 2

    async def small_room(i: int) -> None:
        pair = rnd.sample(others, 2)
        room = await create_room(r, f"係の連絡 {i:03d}", [clerk, *pair])
        await post(r, pair[0], room, f"{i} 件目の連絡です。確認をお願いします。")

    await _bounded(8, [(lambda i=i: small_room(i)) for i in range(small)])
    writers = others[:10]
    history = await create_room(r, "履歴の長いトーク", [clerk, *writers])
    # Posted by ten members over a few connections each: the history the page pages through.
    clients = [r.client("lgwan", w.token) for w in writers for _ in range(2)]

    async def one(i: int) -> None:
        c = clients[i % len(clients)]
        rep = await c.request("POST", f"/api/v1/rooms/{history}/messages",
                              json={"body": f"履歴 {i:05d} 番目のメッセージ。防災訓練の資料を共有します。"})
        assert rep.status == 201, rep.body

    # Each client carries one request at a time: the jobs are spread so no two share one.
    for start in range(0, args.history, len(clients)):
        await _bounded(len(clients), [(lambda i=i: one(i))
                                      for i in range(start, min(args.history, start + len(clients)))])
    for c in clients:
        await c.aclose()
    await post(r, writers[0], history, NEWEST)  # last, alone: the page waits for it
    big = await create_room(r, "全職員 連絡", accounts)
    await post(r, others[0], big, "全職員のトークです。")
    print(f"filled in {time.monotonic() - t:.1f} s: {args.members} accounts, {args.rooms} rooms, "
          f"{args.history} messages in one", flush=True)
    return {"clerk": clerk, "others": others, "history": history, "big": big}


# ------------------------------------------------------------------ the page


def new_page(browser: Any, base: str) -> Any:
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="ja-JP",
                                  timezone_id="Asia/Tokyo")
    page = context.new_page()
    page.set_default_timeout(60000)
    page.goto(base + "/")
    page.get_by_label("ログイン名", exact=True).wait_for()
    return page


def log_in(page: Any, login: str) -> None:
    page.get_by_label("ログイン名", exact=True).fill(login)
    page.get_by_label("パスワード", exact=True).fill(BENCH_PASSWORD)
    page.get_by_role("button", name="ログイン").click()


LOGIN_FLOOR_JS = """async ([login, password]) => {
  const t = performance.now();
  const r = await fetch('/api/v1/login', {method: 'POST', credentials: 'same-origin',
    headers: {'Content-Type': 'application/json'}, body: JSON.stringify({login, password})});
  await r.json();
  await Promise.all(['/api/v1/accounts', '/api/v1/rooms', '/api/v1/stamps'].map(
    (u) => fetch(u, {credentials: 'same-origin'}).then((x) => x.json())));
  return performance.now() - t;
}"""


def bench_login(browser: Any, base: str, clerk: Account, rooms: int, repeat: int) -> tuple[list[float], list[float]]:
    page_ms, floor_ms = [], []
    for _ in range(repeat):
        page = new_page(browser, base)
        # Click to drawn, timed in the page: a click handler starts the clock.
        page.evaluate("""() => document.addEventListener('click', (e) => {
          if (e.target.closest('button') && e.target.closest('button').textContent === 'ログイン')
            window.__t0 = performance.now(); }, true)""")
        log_in(page, clerk.login)
        page.wait_for_function(f"() => document.querySelectorAll('.room-name').length >= {rooms}",
                               polling="raf")
        page_ms.append(page.evaluate("performance.now() - window.__t0"))
        page.context.close()
        floor = new_page(browser, base)
        floor_ms.append(floor.evaluate(LOGIN_FLOOR_JS, [clerk.login, BENCH_PASSWORD]))
        floor.context.close()
    return page_ms, floor_ms


OPEN_FLOOR_JS = """async (room) => {
  const t = performance.now();
  await (await fetch(`/api/v1/rooms/${room}/messages?limit=50`, {credentials: 'same-origin'})).json();
  return performance.now() - t;
}"""


def bench_open(page: Any, history: str, newest: str, repeat: int) -> tuple[list[float], list[float]]:
    page_ms, floor_ms = [], []
    for _ in range(repeat):
        page.get_by_role("button", name="係の連絡 000").click()
        page.locator(".msg").first.wait_for()
        page.evaluate("""() => { window.__open = null;
          const b = [...document.querySelectorAll('.room-name')].find((x) => x.textContent === '履歴の長いトーク')
            .closest('button');
          b.addEventListener('click', () => { window.__open = performance.now(); }, {capture: true, once: true}); }""")
        page.get_by_role("button", name="履歴の長いトーク").click()
        page.wait_for_function(
            f"""() => {{ const m = [...document.querySelectorAll('.msg .text')].pop();
                  return m && m.textContent.includes({newest!r}); }}""", polling="raf")
        page_ms.append(page.evaluate("performance.now() - window.__open"))
        floor_ms.append(page.evaluate(OPEN_FLOOR_JS, history))
    return page_ms, floor_ms


SCROLL_JS = """async (pages) => {
  const list = document.querySelector('.messages');
  const long = [];
  const obs = new PerformanceObserver((l) => { for (const e of l.getEntries()) long.push(e.duration); });
  obs.observe({type: 'longtask', buffered: false});
  const out = {page_ms: [], max_msgs: 0, max_elements: 0, pages: 0};
  const first = () => list.querySelector('.msg') && list.querySelector('.msg').dataset.id;
  for (let i = 0; i < pages; i++) {
    const before = first();
    const t = performance.now();
    list.scrollTop = 0;
    const deadline = t + 10000;
    while (first() === before && performance.now() < deadline) {
      await new Promise((r) => requestAnimationFrame(r));
    }
    if (first() === before) break;  // the start of the history
    out.page_ms.push(performance.now() - t);
    out.pages += 1;
    out.max_msgs = Math.max(out.max_msgs, list.querySelectorAll('.msg').length);
    out.max_elements = Math.max(out.max_elements, document.getElementsByTagName('*').length);
    await new Promise((r) => setTimeout(r, 50));
  }
  obs.disconnect();
  out.long_tasks = long;
  return out;
}"""


WATCH_JS = """() => {
  window.__seen = {};
  const list = document.querySelector('.messages');
  new MutationObserver((records) => {
    const now = performance.timeOrigin + performance.now();
    for (const r of records) for (const n of r.addedNodes) {
      if (!(n instanceof Element)) continue;
      for (const m of (n.matches('.msg') ? [n] : n.querySelectorAll('.msg'))) {
        const hit = /live (\\d+) /.exec(m.textContent);
        if (hit && !(hit[1] in window.__seen)) window.__seen[hit[1]] = now;
      }
    }
  }).observe(list, {childList: true, subtree: true});
  window.__long = [];
  new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__long.push(e.duration); })
    .observe({type: 'longtask'});
}"""


def live_senders(r: Any, world: dict[str, Any], rate: float, seconds: float,
                 sent: dict[int, float], ws_seen: dict[int, float]) -> None:
    """In its own thread: the members' sends at ``rate`` and the clerk's bare stream."""
    async def main() -> None:
        clerk: Account = world["clerk"]
        ws = await WS.connect(relayd_target(r, "lgwan"), "/api/v1/stream", clerk.token)
        count = int(rate * seconds)

        async def reader(cancel: trio.CancelScope) -> None:
            with cancel:
                while len(ws_seen) < count:
                    frames = await ws.frames()
                    await ws.answer_pings()
                    for text in frames:
                        now = time.time()
                        ev = json.loads(text)
                        if ev.get("type") == "message.created":
                            body = ev["message"]["body"]
                            if body.startswith("live "):
                                ws_seen.setdefault(int(body.split()[1]), now)

        senders = world["others"]
        clients = [r.client("lgwan", a.token) for a in senders[:40]]

        async def send(i: int, at: float) -> None:
            await trio.sleep_until(at)
            sent[i] = time.time()
            c = clients[i % len(clients)]
            rep = await c.request("POST", f"/api/v1/rooms/{world['big']}/messages",
                                  json={"body": f"live {i} 参集状況の報告です。"})
            assert rep.status == 201, rep.body

        cancel = trio.CancelScope(deadline=trio.current_time() + seconds + 30)
        async with trio.open_nursery() as n:
            n.start_soon(reader, cancel)
            start = trio.current_time() + 0.5
            for i in range(count):
                n.start_soon(send, i, start + i / rate)
        for c in clients:
            await c.aclose()
        await ws.aclose()

    trio.run(main)


def bench_live(page: Any, r: Any, world: dict[str, Any], rate: float, seconds: float) -> dict[str, Any]:
    page.get_by_role("button", name="全職員 連絡").click()
    page.locator(".msg").first.wait_for()
    page.evaluate(WATCH_JS)
    sent: dict[int, float] = {}
    ws_seen: dict[int, float] = {}
    t = threading.Thread(target=live_senders, args=(r, world, rate, seconds, sent, ws_seen))
    t.start()
    t.join()
    count = int(rate * seconds)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and page.evaluate("Object.keys(window.__seen).length") < count:
        time.sleep(0.2)
    seen = {int(k): v / 1000 for k, v in page.evaluate("window.__seen").items()}
    page_lag = {i: (seen[i] - sent[i]) * 1000 for i in seen if i in sent}
    ws_lag = [(ws_seen[i] - sent[i]) * 1000 for i in ws_seen if i in sent]
    order = sorted(page_lag)
    q = max(1, len(order) // 4)
    return {"count": count, "page": list(page_lag.values()), "ws": ws_lag,
            "first": [page_lag[i] for i in order[:q]], "last": [page_lag[i] for i in order[-q:]],
            "long": page.evaluate("window.__long")}


# ------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--members", type=int, default=500)
    ap.add_argument("--rooms", type=int, default=100)
    ap.add_argument("--history", type=int, default=10000)
    ap.add_argument("--rate", type=float, default=20.0)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--scroll-pages", type=int, default=40)
    args = ap.parse_args(argv)
    if CHROMIUM is None:
        print("no chromium executable (apt-get install chromium; .ci/bootstrap test does)")
        return 2
    from playwright.sync_api import sync_playwright

    load0 = loadavg()
    cfg = bench_config({"auth": {"lgwan_http_cookie": True}})
    with tempfile.TemporaryDirectory(prefix="bench-browser-") as tmp, relayd(Path(tmp), cfg) as r:
        world = trio.run(fill, r, args)
        base = "http://" + r.lgwan
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                        args=["--disable-gpu", "--disable-dev-shm-usage"])
            print("(a) logging in …", flush=True)
            login_ms, login_floor = bench_login(browser, base, world["clerk"], args.rooms, args.repeat)
            page = new_page(browser, base)
            log_in(page, world["clerk"].login)
            page.wait_for_function(f"() => document.querySelectorAll('.room-name').length >= {args.rooms}")
            print("(b) opening the long room …", flush=True)
            open_ms, open_floor = bench_open(page, world["history"], NEWEST, args.repeat)
            print("(c) scrolling back …", flush=True)
            scroll = page.evaluate(SCROLL_JS, args.scroll_pages)
            print(f"(d) {args.rate:g} msg/s for {args.seconds:g} s …", flush=True)
            live = bench_live(page, r, world, args.rate, args.seconds)
            browser.close()

    print()
    print("settings:")
    for line in settings_lines():
        print("  " + line)
    print(f"machine load at start / end: {load0} / {loadavg()}")
    print()
    print(f"(a) login to a usable room list, {args.rooms} rooms (target ≤ 1000 ms):")
    print(f"    page   {fmt(login_ms)}")
    print(f"    floor  {fmt(login_floor)}   (the same requests by fetch, nothing drawn)")
    print(f"    {verdict(pct(login_ms, 99) <= 1000)}")
    print(f"(b) open the room of {args.history} messages to its newest page (target ≤ 300 ms):")
    print(f"    page   {fmt(open_ms)}")
    print(f"    floor  {fmt(open_floor)}   (the newest page by fetch)")
    print(f"    {verdict(pct(open_ms, 99) <= 300)}")
    long = scroll["long_tasks"]
    print(f"(c) scrolling back {scroll['pages']} pages of 50 (target: bounded, no long stalls):")
    print(f"    each older page drawn: {fmt(scroll['page_ms'])}")
    print(f"    most messages in the page {scroll['max_msgs']}, most DOM elements {scroll['max_elements']}")
    print(f"    long tasks (> 50 ms): {len(long)}" + (f", longest {max(long):.0f} ms" if long else ""))
    print(f"    {verdict(scroll['max_msgs'] <= 300 and (not long or max(long) < 200))}")
    shown = len(live["page"])
    print(f"(d) {args.members}-member room at {args.rate:g} msg/s for {args.seconds:g} s "
          f"(target: every message shown, no growing lag):")
    print(f"    page   {fmt(live['page'])}   shown {shown}/{live['count']}")
    print(f"    floor  {fmt(live['ws'])}   (a bare WebSocket client of the same account)")
    growth = statistics.median(live["last"]) - statistics.median(live["first"])
    print(f"    median lag first quarter {statistics.median(live['first']):.1f} ms, "
          f"last quarter {statistics.median(live['last']):.1f} ms (growth {growth:+.1f} ms); "
          f"long tasks {len(live['long'])}")
    print(f"    {verdict(shown == live['count'] and growth <= 200)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
