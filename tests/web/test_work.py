"""タスク and ノート in the web client, between an LGWAN clerk at a desk and an internet
partner on a phone: a task made from a message and assigned to the partner, found in
「マイタスク」 (overdue first), ticked done there and seen 完了 with who on the clerk's
card at once; a note written by one and edited by the other, each save seen live by
the other side, a stale save refused with a clear message and nothing overwritten,
then merged on top; and axe-core's check of マイタスク and the note view."""

from __future__ import annotations

import datetime
import re

import pytest

from tests.web.conftest import (AXE, DESKTOP, PASSWORD, PHONE, accessibility, api, finish,
                                log_in, login_token, message, open_page, plus, talk_to)

JST = datetime.timezone(datetime.timedelta(hours=9))
WAIT = 30000  # generous: several browsers share two cores


def phone_partner(browser, r):
    w = open_page(browser, r, "internet", PHONE)
    log_in(w, "partner")
    return w


def today() -> datetime.date:
    return datetime.datetime.now(JST).date()





def tab(w, name: str, phone: bool) -> None:
    nav = w.page.get_by_role("navigation", name="メニュー（下）" if phone else "メニュー", exact=True)
    nav.get_by_role("button", name=name, exact=True).click()


def test_a_task_from_a_message_reaches_my_tasks_and_done_shows_on_the_card_live(browser, server):
    r, people, admin_token = server
    room = api(r, "lgwan", "POST", "/api/v1/rooms", admin_token,
               {"name": "子育て支援 連絡", "members": [people.staff["id"], people.partner["id"]]})
    partner_token = login_token(r, "internet", "partner", PASSWORD)
    clerk_token = login_token(r, "lgwan", "suzuki", PASSWORD)
    api(r, "internet", "POST", f"/api/v1/rooms/{room['id']}/messages", partner_token,
        {"body": "園だよりの原稿を今週中にお送りします\nよろしくお願いします"})
    # Two more of the partner's tasks: one overdue, one without a due date.
    late = (today() - datetime.timedelta(days=2)).isoformat()
    for title, due in (("連絡先一覧の更新", None), ("先月分の利用報告書", late)):
        body = {"title": title, "assignees": [people.partner["id"]]}
        if due:
            body["due"] = due
        api(r, "lgwan", "POST", f"/api/v1/rooms/{room['id']}/tasks", clerk_token, body)

    clerk = open_page(browser, r, "lgwan", DESKTOP)
    log_in(clerk, "suzuki")
    partner = phone_partner(browser, r)
    talk_to(clerk, "子育て支援 連絡", WAIT)

    # 「…」 → タスクにする: the title is the message's first line, its sender chosen.
    message(clerk, "園だよりの原稿").locator(".msg-menu").click()
    clerk.page.get_by_role("dialog").get_by_role("button", name="タスクにする", exact=True).click()
    dlg = clerk.page.get_by_role("dialog")
    assert dlg.get_by_label("やること").input_value() == "園だよりの原稿を今週中にお送りします"
    assert dlg.get_by_role("checkbox", name=re.compile("佐藤")).is_checked()
    assert not dlg.get_by_role("checkbox", name=re.compile("鈴木 花子")).is_checked()
    due = today() + datetime.timedelta(days=3)
    dlg.get_by_label("期限（なくてもよい）").fill(due.isoformat())
    clerk.shot("work-task-form-desktop")
    dlg.get_by_role("button", name="タスクを作る").click()
    card = clerk.page.locator(".msg[data-kind=task]").filter(has_text="園だよりの原稿を今週中に")
    card.wait_for(timeout=WAIT)
    assert "担当 佐藤（ひまわり保育園）" in card.inner_text()
    assert f"{due.month}月{due.day}日" in card.locator(".task-due").inner_text()
    overdue_card = clerk.page.locator(".msg[data-kind=task]").filter(has_text="先月分の利用報告書")
    assert overdue_card.locator(".late-tag", has_text="期限切れ").count() == 1
    box = card.get_by_role("checkbox")
    assert not box.is_checked() and box.is_enabled()  # the creator may tick it too

    # The partner's マイタスク on the phone: overdue first, then by due, none last.
    tab(partner, "マイタスク", phone=True)
    items = partner.page.locator(".task-item")
    items.filter(has_text="園だよりの原稿").wait_for(timeout=WAIT)
    titles = items.locator(".task-title").all_inner_texts()
    assert titles == ["先月分の利用報告書", "園だよりの原稿を今週中にお送りします", "連絡先一覧の更新"]
    assert "期限切れ" in items.first.inner_text() and "is-late" in items.first.get_attribute("class")
    assert "子育て支援 連絡" in items.nth(1).inner_text()
    partner.page.get_by_text("未完了 3 件（うち期限切れ 1 件）").wait_for()
    partner.shot("work-mytasks-phone")

    # Ticked done on the phone: the clerk's card says 完了 and who, without a reload.
    ours = items.filter(has_text="園だよりの原稿")
    ours.get_by_role("checkbox").click()
    done = card.locator(".task-who", has_text="佐藤（ひまわり保育園）")
    done.wait_for(timeout=WAIT)
    assert card.get_by_role("checkbox").is_checked()
    assert "完了" in card.locator(".task-done").inner_text()
    clerk.shot("work-task-card-desktop")
    stored = api(r, "lgwan", "GET", f"/api/v1/tasks?assignee=any&room={room['id']}", clerk_token)["tasks"]
    made = next(t for t in stored if t["title"].startswith("園だより"))
    assert made["done"] and made["done_by"] == people.partner["id"] and made["due"] == due.isoformat()

    # The clerk opens it again; the partner's page follows live, then hides it
    # (only open ones) once opened again, and shows it with 完了したタスクも表示.
    card.get_by_role("checkbox").click()
    ours.get_by_role("checkbox", checked=False).wait_for(timeout=WAIT)
    assert items.locator(".task-title").all_inner_texts()[1].startswith("園だより")  # it stayed in place
    ours.get_by_role("checkbox").click()
    card.get_by_role("checkbox", checked=True).wait_for(timeout=WAIT)
    tab(partner, "トーク", phone=True)
    tab(partner, "マイタスク", phone=True)
    partner.page.get_by_text("未完了 2 件（うち期限切れ 1 件）").wait_for(timeout=WAIT)
    items.filter(has_text="園だより").wait_for(state="detached", timeout=WAIT)
    partner.page.get_by_label("完了したタスクも表示").check()
    items.filter(has_text="園だより").wait_for(timeout=WAIT)
    assert "is-done" in items.last.get_attribute("class")

    # Each task opens its message in its room.
    items.filter(has_text="先月分の利用報告書").get_by_role("button", name=re.compile("トークで開く")).click()
    partner.page.locator(".msg.flash[data-kind=task]", has_text="先月分の利用報告書").wait_for(timeout=WAIT)
    assert partner.page.locator("#talk-title").inner_text() == "子育て支援 連絡"
    partner.shot("work-task-card-phone")
    clerk.page.get_by_role("navigation", name="メニュー", exact=True).get_by_role("button", name="マイタスク").click()
    # The clerk gave these tasks but holds none of them: its マイタスク lists none.
    clerk.page.locator(".tasks-page [role=status]", has_text=re.compile("未完了|担当のタスクはありません")).wait_for(timeout=WAIT)
    assert clerk.page.locator(".task-item", has_text="子育て支援 連絡").count() == 0
    finish(partner)
    finish(clerk)


