"""Sign-in against the office directory (LDAP / Active Directory) with ldap3.

For an account the directory manages (``[ldap] kinds``, never an admin) the password is
checked by binding to the directory as that person: relayd never stores it, never
hashes it, never logs it.  The login is looked up with a search whose filter escapes it
(RFC 4515: ``*)(uid=*`` is a strange login, not a filter), or turned into a bind name
by a template (AD's ``{login}@example.lg.jp``); exactly one entry must answer.  An
entry AD marks disabled (userAccountControl bit 2) cannot sign in even with the right
password.

ldap3 is synchronous: each check runs in a worker thread, at most
``max_concurrent`` at once, and every step has a timeout, so a slow or dead directory
holds one login for a bounded time and never blocks anyone else.  Servers are tried in
order; when none answers, the login gets 503 ``directory_unavailable`` — and the local
admin, whose password relayd keeps, can still sign in to look after things.

With ``create_accounts`` a directory user without an account gets one (staff, in the
department the directory names when it exists here) at the first sign-in, in one
transaction with its audit entry.
"""

from __future__ import annotations

import logging
import math
import ssl
from dataclasses import dataclass
from typing import Any

import trio
from ldap3 import ANONYMOUS, NONE, SIMPLE, SUBTREE, Connection, Server, Tls
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import escape_rdn

from policy import text
from store import accounts as sa
from store import directory as sd
from store.errors import AccountNotFound, Conflict, DepartmentNotFound
from store.records import Account, Audit

from relay.commands import Context
from relay.ldap_config import LdapConfig

log = logging.getLogger(__name__)

INVALID_CREDENTIALS = 49  # LDAP resultCode for a wrong password (RFC 4511)
AD_ACCOUNTDISABLE = 0x2  # userAccountControl: the account is disabled
UAC = "userAccountControl"


class DirectoryUnavailable(Exception):
    """No server answered, or answered nonsense: the password could not be checked."""


@dataclass(frozen=True, slots=True)
class DirectoryUser:
    dn: str
    name: str
    kana: str
    department: str
    mail: str


@dataclass(frozen=True, slots=True)
class Verdict:
    user: DirectoryUser | None  # None: refused
    reason: str = ""  # why it was refused, for the audit entry


def manages(cfg: LdapConfig, account: Account) -> bool:
    """Whether this account's password lives in the directory."""
    return cfg.enabled and account.kind in cfg.kinds and account.kind != "admin"


# --------------------------------------------------------------------------- the thread side


class _Unreachable(Exception):
    pass


def _first(attrs: Any, name: str) -> str:
    if not name or attrs is None or name not in attrs:
        return ""
    value = attrs[name]
    if isinstance(value, (list, tuple)):
        value = value[0] if value else ""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return str(value)


