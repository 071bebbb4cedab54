"""Browser tests: Debian's chromium, driven by Playwright, against a real relayd.

relayd runs on 127.0.0.1 (tests/e2e/harness.py) with its LGWAN listener on plain HTTP
(``auth.lgwan_http_cookie`` on, as a closed network without TLS would run it) and its
internet listener on TLS with the self-signed certificate.  Every page is watched:
console errors, uncaught exceptions and CSP violations are collected and each test
ends by asserting there were none, and every request the page makes is checked to
go to 127.0.0.1 only.  Screenshots go to tests/web/artifacts/ (not committed).

Skipped, with the reason, only when no chromium executable can be found
(.ci/bootstrap installs it in test mode).  The accessibility checks inject axe-core
(tests/web/package.json, installed by ``npm ci`` in .ci/bootstrap test mode into
tests/web/node_modules, never served by relayd) and are skipped without it.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit

import pytest

from tests.e2e.harness import Relayd, relayd

ARTIFACTS = Path(os.environ.get("KAKEHASHI_WEB_ARTIFACTS",
                                Path(__file__).resolve().parent / "artifacts"))
PASSWORD = "correct-horse-battery"
AXE = Path(__file__).resolve().parent / "node_modules" / "axe-core" / "axe.min.js"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 768}
# Login limits loose enough for many logins from 127.0.0.1 in one module.
WEB_CONFIG: dict[str, Any] = {
    "auth": {"lgwan_http_cookie": True, "login_burst_ip": 200, "login_burst_account": 50},
}


def find_chromium() -> str | None:
    for name in (os.environ.get("KAKEHASHI_CHROMIUM"), "chromium", "chromium-browser"):
        if name and (path := shutil.which(name)):
            return path
    return None


CHROMIUM = find_chromium()
try:
    import playwright.sync_api  # noqa: F401
    HAVE_PLAYWRIGHT = True
except ImportError:
    HAVE_PLAYWRIGHT = False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = None
    if CHROMIUM is None:
        reason = "no chromium executable (apt-get install chromium; .ci/bootstrap test does)"
    elif not HAVE_PLAYWRIGHT:
        reason = "playwright is not installed (pip install -e '.[test]')"
    if reason:
        here = Path(__file__).resolve().parent
        for item in items:
            if Path(str(item.fspath)).resolve().parent == here:
                item.add_marker(pytest.mark.skip(reason=reason))


@dataclass
class Accounts:
    admin: dict[str, Any]
    staff: dict[str, Any]
    staff2: dict[str, Any]
    partner: dict[str, Any]
    admin_password: str = PASSWORD


def api(r: Relayd, zone: str, method: str, path: str, token: str | None = None,
        json: Any = None) -> Any:
    reply = r.request_sync(zone, method, path, json=json, token=token)
    assert reply.status < 300, (method, path, reply.status, reply.body[:300])
    return reply.json() if reply.body else None


def login_token(r: Relayd, zone: str, login: str, password: str) -> str:
    return str(api(r, zone, "POST", "/api/v1/login",
                   json={"login": login, "password": password})["token"])


def prepare(r: Relayd) -> tuple[Accounts, str]:
    """The first admin gets a password of its own; three people are added."""
    admin_password = r.admin_password
    if admin_password is None:  # relayd may leave it in a root-only file instead of its log
        admin_password = (r.state_dir / "initial-admin-password").read_text().split()[-1]
    reply = api(r, "lgwan", "POST", "/api/v1/login",
                json={"login": "admin", "password": admin_password})
    token = reply["token"]
    if (reply["account"].get("password_change_required")
            or reply["account"].get("must_change_password")):
        api(r, "lgwan", "POST", "/api/v1/me/password", token,
            {"old_password": admin_password, "new_password": PASSWORD})
        token = login_token(r, "lgwan", "admin", PASSWORD)
        admin_password = PASSWORD
    made = {}
    for login, kind, name in (("suzuki", "staff", "鈴木 花子"), ("tanaka", "staff", "田中 一郎"),
                              ("partner", "external", "佐藤（ひまわり保育園）")):
        body = {"login": login, "kind": kind, "display_name": name, "password": PASSWORD}
        if kind == "external":  # the staff member responsible for it
            body["sponsor"] = made["suzuki"]["id"]
        made[login] = api(r, "lgwan", "POST", "/api/v1/admin/accounts", token, body)
    admin = api(r, "lgwan", "GET", "/api/v1/me", token)
    return Accounts(admin, made["suzuki"], made["tanaka"], made["partner"],
                    admin_password), token


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Relayd, Accounts, str]]:
    tmp = tmp_path_factory.mktemp("relayd")
    with relayd(tmp, WEB_CONFIG) as r:
        accounts, admin_token = prepare(r)
        yield r, accounts, admin_token


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        # The internet listener's certificate is self-signed: a context's
        # ignore_https_errors does not reach the fetch of a service worker's script
        # (web/sw.js), which Chromium then refuses with a console error.
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                              args=["--disable-gpu", "--disable-dev-shm-usage",
                                    "--ignore-certificate-errors"])
        yield b
        b.close()


@dataclass
class Watched:
    """A page and everything it complained about."""

    page: Any
    context: Any
    base: str
    errors: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)
    allowed: tuple[str, ...] = ()

    def problems(self) -> list[str]:
        found = [e for e in self.errors if not any(a in e for a in self.allowed)]
        return found + [f"request left 127.0.0.1: {u}" for u in self.outside]

    def shot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path))
        return path


CSP_LISTENER = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__csp.push(e.violatedDirective + ' ' + e.blockedURI);
});
"""