def test_a_member_who_is_neither_assignee_nor_creator_cannot_tick_a_task(browser, server):
    r, people, admin_token = server
    room = api(r, "lgwan", "POST", "/api/v1/rooms", admin_token,
               {"name": "庁内タスク確認", "members": [people.staff["id"], people.staff2["id"]]})
    tanaka = login_token(r, "lgwan", "tanaka", PASSWORD)
    api(r, "lgwan", "POST", f"/api/v1/rooms/{room['id']}/tasks", tanaka,
        {"title": "会議室の予約", "assignees": [people.staff2["id"]]})
    w = open_page(browser, r, "lgwan", DESKTOP)
    log_in(w, "suzuki")
    talk_to(w, "庁内タスク確認", WAIT)
    card = w.page.locator(".msg[data-kind=task]", has_text="会議室の予約")
    card.wait_for(timeout=WAIT)
    assert card.get_by_role("checkbox").is_disabled()
    assert "担当者と作成者が完了にできます" in card.inner_text()
    # Made from 「＋」 in a room of two: the other member is chosen already.
    plus(w, "タスク")
    dlg = w.page.get_by_role("dialog")
    dlg.get_by_label("やること").fill("議事録の確認")
    dlg.get_by_role("button", name="タスクを作る").click()
    dlg.get_by_text("担当者を 1 人以上選んでください。").wait_for()
    dlg.get_by_role("checkbox", name=re.compile("田中 一郎")).check()
    dlg.get_by_role("button", name="タスクを作る").click()
    mine = w.page.locator(".msg[data-kind=task]", has_text="議事録の確認")
    mine.wait_for(timeout=WAIT)
    assert "期限なし" in mine.inner_text() and mine.get_by_role("checkbox").is_enabled()
    # The creator ticks it with the keyboard; the card is drawn again with the focus kept.
    mine.get_by_role("checkbox").focus()
    w.page.keyboard.press("Space")
    mine.locator(".task-who", has_text="鈴木 花子").wait_for(timeout=WAIT)
    assert w.page.evaluate("document.activeElement.type") == "checkbox"
    assert mine.get_by_role("checkbox").evaluate("(el) => el === document.activeElement")
    # Its creator changes it from its 「…」: a due date, and 鈴木 as a second assignee.
    mine.locator(".msg-menu").click()
    w.page.get_by_role("dialog").get_by_role("button", name="タスクを編集", exact=True).click()
    dlg = w.page.get_by_role("dialog")
    assert dlg.get_by_label("やること").input_value() == "議事録の確認"
    due = today() + datetime.timedelta(days=1)
    dlg.get_by_label("期限（なくてもよい）").fill(due.isoformat())
    dlg.get_by_role("checkbox", name=re.compile("鈴木 花子")).check()
    dlg.get_by_role("button", name="保存する").click()
    mine.locator(".task-due", has_text=f"明日 {due.month}月{due.day}日").wait_for(timeout=WAIT)
    assert "担当 鈴木 花子（あなた）、田中 一郎" in mine.inner_text()
    # Someone who may not change it is not offered the edit.
    card.locator(".msg-menu").click()
    offered = w.page.get_by_role("dialog").get_by_role("button").all_inner_texts()
    assert "タスクを編集" not in offered and "タスクにする" not in offered
    w.page.keyboard.press("Escape")
    finish(w)


