"""上長承認 in the web client against a real relayd: a clerk on LGWAN sends a file into
a room with an outside partner; the partner on the internet listener sees 承認待ち
and nothing to download; the approver of the clerk's department finds it on the
「承認」 page, looks at it and approves it; the partner then downloads it.  A second
file is refused with a reason, which the clerk sees on the card and the partner never
does.  Where approval applies and who approves is set with the real relayctl (through
relayd's control socket).  Screenshots on a phone and a desk; axe-core on the page."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.web.conftest import (AXE, DESKTOP, PHONE, accessibility, api, finish, log_in,
                                open_page)

REPO = Path(__file__).resolve().parents[2]
NOTE = "説明会のご案内\n日時: 12月10日 14:00\n会場: 本庁舎3階 第1会議室\n".encode()
DRAFT = "住民説明会 議事メモ（案）\n".encode()


def relayctl(r, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "relay.ctl", "--config", str(r.config_path),
                           *args], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 0, (args, done.stderr)
    return done.stdout


def open_room(w, name: str) -> None:
    w.page.get_by_role("button", name=re.compile(re.escape(name))).click()
    w.page.get_by_label("メッセージ", exact=True).wait_for()


def send_file(w, name: str, data: bytes) -> None:
    w.page.locator(".composer input[type=file][multiple]").set_input_files(
        [{"name": name, "mimeType": "text/plain", "buffer": data}])


def test_a_clerks_file_reaches_the_partner_after_the_approver_approves_it(browser, server):
    r, people, admin_token = server
    relayctl(r, "department", "add", "福祉部")
    relayctl(r, "account", "department", "tanaka", "福祉部")
    relayctl(r, "approval", "approver", "suzuki", "--department", "福祉部")
    relayctl(r, "approval", "require", "--department", "福祉部")
    api(r, "lgwan", "POST", "/api/v1/rooms", admin_token,
        {"name": "説明会 準備", "members": [people.staff["id"], people.staff2["id"],
                                         people.partner["id"]]})

    clerk = open_page(browser, r, "lgwan", DESKTOP)
    log_in(clerk, "tanaka")
    partner = open_page(browser, r, "internet", PHONE)
    log_in(partner, "partner")
    for w in (clerk, partner):
        open_room(w, "説明会 準備")
    # The clerk approves nothing: no 「承認」 tab.
    clerk_nav = clerk.page.get_by_role("navigation", name="メニュー", exact=True)
    clerk_nav.get_by_role("button", name="設定").wait_for()
    assert clerk_nav.get_by_role("button", name="承認").count() == 0 or \
        clerk_nav.get_by_role("button", name="承認").is_hidden()

    send_file(clerk, "説明会のご案内.txt", NOTE)
    mine = clerk.page.locator(".file-card", has_text="説明会のご案内.txt")
    mine.locator(".state-pending", has_text="承認待ち").wait_for(timeout=30000)
    assert mine.get_by_role("button", name="ダウンロード").count() == 1  # LGWAN has it
    theirs = partner.page.locator(".file-card", has_text="説明会のご案内.txt")
    theirs.locator(".state-pending", has_text="承認待ち").wait_for(timeout=30000)
    assert "庁内で確認中です" in theirs.inner_text()
    assert theirs.get_by_role("button", name="ダウンロード").count() == 0
    partner.shot("approval-pending-phone")
    clerk.shot("approval-pending-desktop")

    # The approver, at a desk: the 「承認」 tab, the file, its text, 承認する.
    boss = open_page(browser, r, "lgwan", DESKTOP, axe=True)
    log_in(boss, "suzuki")
    nav = boss.page.get_by_role("navigation", name="メニュー", exact=True)
    nav.get_by_role("button", name="承認").click()
    item = boss.page.locator(".approval-item", has_text="説明会のご案内.txt")
    item.wait_for()
    assert "説明会 準備" in item.inner_text() and "田中 一郎" in item.inner_text()
    item.get_by_role("button", name="「説明会のご案内.txt」の内容を確認").click()
    item.locator("pre.approval-text", has_text="本庁舎3階").wait_for()
    found = accessibility(boss, "approvals-desktop")
    boss.shot("approvals-queue-desktop")
    item.get_by_role("button", name="「説明会のご案内.txt」を承認する").click()
    boss.page.get_by_text("承認の依頼はありません。").wait_for()

    # The partner hears of it at once and downloads the file as it was sent.
    theirs.locator(".state-ready", has_text="承認済み").wait_for(timeout=30000)
    download = theirs.get_by_role("button", name="ダウンロード")
    with partner.page.expect_download() as got:
        download.click()
    path = got.value.path()
    assert path is not None and open(path, "rb").read() == NOTE
    mine.locator(".state-ready", has_text="承認済み").wait_for()
    partner.shot("approval-approved-phone")

    # A second file is refused with a reason: the clerk sees why, the partner never.
    send_file(clerk, "議事メモ案.txt", DRAFT)
    item = boss.page.locator(".approval-item", has_text="議事メモ案.txt")
    item.wait_for(timeout=30000)
    item.get_by_role("button", name="「議事メモ案.txt」を差し戻す").click()
    dlg = boss.page.get_by_role("dialog")
    dlg.get_by_role("button", name="差し戻す").click()  # no reason: the browser asks for one
    assert dlg.is_visible()
    dlg.get_by_label("差し戻しの理由").fill("案の段階のため、確定版を送ってください")
    boss.shot("approvals-refuse-desktop")
    dlg.get_by_role("button", name="差し戻す").click()
    boss.page.get_by_text("承認の依頼はありません。").wait_for()
    draft = clerk.page.locator(".file-card", has_text="議事メモ案.txt")
    draft.locator(".state-blocked", has_text="差し戻し").wait_for(timeout=30000)
    draft.get_by_text("確定版を送ってください").wait_for()
    other = partner.page.locator(".file-card", has_text="議事メモ案.txt")
    other.locator(".state-blocked", has_text="差し戻し").wait_for(timeout=30000)
    assert "確定版" not in partner.page.locator("main").inner_text()
    assert other.get_by_role("button", name="ダウンロード").count() == 0
    clerk.shot("approval-refused-desktop")
    partner.shot("approval-refused-phone")

    # The decided ones, on a phone.
    phone = open_page(browser, r, "lgwan", PHONE, axe=True)
    log_in(phone, "suzuki")
    phone.page.get_by_role("navigation", name="メニュー（下）").get_by_role("button", name="承認").click()
    phone.page.get_by_text("承認の依頼はありません。").wait_for()
    phone.page.get_by_label("表示する依頼", exact=True).select_option("all")
    phone.page.locator(".approval-item", has_text="議事メモ案.txt").get_by_text("確定版").wait_for()
    found += accessibility(phone, "approvals-phone")
    phone.shot("approvals-all-phone")
    for w in (clerk, partner, boss, phone):
        finish(w)
    if AXE.exists():
        assert found == []


@pytest.mark.skipif(not AXE.exists(), reason="axe-core is not installed (npm ci in tests/web)")
def test_an_admin_sets_where_approval_applies_and_who_approves(browser, server):
    r, people, admin_token = server
    relayctl(r, "department", "add", "総務部")
    admin = open_page(browser, r, "lgwan", DESKTOP, axe=True)
    log_in(admin, "admin", people.admin_password)
    page = admin.page
    page.get_by_role("navigation", name="メニュー", exact=True).get_by_role("button", name="承認").click()
    dept = page.locator(".approval-dept", has_text="総務部")
    dept.get_by_label(re.compile("総務部 のファイルは承認が必要")).check()
    dept.get_by_label("総務部 の承認者に追加する職員").select_option(people.staff2["id"])
    dept.locator(".chip", has_text="田中 一郎").wait_for()
    found = accessibility(admin, "approval-settings-desktop")
    admin.shot("approval-settings-desktop")
    shown = relayctl(r, "approval", "settings")
    assert re.search(r"department\t総務部\t承認必要 / required\ttanaka", shown), shown
    dept = page.locator(".approval-dept", has_text="総務部")
    dept.get_by_role("button", name="田中 一郎 を 総務部 の承認者から外す").click()
    page.locator(".approval-dept", has_text="総務部").locator(".chip").wait_for(state="detached")
    assert "tanaka" not in relayctl(r, "approval", "settings").split("総務部")[1].split("\n")[0]
    finish(admin)
    assert found == []
