"""アンケート, 日程調整 and 参集確認 in the web client (web/polls.js, schedules.js,
rollcalls.js, gather.js): made from the composer's 「＋」 with relayd's refusals shown
and nothing typed lost, answered by an LGWAN clerk at a desk and an internet partner on
a phone at once, each side's card changing live from the stream; keyboard use, and
axe-core's check of the cards and their dialogs on a phone and a desk."""

from __future__ import annotations

import datetime
import re

import pytest

from tests.web.conftest import (AXE, DESKTOP, PASSWORD, PHONE, accessibility, api, finish,
                                log_in, login_token, open_page, plus, talk_to)

LONG = 30000  # ms: two or three browsers and relayd share 2 busy cores




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
    fetched: dict[str, list[str]] = {"clerk": [], "partner": []}
    for who, w in (("clerk", clerk), ("partner", partner)):
        w.page.on("request", lambda req, who=who: fetched[who].append(req.url)
                  if req.method == "GET" and "/api/v1/polls/" in req.url else None)

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
    # Each page fetched the poll's view once: every change after came from the stream.
    assert len(fetched["clerk"]) == 1 and len(fetched["partner"]) == 1, fetched
    clerk.shot("poll-card-desktop")
    partner.shot("poll-closed-phone")
    finish(partner)
    finish(clerk)


def row(c, slot_text: str):
    return c.locator("tbody tr").filter(has=c.page.locator("th", has_text=slot_text))


def test_a_schedule_is_answered_by_two_people_and_decided_and_both_see_it_live(browser, server):
    r, people, admin_token = server
    api(r, "lgwan", "POST", "/api/v1/rooms", admin_token,
        {"name": "日程調整確認", "members": [people.staff["id"], people.partner["id"]]})
    clerk = open_page(browser, r, "lgwan")
    clerk.allowed += ("status of 400 (Bad Request)",)  # the refused slot, on purpose
    log_in(clerk, "suzuki")
    partner = open_page(browser, r, "internet", PHONE)
    log_in(partner, "partner")
    talk_to(clerk, "日程調整確認")
    talk_to(partner, "日程調整確認")

    page = clerk.page
    plus(clerk, "日程調整")
    dlg = page.get_by_role("dialog", name="日程調整を作る")
    dlg.get_by_label("タイトル").fill("防災訓練の打合せ")
    dlg.get_by_label("日付").fill("2027-01-20")
    dlg.get_by_label("開始").fill("10:00")
    dlg.get_by_label("終了（任意）").fill("11:00")
    dlg.get_by_label("場所・メモ（任意）").fill("第1会議室")
    dlg.get_by_role("button", name="＋ 候補を追加").click()
    second = dlg.locator(".g-slot").nth(1)
    # The next day at the same times, ready to change.
    assert second.get_by_label("日付").input_value() == "2027-01-21"
    assert second.get_by_label("開始").input_value() == "10:00"
    second.get_by_label("開始").fill("14:00")
    second.get_by_label("終了（任意）").fill("13:00")  # before its start: relayd says no
    dlg.get_by_role("button", name="作成する").click()
    dlg.get_by_text("終了時刻は開始時刻より後にしてください。").wait_for()
    assert second.get_by_label("終了（任意）").get_attribute("aria-invalid") == "true"
    assert dlg.get_by_label("タイトル").input_value() == "防災訓練の打合せ"
    assert dlg.locator(".g-slot").first.get_by_label("場所・メモ（任意）").input_value() == "第1会議室"
    second.get_by_label("終了（任意）").fill("15:30")
    dlg.get_by_label("回答の締切（任意）").fill("2027-01-19T17:00")
    clerk.shot("schedule-create-desktop")
    dlg.get_by_role("button", name="作成する").click()
    dlg.wait_for(state="detached")

    mine = card(clerk, "schedule", "防災訓練の打合せ")
    theirs = card(partner, "schedule", "防災訓練の打合せ")
    mine.get_by_role("button", name="回答する").wait_for(timeout=LONG)
    assert row(mine, "1月20日(水) 10:00〜11:00").locator(".g-slot-label").inner_text() == "第1会議室"
    assert "締切 2027年1月19日(火) 17:00" in mine.inner_text()
    # The clerk: ○ for the 20th, × for the 21st.
    mine.get_by_role("button", name="回答する").click()
    ans = page.get_by_role("dialog", name="日程調整に回答")
    ans.get_by_role("group", name=re.compile("1月20日")).get_by_label("参加できる").check()
    ans.get_by_role("group", name=re.compile("1月21日")).get_by_label("参加できない").check()
    ans.get_by_role("button", name="回答する").click()
    ans.wait_for(state="detached")
    # The partner sees the clerk's column arrive, then answers ○ and △ with a comment.
    row(theirs, "1月20日").locator("td").first.filter(has_text="1").wait_for(timeout=LONG)
    theirs.get_by_role("columnheader", name=re.compile("メンバー|鈴木")).wait_for()
    theirs.get_by_role("button", name="回答する").click()
    pans = partner.page.get_by_role("dialog", name="日程調整に回答")
    pans.get_by_role("group", name=re.compile("1月20日")).get_by_label("参加できる").check()
    pans.get_by_role("group", name=re.compile("1月21日")).get_by_label("未定").check()
    pans.get_by_label("コメント（任意）").fill("21日は午後なら調整できます")
    partner.shot("schedule-answer-phone")
    pans.get_by_role("button", name="回答する").click()
    pans.wait_for(state="detached")
    theirs.get_by_role("button", name="回答を変更する").wait_for()
    # At the desk: the counts, the partner's column and comment, live.
    first = row(mine, "1月20日")
    first.locator("td").nth(0).filter(has_text="2").wait_for(timeout=LONG)
    assert [t.strip() for t in first.locator("td").all_inner_texts()][:3] == ["2", "0", "0"]
    assert [t.strip() for t in row(mine, "1月21日").locator("td").all_inner_texts()][:3] == ["0", "1", "1"]
    assert mine.get_by_role("columnheader", name="佐藤（ひまわり保育園）").count() == 1
    assert "21日は午後なら調整できます" in mine.locator(".g-comments").inner_text()
    assert "2 人が回答" in mine.inner_text()
    clerk.shot("schedule-card-desktop")
    partner.shot("schedule-card-phone")
    # Only the creator decides; the decision reaches the partner with the room's message.
    assert theirs.get_by_role("button", name="日程を決定する").count() == 0
    mine.get_by_role("button", name="日程を決定する").click()
    dec = page.get_by_role("dialog", name="日程を決定する")
    assert dec.get_by_role("radio", name=re.compile("1月20日")).is_checked()  # the most ○
    dec.get_by_role("button", name="この日程に決定する").click()
    theirs.locator(".g-banner", has_text="決定しました").wait_for(timeout=LONG)
    assert "1月20日(水) 10:00〜11:00" in theirs.locator(".g-banner").inner_text()
    assert row(theirs, "1月20日").locator(".g-chosen").inner_text() == "決定"
    assert theirs.get_by_role("button", name=re.compile("回答")).count() == 0
    partner.page.locator(".msg", has_text="日程が決まりました").wait_for(timeout=LONG)
    mine.locator(".g-banner", has_text="決定しました").wait_for()
    clerk.shot("schedule-decided-desktop")
    partner.shot("schedule-decided-phone")
    finish(partner)
    finish(clerk)


