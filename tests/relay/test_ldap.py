"""Sign-in against the office directory (relay.ldapauth), against a real OpenLDAP server
(Debian's slapd, started by tests/relay/slapd.py with its own config, database and
certificate) and a real relayd process on 127.0.0.1: StartTLS with a verified
certificate, search then bind, the login escaped in the filter, AD's disabled bit, the
lockout, a directory that is down or hangs, and accounts made at the first sign-in."""

from __future__ import annotations

import dataclasses
import json
import signal
import socket
import sqlite3
import threading
from pathlib import Path
from typing import Any, Iterator

import pytest
import trio
from cryptography.hazmat.primitives import serialization

from relay.ldap_config import LdapConfig
from relay.ldapauth import DirectoryUnavailable, check_sync
from tests.e2e.harness import Relayd, relayd, toml_dumps
from tests.e2e.test_control import relayctl
from tests.e2e.test_operations import wait_for
from tests.relay import slapd
from tests.relay.slapd import PEOPLE, SERVICE_DN, SERVICE_PASSWORD, Slapd, User

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(
    not slapd.available(), reason="Debian's slapd is not installed (bash .ci/bootstrap test "
                                  "installs it)")]

TANAKA_PW = "tanaka directory pw 1"
SUZUKI_PW = "suzuki directory pw 1"
KIMURA_PW = "kimura directory pw 1"
YAMADA_PW = "yamada directory pw 1"
LOCAL_PW = "a local password 1"
USERS = [
    User("tanaka", TANAKA_PW, "田中 太郎", "総務部/総務課", "tanaka@example.lg.jp"),
    User("suzuki", SUZUKI_PW, "鈴木 花子", "総務部/総務課", "suzuki@example.lg.jp"),
    # AD's userAccountControl 514 = NORMAL_ACCOUNT | ACCOUNTDISABLE: the password is
    # right and the bind works, but the account is off.
    User("kimura", KIMURA_PW, "木村 一郎", uac=514),
    User("yamada", YAMADA_PW, "山田 次郎"),
]


@pytest.fixture(scope="module")
def directory() -> Iterator[Slapd]:
    with Slapd(USERS) as s:
        yield s


def ldap_table(s: Slapd, tmp_path: Path, **over: Any) -> dict[str, Any]:
    pw = tmp_path / "ldap-bind.pw"
    pw.write_text(SERVICE_PASSWORD + "\n", encoding="utf-8")
    return {"enabled": True, "servers": [s.uri], "ca_file": str(s.ca_file),
            "bind_dn": SERVICE_DN, "bind_password_file": str(pw), "base_dn": PEOPLE,
            "user_filter": "(&(objectClass=inetOrgPerson)(uid={login}))",
            "department_attribute": "departmentNumber", "timeout_s": 5.0} | over


def config(s: Slapd, tmp_path: Path, **over: Any) -> dict[str, Any]:
    return {"ldap": ldap_table(s, tmp_path, **over),
            "store": {"password_memory_kib": 64},
            # Every test speaks from 127.0.0.1: the per-login limit is the one looked at.
            "auth": {"login_burst_ip": 1000, "login_refill_s_account": 600.0}}


def login(r: Relayd, name: str, password: str, zone: str = "lgwan") -> Any:
    return r.request_sync(zone, "POST", "/api/v1/login",
                          json={"login": name, "password": password})


def add_account(r: Relayd, name: str, kind: str, password: str = LOCAL_PW) -> None:
    # An outside partner has a staff member answering for it.
    sponsor = ("--sponsor", "tanaka") if kind == "external" else ()
    made = relayctl(r, "account", "add", name, "--kind", kind, *sponsor, "--password-stdin",
                    stdin=password + "\n")
    assert made.returncode == 0, made.stderr


def audit(r: Relayd) -> list[tuple[str, str | None, dict[str, Any]]]:
    db = sqlite3.connect(f"file:{r.state_dir / 'kakehashi.db'}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT action, subject, data FROM audit ORDER BY id").fetchall()
    finally:
        db.close()
    return [(a, s, json.loads(d)) for a, s, d in rows]


def state_bytes(r: Relayd) -> bytes:
    return b"".join(p.read_bytes() for p in r.state_dir.rglob("*") if p.is_file())


# --------------------------------------------------------------------------- relayd


