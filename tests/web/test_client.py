"""The web client's promises that are not a conversation: the IME never sends, the
page keeps working when relayd restarts, the headers and the files served, and the
size of a first load."""

from __future__ import annotations

import re
import socket
from html.parser import HTMLParser

from relay.routing import ASSET_RE
from relay.webclient import load
from tests.e2e.harness import relayd, start_relayd
from tests.web.conftest import (DESKTOP, PHONE, WEB_CONFIG, api, finish, log_in, login_token,
                                open_page, prepare)

BUDGET_BYTES = 150 * 1024


def sent_texts(page) -> list[str]:
    return page.locator(".msg.own:not(.sending) .text").all_inner_texts()


def test_enter_confirms_a_japanese_conversion_and_never_sends_while_composing(browser, server):
    r, people, admin_token = server
    api(r, "lgwan", "POST", "/api/v1/rooms", admin_token,
        {"name": "IME 確認", "members": [people.staff["id"]]})
    api(r, "lgwan", "POST", "/api/v1/rooms", admin_token,
        {"name": "下書き 確認", "members": [people.staff["id"]]})
    w = open_page(browser, r, "lgwan")
    log_in(w, "suzuki")
    page = w.page
    page.get_by_role("button", name=re.compile("IME 確認")).click()
    box = page.get_by_label("メッセージ", exact=True)
    box.click()
    cdp = w.context.new_cdp_session(page)
    cdp.send("Input.imeSetComposition", {"text": "けんとう", "selectionStart": 4, "selectionEnd": 4})
    page.keyboard.press("Enter")  # confirms the conversion: must not send
    cdp.send("Input.insertText", {"text": "検討"})
    cdp.send("Input.imeSetComposition", {"text": "します", "selectionStart": 3, "selectionEnd": 3})
    page.keyboard.press("Enter")
    cdp.send("Input.insertText", {"text": "します"})
    # Safari reports the confirming Enter after compositionend, as keyCode 229.
    box.dispatch_event("keydown", {"key": "Enter", "keyCode": 229, "bubbles": True})
    box.dispatch_event("keydown", {"key": "Enter", "isComposing": True, "bubbles": True})
    page.wait_for_timeout(300)
    assert sent_texts(page) == []
    assert "検討" in box.input_value() and "します" in box.input_value()
    box.fill("一行目")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("二行目")
    assert sent_texts(page) == []
    page.keyboard.press("Enter")  # not composing: sends
    page.locator(".msg.own:not(.sending) .text", has_text="二行目").wait_for()
    assert sent_texts(page) == ["一行目\n二行目"]
    assert box.input_value() == ""

    # A draft stays with its room, in memory.
    box.fill("あとで送る下書き")
    page.get_by_role("button", name=re.compile("下書き 確認")).click()
    assert box.input_value() == ""
    page.get_by_role("button", name=re.compile("IME 確認")).click()
    assert box.input_value() == "あとで送る下書き"
    assert page.evaluate("localStorage.length + sessionStorage.length") == 0
    finish(w)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_page_reconnects_after_relayd_restarts_and_shows_what_was_posted_meanwhile(
        browser, tmp_path):
    config = {**WEB_CONFIG, "listeners": {"lgwan": {"port": free_port()},
                                          "internet": {"port": free_port()}}}
    r = start_relayd(tmp_path, config)
    try:
        people, admin_token = prepare(r)
        room = api(r, "lgwan", "POST", "/api/v1/rooms", admin_token,
                   {"name": "災害対策本部", "members": [people.staff["id"], people.staff2["id"]]})
        w = open_page(browser, r, "lgwan", PHONE)
        # While relayd is away the page's attempts to reach it fail, as they must.
        w.allowed = ("ERR_CONNECTION_REFUSED", "WebSocket connection to")
        log_in(w, "suzuki")
        w.page.get_by_role("button", name=re.compile("災害対策本部")).click()
        w.page.get_by_label("メッセージ", exact=True).wait_for()
        r.stop()
        w.page.get_by_text("接続が切れました").wait_for()
        r = start_relayd(tmp_path, config, state_dir=r.state_dir)
        token = login_token(r, "lgwan", "tanaka", "correct-horse-battery")
        api(r, "lgwan", "POST", f"/api/v1/rooms/{room['id']}/messages", token,
            {"body": "停電のため第二庁舎に移動します"})
        w.page.locator(".msg .text", has_text="第二庁舎").wait_for(timeout=30000)
        assert w.page.get_by_text("接続が切れました").is_hidden()
        # Live again: the next message comes over the new stream.
        api(r, "lgwan", "POST", f"/api/v1/rooms/{room['id']}/messages", token,
            {"body": "到着しました"})
        w.page.locator(".msg .text", has_text="到着しました").wait_for()
        # A session that ends (the account disabled) shows the login screen.  Up to
        # here nothing else may have gone wrong; from here a request the page still
        # had in flight (marking 既読) is answered 401, which the browser logs.
        assert w.problems() == []
        w.allowed += ("status of 401 (Unauthorized)",)
        admin = login_token(r, "lgwan", "admin", people.admin_password)
        api(r, "lgwan", "POST", f"/api/v1/admin/accounts/{people.staff['id']}/disable", admin)
        w.page.get_by_text("もう一度ログインしてください").wait_for()
        assert w.page.locator(".msg").count() == 0
        finish(w)
    finally:
        if r.proc.poll() is None:
            r.stop()