def test_a_note_edited_by_the_other_side_live_and_a_stale_save_refused_clearly(browser, server):
    r, people, admin_token = server
    room = api(r, "lgwan", "POST", "/api/v1/rooms", admin_token,
               {"name": "防災訓練 ノート", "members": [people.staff["id"], people.partner["id"]]})
    clerk = open_page(browser, r, "lgwan", DESKTOP)
    log_in(clerk, "suzuki")
    partner = phone_partner(browser, r)
    talk_to(clerk, "防災訓練 ノート", WAIT)
    talk_to(partner, "防災訓練 ノート", WAIT)

    # The clerk writes it from 「＋」 → ノート; both talks show its card.
    plus(clerk, "ノート")
    dlg = clerk.page.get_by_role("dialog")
    dlg.get_by_label("タイトル", exact=True).fill("訓練当日の流れ")
    dlg.get_by_label("本文", exact=True).fill("9:00 集合（正門）\n9:30 避難訓練\n10:30 解散")
    dlg.get_by_role("button", name="ノートを作る").click()
    card = message(partner, "訓練当日の流れ")
    card.locator(".note-meta", has_text="第 1 版").wait_for(timeout=WAIT)
    clerk_card = message(clerk, "訓練当日の流れ")
    clerk_card.locator(".note-meta", has_text="第 1 版").wait_for(timeout=WAIT)
    clerk_card.get_by_role("button", name="ノート「訓練当日の流れ」を開く").click()
    clerk_view = clerk.page.get_by_role("dialog")
    clerk_view.get_by_text("9:30 避難訓練").wait_for()

    # The partner edits on the phone; the clerk's open note shows 第 2 版 at once.
    card.get_by_role("button", name="ノート「訓練当日の流れ」を開く").click()
    view = partner.page.get_by_role("dialog")
    view.get_by_role("button", name="編集する").click()
    view.get_by_label("本文", exact=True).fill("9:00 集合（正門）\n9:30 避難訓練\n10:00 消火器の使い方\n10:30 解散")
    partner.shot("work-note-edit-phone")
    view.get_by_role("button", name="保存する").click()
    view.locator(".note-meta", has_text="第 2 版").wait_for(timeout=WAIT)
    clerk_view.get_by_text("10:00 消火器の使い方").wait_for(timeout=WAIT)
    assert "第 2 版・佐藤（ひまわり保育園）" in clerk_view.locator(".note-meta").inner_text()
    clerk_card.locator(".note-meta", has_text="第 2 版").wait_for(timeout=WAIT)
    clerk.shot("work-note-desktop")
    partner.shot("work-note-phone")

    # Both start editing 第 2 版; the partner saves first.  (The refused save is a 409
    # answer, which chromium logs as a failed resource load: expected here.)
    clerk.allowed += ("status of 409 (Conflict)",)
    clerk_view.get_by_role("button", name="編集する").click()
    view.get_by_role("button", name="編集する").click()
    view.get_by_label("本文", exact=True).fill("8:45 集合（正門）\n9:30 避難訓練\n10:00 消火器の使い方\n10:30 解散")
    view.get_by_role("button", name="保存する").click()
    view.locator(".note-meta", has_text="第 3 版").wait_for(timeout=WAIT)
    # The clerk is warned while typing, and a save on 第 2 版 is refused, not applied.
    clerk_view.get_by_text("編集中に 佐藤（ひまわり保育園） さんが第 3 版を保存しました。").wait_for(timeout=WAIT)
    clerk_view.get_by_label("本文", exact=True).fill("9:00 集合（体育館）\n9:30 避難訓練\n10:30 解散")
    clerk_view.get_by_role("button", name="保存する").click()
    refused = clerk_view.get_by_role("alert").filter(has_text="保存できませんでした")
    refused.wait_for(timeout=WAIT)
    text = refused.inner_text()
    assert "ほかの人が先に更新しています" in text
    assert "佐藤（ひまわり保育園） さんが" in text and "第 3 版を保存しました" in text
    assert "あなたの入力は下に残っています" in text
    assert clerk_view.get_by_label("本文", exact=True).input_value().startswith("9:00 集合（体育館）")
    clerk.shot("work-note-conflict-desktop")
    token = login_token(r, "lgwan", "suzuki", PASSWORD)
    notes = api(r, "lgwan", "GET", f"/api/v1/rooms/{room['id']}/notes", token)["notes"]
    current = api(r, "lgwan", "GET", f"/api/v1/notes/{notes[0]['id']}", token)
    assert current["version"] == 3 and current["body"].startswith("8:45 集合（正門）")

    # The clerk looks at 第 3 版 beside its own text and saves on top of it: 第 4 版,
    # which the partner's open note shows live.
    clerk_view.get_by_role("button", name="第 3 版を表示して見比べる").click()
    clerk_view.get_by_role("region", name="第 3 版の本文").get_by_text("8:45 集合（正門）").wait_for()
    clerk_view.get_by_label("本文", exact=True).fill("8:45 集合（体育館）\n9:30 避難訓練\n10:00 消火器の使い方\n10:30 解散")
    clerk_view.get_by_role("button", name="保存する").click()
    clerk_view.locator(".note-meta", has_text="第 4 版・鈴木 花子").wait_for(timeout=WAIT)
    view.get_by_text("8:45 集合（体育館）").wait_for(timeout=WAIT)
    assert "第 4 版" in view.locator(".note-meta").inner_text()

    # Every version is kept and shown, newest first.
    clerk_view.get_by_role("button", name="版の履歴").click()
    versions = clerk_view.locator(".note-versions summary")
    versions.first.wait_for()
    assert [s.split("・")[0] for s in versions.all_inner_texts()] == ["第 4 版", "第 3 版", "第 2 版", "第 1 版"]
    versions.nth(3).click()
    clerk_view.locator(".note-versions li").nth(3).get_by_text("9:00 集合（正門）").wait_for()
    clerk.shot("work-note-versions-desktop")
    clerk_view.get_by_role("button", name="閉じる").click()

    # The room's notes, from 「＋」 → ノート一覧.
    view.get_by_role("button", name="閉じる").click()
    plus(partner, "ノート一覧")
    listing = partner.page.get_by_role("dialog")
    listing.get_by_role("button", name=re.compile("訓練当日の流れ")).wait_for(timeout=WAIT)
    assert "第 4 版" in listing.inner_text()
    partner.shot("work-note-list-phone")
    listing.get_by_role("button", name=re.compile("訓練当日の流れ")).click()
    view.get_by_text("8:45 集合（体育館）").wait_for(timeout=WAIT)

    # An unsaved edit is not dropped by Esc or × without asking.
    view.get_by_role("button", name="編集する").click()
    view.get_by_label("本文", exact=True).fill("書きかけのメモ")
    asked: list[str] = []
    partner.page.once("dialog", lambda d: (asked.append(d.message), d.dismiss()))
    partner.page.keyboard.press("Escape")
    partner.page.wait_for_function("() => document.querySelector('dialog.wide-dialog[open]')")
    assert asked and "保存していない変更があります" in asked[0]
    assert view.get_by_label("本文", exact=True).input_value() == "書きかけのメモ"
    partner.page.once("dialog", lambda d: d.accept())
    view.get_by_role("button", name="閉じる").click()
    view.wait_for(state="detached", timeout=WAIT)
    finish(partner)
    finish(clerk)


