"""位置情報, 電話メモ, リマインド and 予約送信 in the web client, between an LGWAN clerk
at a desk and an internet partner on a phone (real relayd, real chromium): a location
taken from the phone's (emulated) GPS reaches the clerk as coordinates and a map link
that asks before leaving; a refused permission or an unknown position is explained; a
phone memo to the partner is marked 対応済み and the clerk sees it live; a reminder
reaches the one who has not read, not too often; a message scheduled a few seconds
ahead is sent to both sides while a cancelled one never is, and one that may no longer
go out is dropped with its reason.  axe-core checks every new dialog and card."""

from __future__ import annotations

import re

from tests.web.conftest import (AXE, DESKTOP, PASSWORD, PHONE, accessibility, api, finish,
                                log_in, login_token, message, open_page, plus, talk_to)

TOCHO = {"latitude": 35.689487, "longitude": 139.691706, "accuracy": 12}
MY_NUMBER = "123456789018"  # a 個人番号 with a valid check digit
SLOW = 60000  # ms: relayd's scheduler wakes within seconds; the machine may be busy





def axe(w, screen: str, found: list[str]) -> None:
    if AXE.exists():
        found += accessibility(w, screen)


def test_a_partner_sends_their_location_from_a_phone_and_the_clerk_sees_it(browser, server):
    r, people, admin_token = server
    room = api(r, "lgwan", "POST", "/api/v1/rooms", admin_token,
               {"name": "現地確認", "members": [people.staff["id"], people.partner["id"]]})
    found: list[str] = []
    partner = open_page(browser, r, "internet", PHONE, axe=AXE.exists(),
                        geolocation=TOCHO, permissions=["geolocation"])
    log_in(partner, "partner")
    clerk = open_page(browser, r, "lgwan", DESKTOP, axe=AXE.exists())
    log_in(clerk, "suzuki")
    talk_to(clerk, "現地確認")
    talk_to(partner, "現地確認")

    plus(partner, "現在地を送る")
    dlg = partner.page.get_by_role("dialog")
    dlg.get_by_label("場所の説明（任意）").fill("都庁前の集合場所")
    send = dlg.get_by_role("button", name="この位置を送る")
    assert send.is_disabled()  # nothing is sent before the position is shown
    dlg.get_by_role("button", name="現在地を取得する").click()
    dlg.get_by_role("status").filter(has_text="北緯 35.689487° 東経 139.691706°（誤差 約 12 m）").wait_for()
    partner.shot("location-dialog-phone")
    axe(partner, "location-dialog-phone", found)
    send.click()
    dlg.wait_for(state="detached")

    card = message(clerk, "都庁前の集合場所").locator(".loc-card")
    card.wait_for()
    assert card.locator(".loc-title").inner_text().endswith("都庁前の集合場所")
    assert card.locator(".loc-coords").inner_text() == "北緯 35.689487° 東経 139.691706°"
    assert card.locator(".loc-accuracy").inner_text() == "誤差 約 12 m"
    gsi = card.get_by_role("link", name="地理院地図で開く")
    assert gsi.get_attribute("href") == "https://maps.gsi.go.jp/#17/35.689487/139.691706/"
    geo = card.get_by_role("link", name="地図アプリで開く").get_attribute("href")
    assert geo.startswith("geo:35.689487,139.691706?q=35.689487,139.691706(")
    # The map is a link the person follows, after saying yes: declined, nothing opens
    # (and no request leaves 127.0.0.1 — finish() checks; the page draws no map tiles).
    asked: list[str] = []

    def decline(d) -> None:
        asked.append(d.message)
        d.dismiss()

    clerk.page.once("dialog", decline)
    gsi.click()
    assert asked and "外部サイトへ移動します" in asked[0]
    assert len(clerk.context.pages) == 1
    axe(clerk, "location-card-desktop", found)
    clerk.shot("location-card-desktop")
    message(partner, "都庁前の集合場所").locator(".loc-coords").wait_for()
    partner.shot("location-card-phone")
    axe(partner, "location-card-phone", found)

    # Stored as the API says: the label as body, the Location object.
    token = login_token(r, "lgwan", "suzuki", PASSWORD)
    newest = api(r, "lgwan", "GET", f"/api/v1/rooms/{room['id']}/messages?limit=1", token)["messages"][0]
    assert newest["kind"] == "location" and newest["body"] == "都庁前の集合場所"
    assert newest["location"] == {"lat": 35.689487, "lon": 139.691706, "accuracy_m": 12,
                                  "label": "都庁前の集合場所"}
    finish(partner)
    finish(clerk)
    assert found == []


