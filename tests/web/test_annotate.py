"""写真に書き込む: a member writes on a photo (arrow, circle, box, free line, text) before
sending it, in a real browser against a real relayd.  The partner on a phone picks a
photo with GPS and an EXIF rotation through 添付, draws with a mouse and a finger,
types Japanese through the IME, undoes and redoes, and sends; the LGWAN clerk sees
the disarmed picture, and the bytes are checked with Pillow: upright, full size, the
marks where they were drawn, no EXIF.  At a desk: a dropped screenshot is annotated
from the keyboard alone (text at the centre), a too-large image is capped, a pasted
one gets the same choice, one the browser cannot draw still goes as it is, several
files go out without a question, やめる sends nothing.  axe-core checks the choice and
the editor on the phone and at the desk."""

from __future__ import annotations

import base64
import io
import re
import time

import pytest
from PIL import Image

from tests.web.conftest import (AXE, DESKTOP, PASSWORD, PHONE, accessibility, api, finish,
                                log_in, login_token, open_page)

BLUE = (40, 120, 200)
GREEN = (20, 200, 60)


def site_photo() -> bytes:
    """A JPEG as a phone stores a portrait photo: 640×480 pixels with EXIF Orientation 6
    (shown turned 90° clockwise, 480×640), a camera name and a GPS position.  The
    stored top-left corner is green: upright it is the top-right one."""
    img = Image.new("RGB", (640, 480), BLUE)
    img.paste(GREEN, (0, 0, 80, 80))
    exif = Image.Exif()
    exif[0x010F] = "KakehashiPhone"
    exif[0x0112] = 6
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (35.0, 41.0, 22.0)
    gps[3] = "E"
    gps[4] = (139.0, 41.0, 30.0)
    out = io.BytesIO()
    img.save(out, "JPEG", exif=exif, quality=92)
    return out.getvalue()


def png(size: tuple[int, int], colour: tuple[int, int, int] = (235, 235, 235)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


def editor(w):
    dlg = w.page.get_by_role("dialog", name="写真に書き込む")
    dlg.locator("canvas.annotate-canvas[data-ready=true]").wait_for(timeout=60000)
    return dlg


def at(canvas, fx: float, fy: float) -> tuple[float, float]:
    """A point on the canvas as it is shown, as a share of its width and height."""
    box = canvas.bounding_box()
    return box["x"] + box["width"] * fx, box["y"] + box["height"] * fy


def center(locator) -> tuple[float, float]:
    box = locator.bounding_box()
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def drag(w, canvas, start: tuple[float, float], end: tuple[float, float]) -> None:
    page = w.page
    page.mouse.move(*at(canvas, *start))
    page.mouse.down()
    page.mouse.move(*at(canvas, *end), steps=8)
    page.mouse.up()


def touch_drag(w, canvas, start: tuple[float, float], end: tuple[float, float]) -> None:
    """A finger on the screen (Chromium's touch input: pointerType "touch")."""
    cdp = w.context.new_cdp_session(w.page)
    (x0, y0), (x1, y1) = at(canvas, *start), at(canvas, *end)
    # Event times a finger's pace apart, ending at rest: a stroke that ends moving
    # fast is a fling to Chromium, and the next tap would only stop the fling.
    t0 = time.time()

    def send(kind: str, step: int, points: list[dict[str, float]]) -> None:
        cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points,
                                              "timestamp": t0 + step * 0.05})
    send("touchStart", 0, [{"x": x0, "y": y0}])
    for i in range(1, 9):
        send("touchMove", i, [{"x": x0 + (x1 - x0) * i / 8, "y": y0 + (y1 - y0) * i / 8}])
    for i in range(9, 13):
        send("touchMove", i, [{"x": x1, "y": y1}])
    send("touchEnd", 13, [])
    cdp.detach()


def canvas_pixel(w, fx: float, fy: float) -> tuple[int, int, int]:
    # Copied to a canvas of its own: reading the editor's canvas again and again would
    # make Chromium warn (willReadFrequently) on the console.
    return tuple(w.page.evaluate("""([fx, fy]) => {
      const c = document.querySelector(".annotate-canvas");
      const one = document.createElement("canvas");
      one.width = one.height = 1;
      const g = one.getContext("2d");
      g.drawImage(c, Math.round(c.width * fx), Math.round(c.height * fy), 1, 1, 0, 0, 1, 1);
      const d = g.getImageData(0, 0, 1, 1).data;
      return [d[0], d[1], d[2]];
    }""", [fx, fy]))


