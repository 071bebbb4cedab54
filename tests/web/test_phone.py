"""The web client as an installable phone app: the manifest and the service worker
(served by relayd, controlling "/", never answering or keeping anything of /api),
notifications shown through the worker (another room, a hidden page; never one's own,
never one held by business hours; urgent marked), a Web Push delivered to the worker
(Chrome DevTools Protocol) and its click opening the room, the push switch's honest
failure where no push service is reachable, the 業務時間外 switch, and ending the
session of a lost phone from 設定 → ログイン中の端末.

Notifications are read back with ``registration.getNotifications()``: the real ones
Chromium shows, no stand-in.  Headless Chromium reaches no push service (the network
is closed; its incognito contexts refuse push subscriptions): subscribing is tested as
far as the error the person is shown, the push handler by delivering a push to the
worker directly."""

from __future__ import annotations

import datetime
import json
import re
import signal
import time
from typing import Any, Iterator

import pytest

from tests.e2e.harness import merge, relayd, toml_dumps
from tests.web.conftest import (AXE, DESKTOP, PASSWORD, PHONE, WEB_CONFIG, accessibility, api,
                                finish, log_in, login_token, open_page, prepare)

ANDROID_UA = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/126.0.0.0 Mobile Safari/537.36")
NOTIFY = ["notifications"]


