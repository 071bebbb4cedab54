"""Working together in the web client: stamps and reactions, replies, mentions, edits
and deletions seen live by the other side (an LGWAN clerk at a desk and an internet
partner on a phone), search with the match marked, the forced password change and
the settings, keyboard-only use, the phone's bottom tabs, and axe-core's check of
every main screen."""

from __future__ import annotations

import datetime
import re

import pytest

from tests.web.conftest import (AXE, DESKTOP, PASSWORD, PHONE, accessibility, api, finish,
                                log_in, login_token, message, open_page, talk_to)




def menu(w, text: str, action: str) -> None:
    message(w, text).locator(".msg-menu").click()
    w.page.get_by_role("dialog").get_by_role("button", name=action, exact=True).click()


def pick_stamp(w, label: str) -> None:
    w.page.get_by_role("dialog").get_by_role("button", name=label, exact=True).click()


def test_reactions_replies_mentions_edits_and_deletes_reach_the_other_side_live(browser, server):
    r, people, admin_token = server
    api(r, "lgwan", "POST", "/api/v1/rooms", admin_token,
        {"name": "防災訓練 調整", "members": [people.staff["id"], people.partner["id"]]})
    clerk = open_page(browser, r, "lgwan")
    log_in(clerk, "suzuki")
    partner = open_page(browser, r, "internet", PHONE)
    log_in(partner, "partner")
    talk_to(clerk, "防災訓練 調整")
    talk_to(partner, "防災訓練 調整")

    box = clerk.page.get_by_label("メッセージ", exact=True)
    box.fill("明日の会議資料を確認してください")
    box.press("Enter")
    message(partner, "明日の会議資料").wait_for()

    # The partner reacts with 了解; the clerk sees it at once and adds the same stamp.
    menu(partner, "明日の会議資料", "リアクション")
    partner.page.get_by_role("dialog").get_by_role("button", name="了解", exact=True).wait_for()
    partner.shot("stamp-picker-phone")
    pick_stamp(partner, "了解")
    chip = message(clerk, "明日の会議資料").locator(".reaction", has_text="了解")
    chip.wait_for()
    assert chip.get_attribute("aria-pressed") == "false"
    assert chip.locator(".reaction-count").inner_text() == "1"
    chip.click()
    other = message(partner, "明日の会議資料").locator(".reaction", has_text="了解")
    other.locator(".reaction-count", has_text="2").wait_for()
    assert other.get_attribute("aria-pressed") == "true"
    # Who reacted.
    message(clerk, "明日の会議資料").get_by_role("button", name="リアクションした人を表示").click()
    dlg = clerk.page.get_by_role("dialog")
    dlg.get_by_text("佐藤（ひまわり保育園）").wait_for()
    assert "鈴木 花子（あなた）" in dlg.inner_text()
    dlg.get_by_role("button", name="閉じる").click()

    # A reply: the quote above the composer, then in the message on both sides.
    menu(partner, "明日の会議資料", "返信")
    partner.page.locator(".reply-bar", has_text="明日の会議資料").wait_for()
    partner_box = partner.page.get_by_label("メッセージ", exact=True)
    partner_box.fill("資料を確認しました。")
    partner_box.press("Enter")
    reply = message(clerk, "資料を確認しました。")
    reply.locator(".quote", has_text="明日の会議資料").wait_for()
    assert reply.locator(".quote-name").inner_text() == "鈴木 花子"  # whom it answers
    assert reply.locator(".sender").inner_text().startswith("佐藤（ひまわり保育園）")
    assert partner.page.locator(".reply-bar").is_hidden()

    # A stamp message, shown big.
    clerk.page.get_by_role("button", name="スタンプ", exact=True).click()
    pick_stamp(clerk, "ありがとう")
    partner.page.locator(".msg .stamp-big", has_text="ありがとう").wait_for()

    # A mention while the partner is on the room list: the @ badge, then the highlight.
    partner.page.get_by_role("button", name="トーク一覧").click()
    box.fill("当日は @par")
    clerk.page.get_by_role("option", name=re.compile("佐藤（ひまわり保育園）")).wait_for()
    box.press("Enter")  # chooses the suggestion, does not send
    assert box.input_value() == "当日は @partner "
    box.press_sequentially("さんが受付をお願いします")
    box.press("Enter")
    badge = partner.page.get_by_role("button", name=re.compile("防災訓練 調整.*あなたへのメンション 1 件"))
    badge.wait_for()
    assert badge.locator(".mention-badge").inner_text() == "@1"
    partner.shot("together-mention-badge-phone")
    badge.click()
    mentioned = message(partner, "受付をお願いします")
    mentioned.wait_for()
    assert "mentioned" in (mentioned.get_attribute("class") or "")
    assert mentioned.locator(".mention").inner_text() == "@partner"
    partner.page.get_by_role("button", name="トーク一覧").click()
    partner.page.get_by_role("button", name=re.compile("防災訓練 調整")).wait_for()
    assert partner.page.locator(".mention-badge").count() == 0
    partner.page.get_by_role("button", name=re.compile("防災訓練 調整")).click()

    # The clerk edits the first message and deletes the mention; the partner sees both.
    menu(clerk, "明日の会議資料", "編集")
    edit = clerk.page.get_by_role("dialog").get_by_label("メッセージ", exact=True)
    edit.fill("明後日の会議資料を確認してください")
    clerk.page.get_by_role("button", name="保存する").click()
    edited = message(partner, "明後日の会議資料")
    edited.locator(".edited", has_text="編集済み").wait_for()
    assert edited.locator(".reaction").count() == 1  # reactions stay on an edit
    menu(clerk, "受付をお願いします", "削除")
    clerk.page.get_by_role("dialog").get_by_role("button", name="削除する").click()
    partner.page.get_by_text("このメッセージは削除されました").wait_for()
    assert partner.page.locator(".msg", has_text="受付をお願いします").count() == 0
    # The sender can read what it said before.
    menu(clerk, "明後日の会議資料", "編集履歴")
    clerk.page.get_by_role("dialog").get_by_text("明日の会議資料を確認してください").wait_for()
    clerk.page.get_by_role("dialog").get_by_role("button", name="閉じる").click()
    # The partner cannot edit or delete the clerk's message.
    message(partner, "明後日の会議資料").locator(".msg-menu").click()
    actions = partner.page.get_by_role("dialog").get_by_role("button").all_inner_texts()
    assert "編集" not in actions and "削除" not in actions
    partner.page.keyboard.press("Escape")
    clerk.shot("together-desktop")
    partner.shot("together-phone")
    finish(partner)
    finish(clerk)


