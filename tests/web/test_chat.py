"""A clerk on LGWAN and a partner on the internet use the web client at once."""

from __future__ import annotations

import re

from tests.web.conftest import DESKTOP, PHONE, api, finish, log_in, open_page


def test_login_screen_then_a_talk_between_lgwan_staff_and_an_internet_partner(browser, server):
    r, people, admin_token = server
    room = api(r, "lgwan", "POST", "/api/v1/rooms", admin_token,
               {"name": "子育て支援課 連絡", "members": [people.staff["id"], people.partner["id"]]})
    clerk = open_page(browser, r, "lgwan")
    clerk.page.get_by_role("heading", name="架け橋").wait_for()
    clerk.shot("login-desktop")
    log_in(clerk, "suzuki")
    partner = open_page(browser, r, "internet", PHONE)
    partner.shot("login-phone")
    log_in(partner, "partner")

    clerk.page.get_by_role("button", name=re.compile("子育て支援課 連絡")).click()
    clerk.page.get_by_text("庁外の参加者がいます").wait_for()
    box = clerk.page.get_by_label("メッセージ", exact=True)
    box.fill("明日の避難訓練は 10 時からです。<b>よろしく</b>")
    box.press("Enter")
    clerk.page.locator(".msg.own .text", has_text="明日の避難訓練").wait_for()

    # The partner's list shows the unread badge, then the talk.
    item = partner.page.get_by_role("button", name=re.compile("子育て支援課 連絡.*未読 1 件"))
    item.wait_for()
    partner.shot("rooms-phone")
    item.click()
    text = partner.page.locator(".msg .text", has_text="明日の避難訓練")
    text.wait_for()
    # User text is text: the markup shows as typed and makes no element.
    assert "<b>よろしく</b>" in text.inner_text()
    assert partner.page.locator(".msg .text b").count() == 0
    # The partner cannot browse the office's directory, but knows who wrote to it.
    assert partner.page.locator(".msg", has_text="明日の避難訓練").locator(".sender").inner_text() \
        .startswith("鈴木 花子")
    # The clerk sees 既読 1 as soon as the partner has read it.
    clerk.page.get_by_role("button", name=re.compile("既読 1 人")).wait_for()
    partner.page.get_by_label("メッセージ", exact=True).fill("承知しました。")
    partner.page.get_by_role("button", name="送信").click()
    clerk.page.locator(".msg .text", has_text="承知しました。").wait_for()
    partner.shot("talk-phone")
    clerk.shot("talk-desktop")

    # Who has read it.
    clerk.page.get_by_role("button", name=re.compile("既読 1 人")).click()
    dlg = clerk.page.get_by_role("dialog")
    dlg.get_by_text("佐藤（ひまわり保育園）").wait_for()
    assert "未読 1 人" in dlg.inner_text()  # the admin has not read it
    dlg.get_by_role("button", name="閉じる").click()
    finish(partner)
    finish(clerk)