async def test_staff_sign_in_with_the_directory_password_others_keep_theirs(
        directory: Slapd, tmp_path: Path) -> None:
    with relayd(tmp_path, config(directory, tmp_path)) as r:
        add_account(r, "tanaka", "staff")
        add_account(r, "kimura", "staff")
        add_account(r, "ghost", "staff")  # here, but not in the directory
        add_account(r, "hoikuen", "external")
        ok = login(r, "tanaka", TANAKA_PW)
        assert ok.status == 200, ok.body
        assert ok.json()["account"]["login"] == "tanaka"
        # The local password no longer opens a directory account.
        assert login(r, "tanaka", LOCAL_PW).error_code == "invalid_credentials"
        assert login(r, "tanaka", "").error_code == "invalid_credentials"
        # An outside partner and the local admin keep their local passwords.
        assert login(r, "hoikuen", LOCAL_PW, "internet").status == 200
        assert r.admin_password and login(r, "admin", r.admin_password).status == 200
        for name, password in [("ghost", LOCAL_PW), ("nobody", TANAKA_PW),
                               ("suzuki", SUZUKI_PW),  # in the directory, no account here
                               ("kimura", KIMURA_PW),  # AD says disabled
                               ("*)(uid=*", TANAKA_PW), ("tan*", TANAKA_PW)]:
            reply = login(r, name, password)
            assert (reply.status, reply.error_code) == (401, "invalid_credentials"), name
        # The password is the directory's to change.
        token = ok.json()["token"]
        change = r.request_sync("lgwan", "POST", "/api/v1/me/password", token=token,
                                json={"old_password": TANAKA_PW, "new_password": "x" * 12})
        assert (change.status, change.error_code) == (409, "password_in_directory")
        assert "ディレクトリ" in change.json()["error"]["message"]
        reset = relayctl(r, "account", "reset", "tanaka")
        assert reset.returncode != 0 and "password_in_directory" in reset.stderr
        # An account made with a one-time password: the directory's is the one in
        # use, so no forced change (which the directory account could never make).
        made = relayctl(r, "account", "add", "yamada", "--kind", "staff")
        assert made.returncode == 0, made.stderr
        yamada = login(r, "yamada", YAMADA_PW)
        assert yamada.json()["account"]["password_change_required"] is False
        me = r.request_sync("lgwan", "GET", "/api/v1/rooms", token=yamada.json()["token"])
        assert me.status == 200, me.body
        entries = audit(r)
        via = {d.get("via") for a, _s, d in entries if a == "login.ok"}
        assert via == {"directory", None}  # tanaka and yamada; hoikuen and admin
        assert "account.password_change_waived" in {a for a, _s, _d in entries}
        failed = {(s, d.get("reason")) for a, s, d in entries if a == "login.failed"}
        assert {("tanaka", "directory_wrong_password"), ("kimura", "directory_disabled"),
                ("ghost", "directory_no_entry")} <= failed
        # Never stored, never logged: not in the database, its journal, or the log.
        for pw in (TANAKA_PW, KIMURA_PW, SERVICE_PASSWORD):
            assert pw.encode() not in state_bytes(r)
            assert pw not in r.log()


async def test_wrong_directory_passwords_count_toward_the_lockout(
        directory: Slapd, tmp_path: Path) -> None:
    cfg = config(directory, tmp_path)
    cfg["auth"] |= {"login_burst_account": 3}
    with relayd(tmp_path, cfg) as r:
        add_account(r, "tanaka", "staff")
        for _ in range(3):
            assert login(r, "tanaka", "wrong password 1", "internet").status == 401
        locked = login(r, "tanaka", TANAKA_PW, "internet")
        assert (locked.status, locked.error_code) == (429, "rate_limited")
        assert "retry-after" in locked.headers
        # The other listener's bucket is its own (sessions.py): staff at their desks
        # are not locked out by guesses from the internet.
        assert login(r, "tanaka", TANAKA_PW, "lgwan").status == 200


async def test_directory_down_is_503_and_the_local_admin_still_signs_in(
        tmp_path: Path) -> None:
    with Slapd(USERS) as s, relayd(tmp_path, config(s, tmp_path)) as r:
        add_account(r, "tanaka", "staff")
        add_account(r, "hoikuen", "external")
        assert login(r, "tanaka", TANAKA_PW).status == 200
        s.stop()
        down = login(r, "tanaka", TANAKA_PW)
        assert (down.status, down.error_code) == (503, "directory_unavailable")
        assert "ディレクトリ" in down.json()["error"]["message"]
        assert r.admin_password and login(r, "admin", r.admin_password).status == 200
        assert login(r, "hoikuen", LOCAL_PW, "internet").status == 200
        assert "directory unavailable" in r.log()
        refused = [d for a, _s, d in audit(r) if a == "login.refused"]
        assert refused and refused[-1]["code"] == "directory_unavailable"
        s.start()  # back: sign-in works again without touching relayd
        assert login(r, "tanaka", TANAKA_PW).status == 200


