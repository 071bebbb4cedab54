"""Files through the web client: a photo from the internet arrives disarmed in LGWAN,
an executable is shown blocked with its reason, and an original is asked for and
released by an admin -- each step as the people involved see it."""

from __future__ import annotations

import io
import re

from PIL import Image

from tests.web.conftest import DESKTOP, PHONE, api, finish, log_in, open_page


def phone_photo() -> bytes:
    """A JPEG such as a phone makes: camera EXIF and a GPS position."""
    img = Image.new("RGB", (480, 320), (40, 120, 200))
    for x in range(0, 480, 40):
        for y in range(0, 320, 40):
            img.paste((230, 180, 40), (x, y, x + 20, y + 20))
    exif = Image.Exif()
    exif[0x010F] = "KakehashiPhone"
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (35.0, 41.0, 22.0)
    out = io.BytesIO()
    img.save(out, "JPEG", exif=exif, quality=85)
    return out.getvalue()


def elf_binary() -> bytes:
    return b"\x7fELF\x02\x01\x01" + bytes(9) + b"\x02\x00\x3e\x00" + bytes(200)


def test_a_photo_from_the_internet_arrives_disarmed_an_executable_is_blocked_and_an_original_is_released(
        browser, server):
    r, people, admin_token = server
    api(r, "lgwan", "POST", "/api/v1/rooms", admin_token,
        {"name": "保育所 現場写真", "members": [people.staff2["id"], people.partner["id"]]})
    partner = open_page(browser, r, "internet", PHONE)
    log_in(partner, "partner")
    clerk = open_page(browser, r, "lgwan")
    log_in(clerk, "tanaka")
    for w in (partner, clerk):
        w.page.get_by_role("button", name=re.compile("保育所 現場写真")).click()
        w.page.get_by_label("メッセージ", exact=True).wait_for()

    upload = partner.page.locator(".composer input[type=file][multiple]")
    upload.set_input_files([{"name": "園庭.jpg", "mimeType": "image/jpeg", "buffer": phone_photo()}])
    # One photo: 「書き込んでから送る」 is offered (test_annotate.py); this one goes as it is.
    partner.page.get_by_role("dialog", name="写真を送る").get_by_role("button", name="そのまま送る").click()
    # LGWAN sees the photo disarmed, with what was removed, and its preview.
    card = clerk.page.locator(".file-card", has_text="園庭.jpg")
    card.locator(".state-ready", has_text="無害化済み").wait_for(timeout=30000)
    assert "位置情報（GPS）" in card.inner_text()
    preview = card.locator("img.preview")
    preview.wait_for()
    clerk.page.wait_for_function("img => img.complete && img.naturalWidth === 480",
                                 arg=preview.element_handle())

    upload.set_input_files([{"name": "setup.exe", "mimeType": "application/octet-stream",
                             "buffer": elf_binary()}])
    blocked = clerk.page.locator(".file-card", has_text="setup.exe")
    blocked.locator(".state-blocked", has_text="ブロック").wait_for(timeout=30000)
    assert "実行ファイル" in blocked.inner_text()
    assert blocked.get_by_role("button", name="ダウンロード").count() == 0
    partner.page.locator(".file-card", has_text="setup.exe").locator(".state-blocked").wait_for()
    partner.shot("files-phone")
    clerk.shot("files-desktop")

    # The clerk asks for the original of the photo; an admin approves it.
    card.get_by_role("button", name="原本を申請").click()
    dlg = clerk.page.get_by_role("dialog")
    dlg.get_by_label("申請の理由").fill("園庭の遊具の破損箇所を拡大して確認するため")
    dlg.get_by_role("button", name="申請する").click()
    card.get_by_text("原本を申請中").wait_for()

    admin = open_page(browser, r, "lgwan")
    log_in(admin, "admin", people.admin_password)
    admin.page.get_by_role("button", name="管理").click()
    admin.page.get_by_role("heading", name=re.compile("アカウント一覧")).wait_for()
    admin.shot("admin-accounts-desktop")
    admin.page.get_by_role("tab", name="原本の申請").click()
    request = admin.page.locator(".request", has_text="園庭の遊具")
    request.get_by_label("メモ（申請者に伝わります）").fill("確認後は削除してください")
    admin.shot("admin-originals-desktop")
    request.get_by_role("button", name="承認する").click()
    admin.page.get_by_text("審査待ち（0 件）").wait_for()

    link = card.get_by_role("link", name="原本をダウンロード")
    link.wait_for()
    with clerk.page.expect_download() as got:
        link.click()
    path = got.value.path()
    assert path is not None and open(path, "rb").read() == phone_photo()

    admin.page.get_by_role("tab", name="監査ログ").click()
    admin.page.get_by_role("button", name="改ざんがないか検証する").click()
    admin.page.get_by_text("改ざんはありません").wait_for()
    assert admin.page.locator("td code", has_text="original.approved").count() == 1
    admin.shot("admin-audit-desktop")
    admin.page.set_viewport_size(PHONE)
    admin.page.get_by_role("tab", name="アカウント").click()
    admin.page.get_by_role("heading", name=re.compile("アカウント一覧")).wait_for()
    admin.shot("admin-accounts-phone")
    for w in (admin, partner, clerk):
        finish(w)