class _Scripts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.inline: list[str] = []
        self.srcs: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script" and "src" not in a:
            self.inline.append(tag)
        if tag == "style" or "style" in a or any(k.startswith("on") for k in a):
            self.inline.append(f"{tag} {a}")
        for k in ("src", "href"):
            if a.get(k, "").startswith("/assets/"):
                self.srcs.append(a[k])


def test_the_page_has_a_strict_policy_no_inline_code_and_hashed_immutable_assets(server):
    r, _, _ = server
    for zone in ("lgwan", "internet"):
        page = r.request_sync(zone, "GET", "/", headers={"Accept-Encoding": "identity"})
        assert page.status == 200
        h = page.headers
        csp = h["content-security-policy"]
        for part in ("default-src 'self'", "script-src 'self'", "style-src 'self'",
                     "frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'",
                     "object-src 'none'"):
            assert part in csp
        assert "unsafe" not in csp
        host = r.internet if zone == "internet" else r.lgwan
        assert f"{'wss' if zone == 'internet' else 'ws'}://{host}" in csp
        assert h["cache-control"] == "no-store"
        assert h["x-content-type-options"] == "nosniff"
        assert h["referrer-policy"] == "no-referrer"
        assert h["cross-origin-opener-policy"] == "same-origin"
        assert "camera=(self)" in h["permissions-policy"]
        assert "microphone=()" in h["permissions-policy"]
        parsed = _Scripts()
        parsed.feed(page.body.decode())
        assert parsed.inline == []
        assert parsed.srcs
        for src in parsed.srcs:
            assert ASSET_RE.fullmatch(src.removeprefix("/assets/"))
            got = r.request_sync(zone, "GET", src, headers={"Accept-Encoding": "gzip"})
            assert got.status == 200
            assert got.headers["cache-control"] == "public, max-age=31536000, immutable"
            assert got.headers["content-encoding"] == "gzip"
    # A Host that is not a plain host[:port] is not echoed into the policy.
    odd = r.request_sync("lgwan", "GET", "/", headers={"Host": "x; script-src *"})
    assert "script-src *" not in odd.headers["content-security-policy"]


def test_only_hashed_asset_names_are_served_and_nothing_else_of_the_disk(server):
    r, _, _ = server
    name = next(iter(load().assets))
    stem = name.split(".")[0]
    for path in (f"/assets/{stem}.js", "/assets/../relay/app.py", "/assets/%2e%2e%2fsetup.cfg",
                 "/assets/index.html", "/web/main.js", f"/assets/{name}/x",
                 f"/assets/{name[:-3]}.JS", "/index.html", "/assets/" + "a" * 17 + ".js",
                 "/assets/sw.js", "/sw.JS", "/web/sw.js", "/manifest.json",
                 "/assets/manifest.webmanifest"):
        assert r.request_sync("lgwan", "GET", path).status == 404, path
    # The service worker and the manifest are at their fixed addresses only, never
    # among the hashed assets (nor in the page's modulepreload list).
    assert not [n for n in load().assets if n.startswith(("sw.", "manifest."))]
    for path in ("/sw.js", "/manifest.webmanifest"):
        assert r.request_sync("lgwan", "GET", path).status == 200, path


def test_the_page_knows_its_session_without_a_401_and_the_stream_accepts_its_own_origin(server):
    r, people, _ = server
    anon = r.request_sync("lgwan", "GET", "/api/v1/session")
    assert anon.status == 200 and anon.json() == {"account": None, "zone": "lgwan", "cookie": True}
    login = r.request_sync("lgwan", "POST", "/api/v1/login",
                           json={"login": "suzuki", "password": "correct-horse-battery"})
    cookie = login.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie
    jar = cookie.split(";")[0]
    me = r.request_sync("lgwan", "GET", "/api/v1/session", headers={"Cookie": jar})
    assert me.json()["account"]["login"] == "suzuki"
    # A page of another site cannot post with the cookie.
    foreign = r.request_sync("lgwan", "POST", "/api/v1/logout",
                             headers={"Cookie": jar, "Origin": "http://evil.example"})
    assert foreign.error_code == "origin_forbidden"
    tls = r.request_sync("internet", "POST", "/api/v1/login",
                         json={"login": "partner", "password": "correct-horse-battery"})
    assert "Secure" in tls.headers["set-cookie"]


def test_the_first_load_stays_within_150_kb_of_compressed_js_and_css():
    bundle = load()
    total = sum(len(a.gzipped) for n, a in bundle.assets.items() if not n.endswith(".svg"))
    total += len(bundle.index.gzipped)
    assert total <= BUDGET_BYTES, f"{total} bytes compressed"