def canvas_image(w) -> Image.Image:
    """The editor's canvas as it is now, for Pillow."""
    url = w.page.evaluate("document.querySelector('.annotate-canvas').toDataURL('image/png')")
    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))


def shapes(dlg) -> int:
    return int(dlg.locator("canvas.annotate-canvas").get_attribute("data-shapes") or 0)


def near(img: Image.Image, fx: float, fy: float, test, radius: int = 3) -> bool:
    """Some pixel within `radius` of the point passes `test` (JPEG softens edges)."""
    rgb = img.convert("RGB")
    cx, cy = round(img.width * fx), round(img.height * fy)
    return any(test(rgb.getpixel((x, y)))
               for x in range(max(0, cx - radius), min(img.width, cx + radius + 1))
               for y in range(max(0, cy - radius), min(img.height, cy + radius + 1)))


def red(p) -> bool:
    return p[0] > 170 and p[1] < 80 and p[2] < 90


def blue_mark(p) -> bool:
    return p[0] < 60 and p[1] < 130 and p[2] > 220 and abs(p[1] - BLUE[1]) > 25


def yellow(p) -> bool:
    return p[0] > 200 and p[1] > 170 and p[2] < 90


def white(p) -> bool:
    return min(p) > 215


def like(p, colour, tolerance: int = 30) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(p, colour))


def content(r, zone: str, token: str, file_id: str) -> bytes:
    reply = r.request_sync(zone, "GET", f"/api/v1/files/{file_id}/content", token=token)
    assert reply.status == 200, (reply.status, reply.body[:200])
    return reply.body