def test_a_refused_or_unknown_location_is_explained_and_nothing_is_sent(browser, server):
    r, people, admin_token = server
    room = api(r, "lgwan", "POST", "/api/v1/rooms", admin_token,
               {"name": "位置情報 拒否", "members": [people.staff["id"], people.partner["id"]]})
    partner = open_page(browser, r, "internet", PHONE, geolocation=TOCHO)  # not permitted
    log_in(partner, "partner")
    talk_to(partner, "位置情報 拒否")
    plus(partner, "現在地を送る")
    dlg = partner.page.get_by_role("dialog")
    dlg.get_by_role("button", name="現在地を取得する").click()
    dlg.get_by_role("alert").filter(has_text="位置情報の利用が許可されていません").wait_for()
    assert "許可してから、もう一度お試しください" in dlg.get_by_role("alert").inner_text()
    assert dlg.get_by_role("button", name="この位置を送る").is_disabled()
    partner.shot("location-refused-phone")
    # Allowed, but the phone does not know where it is (Chromium's emulation of a
    # position that is unavailable: an override without coordinates).
    partner.context.grant_permissions(["geolocation"])
    cdp = partner.context.new_cdp_session(partner.page)
    cdp.send("Emulation.setGeolocationOverride", {})
    dlg.get_by_role("button", name="現在地を取得する").click()
    dlg.get_by_role("alert").filter(has_text="現在地がわかりませんでした").wait_for()
    assert "位置情報（GPS）がオンになっているか確認" in dlg.get_by_role("alert").inner_text()
    assert dlg.get_by_role("button", name="この位置を送る").is_disabled()
    partner.shot("location-unavailable-phone")
    dlg.get_by_role("button", name="やめる").click()
    token = login_token(r, "internet", "partner", PASSWORD)
    assert api(r, "internet", "GET", f"/api/v1/rooms/{room['id']}/messages", token)["messages"] == []
    finish(partner)