def test_a_roll_call_fills_the_others_see_the_notice_and_the_creator_reminds_who_has_not_answered(
        browser, server):
    r, people, admin_token = server
    # Made by the clerk, so the admin is not a member: three people.
    api(r, "lgwan", "POST", "/api/v1/rooms", login_token(r, "lgwan", "suzuki", PASSWORD),
        {"name": "参集確認テスト", "members": [people.staff2["id"], people.partner["id"]]})
    clerk = open_page(browser, r, "lgwan")
    log_in(clerk, "suzuki")
    partner = open_page(browser, r, "internet", PHONE)
    log_in(partner, "partner")
    colleague = open_page(browser, r, "lgwan", PHONE)
    log_in(colleague, "tanaka")
    for w in (clerk, partner, colleague):
        talk_to(w, "参集確認テスト")

    page = clerk.page
    plus(clerk, "参集確認")
    dlg = page.get_by_role("dialog", name="参集確認を作る")
    dlg.get_by_label("タイトル").fill("大雨警報 本庁舎への参集")
    # The usual three answers are there to start with.
    assert [dlg.get_by_label(f"選択肢 {i}", exact=True).input_value() for i in (1, 2, 3)] == [
        "参集可", "遅れて参集", "参集不可"]
    # More than the room's three members: relayd's limit in words, the title kept.
    dlg.get_by_label("必要な人数（任意）").fill("5")
    dlg.get_by_role("button", name="緊急で送る").click()
    dlg.get_by_text("必要な人数は 1〜3 人にしてください。").wait_for()
    assert dlg.get_by_label("必要な人数（任意）").get_attribute("aria-invalid") == "true"
    assert dlg.get_by_label("タイトル").input_value() == "大雨警報 本庁舎への参集"
    dlg.get_by_label("必要な人数（任意）").fill("1")
    clerk.shot("rollcall-create-desktop")
    dlg.get_by_role("button", name="緊急で送る").click()
    dlg.wait_for(state="detached")

    mine = card(clerk, "rollcall", "大雨警報")
    theirs = card(partner, "rollcall", "大雨警報")
    third = card(colleague, "rollcall", "大雨警報")
    theirs.get_by_role("button", name="参集可").wait_for(timeout=LONG)
    assert "必要 1 人" in theirs.inner_text()
    # The partner on a phone: 参集可, in 20 minutes, with a comment.
    theirs.get_by_label("到着まで（分・任意）").fill("20")
    theirs.get_by_label("コメント（任意）").fill("車で向かいます")
    theirs.get_by_role("button", name="参集可").click()
    theirs.locator(".g-mine", has_text="参集可（20 分後）「車で向かいます」").wait_for(timeout=LONG)
    assert theirs.get_by_role("button", name="参集可").get_attribute("aria-pressed") == "true"
    assert theirs.locator(".g-notice").count() == 0  # it answered: nothing to tell it
    # The others, who have not answered, see the tally and that nobody else is needed.
    for c in (third, mine):
        c.locator(".g-notice", has_text="必要な人数が揃いました").wait_for(timeout=LONG)
        assert c.locator(".g-tally .g-first").inner_text().split() == ["参集可", "1", "人"]
        assert "未回答 2 人" in " ".join(c.locator(".g-tally .g-none").inner_text().split())
    # …and a screen reader is told once.
    colleague.page.locator("#live", has_text="必要な人数が揃いました").wait_for(state="attached")
    colleague.shot("rollcall-filled-phone")
    partner.shot("rollcall-answered-phone")
    # The creator: who has not answered, and the answers; the others do not get the list.
    mine.locator("summary", has_text="未回答の人（2 人）").click()
    unanswered = mine.locator("details", has_text="未回答の人").locator("li").all_inner_texts()
    assert sorted(unanswered) == ["田中 一郎", "鈴木 花子（あなた）"]
    mine.locator("summary", has_text="回答した人（1 人）").click()
    assert "佐藤（ひまわり保育園）参集可（20 分後）「車で向かいます」" in mine.locator(
        "details", has_text="回答した人").inner_text().replace("\n", "")
    assert third.get_by_text("未回答の人").count() == 0
    assert third.get_by_role("button", name="未回答の人に再通知").count() == 0
    # A reminder reaches the colleague (a toast), not the partner who answered.
    mine.get_by_role("button", name="未回答の人に再通知").click()
    page.locator(".toast", has_text="2 人に再通知しました").wait_for()
    colleague.page.locator(".toast", has_text="大雨警報 本庁舎への参集").wait_for(timeout=LONG)
    assert "必要な人数が揃いました" in colleague.page.locator(".toast").inner_text()
    assert partner.page.locator(".toast").is_hidden()
    # What the clerk is typing survives the card being drawn anew (a reaction) and the
    # live changes (the colleague answers 参集不可); the lists it opened stay open.
    mine.get_by_label("コメント（任意）").fill("庁舎まで30分")
    message_id = mine.locator("xpath=ancestor::article").get_attribute("data-id")
    api(r, "lgwan", "PUT", f"/api/v1/messages/{message_id}/reactions/1",
        login_token(r, "lgwan", "tanaka", PASSWORD))
    page.locator(f'.msg[data-id="{message_id}"] .reaction').wait_for(timeout=LONG)
    assert mine.get_by_label("コメント（任意）").input_value() == "庁舎まで30分"
    assert mine.locator("details", has_text="未回答の人").get_attribute("open") is not None
    third.get_by_role("button", name="参集不可").click()
    mine.locator("summary", has_text="未回答の人（1 人）").wait_for(timeout=LONG)
    assert mine.locator("details", has_text="未回答の人").get_attribute("open") is not None
    assert mine.get_by_label("コメント（任意）").input_value() == "庁舎まで30分"
    clerk.shot("rollcall-card-desktop")
    # A second reminder within the minute is refused, in words.
    mine.get_by_role("button", name="未回答の人に再通知").click()
    mine.get_by_text("再通知は 1 分に 1 回までです").wait_for()
    # Closing: answers stop everywhere.
    mine.get_by_role("button", name="終了する").click()
    page.get_by_role("dialog", name="参集確認を終了する").get_by_role("button", name="終了する").click()
    theirs.get_by_text("この参集確認は終了しました。").wait_for(timeout=LONG)
    assert theirs.get_by_role("button", name="参集可").count() == 0
    partner.shot("rollcall-closed-phone")
    clerk.allowed += ("status of 429", "status of 400")  # the refused reminder and needed count
    for w in (colleague, partner, clerk):
        finish(w)


