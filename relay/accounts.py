"""Accounts: creating, disabling and enabling them, passwords, one-time codes (TOTP),
the first admin, and the directory staff pick members from.

Each change is a command (``relay.commands``): the admin API and relayctl call the
same function, so an account disabled either way is audited alike and loses its
sessions and open streams at once.
"""

from __future__ import annotations

import base64
import logging
import re
import secrets
from dataclasses import dataclass
from typing import Any

from policy import access, text
from policy.errors import Invalid
from store.errors import Conflict
from store.records import Account, AccountKind, Audit

from relay import errors, ldapauth
from relay.commands import Actor, Caller, Context, Done
from relay.outbound import check_display_name
from relay.sessions import MAX_PASSWORD_CHARS, login_key, totp_for

# Limits on what callers name; each is a named default in one place.
LOGIN_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
MIN_PASSWORD_CHARS = 10
ACCOUNT_KINDS: tuple[AccountKind, ...] = ("staff", "external", "admin")
TOTP_SECRET_BYTES = 20  # 160 bits, RFC 4226's recommendation
TOTP_ISSUER = "Kakehashi"
FIRST_ADMIN_LOGIN = "admin"

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class NewAccount:
    login: str
    password: str | None
    kind: AccountKind
    display_name: str


@dataclass(frozen=True, slots=True)
class TOTPEnrolment:
    secret_b32: str  # what a person types into an authenticator app
    uri: str  # otpauth://totp/... for a QR code


def check_new_account(login: str, password: str | None, kind: str,
                      display_name: str = "") -> NewAccount:
    """Validate a new account (pure).  policy.errors.Invalid names the problem."""
    if not LOGIN_RE.fullmatch(login):
        raise Invalid("ログイン名は英数字と . _ @ - の 64 文字以内です / login: 1-64 of "
                      "A-Z a-z 0-9 . _ @ -, starting with a letter or digit",
                      code="invalid_login", login=login[:80])
    if kind not in ACCOUNT_KINDS:
        raise Invalid("種別は staff / external / admin のいずれかです / kind must be "
                      "staff, external or admin", code="invalid_kind")
    if password is not None:
        check_password_strength(password)
    name = text.normalise(display_name)[: text.MAX_NAME_CHARS] or login
    return NewAccount(login, password, kind, name)  # type: ignore[arg-type]


def check_password_strength(password: str) -> None:
    if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        raise Invalid(f"パスワードは {MIN_PASSWORD_CHARS} 文字以上にしてください / "
                      f"password must be {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters",
                      code="weak_password", min=MIN_PASSWORD_CHARS)


def one_time_password() -> str:
    """A random password for a first admin or a reset (about 96 bits)."""
    return secrets.token_urlsafe(12)


# --------------------------------------------------------------------------- commands


async def create_account(ctx: Context, actor: Actor, new: NewAccount,
                         one_time: bool = False) -> Done[Account]:
    """``one_time``: the password was generated for the person, who must change it at
    the first login."""
    await check_display_name(ctx, actor.account_id, new.display_name)
    account = await ctx.store.create_account(
        new.login, new.password, new.kind, new.display_name, now=ctx.now(),
        must_change=one_time,
        audit=lambda a: Audit("account.created", actor.account_id, a.id,
                              {"login": a.login, "kind": a.kind}))
    return Done(account)


async def set_disabled(ctx: Context, actor: Actor, login: str,
                       disabled: bool) -> Done[Account]:
    """Disable (its sessions end and its open streams close at once) or enable."""
    target = await ctx.store.get_account_by_login(login)
    if disabled and target.id == actor.account_id:
        raise Invalid("自分自身は無効化できません / you cannot disable yourself",
                      code="cannot_disable_self")
    action = "account.disabled" if disabled else "account.enabled"
    account = await ctx.store.set_disabled(
        login, disabled, now=ctx.now(),
        audit=Audit(action, actor.account_id, target.id, {"login": target.login}))
    return Done(account, end_accounts=(account.id,) if disabled else ())