async def test_turned_on_by_sighup_without_a_restart(directory: Slapd, tmp_path: Path) -> None:
    cfg = config(directory, tmp_path)
    ldap = cfg.pop("ldap")
    with relayd(tmp_path, cfg) as r:
        add_account(r, "tanaka", "staff")
        assert login(r, "tanaka", LOCAL_PW).status == 200
        r.config_path.write_text(r.config_path.read_text(encoding="utf-8")
                                 + toml_dumps({"ldap": ldap}), encoding="utf-8")
        r.signal(signal.SIGHUP)
        assert "config reloaded: ldap." in wait_for(r, "config reloaded")
        assert login(r, "tanaka", TANAKA_PW).status == 200
        assert login(r, "tanaka", LOCAL_PW).status == 401


def silent_server() -> tuple[socket.socket, threading.Event]:
    """A TCP server that accepts and never answers (a directory that hangs)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    done = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        srv.settimeout(0.2)
        while not done.is_set():
            try:
                held.append(srv.accept()[0])
            except OSError:
                continue
        for c in held:
            c.close()

    threading.Thread(target=accept, daemon=True).start()
    return srv, done


async def test_a_hanging_directory_holds_only_its_own_logins(
        directory: Slapd, tmp_path: Path) -> None:
    srv, done = silent_server()
    hang = f"ldap://127.0.0.1:{srv.getsockname()[1]}"
    try:
        cfg = config(directory, tmp_path, servers=[hang], timeout_s=3.0)
        with relayd(tmp_path, cfg) as r:
            add_account(r, "tanaka", "staff")
            order: list[str] = []

            async def staff() -> None:
                reply = await trio.to_thread.run_sync(login, r, "tanaka", TANAKA_PW)
                assert reply.error_code == "directory_unavailable"
                order.append("staff")

            async def admin() -> None:
                # Started after the staff login is already waiting on the directory.
                await trio.sleep(0.5)
                assert r.admin_password
                reply = await trio.to_thread.run_sync(login, r, "admin", r.admin_password)
                assert reply.status == 200
                order.append("admin")

            async with trio.open_nursery() as n:
                n.start_soon(staff)
                n.start_soon(admin)
            assert order == ["admin", "staff"]
    finally:
        done.set()
        srv.close()


async def test_first_sign_in_creates_the_account_in_its_department(
        directory: Slapd, tmp_path: Path) -> None:
    with relayd(tmp_path, config(directory, tmp_path, create_accounts=True)) as r:
        for args in (("総務部",), ("総務課", "--parent", "総務部")):
            made = relayctl(r, "department", "add", *args)
            assert made.returncode == 0, made.stderr
        assert login(r, "suzuki", "wrong password 1").status == 401
        assert relayctl(r, "account", "show", "suzuki", "--json").returncode != 0
        first = login(r, "suzuki", SUZUKI_PW)
        assert first.status == 200, first.body
        account = first.json()["account"]
        assert (account["display_name"], account["kind"]) == ("鈴木 花子", "staff")
        shown = relayctl(r, "account", "show", "suzuki", "--json")
        assert shown.returncode == 0, shown.stderr
        person = json.loads(shown.stdout)
        assert "総務部/総務課" in json.dumps(person, ensure_ascii=False)
        assert person.get("email") == "suzuki@example.lg.jp"
        again = login(r, "suzuki", SUZUKI_PW)
        assert again.json()["account"]["id"] == account["id"]
        created = [d for a, _s, d in audit(r) if a == "account.created"
                   and d.get("login") == "suzuki"]
        assert created == [{"login": "suzuki", "kind": "staff", "by": "directory",
                            "dn": f"uid=suzuki,{PEOPLE}"}]
        # AD's disabled account gets none; neither does a login that is filter syntax.
        assert login(r, "kimura", KIMURA_PW).status == 401
        assert login(r, "*", SUZUKI_PW).status == 401
        assert relayctl(r, "account", "show", "kimura", "--json").returncode != 0


# --------------------------------------------------------------------------- the check


def cfg_for(s: Slapd, tmp_path: Path, **over: Any) -> LdapConfig:
    table = ldap_table(s, tmp_path, **over)
    return LdapConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in table.items()})


def test_the_login_is_escaped_in_the_search_filter(directory: Slapd, tmp_path: Path) -> None:
    """relayd's login rule keeps "*" out of logins; the filter must not rely on it."""
    cfg = cfg_for(directory, tmp_path)
    assert check_sync(cfg, "tanaka", TANAKA_PW).user is not None
    # Unescaped, "tan*" would find tanaka and bind with his password.
    for name in ("tan*", "*)(uid=*", "tanaka)(uid=*", "*", "tanaka\\"):
        verdict = check_sync(cfg, name, TANAKA_PW)
        assert (verdict.user, verdict.reason) == (None, "no_entry"), name