class _Check:
    """One check against one server (runs in a worker thread)."""

    def __init__(self, cfg: LdapConfig, uri: str, service_password: str) -> None:
        self.cfg, self.uri = cfg, uri
        self.service_password = service_password
        tls = Tls(validate=ssl.CERT_REQUIRED, version=ssl.PROTOCOL_TLS_CLIENT,
                  ca_certs_file=cfg.ca_file or None)
        self.starttls = uri.lower().startswith("ldap://") and not cfg.insecure_plain_for_tests
        self.server = Server(uri, get_info=NONE, tls=tls, connect_timeout=cfg.connect_timeout_s)

    def connect(self, user: str | None, password: str | None) -> Connection:
        conn = Connection(self.server, user=user, password=password,
                          authentication=SIMPLE if user else ANONYMOUS, auto_bind="NONE",
                          read_only=True,
                          # whole seconds: ldap3 packs it into SO_RCVTIMEO as integers
                          receive_timeout=max(1, math.ceil(self.cfg.timeout_s)),
                          raise_exceptions=False)
        try:
            conn.open()
            # The password must never cross in the clear: no StartTLS, no bind.
            if self.starttls and not conn.start_tls():
                raise _Unreachable(f"StartTLS refused: {conn.result}")
        except LDAPException as exc:
            raise _Unreachable(f"{type(exc).__name__}: {exc}") from None
        return conn

    def bind(self, conn: Connection) -> int:
        try:
            conn.bind()
        except LDAPException as exc:
            raise _Unreachable(f"{type(exc).__name__}: {exc}") from None
        return int(conn.result.get("result", -1))

    def find(self, conn: Connection, login: str) -> tuple[str, Any] | Verdict:
        cfg = self.cfg
        attrs = [a for a in (cfg.name_attribute, cfg.kana_attribute, cfg.department_attribute,
                             cfg.mail_attribute, UAC) if a]
        query = cfg.user_filter.replace("{login}", escape_filter_chars(login))
        try:
            conn.search(cfg.base_dn, query, SUBTREE, attributes=attrs, size_limit=2,
                        time_limit=max(1, int(cfg.timeout_s)))
        except LDAPException as exc:
            raise _Unreachable(f"{type(exc).__name__}: {exc}") from None
        code = int(conn.result.get("result", -1))
        entries = [e for e in conn.response or () if e.get("type") == "searchResEntry"]
        if code == 4 or len(entries) > 1:  # sizeLimitExceeded: the login is not one person
            return Verdict(None, "ambiguous")
        if code != 0:  # noSuchObject (a wrong base_dn) included: said loudly, not a
            # silent "wrong password" for everyone
            raise _Unreachable(f"search refused: {conn.result.get('description')}")
        if not entries:
            return Verdict(None, "no_entry")
        return entries[0]["dn"], entries[0].get("attributes")

    def user(self, dn: str, attrs: Any) -> Verdict:
        cfg = self.cfg
        uac = _first(attrs, UAC)
        if uac.lstrip("-").isdigit() and int(uac) & AD_ACCOUNTDISABLE:
            return Verdict(None, "disabled")
        return Verdict(DirectoryUser(dn, _first(attrs, cfg.name_attribute),
                                     _first(attrs, cfg.kana_attribute),
                                     _first(attrs, cfg.department_attribute),
                                     _first(attrs, cfg.mail_attribute)))

    def run(self, login: str, password: str) -> Verdict:
        cfg = self.cfg
        if cfg.bind_template:
            # An RDN template ("uid={login},ou=…") escapes the login as a DN value.
            value = escape_rdn(login) if "={login}" in cfg.bind_template else login
            name = cfg.bind_template.replace("{login}", value)
            conn = self.connect(name, password)
            try:
                code = self.bind(conn)
                if code == INVALID_CREDENTIALS:
                    return Verdict(None, "wrong_password")
                if code != 0:
                    raise _Unreachable(f"bind refused: {conn.result.get('description')}")
                found = self.find(conn, login)
            finally:
                conn.unbind()
            return found if isinstance(found, Verdict) else self.user(*found)
        svc = self.connect(cfg.bind_dn or None, self.service_password if cfg.bind_dn else None)
        try:
            if cfg.bind_dn and self.bind(svc) != 0:
                # relayd's own account is refused: a configuration fault, said loudly.
                raise _Unreachable(f"service bind as {cfg.bind_dn} refused: "
                                   f"{svc.result.get('description')}")
            found = self.find(svc, login)
        finally:
            svc.unbind()
        if isinstance(found, Verdict):
            return found
        verdict = self.user(*found)
        if verdict.user is None:
            return verdict
        conn = self.connect(found[0], password)
        try:
            code = self.bind(conn)
        finally:
            conn.unbind()
        if code == INVALID_CREDENTIALS:
            return Verdict(None, "wrong_password")
        if code != 0:
            raise _Unreachable(f"bind refused: {conn.result.get('description')}")
        return verdict


def check_sync(cfg: LdapConfig, login: str, password: str) -> Verdict:
    """The directory's verdict on a login and password (blocking; one server after
    another until one answers).  DirectoryUnavailable when none does."""
    if not password:
        # An empty password is an "unauthenticated bind" (RFC 4513 5.1.2) that many
        # servers accept as success: it is never sent.
        return Verdict(None, "empty_password")
    service_password = ""
    if cfg.bind_dn and cfg.bind_password_file:
        try:
            with open(cfg.bind_password_file, encoding="utf-8") as f:
                service_password = f.readline().rstrip("\r\n")
        except OSError as exc:
            raise DirectoryUnavailable(f"bind_password_file: {exc.strerror}") from None
    problems = []
    for uri in cfg.servers:
        try:
            return _Check(cfg, uri, service_password).run(login, password)
        except _Unreachable as exc:
            problems.append(f"{uri}: {exc}")
        except LDAPException as exc:  # a ca_file that cannot be read, a bad URI
            problems.append(f"{uri}: {type(exc).__name__}: {exc}")
    raise DirectoryUnavailable("; ".join(problems))


# --------------------------------------------------------------------------- the trio side