def focus_back_to(w, selector: str, limit: int = 30) -> None:
    """Shift+Tab from where the focus is until it is on an element matching selector."""
    for _ in range(limit):
        w.page.keyboard.press("Shift+Tab")
        if w.page.evaluate("(s) => document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"Shift+Tab never reached {selector}")


def test_keyboard_only_a_poll_is_made_and_voted_and_a_roll_call_answered(browser, server):
    r, people, _ = server
    token = login_token(r, "lgwan", "tanaka", PASSWORD)
    room = api(r, "lgwan", "POST", "/api/v1/rooms", token,
               {"name": "キーボード集計", "members": [people.staff["id"]]})
    api(r, "lgwan", "POST", f"/api/v1/rooms/{room['id']}/rollcalls", token,
        {"title": "土曜の避難所開設", "needed": 2})
    w = open_page(browser, r, "lgwan")
    log_in(w, "suzuki")
    page = w.page
    kb = page.keyboard
    page.get_by_role("button", name=re.compile("キーボード集計")).focus()
    kb.press("Enter")
    page.locator("#composer-text:focus").wait_for()
    # 「＋」 is just before the text box; its menu takes the focus.
    kb.press("Shift+Tab")
    kb.press("Enter")
    for _ in range(15):
        if page.evaluate("document.activeElement.textContent") == "アンケート":
            break
        kb.press("Tab")
    kb.press("Enter")
    page.locator("#poll-question:focus").wait_for()
    kb.type("会議室の希望")
    kb.press("Tab")
    kb.type("大会議室")
    kb.press("Tab")  # (no × while there are only two)
    assert page.evaluate("document.activeElement.id") == "poll-opt-1"
    kb.type("小会議室")
    kb.press("Enter")  # submits the form
    c = card(w, "poll", "会議室の希望")
    c.get_by_role("button", name="投票する").wait_for(timeout=LONG)
    # Into the card from the text box: back into its radios (the last one first), the
    # arrow keys and Space to choose, Tab to 投票する.
    page.locator("#composer-text").focus()
    focus_back_to(w, ".gather-poll input[type=radio]")
    kb.press("ArrowUp")
    assert c.get_by_role("radio", name=re.compile("大会議室")).is_checked()
    kb.press("ArrowDown")
    assert c.get_by_role("radio", name=re.compile("小会議室")).is_checked()
    kb.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "投票する"
    kb.press("Enter")
    option(c, "小会議室").locator(".g-count", has_text="1 票").wait_for(timeout=LONG)
    # The redrawn card keeps the focus where it was.
    assert page.evaluate("document.activeElement.textContent") == "投票を変更する"
    # The roll call: back past the poll to its 参集可 button.
    page.locator("#composer-text").focus()
    focus_back_to(w, ".gather-rollcall .g-answer-btn")
    for _ in range(3):
        if page.evaluate("document.activeElement.textContent") == "参集可":
            break
        kb.press("Shift+Tab")
    kb.press("Enter")
    rc = card(w, "rollcall", "土曜の避難所開設")
    rc.locator(".g-mine", has_text="参集可").wait_for(timeout=LONG)
    assert page.evaluate("document.activeElement.getAttribute('aria-pressed')") == "true"
    w.shot("gather-keyboard-desktop")
    finish(w)


@pytest.mark.skipif(not AXE.exists(), reason="axe-core is not installed (npm ci in tests/web; .ci/bootstrap test does)")
def test_axe_finds_nothing_serious_on_the_cards_and_their_dialogs_on_a_phone_and_a_desk(browser, server):
    r, people, _ = server
    token = login_token(r, "lgwan", "tanaka", PASSWORD)
    room = api(r, "lgwan", "POST", "/api/v1/rooms", token,
               {"name": "集計のアクセシビリティ", "members": [people.staff["id"]]})
    base = f"/api/v1/rooms/{room['id']}"
    poll = api(r, "lgwan", "POST", f"{base}/polls", token,
               {"question": "研修の希望日", "options": ["火曜", "木曜"], "multiple": True})["poll"]
    api(r, "lgwan", "POST", f"/api/v1/polls/{poll['id']}/votes", token, {"options": [poll["options"][0]["id"]]})
    secret = api(r, "lgwan", "POST", f"{base}/polls", token,
                 {"question": "職場の満足度", "options": ["満足", "不満"], "anonymous": True})["poll"]
    api(r, "lgwan", "POST", f"/api/v1/polls/{secret['id']}/votes", token, {"options": [secret["options"][1]["id"]]})
    sched = api(r, "lgwan", "POST", f"{base}/schedules", token, {"title": "引継ぎの打合せ", "slots": [
        {"start": "2027-02-01T10:00:00+09:00", "end": "2027-02-01T11:00:00+09:00", "label": "3階"},
        {"start": "2027-02-02T15:00:00+09:00"}]})["schedule"]
    api(r, "lgwan", "POST", f"/api/v1/schedules/{sched['id']}/answers", token,
        {"answers": {sched["slots"][0]["id"]: "yes", sched["slots"][1]["id"]: "maybe"}, "comment": "午前希望"})
    call = api(r, "lgwan", "POST", f"{base}/rollcalls", token, {"title": "夜間の参集", "needed": 1})["rollcall"]
    api(r, "lgwan", "POST", f"/api/v1/rollcalls/{call['id']}/answers", token,
        {"option": "参集可", "eta_minutes": 15})
    found: list[str] = []
    for viewport, tag in ((PHONE, "phone"), (DESKTOP, "desktop")):
        w = open_page(browser, r, "lgwan", viewport, axe=True)
        log_in(w, "suzuki")
        page = w.page
        talk_to(w, "集計のアクセシビリティ")
        for kind, title in (("poll", "研修の希望日"), ("schedule", "引継ぎの打合せ"), ("rollcall", "夜間の参集")):
            c = card(w, kind, title)
            c.locator(".g-actions, .g-answer-box").first.wait_for(timeout=LONG)
            c.scroll_into_view_if_needed()
            w.shot(f"gather-{kind}-{tag}")
        # An anonymous poll: the counts, never who voted.
        anon = card(w, "poll", "職場の満足度")
        option(anon, "不満").locator(".g-count", has_text="1 票").wait_for()
        assert "匿名" in anon.locator(".g-tags").inner_text()
        assert anon.get_by_role("button", name="投票した人").count() == 0
        rc = card(w, "rollcall", "夜間の参集")
        rc.locator(".g-notice").wait_for()
        rc.locator("summary", has_text="回答した人").click()
        found += accessibility(w, f"gather-cards-{tag}")
        card(w, "schedule", "引継ぎの打合せ").get_by_role("button", name="回答する").click()
        found += accessibility(w, f"schedule-answer-{tag}")
        w.shot(f"gather-schedule-answer-{tag}")
        page.keyboard.press("Escape")
        card(w, "poll", "研修の希望日").get_by_role("button", name="投票した人").click()
        found += accessibility(w, f"poll-voters-{tag}")
        page.keyboard.press("Escape")
        for action, title in (("アンケート", "アンケートを作る"), ("日程調整", "日程調整を作る"),
                              ("参集確認", "参集確認を作る")):
            plus(w, action)
            page.get_by_role("dialog", name=title).wait_for()
            found += accessibility(w, f"{action}-create-{tag}")
            w.shot(f"gather-create-{action}-{tag}")
            page.keyboard.press("Escape")
            page.get_by_role("dialog", name=title).wait_for(state="detached")
        finish(w)
    assert found == []


def test_a_poll_shows_closed_when_its_deadline_passes_with_no_reload(browser, server):
    r, people, _ = server
    token = login_token(r, "lgwan", "tanaka", PASSWORD)
    room = api(r, "lgwan", "POST", "/api/v1/rooms", token,
               {"name": "締切の確認", "members": [people.staff["id"]]})
    # Far enough ahead for a loaded machine to show it open first.
    soon = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=10)
    api(r, "lgwan", "POST", f"/api/v1/rooms/{room['id']}/polls", token,
        {"question": "忘年会の出欠", "options": ["出席", "欠席"],
         "closes_at": soon.isoformat(timespec="milliseconds")})
    w = open_page(browser, r, "lgwan", PHONE)
    log_in(w, "suzuki")
    talk_to(w, "締切の確認")
    c = card(w, "poll", "忘年会の出欠")
    c.get_by_role("button", name="投票する").wait_for(timeout=LONG)
    assert "締切" in c.locator(".g-status").inner_text()
    # relayd sends nothing when the time comes: the card redraws itself.
    c.get_by_text("締め切りました").wait_for(timeout=LONG)
    assert c.get_by_role("button", name="投票する").count() == 0
    assert c.get_by_role("radio", name=re.compile("出席")).is_disabled()
    finish(w)