def test_a_phone_memo_to_the_partner_is_marked_handled_and_the_clerk_sees_it_live(browser, server):
    r, people, admin_token = server
    api(r, "lgwan", "POST", "/api/v1/rooms", admin_token,
        {"name": "保育園 連絡", "members": [people.staff["id"], people.partner["id"]]})
    found: list[str] = []
    clerk = open_page(browser, r, "lgwan", DESKTOP, axe=AXE.exists())
    log_in(clerk, "suzuki")
    partner = open_page(browser, r, "internet", PHONE, axe=AXE.exists())
    log_in(partner, "partner")
    talk_to(clerk, "保育園 連絡")
    talk_to(partner, "保育園 連絡")

    plus(clerk, "電話メモ")
    dlg = clerk.page.get_by_role("dialog")
    dlg.get_by_label("だれあての電話ですか").select_option(label="佐藤（ひまわり保育園）")
    # Received: now, by default.
    assert dlg.get_by_label("受けた日時").input_value() == clerk.page.evaluate(
        "(() => { const d = new Date(); const p = (n) => String(n).padStart(2, '0');"
        " return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`; })()")
    dlg.get_by_role("button", name="メモを送る").click()
    dlg.get_by_role("alert").filter(has_text="相手のお名前を入力してください").wait_for()
    dlg.get_by_label("相手のお名前（必須）").fill("山田 太郎")
    dlg.get_by_label("相手の会社・団体名").fill("ひまわり保育園 保護者会")
    dlg.get_by_label("電話番号").fill("03-1234-5678")
    assert dlg.get_by_label("折り返しの電話をお願いされた").is_checked()
    dlg.get_by_label("用件・伝言").fill("明日のお迎えの時間について相談したいそうです。")
    clerk.shot("memo-dialog-desktop")
    axe(clerk, "memo-dialog-desktop", found)
    dlg.get_by_role("button", name="メモを送る").click()
    dlg.wait_for(state="detached")

    slip = partner.page.locator(".msg .memo-slip").last
    slip.wait_for()
    assert slip.locator(".memo-recipient").inner_text() == "佐藤（ひまわり保育園） さんへ（あなた）"
    assert slip.locator(".memo-from").inner_text() == "ひまわり保育園 保護者会山田 太郎 様より"
    assert slip.locator(".memo-callback").inner_text() == "折り返しお願いします"
    assert slip.get_by_role("link", name="03-1234-5678").get_attribute("href") == "tel:0312345678"
    assert "明日のお迎えの時間" in slip.locator(".memo-note").inner_text()
    assert slip.locator(".memo-state").inner_text() == "未対応"
    # The memo mentions its recipient.
    assert "mentioned" in (partner.page.locator(".msg").filter(
        has=partner.page.locator(".memo-slip")).last.get_attribute("class") or "")
    partner.shot("memo-slip-phone")
    axe(partner, "memo-slip-phone", found)
    clerk_slip = clerk.page.locator(".msg .memo-slip").last
    assert clerk_slip.get_by_role("button", name="対応済みにする").is_visible()  # the writer may, too

    slip.get_by_role("button", name="対応済みにする").click()
    slip.locator(".memo-state.done", has_text="対応済み").wait_for()
    # Live on the clerk's desk: memo.updated.
    clerk_slip.locator(".memo-state.done", has_text="対応済み").wait_for()
    assert clerk_slip.get_by_role("button", name="対応済みにする").count() == 0
    assert re.match(r"佐藤（ひまわり保育園） さんが 今日 \d\d:\d\d に対応しました",
                    clerk_slip.locator(".memo-done").inner_text())
    clerk.shot("memo-done-desktop")
    partner.shot("memo-done-phone")
    axe(clerk, "memo-done-desktop", found)

    # A number with 内線 stays text (a tel: link would dial the digits run together);
    # no call back asked.
    token = login_token(r, "lgwan", "suzuki", PASSWORD)
    room_id = next(x["id"] for x in api(r, "lgwan", "GET", "/api/v1/rooms", token)["rooms"]
                   if x["name"] == "保育園 連絡")
    api(r, "lgwan", "POST", f"/api/v1/rooms/{room_id}/memos", token,
        {"to": people.partner["id"], "caller": "高橋", "number": "0120-000-000 内線 204",
         "received_at": clerk.page.evaluate("new Date().toISOString()"), "callback": False})
    other = partner.page.locator(".msg .memo-slip", has_text="高橋 様より")
    other.wait_for()
    assert other.locator(".memo-digits").inner_text() == "0120-000-000 内線 204"
    assert other.get_by_role("link").count() == 0
    assert other.locator(".memo-nocallback").inner_text() == "折り返しは不要です"
    finish(partner)
    finish(clerk)
    assert found == []