def hours_now_closed() -> dict[str, Any]:
    """Business hours of half an hour, twelve hours from now (UTC): now is outside them."""
    start = (datetime.datetime.now(datetime.timezone.utc).hour + 12) % 24
    return {"hours": {"enabled": True, "time_zone": "UTC", "start": f"{start:02d}:00",
                      "end": f"{start:02d}:30", "national_holidays": False, "closed_days": [],
                      "working_days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]}}


@pytest.fixture(scope="module")
def closed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with relayd(tmp_path_factory.mktemp("relayd-hours"), merge(WEB_CONFIG, hours_now_closed())) as r:
        people, admin_token = prepare(r)
        yield r, people, admin_token


def room(r, admin_token: str, name: str, *members: dict[str, Any]) -> str:
    return str(api(r, "lgwan", "POST", "/api/v1/rooms", admin_token,
                   {"name": name, "members": [m["id"] for m in members]})["id"])


def say(r, token: str, room_id: str, text: str, urgent: bool = False) -> None:
    api(r, "lgwan", "POST", f"/api/v1/rooms/{room_id}/messages", token, {"body": text, "urgent": urgent})


def controlled(w) -> None:
    w.page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=60000)


def shown(w, tag: str | None = None) -> list[dict[str, Any]]:
    """The notifications Chromium shows for this origin now."""
    return w.page.evaluate("""async (tag) => {
      const reg = await navigator.serviceWorker.ready;
      return (await reg.getNotifications(tag ? { tag } : {})).map((n) =>
        ({ title: n.title, body: n.body, tag: n.tag, data: n.data, sticky: n.requireInteraction }));
    }""", tag)


ASKED = """
window.__asked = [];
const show = ServiceWorkerRegistration.prototype.showNotification;
ServiceWorkerRegistration.prototype.showNotification = function (title, options = {}) {
  window.__asked.push({ title, body: options.body, tag: options.tag, data: options.data,
                        sticky: !!options.requireInteraction });
  return show.call(this, title, options);
};
"""


def watch_notifications(w) -> None:
    """Record what the page asks the browser to show (the real call goes on): headless
    chromium closes a shown notification by itself now and then, before
    ``getNotifications`` reads it back."""
    w.context.add_init_script(ASKED)
    w.page.reload()


def asked(w, tag: str | None = None) -> list[dict[str, Any]]:
    return [n for n in w.page.evaluate("window.__asked || []") if tag is None or n["tag"] == tag]


def wait_shown(w, tag: str, title: str, timeout_s: float = 30) -> dict[str, Any]:
    """The notification once Chromium shows it (or, where the page recorded it, once the
    page asked for it): polled from here (a page-side wait would hand back a promise,
    which counts as found at once)."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = [n for n in shown(w, tag) + asked(w, tag) if n["title"] == title]
        if found:
            return found[0]
        assert time.monotonic() < deadline, f"no notification {title!r} ({tag}): {shown(w)}"
        w.page.wait_for_timeout(100)


def open_settings(w) -> None:
    w.page.locator(".nav-btn[data-view=settings]:visible").click()
    w.page.get_by_role("heading", name="ログイン中の端末").wait_for()


def test_the_manifest_and_the_worker_are_served_and_chromium_finds_the_app_installable(
        browser, server):
    r, _, _ = server
    for zone in ("lgwan", "internet"):
        got = r.request_sync(zone, "GET", "/manifest.webmanifest")
        assert got.status == 200
        assert got.headers["content-type"].startswith("application/manifest+json")
        manifest = got.json()
        assert (manifest["name"], manifest["lang"], manifest["start_url"], manifest["display"]) == (
            "架け橋", "ja", "/", "standalone")
        assert {i["purpose"] for i in manifest["icons"]} == {"any", "maskable"}
        for icon in manifest["icons"]:
            fetched = r.request_sync(zone, "GET", icon["src"])
            assert fetched.status == 200 and fetched.headers["content-type"] == "image/svg+xml"
            assert fetched.body.startswith(b"<svg")
        worker = r.request_sync(zone, "GET", "/sw.js", headers={"Accept-Encoding": "identity"})
        assert worker.status == 200
        assert worker.headers["content-type"].startswith("text/javascript")
        assert worker.headers["cache-control"] == "no-cache"
        assert "script-src 'self'" in worker.headers["content-security-policy"]
        assert "unsafe" not in worker.headers["content-security-policy"]
        # What the worker may keep: the page and the hashed assets, nothing of /api.
        shell = json.loads(re.match(r"const SHELL = (\[.*?\]);", worker.body.decode()).group(1))
        assert shell[0] == "/" and all(u.startswith("/assets/") for u in shell[1:])
        page = r.request_sync(zone, "GET", "/", headers={"Accept-Encoding": "identity"}).body.decode()
        assert '<link rel="manifest" href="/manifest.webmanifest">' in page
        assert all(src in shell for src in re.findall(r'"(/assets/[^"]+)"', page))

    w = open_page(browser, r, "lgwan")
    cdp = w.context.new_cdp_session(w.page)
    assert cdp.send("Page.getAppManifest")["errors"] == []
    controlled(w)
    # Playwright's contexts are like incognito windows, where Chromium never installs
    # anything; that is the only reason it may give.
    errors = [e["errorId"] for e in cdp.send("Page.getInstallabilityErrors")["installabilityErrors"]]
    assert set(errors) <= {"in-incognito"}, errors
    finish(w)


def test_the_worker_controls_the_page_never_answers_the_api_and_keeps_nothing_personal(
        browser, server):
    r, people, admin_token = server
    rid = room(r, admin_token, "保健センター 連絡", people.staff, people.staff2)
    say(r, login_token(r, "lgwan", "tanaka", PASSWORD), rid, "検診の受付名簿を共有します")
    w = open_page(browser, r, "lgwan")
    page = w.page
    from_worker: list[str] = []  # what the page got from the worker, not from relayd
    page.on("response", lambda res: from_worker.append(res.url) if res.from_service_worker else None)
    worker_fetched: list[str] = []  # what the worker itself asked relayd for
    w.context.on("request", lambda req: worker_fetched.append(req.url) if req.service_worker else None)
    log_in(w, "suzuki")
    controlled(w)
    # Chromium says for each response which rule of the worker's static routes sent it.
    cdp = w.context.new_cdp_session(page)
    routed: list[tuple[str, Any]] = []
    cdp.on("Network.responseReceived", lambda e: routed.append(
        (e["response"]["url"], e["response"].get("serviceWorkerRouterInfo"))))
    cdp.send("Network.enable")
    page.reload()
    page.locator(".topbar .logout").wait_for()
    page.get_by_role("button", name=re.compile("保健センター 連絡")).click()
    page.locator(".msg .text", has_text="検診の受付名簿").wait_for()
    assert any("/assets/" in u for u in from_worker), from_worker  # it does serve the shell
    assert not [u for u in from_worker if "/api/" in u]
    assert not [u for u in worker_fetched if "/api/" in u]
    api_answers = [info for url, info in routed if "/api/" in url]
    assert api_answers and all(i and i["matchedSourceType"] == "network" for i in api_answers), routed
    kept = page.evaluate("""async () => {
      const out = [];
      for (const name of await caches.keys()) {
        for (const req of await (await caches.open(name)).keys()) out.push(new URL(req.url).pathname);
      }
      return out;
    }""")
    assert "/" in kept and all(p == "/" or p.startswith("/assets/") for p in kept), kept

    # Logged out and offline: the kept page opens and says relayd cannot be reached;
    # nothing of what was read comes back.
    page.get_by_role("button", name="ログアウト").click()
    page.get_by_text("ログアウトしました。").wait_for()
    w.context.set_offline(True)
    w.allowed += ("ERR_INTERNET_DISCONNECTED",)
    page.reload()
    page.get_by_text("サーバーに接続できません").wait_for()
    assert "検診" not in page.locator("body").inner_text()
    assert page.locator(".msg").count() == 0
    w.shot("offline-after-logout-desktop")
    w.context.set_offline(False)
    finish(w)


def test_a_message_elsewhere_is_notified_without_its_text_never_ones_own_and_a_click_opens_its_room(
        browser, server):
    r, people, admin_token = server
    here = room(r, admin_token, "子育て支援課", people.staff, people.staff2)
    elsewhere = room(r, admin_token, "防災 当番", people.staff, people.staff2)
    own = room(r, admin_token, "自分メモ", people.staff)
    tanaka = login_token(r, "lgwan", "tanaka", PASSWORD)
    suzuki = login_token(r, "lgwan", "suzuki", PASSWORD)
    w = open_page(browser, r, "lgwan", permissions=NOTIFY)
    watch_notifications(w)
    log_in(w, "suzuki")
    controlled(w)
    w.page.get_by_role("button", name=re.compile("子育て支援課")).click()
    w.page.get_by_label("メッセージ", exact=True).wait_for()

    say(r, tanaka, elsewhere, "倉庫の鍵の番号は 4321 です")
    n = wait_shown(w, f"room-{elsewhere}", "田中 一郎さんから新しいメッセージ")
    assert n["body"] == "トーク「防災 当番」" and n["data"]["room_id"] == elsewhere
    assert "4321" not in json.dumps(n, ensure_ascii=False)
    assert n["sticky"] is False
    # In the room on screen, and one's own (from another session): nothing.  Then an
    # urgent one elsewhere, which the page handles after them (one stream, in order).
    say(r, tanaka, here, "こちらは表示中のトークです")
    w.page.locator(".msg .text", has_text="表示中のトーク").wait_for()
    say(r, suzuki, own, "自分で送ったメッセージ")
    say(r, tanaka, elsewhere, "至急 折り返してください", urgent=True)
    urgent = wait_shown(w, f"room-{elsewhere}", "【緊急】田中 一郎さんから新しいメッセージ")
    assert urgent["sticky"] is True
    assert asked(w, f"room-{here}") == [] and asked(w, f"room-{own}") == []

    # A click on it (dispatched in the worker, which has its one handler) opens the room.
    worker = w.context.service_workers[0]
    worker.evaluate("""async () => {
      const [n] = await self.registration.getNotifications();
      self.dispatchEvent(new NotificationEvent("notificationclick", { notification: n }));
    }""")
    w.page.locator(".talk-title", has_text="防災 当番").wait_for()
    w.page.locator(".msg .text", has_text="至急 折り返してください").wait_for()
    assert shown(w, f"room-{elsewhere}") == []  # closed by the click

    # Logging out closes what is still shown (a shared PC's notification centre).
    say(r, tanaka, here, "退庁前の連絡です")
    wait_shown(w, f"room-{here}", "田中 一郎さんから新しいメッセージ")
    w.page.get_by_role("button", name="ログアウト").click()
    w.page.get_by_text("ログアウトしました。").wait_for()
    deadline = time.monotonic() + 30
    while shown(w) and time.monotonic() < deadline:
        w.page.wait_for_timeout(100)
    assert shown(w) == []
    finish(w)


def test_a_push_delivered_to_the_worker_is_shown_and_its_room_opens_from_the_link(browser, server):
    r, people, admin_token = server
    rid = room(r, admin_token, "保育園 連絡帳", people.staff, people.partner)
    w = open_page(browser, r, "internet", PHONE, permissions=NOTIFY)
    log_in(w, "partner")
    controlled(w)
    cdp = w.context.new_cdp_session(w.page)
    registrations: list[dict[str, Any]] = []
    cdp.on("ServiceWorker.workerRegistrationUpdated", lambda e: registrations.extend(e["registrations"]))
    cdp.send("ServiceWorker.enable")
    for _ in range(50):
        if registrations:
            break
        w.page.wait_for_timeout(100)
    reg_id = next(x["registrationId"] for x in registrations if x["scopeURL"] == w.base + "/")
    # The app is closed (no page of ours in front) when the push comes.
    w.page.goto("about:blank")
    cdp.send("ServiceWorker.deliverPushMessage", {
        "origin": w.base, "registrationId": reg_id,
        "data": json.dumps({"type": "message", "room_id": rid, "sender": people.staff["id"],
                            "urgent": False})})
    w.page.goto(w.base + f"/#room={rid}")
    n = wait_shown(w, f"room-{rid}", "新しいメッセージがあります")
    assert n["body"] == "架け橋を開いて確認してください" and n["data"]["room_id"] == rid
    # What a click opens when no page is there: /#room=<id>, which goes to the room.
    w.page.locator(".talk-title", has_text="保育園 連絡帳").wait_for()
    assert "#room" not in w.page.url
    w.shot("push-opened-room-phone")
    finish(w)


def test_the_push_switch_says_why_it_cannot_subscribe_and_the_office_is_told_it_is_for_phones(
        browser, server):
    r, _, _ = server
    phone = open_page(browser, r, "internet", PHONE, axe=AXE.exists(), permissions=NOTIFY)
    log_in(phone, "partner")
    controlled(phone)
    open_settings(phone)
    switch = phone.page.get_by_label("この端末でプッシュ通知を受け取る")
    # Chromium itself logs why (its contexts here are incognito ones).
    phone.allowed += ("does not support the Push API in incognito",)
    switch.check()
    problem = phone.page.locator(".push .error")
    problem.filter(has_text="この端末ではプッシュ通知を登録できませんでした").wait_for()
    assert not switch.is_checked()
    assert phone.page.evaluate("localStorage.getItem('kakehashi.push')") is None
    phone.page.get_by_role("heading", name="通知", exact=True).scroll_into_view_if_needed()
    phone.shot("settings-notifications-phone")
    if AXE.exists():
        assert accessibility(phone, "settings-phone") == []
    finish(phone)

    desk = open_page(browser, r, "lgwan", DESKTOP, axe=AXE.exists())
    log_in(desk, "suzuki")
    open_settings(desk)
    desk.page.get_by_text("インターネット側（スマートフォン）から使う場合だけ").wait_for()
    assert desk.page.get_by_label("この端末でプッシュ通知を受け取る").count() == 0
    # Permission not asked at load; the button asks it.
    assert desk.page.evaluate("Notification.permission") == "default"
    desk.page.get_by_role("button", name="通知を受け取る").wait_for()
    desk.page.get_by_role("heading", name="通知", exact=True).scroll_into_view_if_needed()
    desk.shot("settings-notifications-desktop")
    # The person allows it in the browser's question the button asks.
    desk.context.grant_permissions(NOTIFY)
    desk.page.get_by_role("button", name="通知を受け取る").click()
    desk.page.get_by_text("通知は有効です。").wait_for()
    if AXE.exists():
        assert accessibility(desk, "settings-desktop") == []
    finish(desk)


def test_outside_business_hours_a_message_is_shown_but_not_notified_unless_urgent_or_on_call(
        browser, closed):
    r, people, admin_token = closed
    quiet = room(r, admin_token, "広報 原稿", people.staff, people.staff2)
    loud = room(r, admin_token, "危機管理 当番", people.staff, people.staff2)
    tanaka = login_token(r, "lgwan", "tanaka", PASSWORD)
    w = open_page(browser, r, "lgwan", PHONE, permissions=NOTIFY)
    watch_notifications(w)
    log_in(w, "suzuki")
    controlled(w)
    say(r, tanaka, quiet, "原稿の確認は明日で大丈夫です")
    say(r, tanaka, loud, "河川の水位が上がっています", urgent=True)
    wait_shown(w, f"room-{loud}", "【緊急】田中 一郎さんから新しいメッセージ")
    assert asked(w, f"room-{quiet}") == []
    # Held, yet there at once, and quietly marked in the talk.
    w.page.get_by_role("button", name=re.compile("広報 原稿.*未読 1 件")).click()
    held = w.page.locator(".msg", has_text="原稿の確認は明日で大丈夫です")
    held.locator(".held", has_text="時間外（通知なし）").wait_for()
    assert "業務開始時" in held.locator(".held").get_attribute("title")
    w.shot("held-message-phone")
    # Her own answer: she is told when the others will hear of it.
    box = w.page.get_by_label("メッセージ", exact=True)
    box.fill("承知しました")
    box.press("Enter")
    w.page.locator(".toast", has_text="業務時間外のため、ほかのメンバーへの通知は").wait_for()
    w.page.get_by_role("button", name="トーク一覧").click()

    # On call: 当番・待機中は時間外も通知する.
    open_settings(w)
    switch = w.page.get_by_label("当番・待機中は時間外も通知する")
    assert not switch.is_checked()
    switch.check()
    w.page.wait_for_function("() => document.getElementById('after-hours').disabled === false")
    assert api(r, "lgwan", "GET", "/api/v1/me/settings",
               login_token(r, "lgwan", "suzuki", PASSWORD)) == {"after_hours": True}
    switch.scroll_into_view_if_needed()
    w.shot("settings-after-hours-phone")
    say(r, tanaka, quiet, "今夜の原稿差し替えをお願いします")
    wait_shown(w, f"room-{quiet}", "田中 一郎さんから新しいメッセージ")
    finish(w)


def test_when_hours_begin_the_held_messages_come_as_one_toast_and_one_notification(
        browser, tmp_path_factory):
    with relayd(tmp_path_factory.mktemp("relayd-digest"), merge(WEB_CONFIG, hours_now_closed())) as r:
        people, admin_token = prepare(r)
        rid = room(r, admin_token, "税務課 窓口", people.staff, people.staff2)
        w = open_page(browser, r, "lgwan", DESKTOP, permissions=NOTIFY)
        watch_notifications(w)
        log_in(w, "suzuki")
        controlled(w)
        # Everything set up, the hours are moved (SIGHUP) to begin at the first whole
        # minute at least 15 s from now: time to send before, little to wait for
        # (real time, real relayd; minutes are the hours' grain).
        now = datetime.datetime.now(datetime.timezone.utc)
        opening = (now + datetime.timedelta(seconds=75)).replace(second=0, microsecond=0)
        if opening.hour == 23 and opening.minute > 50 or opening.date() != now.date():
            pytest.skip("too close to midnight UTC for a same-day window")
        hours = {"hours": {**hours_now_closed()["hours"], "start": f"{opening:%H:%M}",
                           "end": f"{opening.hour:02d}:59" if opening.minute < 59 else "23:59"}}
        r.config_path.write_text(toml_dumps(merge(WEB_CONFIG, hours)), encoding="utf-8")
        r.signal(signal.SIGHUP)
        deadline = time.monotonic() + 30
        while "config reloaded: hours" not in r.log() and time.monotonic() < deadline:
            time.sleep(0.1)
        sent = api(r, "lgwan", "POST", f"/api/v1/rooms/{rid}/messages",
                   login_token(r, "lgwan", "tanaka", PASSWORD), {"body": "明朝の窓口体制について"})
        assert sent["notify_at"] == opening.strftime("%Y-%m-%dT%H:%M:00.000Z")
        assert shown(w) == [] and asked(w) == []
        toast = w.page.locator(".toast", has_text="業務時間外に届いた未読のメッセージが 1 件あります。")
        toast.wait_for(timeout=300000)
        n = wait_shown(w, "digest", "業務時間外のメッセージ")
        assert n["data"]["room_id"] == rid and "1 件" in n["body"]
        w.shot("digest-toast-desktop")
        finish(w)


def test_ending_the_session_of_a_lost_phone_logs_it_out_at_once(browser, server):
    r, _, admin_token = server
    # Someone with no other session anywhere.
    api(r, "lgwan", "POST", "/api/v1/admin/accounts", admin_token,
        {"login": "yamada", "kind": "staff", "display_name": "山田 次郎", "password": PASSWORD})
    phone = open_page(browser, r, "internet", PHONE, user_agent=ANDROID_UA, axe=AXE.exists())
    log_in(phone, "yamada")
    desk = open_page(browser, r, "lgwan", DESKTOP, axe=AXE.exists())
    log_in(desk, "yamada")
    open_settings(phone)
    mine = phone.page.get_by_role("list", name="ログイン中の端末").locator("li", has_text="この端末")
    mine.filter(has_text="Chrome / Android").wait_for()
    mine.scroll_into_view_if_needed()
    phone.shot("settings-sessions-phone")
    if AXE.exists():
        assert accessibility(phone, "settings-sessions-phone") == []
    open_settings(desk)
    sessions = desk.page.get_by_role("list", name="ログイン中の端末")
    lost = sessions.locator("li", has_text="Chrome / Android")
    lost.wait_for()
    assert "庁外" in lost.inner_text() and "最終利用" in lost.inner_text()
    this = sessions.locator("li", has_text="この端末")
    assert this.count() == 1 and "庁内" in this.inner_text()
    assert this.get_by_role("button").count() == 0  # this one logs out from the top bar
    sessions.scroll_into_view_if_needed()
    desk.shot("settings-sessions-desktop")
    if AXE.exists():
        assert accessibility(desk, "settings-sessions-desktop") == []

    # By keyboard: the dialog starts on キャンセル (the safe choice), Tab to confirm.
    lost.get_by_role("button", name="Chrome / Android（庁外）をログアウトさせる").focus()
    desk.page.keyboard.press("Enter")
    dlg = desk.page.get_by_role("dialog")
    assert "Chrome / Android（庁外）" in dlg.inner_text()
    assert desk.page.evaluate("document.activeElement.textContent") == "キャンセル"
    desk.page.keyboard.press("Tab")
    assert desk.page.evaluate("document.activeElement.textContent") == "ログアウトさせる"
    desk.page.keyboard.press("Enter")
    phone.page.get_by_text("もう一度ログインしてください").wait_for(timeout=30000)
    sessions.locator("li", has_text="Chrome / Android").wait_for(state="detached")
    assert sessions.locator("li").count() == 1
    phone.shot("lost-phone-logged-out")
    # The phone's requests in flight when its session ended may be answered 401.
    phone.allowed += ("status of 401 (Unauthorized)",)
    finish(phone)
    finish(desk)