@pytest.mark.skipif(not AXE.exists(), reason="axe-core is not installed (npm ci in tests/web; .ci/bootstrap test does)")
def test_axe_finds_nothing_serious_on_my_tasks_and_a_note_on_a_phone_and_a_desk(browser, server):
    r, people, admin_token = server
    room = api(r, "lgwan", "POST", "/api/v1/rooms", admin_token,
               {"name": "アクセシビリティ タスク", "members": [people.staff["id"], people.staff2["id"]]})
    token = login_token(r, "lgwan", "tanaka", PASSWORD)
    late = (today() - datetime.timedelta(days=1)).isoformat()
    api(r, "lgwan", "POST", f"/api/v1/rooms/{room['id']}/tasks", token,
        {"title": "防災備蓄品の点検", "assignees": [people.staff["id"]], "due": late})
    api(r, "lgwan", "POST", f"/api/v1/rooms/{room['id']}/tasks", token,
        {"title": "回覧文書の確認", "assignees": [people.staff["id"], people.staff2["id"]]})
    api(r, "lgwan", "POST", f"/api/v1/rooms/{room['id']}/notes", token,
        {"title": "備蓄品リスト", "body": "水 500 本\n乾パン 300 食\n毛布 120 枚"})
    found: list[str] = []
    for viewport, tag in ((DESKTOP, "desktop"), (PHONE, "phone")):
        w = open_page(browser, r, "lgwan", viewport, axe=True)
        page = w.page
        log_in(w, "suzuki")
        tab(w, "マイタスク", phone=tag == "phone")
        page.locator(".task-item", has_text="防災備蓄品の点検").wait_for(timeout=WAIT)
        found += accessibility(w, f"mytasks-{tag}")
        w.shot(f"work-a11y-mytasks-{tag}")
        page.locator(".task-item", has_text="防災備蓄品の点検").get_by_role("button", name=re.compile("トークで開く")).click()
        page.locator(".msg.flash", has_text="防災備蓄品の点検").wait_for(timeout=WAIT)
        found += accessibility(w, f"task-cards-{tag}")
        message(w, "備蓄品リスト").get_by_role("button", name="ノート「備蓄品リスト」を開く").click()
        page.get_by_role("dialog").get_by_text("乾パン 300 食").wait_for(timeout=WAIT)
        found += accessibility(w, f"note-{tag}")
        page.get_by_role("dialog").get_by_role("button", name="版の履歴").click()
        page.locator(".note-versions summary").first.click()
        found += accessibility(w, f"note-versions-{tag}")
        page.get_by_role("dialog").get_by_role("button", name="ノートに戻る").click()
        page.get_by_role("dialog").get_by_role("button", name="編集する").click()
        found += accessibility(w, f"note-edit-{tag}")
        w.shot(f"work-a11y-note-edit-{tag}")
        page.keyboard.press("Escape")
        plus(w, "ノート一覧")
        page.get_by_role("dialog").get_by_role("button", name=re.compile("備蓄品リスト")).wait_for(timeout=WAIT)
        found += accessibility(w, f"note-list-{tag}")
        page.keyboard.press("Escape")
        plus(w, "タスク")
        page.get_by_role("dialog").get_by_label("やること").wait_for()
        found += accessibility(w, f"task-form-{tag}")
        page.keyboard.press("Escape")
        finish(w)
    assert found == []