def test_direct_bind_with_a_template(directory: Slapd, tmp_path: Path) -> None:
    """AD's "{login}@example.lg.jp" needs AD; OpenLDAP binds with a DN template."""
    cfg = dataclasses.replace(cfg_for(directory, tmp_path), bind_dn="", bind_password_file="",
                              bind_template=f"uid={{login}},{PEOPLE}")
    found = check_sync(cfg, "tanaka", TANAKA_PW)
    assert found.user is not None and found.user.name == "田中 太郎"
    assert found.user.department == "総務部/総務課"
    assert check_sync(cfg, "tanaka", "wrong password 1").reason == "wrong_password"
    assert check_sync(cfg, "kimura", KIMURA_PW).reason == "disabled"


def test_the_password_crosses_only_in_verified_tls(directory: Slapd, tmp_path: Path) -> None:
    cfg = cfg_for(directory, tmp_path)
    # Without StartTLS this slapd refuses a password bind (confidentialityRequired):
    # it is only the StartTLS that lets the right password in above.
    plain = dataclasses.replace(cfg, insecure_plain_for_tests=True)
    with pytest.raises(DirectoryUnavailable, match="confidentialityRequired"):
        check_sync(plain, "tanaka", TANAKA_PW)
    other, _key = slapd.make_ca("not the directory's CA")
    ca = tmp_path / "other-ca.pem"
    ca.write_bytes(other.public_bytes(serialization.Encoding.PEM))
    for untrusted in (dataclasses.replace(cfg, ca_file=str(ca)),
                      dataclasses.replace(cfg, ca_file="")):  # the system's CAs
        with pytest.raises(DirectoryUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
            check_sync(untrusted, "tanaka", TANAKA_PW)


def test_the_next_server_answers_when_the_first_is_down(directory: Slapd,
                                                        tmp_path: Path) -> None:
    dead = f"ldap://127.0.0.1:{slapd.free_port()}"
    cfg = cfg_for(directory, tmp_path, servers=[dead, directory.uri])
    assert check_sync(cfg, "tanaka", TANAKA_PW).user is not None
    with pytest.raises(DirectoryUnavailable, match=dead):
        check_sync(dataclasses.replace(cfg, servers=(dead,)), "tanaka", TANAKA_PW)


def test_ldaps_from_the_first_byte(tmp_path: Path) -> None:
    with Slapd(USERS, scheme="ldaps") as s:
        cfg = cfg_for(s, tmp_path)
        assert cfg.servers[0].startswith("ldaps://")
        found = check_sync(cfg, "tanaka", TANAKA_PW)
        assert found.user is not None and found.user.dn == f"uid=tanaka,{PEOPLE}"
        assert check_sync(cfg, "tanaka", "wrong password 1").reason == "wrong_password"


def test_a_certificate_for_another_host_is_refused(tmp_path: Path) -> None:
    with Slapd(USERS, cert_names=("directory.example.lg.jp",)) as other_host:
        with pytest.raises(DirectoryUnavailable, match="doesn't match"):
            check_sync(cfg_for(other_host, tmp_path), "tanaka", TANAKA_PW)


def test_a_wrong_service_password_is_unavailable_not_a_wrong_password(
        directory: Slapd, tmp_path: Path) -> None:
    cfg = cfg_for(directory, tmp_path)
    Path(cfg.bind_password_file).write_text("not it\n", encoding="utf-8")
    with pytest.raises(DirectoryUnavailable, match="service bind"):
        check_sync(cfg, "tanaka", TANAKA_PW)


def test_check_config_names_the_bad_ldap_keys(tmp_path: Path) -> None:
    from relay.config import ConfigError, load
    bad = tmp_path / "relayd.toml"
    for table, key in [('kinds = ["admin"]', "ldap.kinds"),
                       ('enabled = true\nservers = ["http://dc1"]\nbase_dn = "dc=x"', "ldap.servers"),
                       ('enabled = true\nservers = ["ldaps://dc1"]', "ldap.base_dn"),
                       ('enabled = true\nservers = ["ldaps://dc1"]\nbase_dn = "dc=x"\n'
                        'user_filter = "(uid=tanaka)"', "ldap.user_filter"),
                       ("timeout_s = 0", "ldap.timeout_s"), ("porte = 1", "ldap.porte")]:
        bad.write_text(f"[ldap]\n{table}\n", encoding="utf-8")
        with pytest.raises(ConfigError) as refused:
            load(bad)
        assert refused.value.path == key, (table, str(refused.value))