async def reset_password(ctx: Context, actor: Actor, login: str,
                         password: str | None) -> Done[tuple[Account, str]]:
    """A new password (a one-time one when none is given), which the person must change
    at the next login; every session of the account ends, and so do its streams."""
    if password is None:
        password = one_time_password()
    check_password_strength(password)
    target = await ctx.store.get_account_by_login(login)
    if ldapauth.manages(ctx.cfg.ldap, target):
        # A local password would never be asked for (and would wake if the directory
        # were turned off): the directory is where it is reset.
        raise errors.error("password_in_directory")
    account, _ended = await ctx.store.set_password(
        login, password, now=ctx.now(), must_change=True,
        audit=Audit("account.password_reset", actor.account_id, target.id,
                    {"login": target.login}))
    return Done((account, password), end_accounts=(account.id,))


async def change_own_password(ctx: Context, caller: Caller, old: str, new: str,
                              peer: str) -> Done[Account]:
    """A person changes their own password: the old one proves it is them (and is
    limited like a login), every other session of theirs ends."""
    login, now = caller.account.login, ctx.now()
    if ldapauth.manages(ctx.cfg.ldap, caller.account):
        raise errors.error("password_in_directory")
    bucket, key = ctx.limits.login_by_account, login_key(caller.zone, login)
    wait = bucket.take(key, now)
    if wait:
        raise errors.rate_limited(wait)
    if len(old) > MAX_PASSWORD_CHARS or await ctx.store.check_password(login, old, now) is None:
        await ctx.store.record(Audit("login.failed", None, login,
                                     {"zone": caller.zone, "peer": peer,
                                      "reason": "password_change"}), now)
        raise errors.invalid_credentials()
    bucket.give_back(key, now)  # the right old password is no guess
    check_password_strength(new)
    if new == old:
        raise Invalid("新しいパスワードは今のパスワードと違うものにしてください / the new "
                      "password must differ from the old one", code="same_password")
    account, ended = await ctx.store.set_password(
        login, new, now=now, keep_session=caller.session.id,
        audit=lambda changed: Audit("account.password_changed", caller.account.id,
                                    caller.account.id, {"zone": caller.zone,
                                                        "sessions_ended": len(changed[1])}))
    return Done(account, end_sessions=tuple((sid, account.id) for sid in ended))


async def enrol_totp(ctx: Context, actor: Actor, login: str) -> Done[TOTPEnrolment]:
    """Give ``login`` a new TOTP secret (replacing any old one: codes from the old
    authenticator entry stop working, and every session ends with its open streams)
    and return it to be shown once."""
    account = await ctx.store.get_account_by_login(login)
    secret = secrets.token_bytes(TOTP_SECRET_BYTES)
    await ctx.store.set_totp_secret(
        account.login, secret, now=ctx.now(),
        audit=Audit("account.totp_enrolled", actor.account_id, account.id,
                    {"login": account.login}))
    b32 = base64.b32encode(secret).decode("ascii").rstrip("=")
    uri = totp_for(secret).get_provisioning_uri(account.login, TOTP_ISSUER)
    return Done(TOTPEnrolment(b32, uri), end_accounts=(account.id,))


async def bootstrap_admin(ctx: Context) -> str | None:
    """Create login "admin" with a one-time password if no admin account exists;
    return that password (to be shown once), else None."""
    if any(a.kind == "admin" for a in await ctx.store.list_accounts()):
        return None
    password = one_time_password()
    new = NewAccount(FIRST_ADMIN_LOGIN, password, "admin", "管理者")
    try:
        await ctx.run(create_account(ctx, Actor(None, None), new, one_time=True))
    except Conflict:
        # "admin" is taken by a non-admin account: an operator decision, not ours.
        log.warning(
            'no admin account exists and login "admin" is taken; create one with '
            "relayctl account add")
        return None
    return password


# --------------------------------------------------------------------------- reads


def own_view(ctx: Context, account: Account) -> dict[str, Any]:
    """An account as its owner gets it (login, /me, the page's session): with whether
    its password is the office directory's, so a client offers a change only where
    one can be made here."""
    return {**account.public(), "password_in_directory": ldapauth.manages(ctx.cfg.ldap, account)}


async def directory(ctx: Context, caller: Caller) -> list[Account]:
    """The enabled accounts the caller may see: everyone for staff and admins; for an
    outside partner only the people it shares a room with (their names on cards,
    their logins for @mentions), never the office's whole directory."""
    everyone = [a for a in await ctx.store.list_accounts() if not a.disabled]
    if access.may_list_directory(caller.account.kind):
        return everyone
    known = await ctx.store.co_members(caller.account.id)
    return [a for a in everyone if a.id in known]