def test_a_partner_writes_on_a_phone_photo_and_the_clerk_gets_it_disarmed_upright_and_without_gps(
        browser, server):
    r, people, admin_token = server
    room = api(r, "lgwan", "POST", "/api/v1/rooms", admin_token,
               {"name": "現場対応 写真", "members": [people.staff["id"], people.partner["id"]]})
    partner = open_page(browser, r, "internet", PHONE, axe=AXE.exists(), has_touch=True)
    log_in(partner, "partner")
    clerk = open_page(browser, r, "lgwan")
    log_in(clerk, "suzuki")
    for w in (partner, clerk):
        w.page.get_by_role("button", name=re.compile("現場対応 写真")).click()
        w.page.get_by_label("メッセージ", exact=True).wait_for()
    page = partner.page

    # One photo through the 添付 file chooser: the choice, with a preview.
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="添付", exact=True).click()
    chooser.value.set_files([{"name": "現場.jpg", "mimeType": "image/jpeg", "buffer": site_photo()}])
    offer = page.get_by_role("dialog", name="写真を送る")
    offer.get_by_role("button", name="そのまま送る").wait_for()
    page.wait_for_function("() => { const i = document.querySelector('.offer-preview');"
                           " return i && i.complete && i.naturalWidth > 0; }")
    partner.shot("annotate-offer-phone")
    found = accessibility(partner, "annotate-offer-phone") if AXE.exists() else []
    offer.get_by_role("button", name="書き込んでから送る").click()
    dlg = editor(partner)
    canvas = dlg.locator("canvas.annotate-canvas")
    # Upright and at full size: the EXIF rotation is applied, the pixels are the photo's.
    assert canvas.evaluate("c => [c.width, c.height]") == [480, 640]
    assert like(canvas_pixel(partner, 0.95, 0.05), GREEN) and like(canvas_pixel(partner, 0.05, 0.05), BLUE)
    assert dlg.get_by_role("button", name="矢印").get_attribute("aria-pressed") == "true"

    # A thick red arrow with the mouse, then a circle.
    dlg.get_by_role("button", name="太", exact=True).click()
    drag(partner, canvas, (0.2, 0.7), (0.7, 0.3))
    assert shapes(dlg) == 1
    assert red(canvas_pixel(partner, 0.45, 0.5))
    dlg.get_by_role("button", name="丸", exact=True).click()
    drag(partner, canvas, (0.55, 0.55), (0.9, 0.9))
    assert shapes(dlg) == 2

    # A blue box: 元に戻す takes it off the photo, やり直す puts it back, and off again.
    dlg.get_by_role("button", name="青", exact=True).click()
    dlg.get_by_role("button", name="四角", exact=True).click()
    drag(partner, canvas, (0.1, 0.1), (0.4, 0.3))
    assert shapes(dlg) == 3 and blue_mark(canvas_pixel(partner, 0.1, 0.2))
    undo = dlg.get_by_role("button", name="元に戻す")
    undo.click()
    assert shapes(dlg) == 2 and like(canvas_pixel(partner, 0.1, 0.2), BLUE, 4)
    dlg.get_by_role("button", name="やり直す").click()
    assert shapes(dlg) == 3 and blue_mark(canvas_pixel(partner, 0.1, 0.2))
    undo.click()
    assert shapes(dlg) == 2 and like(canvas_pixel(partner, 0.1, 0.2), BLUE, 4)
    assert red(canvas_pixel(partner, 0.45, 0.5))  # the arrow stays

    # A free line in white with a finger.
    dlg.get_by_role("button", name="白", exact=True).click()
    dlg.get_by_role("button", name="手書き").click()
    touch_drag(partner, canvas, (0.1, 0.92), (0.45, 0.92))
    assert shapes(dlg) == 3 and white(canvas_pixel(partner, 0.3, 0.92))

    # Yellow text where the finger tapped, typed through the IME: the Enter that
    # confirms the conversion does not place it yet.
    # A finger chooses 文字, then the place: only then is the text box focused (the
    # phone's keyboard would cover the photo).
    dlg.get_by_role("button", name="黄", exact=True).click()
    page.touchscreen.tap(*center(dlg.get_by_role("button", name="文字", exact=True)))
    text = dlg.get_by_label("書き込む文字")
    text.wait_for()
    dlg.get_by_text("文字を置く所をタップして").wait_for()
    assert not text.evaluate("e => e === document.activeElement")
    page.touchscreen.tap(*at(canvas, 0.5, 0.15))
    assert text.evaluate("e => e === document.activeElement")
    cdp = partner.context.new_cdp_session(page)
    cdp.send("Input.imeSetComposition", {"text": "ここをおす", "selectionStart": 5, "selectionEnd": 5})
    page.keyboard.press("Enter")
    cdp.send("Input.insertText", {"text": "ここを押す"})
    assert shapes(dlg) == 3 and text.input_value() == "ここを押す"
    partner.shot("annotate-editor-phone")
    found += accessibility(partner, "annotate-editor-phone") if AXE.exists() else []
    page.keyboard.press("Enter")
    assert shapes(dlg) == 4 and text.input_value() == ""
    partner.shot("annotate-drawn-phone")
    # The narrowest phones: the tools still fit, nothing scrolls sideways.
    page.set_viewport_size({"width": 360, "height": 740})
    page.wait_for_function("() => { const d = document.querySelector('dialog.annotate');"
                           " return d.getBoundingClientRect().width <= 360 && d.scrollWidth <= d.clientWidth; }")
    assert canvas.bounding_box()["width"] <= 360
    partner.shot("annotate-editor-360")
    page.set_viewport_size(PHONE)

    dlg.get_by_role("button", name="送信", exact=True).click()
    mine = page.locator(".file-card", has_text="現場_書き込み.jpg")
    mine.wait_for(timeout=60000)
    assert page.get_by_role("dialog").count() == 0

    # The clerk sees the disarmed picture, upright, at the photo's size.
    card = clerk.page.locator(".file-card", has_text="現場_書き込み.jpg")
    card.locator(".state-ready", has_text="無害化済み").wait_for(timeout=60000)
    preview = card.locator("img.preview")
    preview.wait_for()
    clerk.page.wait_for_function("img => img.complete && img.naturalWidth === 480 && img.naturalHeight === 640",
                                 arg=preview.element_handle())
    clerk.shot("annotate-received-desktop")
    file_id = card.get_attribute("data-file")
    assert file_id

    # What the browser sent (the sender's side receives its original) and what LGWAN
    # received: upright, full size, the marks where they were drawn, and no EXIF --
    # the GPS position was never uploaded.
    clerk_token = login_token(r, "lgwan", "suzuki", PASSWORD)
    sent = Image.open(io.BytesIO(content(r, "internet", login_token(r, "internet", "partner", PASSWORD), file_id)))
    got = Image.open(io.BytesIO(content(r, "lgwan", clerk_token, file_id)))
    for img in (sent, got):
        assert img.format == "JPEG" and img.size == (480, 640)
        assert len(img.getexif()) == 0 and "exif" not in img.info
        assert near(img, 0.95, 0.05, lambda p: like(p, GREEN))  # upright
        assert near(img, 0.45, 0.5, red)                         # the arrow
        assert near(img, 0.68, 0.32, red)                        # its head
        assert near(img, 0.9, 0.725, red)                        # the circle's right edge
        assert not near(img, 0.725, 0.725, red)                  # not filled
        assert not near(img, 0.1, 0.2, blue_mark)                # the box was undone
        assert near(img, 0.3, 0.92, white)                       # the finger's line
        assert near(img, 0.5, 0.15, yellow, radius=25)           # the text
        assert not near(img, 0.05, 0.5, red, radius=10)
    assert [m["attachments"][0]["name"] for m in api(
        r, "lgwan", "GET", f"/api/v1/rooms/{room['id']}/messages", clerk_token)["messages"]
        if m.get("attachments")] == ["現場_書き込み.jpg"]
    assert found == []
    finish(partner)
    finish(clerk)