def test_a_reminder_reaches_the_one_who_has_not_read_and_not_too_often(browser, server):
    r, people, admin_token = server
    suzuki = login_token(r, "lgwan", "suzuki", PASSWORD)  # the admin is not in this one
    room = api(r, "lgwan", "POST", "/api/v1/rooms", suzuki,
               {"name": "出欠確認", "members": [people.staff2["id"], people.partner["id"]]})
    tanaka = login_token(r, "lgwan", "tanaka", PASSWORD)
    clerk = open_page(browser, r, "lgwan", DESKTOP)
    log_in(clerk, "suzuki")
    partner = open_page(browser, r, "internet", PHONE)
    log_in(partner, "partner")  # on the room list: the talk is not read
    talk_to(clerk, "出欠確認")
    box = clerk.page.get_by_label("メッセージ", exact=True)
    box.fill("本日17時までに出欠を返信してください")
    box.press("Enter")
    sent = message(clerk, "本日17時までに")
    sent.wait_for()
    first_id = sent.get_attribute("data-id")
    api(r, "lgwan", "POST", f"/api/v1/rooms/{room['id']}/read", tanaka, {"up_to": first_id})
    sent.locator(".read-count", has_text="既読 1").wait_for()

    sent.locator(".msg-menu").click()
    clerk.page.get_by_role("dialog").get_by_role("button", name="未読の人にリマインド").click()
    clerk.page.locator(".toast", has_text="リマインドを送りました（1 人）：佐藤（ひまわり保育園）").wait_for()
    clerk.shot("remind-sent-desktop")
    # Once per 10 minutes (the partner still has not read it).
    clerk.allowed += ("status of 429",)  # the refused second reminder, on purpose
    sent.locator(".msg-menu").click()
    clerk.page.get_by_role("dialog").get_by_role("button", name="未読の人にリマインド").click()
    clerk.page.locator(".toast", has_text=re.compile(r"10 分に 1 回までです。あと (10|9) 分待って")).wait_for()

    toast = partner.page.locator(".toast", has_text="確認のお願い（リマインド）「出欠確認」")
    toast.wait_for()
    assert "本日17時までに出欠を返信してください" in toast.inner_text()
    partner.shot("reminded-toast-phone")
    talk_to(partner, "出欠確認")
    marked = message(partner, "本日17時までに")
    marked.locator(".remind-tag", has_text="さんからリマインド").wait_for()
    assert "reminded" in (marked.get_attribute("class") or "")
    partner.shot("reminded-message-phone")
    # The sender only: the partner's menu has no リマインド.
    marked.locator(".msg-menu").click()
    assert "未読の人にリマインド" not in partner.page.get_by_role("dialog").get_by_role("button").all_inner_texts()
    partner.page.keyboard.press("Escape")

    # Everyone has read the next one: nobody is reminded, and the clerk is told so.
    box.fill("資料は共有フォルダーにあります")
    box.press("Enter")
    second = message(clerk, "資料は共有フォルダーに")
    second.wait_for()
    message(partner, "資料は共有フォルダーに").wait_for()  # the open talk reads it
    api(r, "lgwan", "POST", f"/api/v1/rooms/{room['id']}/read", tanaka,
        {"up_to": second.get_attribute("data-id")})
    second.locator(".read-count", has_text="既読 2").wait_for()
    second.locator(".msg-menu").click()
    clerk.page.get_by_role("dialog").get_by_role("button", name="未読の人にリマインド").click()
    clerk.page.locator(".toast", has_text="全員がすでに読んでいます").wait_for()
    finish(partner)
    finish(clerk)


def local_input(w, seconds_ahead: float, not_before_ms: float = 0) -> tuple[str, float]:
    """The datetime-local value (with seconds) of a moment a few seconds from now, or
    of not_before_ms (the page's clock) if that is later; and that moment."""
    return tuple(w.page.evaluate("""([s, floor]) => {
      const d = new Date(Math.max(Date.now() + s * 1000, floor));
      const p = (n) => String(n).padStart(2, '0');
      return [`${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${
        p(d.getMinutes())}:${p(d.getSeconds())}`, Math.floor(d.getTime() / 1000) * 1000]; }""",
                                 [seconds_ahead, not_before_ms]))