def open_page(browser: Any, r: Relayd, zone: str, viewport: dict[str, int] = DESKTOP,
              axe: bool = False, **context_args: Any) -> Watched:
    base = ("https://" if zone == "internet" else "http://") + (
        r.internet if zone == "internet" else r.lgwan)
    context = browser.new_context(viewport=viewport, locale="ja-JP", timezone_id="Asia/Tokyo",
                                  ignore_https_errors=zone == "internet", **context_args)
    context.add_init_script(CSP_LISTENER)
    if axe:  # an init script, like a browser extension: the page's CSP does not apply
        context.add_init_script(path=str(AXE))
    page = context.new_page()
    page.set_default_timeout(15000)
    w = Watched(page, context, base)

    def check_host(route: Any) -> None:
        host = urlsplit(route.request.url).hostname
        if host != "127.0.0.1":
            w.outside.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    context.route("**/*", check_host)
    page.on("console", lambda m: w.errors.append(f"console {m.type}: {m.text}")
            if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda exc: w.errors.append(f"page error: {exc}"))
    page.goto(base + "/")
    return w


def log_in(w: Watched, login: str, password: str = PASSWORD) -> None:
    page = w.page
    page.get_by_label("ログイン名", exact=True).fill(login)
    page.get_by_label("パスワード", exact=True).fill(password)
    page.get_by_role("button", name="ログイン").click()
    page.locator(".topbar .logout, .login .error:not(:empty), #pw-title").first.wait_for()
    if not page.locator(".topbar .logout").count():
        raise AssertionError(f"{login} could not log in: {page.locator('main').inner_text()}")


def accessibility(w: Watched, screen: str) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now (WCAG 2.x
    A and AA rules), one line each: rule, impact, the first elements it found."""
    found = w.page.evaluate("""async () => {
      const r = await axe.run(document, { runOnly: { type: "tag",
        values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"] },
        resultTypes: ["violations"] });
      return r.violations.map((v) => [v.impact,
        `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(" | ")}`]);
    }""")
    for impact, line in found:  # the lesser ones are shown with -s, for a person to weigh
        if impact not in ("serious", "critical"):
            print(f"axe {screen}: {line}")
    return [f"{screen}: {line}" for impact, line in found if impact in ("serious", "critical")]


def finish(w: Watched) -> None:
    """No console errors, page errors, CSP violations or requests elsewhere."""
    csp = w.page.evaluate("window.__csp || []")
    problems = w.problems() + [f"CSP violation: {v}" for v in csp]
    w.context.close()
    assert problems == []


# ------------------------------------------------------------------ what a person does in a talk


def talk_to(w: Watched, room_name: str, timeout: float | None = None) -> None:
    """Open a talk from the room list; its composer is then ready."""
    w.page.get_by_role("button", name=re.compile(re.escape(room_name))).click()
    w.page.get_by_label("メッセージ", exact=True).wait_for(timeout=timeout)


def message(w: Watched, text: str) -> Any:
    """The newest message whose own content (not a quote of it) has the text."""
    page = w.page
    return page.locator(".msg:not(.sending)").filter(has=page.locator(".bubble", has_text=text)).last


def plus(w: Watched, action: str) -> None:
    """The composer's 「＋」, then one of its items."""
    w.page.get_by_role("button", name="その他の投稿（アンケート・日程調整など）").click()
    w.page.get_by_role("dialog").get_by_role("button", name=action, exact=True).click()