class Directory:
    """The directory as relayd's logins use it: checks in bounded worker threads."""

    def __init__(self) -> None:
        self._limiter: trio.CapacityLimiter | None = None

    def _limiter_for(self, cfg: LdapConfig) -> trio.CapacityLimiter:
        if self._limiter is None:
            self._limiter = trio.CapacityLimiter(cfg.max_concurrent)
        elif self._limiter.total_tokens != cfg.max_concurrent:
            self._limiter.total_tokens = cfg.max_concurrent  # a SIGHUP changed it
        return self._limiter

    async def check(self, cfg: LdapConfig, login: str, password: str) -> Verdict:
        # Each step has its own timeout (per server: two connections, each with
        # StartTLS and a bind, and the search); this bounds the wait for a thread and
        # them all together, even if one of them were not honoured.
        budget = cfg.timeout_s + len(cfg.servers) * (2 * cfg.connect_timeout_s
                                                     + 6 * cfg.timeout_s)
        with trio.move_on_after(budget):
            try:
                return await trio.to_thread.run_sync(
                    check_sync, cfg, login, password, limiter=self._limiter_for(cfg),
                    abandon_on_cancel=True)
            except DirectoryUnavailable as exc:
                log.error("directory unavailable (ディレクトリに接続できません): %s", exc)
                raise
        log.error("directory unavailable (ディレクトリに接続できません): no answer within "
                  "%.0f s", budget)
        raise DirectoryUnavailable("timeout")


@dataclass(frozen=True, slots=True)
class Outcome:
    account: Account | None
    via_directory: bool = False
    reason: str = ""


async def check_login(ctx: Context, directory: Directory, login: str, password: str,
                      now: float) -> Outcome:
    """The account a login and password open, through the directory or the local
    password as the account's kind says; DirectoryUnavailable when the directory
    should have answered and did not."""
    cfg = ctx.cfg.ldap
    if not cfg.enabled:
        return Outcome(await ctx.store.check_password(login, password, now))
    try:
        account: Account | None = await ctx.store.get_account_by_login(login)
    except AccountNotFound:
        account = None
    if account is not None and not manages(cfg, account):
        return Outcome(await ctx.store.check_password(login, password, now))
    from relay.accounts import LOGIN_RE  # relay.accounts imports relay.sessions, us
    if account is None and not (cfg.create_accounts and "staff" in cfg.kinds
                                and LOGIN_RE.fullmatch(login)):
        # No account and none to be made: the local check's hash (same cost as for a
        # real login) answers, so a missing login cannot be told by its speed.
        return Outcome(await ctx.store.check_password(login, password, now))
    verdict = await directory.check(cfg, login, password)
    if verdict.user is None:
        return Outcome(None, True, verdict.reason)
    if account is None:
        account = await _create(ctx, login, verdict.user, now)
    elif account.disabled:
        return Outcome(None, True, "account_disabled")
    elif account.must_change_password:
        # A password an admin set here is no longer the one in use: the directory's is.
        await sd.write(ctx.store, _waive_txn, (account.id,), Audit(
            "account.password_change_waived", None, account.id, {"by": "directory"}), now)
        account = await ctx.store.get_account(account.id)
    return Outcome(account, True)


def _waive_txn(db: Any, account_id: str) -> None:
    db.conn.execute("UPDATE accounts SET must_change_password = 0 WHERE id = ?",
                    (int(account_id),))


def _create_txn(db: Any, login: str, name: str, changes: dict[str, Any], now: float) -> Account:
    account = sa.create_account_txn(db, login, None, "staff", name, now)
    if changes:
        sd.update_person_txn(db, login, changes)
    return account


async def _department_id(ctx: Context, named: str) -> str | None:
    cfg = ctx.cfg.ldap
    deps = await sd.read(ctx.store, sd.departments)
    named = text.normalise(named).strip()
    for d in deps:
        if named and d.path == named:
            return str(d.id)
    same_name = [d for d in deps if named and d.name == named]
    if len(same_name) == 1:
        return str(same_name[0].id)
    if cfg.default_department:
        try:
            return str((await sd.read(ctx.store, sd.department_by_path,
                                      cfg.default_department)).id)
        except DepartmentNotFound:
            log.warning("ldap.default_department %s does not exist (部署がありません)",
                        cfg.default_department)
    return None


async def _create(ctx: Context, login: str, user: DirectoryUser, now: float) -> Account:
    """Just in time: the account for a directory user signing in the first time."""
    name = text.normalise(user.name).strip()[: text.MAX_NAME_CHARS] or login
    changes: dict[str, Any] = {}
    if user.kana:
        changes["kana"] = text.normalise(user.kana).strip()[: text.MAX_NAME_CHARS]
    if user.mail:
        changes["email"] = user.mail.strip()[:254]
    dep = await _department_id(ctx, user.department)
    if dep is not None:
        changes["department_id"] = dep
    try:
        return await sd.write(ctx.store, _create_txn, (login, name, changes, now),
                              lambda a: Audit("account.created", None, a.id, {
                                  "login": login, "kind": "staff", "by": "directory",
                                  "dn": user.dn}), now)
    except Conflict:
        # Two first sign-ins at once: the other made it.
        return await ctx.store.get_account_by_login(login)