def test_a_scheduled_message_is_sent_to_both_sides_and_a_cancelled_one_never(browser, server):
    r, people, admin_token = server
    api(r, "lgwan", "POST", "/api/v1/rooms", admin_token,
        {"name": "朝礼の連絡", "members": [people.staff["id"], people.partner["id"]]})
    found: list[str] = []
    clerk = open_page(browser, r, "lgwan", DESKTOP, axe=AXE.exists())
    log_in(clerk, "suzuki")
    partner = open_page(browser, r, "internet", PHONE, axe=AXE.exists())
    log_in(partner, "partner")
    talk_to(clerk, "朝礼の連絡")
    talk_to(partner, "朝礼の連絡")
    page = clerk.page
    # By id: the 予約送信 dialog's own メッセージ stays in the page a moment after it closed.
    box = page.locator("#composer-text")

    # One to cancel, due first: were the cancellation ignored, it would be sent before
    # the other one.  15 s leaves a busy machine time to cancel it before it is due.
    box.fill("この予約は取り消します")
    plus(clerk, "予約送信")
    dlg = page.get_by_role("dialog")
    assert dlg.get_by_label("メッセージ", exact=True).input_value() == "この予約は取り消します"
    value, cancelled_due = local_input(clerk, 15)
    dlg.get_by_label("送信日時").fill(value)
    dlg.get_by_role("button", name="予約する").click()
    page.locator(".toast", has_text="送信を予約しました").wait_for()
    assert box.input_value() == ""  # the draft went into the schedule
    chip = page.get_by_role("button", name="予約送信 1 件（予約一覧を開く）")
    chip.wait_for()  # the talk shows that something of ours is pending
    plus(clerk, "予約一覧")
    lst = page.get_by_role("dialog")
    lst.get_by_role("status").filter(has_text="予約中のメッセージ 1 件").wait_for()
    assert "朝礼の連絡" in lst.locator(".sched-item").inner_text()
    clerk.shot("scheduled-send-list-desktop")
    axe(clerk, "scheduled-send-list-desktop", found)
    lst.get_by_role("button", name=re.compile("この予約は取り消します.*を取り消す")).click()
    lst.get_by_role("status").filter(has_text="予約中のメッセージはありません。").wait_for()
    lst.get_by_role("button", name="閉じる").click()
    assert page.locator(".sched-chip").is_hidden()

    # The one to send: a few seconds ahead, and after the cancelled one was due.
    box.fill("明日の朝礼は9時からです")
    plus(clerk, "予約送信")
    dlg = page.get_by_role("dialog")
    dlg.get_by_label("送信日時").fill(local_input(clerk, 5, cancelled_due + 2000)[0])
    clerk.shot("scheduled-send-dialog-desktop")
    axe(clerk, "scheduled-send-dialog-desktop", found)
    dlg.get_by_role("button", name="予約する").click()
    page.locator(".toast", has_text="送信を予約しました").wait_for()
    clerk.shot("scheduled-send-chip-desktop")
    chip.click()  # 予約一覧, from the talk
    lst = page.get_by_role("dialog")
    lst.get_by_role("status").filter(has_text="予約中のメッセージ 1 件").wait_for()
    assert "明日の朝礼は9時からです" in lst.inner_text()
    # Sent while the list is open: the list empties and the clerk is told.
    message(partner, "明日の朝礼は9時からです").wait_for(timeout=SLOW)
    lst.get_by_role("status").filter(has_text="予約中のメッセージはありません。").wait_for()
    page.locator(".toast", has_text="予約したメッセージを「朝礼の連絡」に送信しました").wait_for()
    clerk.shot("scheduled-send-sent-desktop")
    lst.get_by_role("button", name="閉じる").click()
    message(clerk, "明日の朝礼は9時からです").wait_for()
    assert page.locator(".sched-chip").is_hidden()
    assert partner.page.locator(".sched-chip").is_hidden()  # nothing of the partner's
    partner.shot("scheduled-send-sent-phone")
    for w in (clerk, partner):
        assert w.page.locator(".msg", has_text="この予約は取り消します").count() == 0
    finish(partner)
    finish(clerk)
    assert found == []


def test_a_scheduled_message_that_may_no_longer_go_out_is_dropped_with_its_reason(browser, server):
    r, people, admin_token = server
    # Only the admin, who never uses the internet listener: a 個人番号 may be written
    # here, until an internet member joins.
    room = api(r, "lgwan", "POST", "/api/v1/rooms", admin_token, {"name": "庁内 予約", "members": []})
    admin = open_page(browser, r, "lgwan", PHONE)
    log_in(admin, "admin", people.admin_password)
    talk_to(admin, "庁内 予約")
    plus(admin, "予約送信")
    dlg = admin.page.get_by_role("dialog")
    dlg.get_by_label("メッセージ", exact=True).fill(f"個人番号 {MY_NUMBER} の方の件")
    dlg.get_by_label("送信日時").fill(local_input(admin, 10)[0])
    admin.shot("scheduled-send-dialog-phone")
    dlg.get_by_role("button", name="予約する").click()
    admin.page.locator(".toast", has_text="送信を予約しました").wait_for()
    api(r, "lgwan", "POST", f"/api/v1/rooms/{room['id']}/members", admin_token,
        {"account_id": people.partner["id"]})
    admin.page.locator(".toast", has_text="個人番号（マイナンバー）が含まれ、庁外の参加者が加わったトークには"
                       "送れないため送信されませんでした").wait_for(timeout=SLOW)
    admin.shot("scheduled-send-dropped-phone")
    assert admin.page.locator(".msg", has_text=MY_NUMBER).count() == 0
    # The toast goes; 予約一覧 keeps saying which was not sent, and why.
    plus(admin, "予約一覧")
    lst = admin.page.get_by_role("dialog")
    lst.get_by_role("status").filter(has_text="予約中のメッセージはありません。").wait_for()
    gone = lst.locator(".sched-dropped .sched-item")
    assert gone.count() == 1 and MY_NUMBER in gone.inner_text()
    assert "庁外の参加者が加わったトークには送れないため、送信されませんでした。" in gone.inner_text()
    admin.shot("scheduled-send-dropped-list-phone")
    finish(admin)
