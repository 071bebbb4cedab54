"""The admin screen's ルーム tab and ワンタイムコード enrolment in a real chromium against a
real relayd: an admin at a desk finds a room by name, adds a clerk to it (the clerk's
own page, another browser context, shows the room appear live), archives it and brings
it back; then enrols a one-time code (TOTP) for the clerk, and the code an
authenticator app would compute from the key shown opens a login on the internet
listener.  The same screens on a phone, with axe-core's check."""

from __future__ import annotations

import base64
import json
import re
import time

import pytest
from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.totp import TOTP

from tests.web.conftest import (AXE, DESKTOP, PASSWORD, PHONE, accessibility, api, finish,
                                log_in, open_page, talk_to)

WAIT = 30_000  # ms: two cores shared by several test runs


def totp_now(shown_key: str) -> str:
    """What an authenticator app shows for the key as typed in (spaces dropped)."""
    key = re.sub(r"\s+", "", shown_key)
    secret = base64.b32decode(key + "=" * (-len(key) % 8))
    return TOTP(secret, 6, SHA1(), 30).generate(int(time.time())).decode()


def open_admin(browser, r, people, viewport, nav: str, axe: bool = False):
    w = open_page(browser, r, "lgwan", viewport, axe=axe)
    log_in(w, "admin", people.admin_password)
    w.page.get_by_role("navigation", name=nav, exact=True).get_by_role("button", name="管理").click()
    w.page.get_by_role("tab", name="ルーム").click()
    w.page.locator(".admin-rooms").wait_for(timeout=WAIT)
    return w


def confirm(w) -> None:
    dlg = w.page.get_by_role("dialog")
    dlg.get_by_role("button", name="はい").click()
    dlg.wait_for(state="detached", timeout=WAIT)