@pytest.mark.skipif(not AXE.exists(), reason="axe-core is not installed (npm ci in tests/web; .ci/bootstrap test does)")
def test_at_a_desk_a_dropped_screenshot_gets_text_from_the_keyboard_and_several_files_go_at_once(
        browser, server):
    r, people, admin_token = server
    room = api(r, "lgwan", "POST", "/api/v1/rooms", admin_token,
               {"name": "手順書 作成", "members": [people.staff["id"], people.staff2["id"]]})
    w = open_page(browser, r, "lgwan", DESKTOP, axe=True)
    log_in(w, "suzuki")
    page = w.page
    page.get_by_role("button", name=re.compile("手順書 作成")).click()
    page.get_by_label("メッセージ", exact=True).wait_for()
    found: list[str] = []

    # A screenshot wider than the cap, dropped on the composer.
    page.evaluate("""(b64) => {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const dt = new DataTransfer();
      dt.items.add(new File([bytes], "画面.png", { type: "image/png" }));
      document.querySelector(".composer").dispatchEvent(
        new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true }));
    }""", base64.b64encode(png((5000, 1200))).decode())
    offer = page.get_by_role("dialog", name="写真を送る")
    plain = offer.get_by_role("button", name="そのまま送る")
    plain.wait_for()
    assert plain.evaluate("e => e === document.activeElement")
    found += accessibility(w, "annotate-offer-desktop")
    w.shot("annotate-offer-desktop")

    # Keyboard only: to 書き込んでから送る, to 文字, type, Enter puts it at the centre.
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")
    dlg = editor(w)
    canvas = dlg.locator("canvas.annotate-canvas")
    assert canvas.evaluate("c => [c.width, c.height]") == [4096, 983]
    found += accessibility(w, "annotate-editor-desktop")
    assert dlg.get_by_role("button", name="矢印").evaluate("e => e === document.activeElement")
    for _ in range(4):
        page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "文字"
    page.keyboard.press("Enter")
    assert dlg.get_by_role("button", name="文字", exact=True).get_attribute("aria-pressed") == "true"
    page.keyboard.type("確認済み")
    page.keyboard.press("Enter")
    assert shapes(dlg) == 1
    w.shot("annotate-editor-desktop")
    shown = canvas_image(w)
    assert near(shown, 0.5, 0.5, red, radius=40) and not near(shown, 0.1, 0.5, red, radius=10)
    found += accessibility(w, "annotate-text-desktop")
    # Ctrl+Z from the keyboard, then Ctrl+Y.
    page.keyboard.press("Escape")  # out of the text box: clears nothing, it is empty
    dlg.get_by_role("button", name="元に戻す").focus()
    page.keyboard.press("Control+z")
    assert shapes(dlg) == 0
    page.keyboard.press("Control+y")
    assert shapes(dlg) == 1
    send = dlg.get_by_role("button", name="送信", exact=True)
    send.focus()
    page.keyboard.press("Enter")
    page.locator(".file-card", has_text="画面_書き込み.png").wait_for(timeout=60000)
    token = login_token(r, "lgwan", "suzuki", PASSWORD)
    file_id = page.locator(".file-card", has_text="画面_書き込み.png").get_attribute("data-file")
    img = Image.open(io.BytesIO(content(r, "lgwan", token, file_id)))
    assert img.format == "PNG" and img.size == (4096, 983)
    assert near(img, 0.5, 0.5, red, radius=40)
    assert not near(img, 0.1, 0.5, red, radius=10)
    assert page.get_by_label("メッセージ", exact=True).evaluate("e => e === document.activeElement")

    # やめる (after Esc refused to throw the drawing away) sends nothing.
    upload = page.locator(".composer input[type=file][multiple]")
    upload.set_input_files([{"name": "下書き.jpg", "mimeType": "image/jpeg", "buffer": site_photo()}])
    page.get_by_role("dialog", name="写真を送る").get_by_role("button", name="書き込んでから送る").click()
    dlg = editor(w)
    drag(w, dlg.locator("canvas.annotate-canvas"), (0.2, 0.2), (0.6, 0.6))
    page.keyboard.press("Escape")
    dlg.get_by_text("「やめる」を押してください").wait_for()
    assert shapes(dlg) == 1
    dlg.get_by_role("button", name="やめる").click()
    dlg.wait_for(state="detached")
    box = page.get_by_label("メッセージ", exact=True)
    box.fill("写真は送りませんでした")
    box.press("Enter")
    page.locator(".msg.own:not(.sending) .text", has_text="写真は送りませんでした").wait_for()

    # A pasted screenshot gets the same choice; closing it sends nothing.
    page.get_by_label("メッセージ", exact=True).evaluate("""(box, b64) => {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const dt = new DataTransfer();
      dt.items.add(new File([bytes], "image.png", { type: "image/png" }));
      box.dispatchEvent(new ClipboardEvent("paste", { clipboardData: dt, bubbles: true, cancelable: true }));
    }""", base64.b64encode(png((300, 200))).decode())
    offer = page.get_by_role("dialog", name="写真を送る")
    offer.get_by_text("image.png").wait_for()
    offer.get_by_role("button", name="閉じる").click()
    offer.wait_for(state="detached")

    # An image this browser cannot draw still goes as it is from the editor.
    upload.set_input_files([{"name": "壊れた.jpg", "mimeType": "image/jpeg", "buffer": b"\xff\xd8not a jpeg"}])
    page.get_by_role("dialog", name="写真を送る").get_by_role("button", name="書き込んでから送る").click()
    dlg = page.get_by_role("dialog", name="写真に書き込む")
    dlg.get_by_role("alert").filter(has_text="この画像には書き込めません").wait_for()
    dlg.get_by_role("button", name="そのまま送る").click()
    page.locator(".file-card", has_text="壊れた.jpg").wait_for(timeout=60000)

    # Several files at once: no question, all of them are sent.
    upload.set_input_files([{"name": f"現場{i}.jpg", "mimeType": "image/jpeg", "buffer": site_photo()}
                            for i in (1, 2, 3)])
    for i in (1, 2, 3):
        page.locator(".file-card", has_text=f"現場{i}.jpg").wait_for(timeout=60000)
    assert page.get_by_role("dialog").count() == 0
    names = [m["attachments"][0]["name"] for m in api(
        r, "lgwan", "GET", f"/api/v1/rooms/{room['id']}/messages", token)["messages"]
        if m.get("attachments")]
    assert sorted(names) == ["壊れた.jpg", "現場1.jpg", "現場2.jpg", "現場3.jpg", "画面_書き込み.png"]
    assert found == []
    finish(w)