def test_search_finds_a_two_character_japanese_query_and_marks_every_match(browser, server):
    r, people, admin_token = server
    room = api(r, "lgwan", "POST", "/api/v1/rooms", admin_token,
               {"name": "危機管理課", "members": [people.staff["id"], people.staff2["id"]]})
    other = api(r, "lgwan", "POST", "/api/v1/rooms", admin_token,
                {"name": "総務課", "members": [people.staff["id"]]})
    token = login_token(r, "lgwan", "tanaka", PASSWORD)
    for body in ("🙇 防災訓練のお知らせ：<b>防災</b>倉庫の点検も", "昼食は各自でお願いします"):
        api(r, "lgwan", "POST", f"/api/v1/rooms/{room['id']}/messages", token, {"body": body})
    api(r, "lgwan", "POST", f"/api/v1/rooms/{other['id']}/messages", admin_token,
        {"body": "防災無線の更新について"})
    w = open_page(browser, r, "lgwan")
    log_in(w, "suzuki")
    page = w.page
    page.get_by_role("navigation", name="メニュー", exact=True).get_by_role("button", name="検索").click()
    page.get_by_label("検索する言葉（2 文字以上）").fill("防災")
    page.get_by_label("検索する言葉（2 文字以上）").press("Enter")
    page.get_by_text("2 件見つかりました").wait_for()
    results = page.locator(".result")
    first = results.filter(has_text="防災訓練")
    # Both matches are marked, after an emoji (offsets are code points), and the
    # markup in the message is text.
    assert first.locator("mark").all_inner_texts() == ["防災", "防災"]
    assert "<b>防災</b>倉庫" in first.locator(".snippet").inner_text()
    assert page.locator(".snippet b").count() == 0
    assert "田中 一郎" in first.inner_text() and "危機管理課" in first.inner_text()
    w.shot("search-desktop")
    # Filters: one room, then one person.
    page.get_by_text("絞り込み（トーク・人・日付）").click()
    page.get_by_role("combobox", name="トーク").select_option(label="総務課")
    page.get_by_role("button", name="検索", exact=True).last.click()
    results.filter(has_text="防災訓練").wait_for(state="detached")
    page.get_by_text("1 件見つかりました").wait_for()
    assert "防災無線" in results.first.inner_text()
    page.get_by_role("combobox", name="トーク").select_option(label="すべてのトーク")
    page.get_by_label("送った人").select_option(label="田中 一郎")
    page.get_by_label("検索する言葉（2 文字以上）").press("Enter")
    results.filter(has_text="防災訓練").wait_for()
    page.get_by_text("1 件見つかりました").wait_for()
    assert results.count() == 1
    # Dates: nothing was written after today.
    tomorrow = page.evaluate("new Date(Date.now() + 864e5).toLocaleDateString('sv-SE')")
    page.get_by_label("送った人").select_option(label="すべての人")
    page.get_by_label("この日から").fill(tomorrow)
    page.get_by_label("検索する言葉（2 文字以上）").press("Enter")
    page.get_by_text("見つかりませんでした").wait_for()
    page.get_by_label("この日から").fill("")
    page.get_by_label("この日まで").fill(tomorrow)
    page.get_by_label("送った人").select_option(label="田中 一郎")
    page.get_by_label("検索する言葉（2 文字以上）").press("Enter")
    results.filter(has_text="防災訓練").wait_for()
    # A result opens its talk at the message.
    results.first.click()
    page.locator(".msg.flash", has_text="防災訓練").wait_for()
    assert page.locator("#talk-title").inner_text() == "危機管理課"
    finish(w)