def test_an_admin_adds_a_member_archives_the_room_and_enrols_a_one_time_code(browser, server):
    r, people, admin_token = server
    room = api(r, "lgwan", "POST", "/api/v1/rooms", admin_token,
               {"name": "防災訓練の連絡", "members": [people.staff["id"]]})
    api(r, "lgwan", "POST", "/api/v1/rooms", admin_token,
        {"name": "子育て支援課の連絡", "members": [people.staff["id"]]})

    # The clerk (田中) is not in the room yet, and their page is open.
    clerk = open_page(browser, r, "lgwan", PHONE)
    log_in(clerk, "tanaka", PASSWORD)
    clerk.page.locator(".topbar .logout").wait_for()
    assert clerk.page.get_by_role("button", name=re.compile("防災訓練の連絡")).count() == 0

    admin = open_admin(browser, r, people, DESKTOP, "メニュー", axe=AXE.exists())
    page = admin.page
    found: list[str] = []
    page.get_by_label("ルーム名で絞り込む").fill("防災")
    rooms = page.locator(".admin-rooms > li")
    rooms.filter(has_text="子育て支援課の連絡").wait_for(state="detached", timeout=WAIT)
    assert rooms.count() == 1 and "メンバー 2 人" in rooms.first.inner_text()
    admin.shot("admin-rooms-desktop")
    if AXE.exists():
        found += accessibility(admin, "admin-rooms-desktop")
    page.get_by_role("button", name="防災訓練の連絡 のメンバーと設定").click()
    page.get_by_role("heading", name="防災訓練の連絡").wait_for(timeout=WAIT)
    # The directory offers who may join: 田中 is there, the members are not.
    assert page.locator("#room-add-choices option[value=tanaka]").count() == 1
    assert page.locator("#room-add-choices option[value=suzuki]").count() == 0
    page.get_by_label("追加する人（ログイン名・名簿から選べます）").fill("tanaka")
    page.get_by_role("button", name="追加する", exact=True).click()
    assert "これまでのやりとりもすべて読める" in page.get_by_role("dialog").inner_text()
    confirm(admin)
    page.locator(".room-result", has_text="田中 一郎（tanaka）を追加しました").wait_for(timeout=WAIT)
    assert page.get_by_role("heading", name="メンバー（3 人）").is_visible()
    admin.shot("admin-room-member-added-desktop")
    if AXE.exists():
        found += accessibility(admin, "admin-room-desktop")

    # Live on the clerk's page: the room appears in their list without a reload.
    clerk.page.get_by_role("button", name=re.compile("防災訓練の連絡")).wait_for(timeout=WAIT)
    clerk.shot("admin-room-appears-for-the-member-phone")

    page.get_by_role("button", name="アーカイブする").click()
    confirm(admin)
    page.locator(".room-result", has_text="「防災訓練の連絡」をアーカイブしました").wait_for(timeout=WAIT)
    assert page.locator("h3 .archived-tag").is_visible()
    assert page.get_by_label("追加する人（ログイン名・名簿から選べます）").count() == 0
    admin.shot("admin-room-archived-desktop")
    # The member's page marks it archived, live, and offers no sending in it.
    item = clerk.page.get_by_role("button", name=re.compile("防災訓練の連絡（アーカイブ済み）"))
    item.wait_for(timeout=WAIT)
    item.click()
    box = clerk.page.get_by_label("メッセージ", exact=True)
    box.wait_for(timeout=WAIT)
    assert box.is_disabled() and clerk.page.get_by_role("button", name="送信").is_disabled()
    # An empty archived talk says why nothing can be sent, not "send the first one".
    clerk.page.get_by_text("アーカイブされたトークのため、送信はできません").wait_for(timeout=WAIT)
    assert clerk.page.get_by_text("最初のメッセージを送りましょう").count() == 0
    clerk.shot("archived-room-member-phone")
    reply = r.request_sync("lgwan", "POST", f"/api/v1/rooms/{room['id']}/messages",
                           token=admin_token, json={"body": "訓練は中止", "client_id": "c-admin-rooms-1"})
    assert reply.status == 403 and reply.json()["error"]["code"] == "room_archived"
    page.get_by_role("button", name="← ルーム一覧").click()
    page.get_by_label("状態").select_option("archived")
    assert page.locator(".admin-rooms > li").filter(has_text="防災訓練の連絡").count() == 1
    page.get_by_role("button", name="防災訓練の連絡 のメンバーと設定").click()
    page.get_by_role("button", name="アーカイブから戻す").click()
    confirm(admin)
    page.locator(".room-result", has_text="アーカイブから戻しました").wait_for(timeout=WAIT)
    # Live in the talk the member has open: sending is back, and the empty talk
    # invites a first message again.
    clerk.page.locator(".toast", has_text="アーカイブが解除されました").wait_for(timeout=WAIT)
    assert box.is_enabled()
    clerk.page.get_by_text("最初のメッセージを送りましょう").wait_for(timeout=WAIT)
    assert clerk.page.get_by_text("アーカイブされたトークのため").count() == 0
    clerk.shot("unarchived-room-member-phone")
    finish(clerk)

    # Each change is in the audit log with this admin as the actor.
    entries = api(r, "lgwan", "GET", "/api/v1/admin/audit?limit=1000", admin_token)["entries"]
    mine = [(e["action"], e["actor"]) for e in entries if e["subject"] == room["id"]]
    for action in ("room.member_added", "room.archived", "room.unarchived"):
        assert (action, people.admin["id"]) in mine, (action, mine)

    # ワンタイムコード for 田中, then a login from the internet with the app's code.
    page.get_by_role("tab", name="アカウント").click()
    row = page.locator("tr", has_text="tanaka")
    row.get_by_role("button", name="ワンタイムコード設定").click()
    assert "置き換わり" in page.get_by_role("dialog").inner_text()
    page.get_by_role("dialog").get_by_role("button", name="はい").click()
    shown = page.get_by_role("dialog", name="ワンタイムコードの設定")
    key = shown.locator(".totp-secret code").inner_text(timeout=WAIT)
    assert re.fullmatch(r"([A-Z2-7]{4} )*[A-Z2-7]{1,4}", key), key  # groups of four
    assert "二度と表示されません" in shown.inner_text()
    assert shown.locator(".totp-uri code").inner_text().startswith("otpauth://totp/")
    admin.shot("admin-totp-desktop")
    without = r.request_sync("internet", "POST", "/api/v1/login",
                             json={"login": "tanaka", "password": PASSWORD})
    assert without.status == 401 and without.json()["error"]["code"] == "totp_required"
    with_code = r.request_sync("internet", "POST", "/api/v1/login",
                               json={"login": "tanaka", "password": PASSWORD, "totp": totp_now(key)})
    assert with_code.status == 200, with_code.body[:300]
    # Shown once: closed, it is nowhere on the page.
    shown.get_by_role("button", name="閉じる").click()
    shown.wait_for(state="detached")
    assert key not in page.locator("body").inner_text()
    page.wait_for_function("document.activeElement.textContent === 'ワンタイムコード設定'", timeout=WAIT)
    finish(admin)
    assert found == [], json.dumps(found, ensure_ascii=False, indent=1)


