"""The web client with directory sign-in (``[ldap]``): a staff member signs in with the
office directory's password, 設定 → パスワードの変更 says the password is changed in the
directory, and with the directory down the login screen says so (503
``directory_unavailable``) while the admin still gets in.  Real slapd
(tests/relay/slapd.py), real relayd, Debian's chromium."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.harness import relayd
from tests.relay import slapd
from tests.relay.slapd import PEOPLE, SERVICE_DN, SERVICE_PASSWORD, Slapd, User
from tests.web.conftest import DESKTOP, PHONE, WEB_CONFIG, api, finish, log_in, open_page

pytestmark = pytest.mark.skipif(not slapd.available(),
                                reason="Debian's slapd is not installed (bash .ci/bootstrap "
                                       "test installs it)")

TANAKA_PW = "tanaka directory pw 1"


def test_directory_sign_in_in_the_browser(browser: Any, tmp_path_factory: Any) -> None:
    tmp = tmp_path_factory.mktemp("ldap-web")
    pw_file = tmp / "ldap-bind.pw"
    pw_file.write_text(SERVICE_PASSWORD + "\n", encoding="utf-8")
    with Slapd([User("tanaka", TANAKA_PW, "田中 太郎")]) as s:
        ldap = {"enabled": True, "servers": [s.uri], "ca_file": str(s.ca_file),
                "bind_dn": SERVICE_DN, "bind_password_file": str(pw_file), "base_dn": PEOPLE,
                "timeout_s": 5.0}
        with relayd(tmp, WEB_CONFIG | {"ldap": ldap}) as r:
            assert r.admin_password
            token = api(r, "lgwan", "POST", "/api/v1/login",
                        json={"login": "admin", "password": r.admin_password})["token"]
            # Made by an admin as usual (a generated password that nobody will use).
            api(r, "lgwan", "POST", "/api/v1/admin/accounts", token,
                {"login": "tanaka", "kind": "staff", "display_name": "田中 太郎"})

            w = open_page(browser, r, "lgwan", PHONE)
            log_in(w, "tanaka", TANAKA_PW)  # no forced change: the directory's password
            page = w.page
            page.get_by_role("navigation", name="メニュー（下）").get_by_role(
                "button", name="設定").click()
            # No form that could only fail: 設定 says where the password is changed.
            section = page.locator("section.card", has=page.get_by_role("heading", name="パスワードの変更"))
            section.get_by_text("ディレクトリ").wait_for()
            assert "庁内の手順" in section.inner_text()
            assert page.get_by_label("今のパスワード").count() == 0
            w.shot("ldap-password-change-phone")
            finish(w)
            # A page made before it knew (or any client) still gets the clear refusal.
            tanaka = api(r, "lgwan", "POST", "/api/v1/login",
                         json={"login": "tanaka", "password": TANAKA_PW})["token"]
            refused = r.request_sync("lgwan", "POST", "/api/v1/me/password", token=tanaka,
                                     json={"old_password": TANAKA_PW, "new_password": "a new password 12"})
            assert refused.status == 409 and refused.json()["error"]["code"] == "password_in_directory"

            s.stop()
            w = open_page(browser, r, "lgwan", DESKTOP)
            w.allowed += ("status of 503",)  # the directory is down, on purpose
            page = w.page
            page.get_by_label("ログイン名", exact=True).fill("tanaka")
            page.get_by_label("パスワード", exact=True).fill(TANAKA_PW)
            page.get_by_role("button", name="ログイン").click()
            page.locator(".login .error").filter(has_text="ディレクトリ").wait_for()
            assert "しばらくしてから" in page.locator(".login .error").inner_text()
            w.shot("ldap-directory-down-desktop")
            log_in(w, "admin", r.admin_password)  # the local admin is never locked out
            finish(w)