def test_an_admin_reset_forces_a_new_password_then_settings_change_size_and_send_key(browser, server):
    r, people, admin_token = server
    api(r, "lgwan", "POST", "/api/v1/rooms", admin_token,
        {"name": "送信キーの確認", "members": [people.staff2["id"]]})
    admin = open_page(browser, r, "lgwan")
    log_in(admin, "admin", people.admin_password)
    admin.page.get_by_role("navigation", name="メニュー", exact=True).get_by_role("button", name="管理").click()
    row = admin.page.locator("tr", has_text="tanaka")
    row.get_by_role("button", name="パスワード再設定").click()
    admin.page.get_by_role("button", name="はい").click()
    temporary = admin.page.locator(".secret code").inner_text()
    finish(admin)

    w = open_page(browser, r, "lgwan", PHONE)
    page = w.page
    page.get_by_label("ログイン名", exact=True).fill("tanaka")
    page.get_by_label("パスワード", exact=True).fill(temporary)
    page.get_by_role("button", name="ログイン").click()
    page.get_by_role("heading", name="パスワードの変更").wait_for()
    w.shot("forced-password-phone")
    page.get_by_label("今のパスワード").fill(temporary)
    page.get_by_label("新しいパスワード", exact=True).fill("short")
    page.get_by_label("新しいパスワード（確認）").fill("short")
    page.get_by_role("button", name="変更する").click()
    page.get_by_text("10 文字以上にしてください").wait_for()
    page.get_by_label("新しいパスワード", exact=True).fill("tanaka-new-password")
    page.get_by_label("新しいパスワード（確認）").fill("tanaka-new-password")
    page.get_by_role("button", name="変更する").click()
    page.locator(".topbar .logout").wait_for()
    # The old one no longer opens the account; the new one does.
    assert r.request_sync("lgwan", "POST", "/api/v1/login",
                          json={"login": "tanaka", "password": temporary}).status == 401
    login_token(r, "lgwan", "tanaka", "tanaka-new-password")

    # Settings, from the bottom tabs on a phone.
    tabs = page.get_by_role("navigation", name="メニュー（下）")
    assert tabs.is_visible()
    assert page.get_by_role("navigation", name="メニュー", exact=True).is_hidden()
    tabs.get_by_role("button", name="設定").click()
    size = page.evaluate("parseFloat(getComputedStyle(document.documentElement).fontSize)")
    page.get_by_label("とても大きい").check()
    assert page.evaluate("parseFloat(getComputedStyle(document.documentElement).fontSize)") > size
    page.get_by_label("Ctrl + Enter で送信（Enter で改行）").check()
    w.shot("settings-phone")
    page.get_by_label("今のパスワード").fill("tanaka-new-password")
    page.get_by_label("新しいパスワード", exact=True).fill("tanaka-third-password")
    page.get_by_label("新しいパスワード（確認）").fill("tanaka-third-password")
    page.get_by_role("button", name="パスワードを変更する").click()
    page.get_by_text("パスワードを変更しました").wait_for()
    login_token(r, "lgwan", "tanaka", "tanaka-third-password")

    # With Ctrl+Enter chosen, Enter breaks the line and Ctrl+Enter sends.
    tabs.get_by_role("button", name="トーク").click()
    talk_to(w, "送信キーの確認")
    box = page.get_by_label("メッセージ", exact=True)
    box.fill("一行目")
    box.press("Enter")
    box.press_sequentially("二行目")
    page.wait_for_timeout(200)
    assert page.locator(".msg.own", has_text="二行目").count() == 0
    box.press("Control+Enter")
    page.locator(".msg.own:not(.sending) .text", has_text="二行目").wait_for()
    assert message(w, "二行目").locator(".text").inner_text() == "一行目\n二行目"
    # The settings outlive a reload, and nothing anyone wrote is in storage.
    page.reload()
    page.locator(".topbar .logout").wait_for()
    assert page.evaluate("document.documentElement.dataset.font") == "xlarge"
    stored = page.evaluate("JSON.stringify(Object.assign({}, localStorage))")
    assert "一行目" not in stored and "fontSize" in stored
    finish(w)