@pytest.mark.skipif(not AXE.exists(), reason="axe-core is not installed (npm ci in tests/web; .ci/bootstrap test does)")
def test_the_rooms_tab_and_the_one_time_code_on_a_phone_pass_axe(browser, server):
    r, people, admin_token = server
    api(r, "lgwan", "POST", "/api/v1/rooms", admin_token,
        {"name": "ひまわり保育園との連絡（電話のかわりに使う長めの名前）",
         "members": [people.staff["id"], people.partner["id"]]})
    w = open_admin(browser, r, people, PHONE, "メニュー（下）", axe=True)
    page = w.page
    found = accessibility(w, "admin-rooms-phone")
    w.shot("admin-rooms-phone")
    page.get_by_role("button", name=re.compile("ひまわり保育園との連絡.* のメンバーと設定")).click()
    page.get_by_role("heading", name=re.compile("メンバー（")).wait_for(timeout=WAIT)
    found += accessibility(w, "admin-room-phone")
    w.shot("admin-room-phone")
    # 鈴木 has the talk open at her desk while she is taken out of it.
    suzuki = open_page(browser, r, "lgwan", DESKTOP)
    log_in(suzuki, "suzuki")
    talk_to(suzuki, "ひまわり保育園との連絡")
    # The keyboard alone removes a member: Tab to 外す, Enter, then はい.
    remove = page.get_by_role("button", name="鈴木 花子（suzuki） を外す")
    remove.focus()
    page.keyboard.press("Enter")
    assert "このルームが見えなくなります" in page.get_by_role("dialog").inner_text()
    confirm(w)
    page.locator(".room-result", has_text="鈴木 花子（suzuki）を外しました").wait_for(timeout=WAIT)
    assert remove.count() == 0
    # Keyboard focus lands on the result, not lost with the button that went away.
    page.wait_for_function("document.activeElement.classList.contains('room-result')", timeout=WAIT)
    # Her page says so at once, closes the talk and drops the room from her list.
    suzuki.page.locator(".toast", has_text="のメンバーから外れました").wait_for(timeout=WAIT)
    assert suzuki.page.get_by_role("button", name=re.compile("ひまわり保育園との連絡")).count() == 0
    assert suzuki.page.locator(".talk-body").is_hidden()
    finish(suzuki)

    page.get_by_role("tab", name="アカウント").click()
    row = page.locator("tr", has_text="partner")
    row.get_by_role("button", name="ワンタイムコード設定").click()
    page.get_by_role("dialog").get_by_role("button", name="はい").click()
    shown = page.get_by_role("dialog", name="ワンタイムコードの設定")
    key = shown.locator(".totp-secret code").inner_text(timeout=WAIT)
    found += accessibility(w, "admin-totp-phone")
    w.shot("admin-totp-phone")
    # The key fits the phone's width (it wraps between groups, never off the screen).
    box = shown.locator(".totp-secret code").bounding_box()
    assert box is not None and box["x"] + box["width"] <= PHONE["width"]
    reply = r.request_sync("internet", "POST", "/api/v1/login",
                           json={"login": "partner", "password": PASSWORD, "totp": totp_now(key)})
    assert reply.status == 200, reply.body[:300]
    # Admins log in on LGWAN only, where no code is asked: they are not offered one.
    assert page.locator("tr", has_text="admin").get_by_role("button", name="ワンタイムコード設定").count() == 0
    finish(w)
    assert found == [], json.dumps(found, ensure_ascii=False, indent=1)
