"""アンケート, 日程調整 and 参集確認 in the web client (web/polls.js, schedules.js,
rollcalls.js, gather.js): made from the composer's 「＋」 with relayd's refusals shown
and nothing typed lost, answered by an LGWAN clerk at a desk and an internet partner on
a phone at once, each side's card changing live from the stream; keyboard use, and
axe-core's check of the cards and their dialogs on a phone and a desk."""

from __future__ import annotations

import re

import pytest

from tests.web.conftest import (AXE, DESKTOP, PASSWORD, PHONE, accessibility, api, finish,
                                log_in, login_token, open_page)

LONG = 30000  # ms: two or three browsers and relayd share 2 busy cores


def talk_to(w, room_name: str) -> None:
    w.page.get_by_role("button", name=re.compile(re.escape(room_name))).click()
    w.page.get_by_label("メッセージ", exact=True).wait_for()


def plus(w, action: str) -> None:
    """「＋」, then one of its actions."""
    w.page.get_by_role("button", name="その他の投稿（アンケート・日程調整など）").click()
    w.page.get_by_role("dialog").get_by_role("button", name=action, exact=True).click()


def card(w, kind: str, title: str):
    """The card of a poll / schedule / rollcall with this title, once its view is in."""
    page = w.page
    return page.locator(f".gather-{kind}").filter(has=page.locator(".g-title", has_text=title)).last


def option(c, label: str):
    return c.locator(".g-opt").filter(has=c.page.locator(".g-opt-label", has_text=label))


def test_a_poll_made_at_a_desk_is_voted_on_a_phone_and_the_counts_change_live(browser, server):
    r, people, admin_token = server
    api(r, "lgwan", "POST", "/api/v1/rooms", admin_token,
        {"name": "アンケート確認", "members": [people.staff["id"], people.partner["id"]]})
    clerk = open_page(browser, r, "lgwan")
    clerk.allowed += ("status of 400 (Bad Request)",)  # the refused duplicate, on purpose
    log_in(clerk, "suzuki")
    partner = open_page(browser, r, "internet", PHONE)
    log_in(partner, "partner")
    talk_to(clerk, "アンケート確認")
    talk_to(partner, "アンケート確認")

    page = clerk.page
    plus(clerk, "アンケート")
    dlg = page.get_by_role("dialog", name="アンケートを作る")
    dlg.get_by_role("button", name="作成する").click()
    dlg.get_by_text("質問を入力してください。").wait_for()
    dlg.get_by_label("質問").fill("防災訓練の昼食はどうしますか")
    dlg.get_by_label("選択肢 1", exact=True).fill("弁当を注文")
    dlg.get_by_label("選択肢 2", exact=True).fill("各自で用意")
    dlg.get_by_role("button", name="＋ 選択肢を追加").click()
    dlg.get_by_label("選択肢 3", exact=True).fill("弁当を注文 ")  # the same after normalising
    dlg.get_by_label("複数選択できるようにする").check()
    dlg.get_by_role("button", name="作成する").click()
    # relayd refuses the duplicate: its words, the option marked, nothing typed lost.
    dlg.get_by_text("同じ選択肢が 2 つあります").wait_for()
    third = dlg.get_by_label("選択肢 3", exact=True)
    assert third.get_attribute("aria-invalid") == "true"
    assert dlg.get_by_label("質問").input_value() == "防災訓練の昼食はどうしますか"
    assert dlg.get_by_label("複数選択できるようにする").is_checked()
    # Back to one choice; the third option goes.
    dlg.get_by_label("複数選択できるようにする").uncheck()
    dlg.get_by_role("button", name="選択肢 3 を削除").click()
    assert dlg.get_by_label("選択肢 3", exact=True).count() == 0
    clerk.shot("poll-create-desktop")
    dlg.get_by_role("button", name="作成する").click()
    dlg.wait_for(state="detached")

    mine = card(clerk, "poll", "防災訓練の昼食")
    theirs = card(partner, "poll", "防災訓練の昼食")
    theirs.get_by_role("button", name="投票する").wait_for(timeout=LONG)
    assert theirs.locator(".g-kind").inner_text() == "アンケート"
    # Voting without a choice says what to do.
    theirs.get_by_role("button", name="投票する").click()
    theirs.get_by_text("選択肢を選んでから").wait_for()
    theirs.get_by_role("radio", name=re.compile("各自で用意")).check()
    theirs.get_by_role("button", name="投票する").click()
    option(mine, "各自で用意").locator(".g-count", has_text="1 票").wait_for(timeout=LONG)
    assert option(mine, "弁当を注文").locator(".g-count").inner_text() == "0 票"
    assert "1 人が投票" in mine.inner_text()
    theirs.get_by_role("button", name="投票を変更する").wait_for()
    assert option(theirs, "各自で用意").locator(".g-you").count() == 1
    # The partner changes its mind; the clerk's counts follow.
    theirs.get_by_role("radio", name=re.compile("弁当を注文")).check()
    theirs.get_by_role("button", name="投票を変更する").click()
    option(mine, "弁当を注文").locator(".g-count", has_text="1 票").wait_for(timeout=LONG)
    assert option(mine, "各自で用意").locator(".g-count").inner_text() == "0 票"
    # The clerk votes too; who voted what, on a tap.
    mine.get_by_role("radio", name=re.compile("弁当を注文")).check()
    mine.get_by_role("button", name="投票する").click()
    option(theirs, "弁当を注文").locator(".g-count", has_text="2 票").wait_for(timeout=LONG)
    partner.shot("poll-card-phone")
    mine.get_by_role("button", name="投票した人").click()
    who = page.get_by_role("dialog", name="投票した人")
    who.get_by_text("佐藤（ひまわり保育園）").wait_for()
    assert "鈴木 花子（あなた）" in who.inner_text()
    assert "弁当を注文（2 人）" in who.inner_text()
    who.get_by_role("button", name="閉じる").click()
    # Only the creator closes it; then nobody votes.
    assert theirs.get_by_role("button", name="締め切る").count() == 0
    mine.get_by_role("button", name="締め切る").click()
    page.get_by_role("dialog", name="アンケートを締め切る").get_by_role("button", name="締め切る").click()
    theirs.get_by_text("締め切りました").wait_for(timeout=LONG)
    assert theirs.get_by_role("radio", name=re.compile("弁当を注文")).is_disabled()
    assert theirs.get_by_role("button", name="投票を変更する").count() == 0
    mine.get_by_text("締め切りました").wait_for()
    clerk.shot("poll-card-desktop")
    partner.shot("poll-closed-phone")
    finish(partner)
    finish(clerk)