def test_an_admin_of_the_room_deletes_someone_elses_message_and_the_sender_sees_it(browser, server):
    r, people, admin_token = server
    room = api(r, "lgwan", "POST", "/api/v1/rooms", admin_token,
               {"name": "管理者の削除", "members": [people.staff["id"]]})
    token = login_token(r, "lgwan", "suzuki", PASSWORD)
    api(r, "lgwan", "POST", f"/api/v1/rooms/{room['id']}/messages", token,
        {"body": "誤って投稿した個人情報"})
    clerk = open_page(browser, r, "lgwan")
    log_in(clerk, "suzuki")
    talk_to(clerk, "管理者の削除")
    admin = open_page(browser, r, "lgwan")
    log_in(admin, "admin", people.admin_password)
    talk_to(admin, "管理者の削除")
    message(admin, "誤って投稿した").locator(".msg-menu").click()
    actions = admin.page.get_by_role("dialog").get_by_role("button").all_inner_texts()
    assert "編集" not in actions
    admin.page.get_by_role("dialog").get_by_role("button", name="削除（管理者）").click()
    dlg = admin.page.get_by_role("dialog")
    assert "監査ログに記録されます" in dlg.inner_text()
    dlg.get_by_role("button", name="削除する").click()
    clerk.page.get_by_text("このメッセージは削除されました").wait_for()
    # What it said stays readable to the admin, in its versions.
    menu(admin, "このメッセージは削除されました", "編集履歴")
    admin.page.get_by_role("dialog").get_by_text("誤って投稿した個人情報").wait_for()
    finish(admin)
    finish(clerk)


def test_keyboard_only_a_message_is_sent_and_a_stamp_put_on_it_and_taken_back(browser, server):
    r, people, admin_token = server
    api(r, "lgwan", "POST", "/api/v1/rooms", admin_token,
        {"name": "キーボード確認", "members": [people.staff["id"]]})
    w = open_page(browser, r, "lgwan")
    log_in(w, "suzuki")
    page = w.page
    kb = page.keyboard
    page.get_by_role("button", name=re.compile("キーボード確認")).focus()
    kb.press("Enter")  # opens the talk; the composer takes the focus
    page.locator("#composer-text:focus").wait_for()
    kb.type("キーボードだけで送ります")
    kb.press("Enter")
    page.locator(".msg.own:not(.sending)", has_text="キーボードだけで").wait_for()
    # Back from the composer: ＋, スタンプ, 添付, then the newest message's 「…」.
    for _ in range(4):
        kb.press("Shift+Tab")
    assert page.evaluate("document.activeElement.className") == "msg-menu"
    kb.press("Enter")
    kb.press("Tab")  # 返信 -> リアクション
    kb.press("Enter")
    kb.press("ArrowRight")  # 了解 -> ありがとう
    kb.press("Enter")
    chip = page.locator(".reaction", has_text="ありがとう")
    chip.wait_for()
    assert chip.get_attribute("aria-pressed") == "true"
    chip.focus()
    kb.press("Space")
    chip.wait_for(state="detached")
    finish(w)


@pytest.mark.skipif(not AXE.exists(), reason="axe-core is not installed (npm ci in tests/web; .ci/bootstrap test does)")
def test_axe_finds_nothing_serious_on_the_main_screens_on_a_phone_and_a_desk(browser, server):
    r, people, admin_token = server
    room = api(r, "lgwan", "POST", "/api/v1/rooms", admin_token,
               {"name": "アクセシビリティ確認", "members": [people.staff["id"], people.partner["id"]]})
    token = login_token(r, "internet", "partner", PASSWORD)
    first = api(r, "internet", "POST", f"/api/v1/rooms/{room['id']}/messages", token,
                {"body": "@suzuki 写真を送ります。https://example.jp/a も見てください"})
    api(r, "internet", "PUT", f"/api/v1/messages/{first['id']}/reactions/1", token)
    api(r, "internet", "POST", f"/api/v1/rooms/{room['id']}/messages", token,
        {"body": "", "stamp": "2", "reply_to": first["id"]})
    found: list[str] = []
    for zone, login, password, viewport, tag in (
            ("lgwan", "admin", people.admin_password, DESKTOP, "desktop"),
            ("lgwan", "suzuki", PASSWORD, PHONE, "phone")):
        w = open_page(browser, r, zone, viewport, axe=True)
        page = w.page
        page.get_by_role("heading", name="架け橋").wait_for()
        found += accessibility(w, f"login-{tag}")
        log_in(w, login, password)
        found += accessibility(w, f"rooms-{tag}")
        if login == "suzuki":
            talk_to(w, "アクセシビリティ確認")
            page.locator(".stamp-big").wait_for()
            found += accessibility(w, f"talk-{tag}")
            w.shot(f"a11y-talk-{tag}")
            page.get_by_label("メッセージ", exact=True).fill("@")
            page.get_by_role("listbox").wait_for()
            found += accessibility(w, f"mention-list-{tag}")
            page.get_by_label("メッセージ", exact=True).fill("")
            page.get_by_role("button", name="トーク一覧").click()
        nav = page.get_by_role("navigation", name="メニュー（下）" if tag == "phone" else "メニュー")
        nav.get_by_role("button", name="検索").click()
        page.get_by_label("検索する言葉（2 文字以上）").fill("写真")
        page.get_by_label("検索する言葉（2 文字以上）").press("Enter")
        page.locator(".result, .search-page [role=status]:has-text('見つかりませんでした')").first.wait_for()
        found += accessibility(w, f"search-{tag}")
        w.shot(f"a11y-search-{tag}")
        nav.get_by_role("button", name="設定").click()
        found += accessibility(w, f"settings-{tag}")
        w.shot(f"a11y-settings-{tag}")
        if login == "admin":
            nav.get_by_role("button", name="管理").click()
            page.locator("tbody tr").first.wait_for()
            found += accessibility(w, "admin-desktop")
            page.get_by_role("tab", name="監査ログ").click()
            page.locator("table.audit tbody tr").first.wait_for()
            found += accessibility(w, "audit-desktop")
        finish(w)
    assert found == []


def test_an_admin_adds_an_outside_partner_with_its_staff_sponsor_and_last_day(browser, server):
    r, people, admin_token = server
    admin = open_page(browser, r, "lgwan", DESKTOP)
    log_in(admin, "admin", people.admin_password)
    page = admin.page
    page.get_by_role("navigation", name="メニュー", exact=True).get_by_role("button", name="管理").click()
    page.get_by_label("ログイン名", exact=True).fill("jichikai")
    page.get_by_label("表示名", exact=True).fill("山本（第三自治会）")
    # The sponsor and the last day are asked only for an outside partner.
    assert page.get_by_label("担当職員").is_hidden()
    page.get_by_label("種別", exact=True).select_option("external")
    page.get_by_label("担当職員").select_option(people.staff["id"])
    last_day = (datetime.date.today() + datetime.timedelta(days=120)).isoformat()
    page.get_by_label("利用期限（空欄なら1年後）").fill(last_day)
    page.get_by_role("button", name="追加する").click()
    page.locator(".secret code").wait_for()
    admin.shot("admin-external-desktop")
    finish(admin)
    made = [a for a in api(r, "lgwan", "GET", "/api/v1/admin/external-accounts", admin_token)
            ["accounts"] if a["login"] == "jichikai"]
    assert made and made[0]["sponsor"] == people.staff["id"]
    assert made[0]["expires_at"] == last_day
