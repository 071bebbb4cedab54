"""Services: ``check_*`` validates and authorises, ``do_*`` commits once and fans out.

The HTTP routes (``relay.api``) and the stream sessions (``relay.stream``) both call
these, so a message sent over either path goes through the same checks, the same
commit and the same fan-out (STYLE.md rule 7).  Errors are whatever the layer below
raises (``store.errors``, ``policy.errors``) or ``relay.web.HTTPError``; the callers
translate them once with ``relay.errors.translate``.
"""

from __future__ import annotations

import base64
import hmac
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.totp import TOTP

from policy import access, text
from policy.errors import Forbidden, Invalid, PolicyError
from policy.ratelimit import Limiter, Rate, ip_key
from store.errors import AccountNotFound, Conflict, MessageNotFound, RoomNotFound
from store.facade import Store
from store.records import (
    Account, AccountKind, AuditEntry, Message, Readers, Room, RoomKind, RoomSummary,
    Session, Zone,
)

from relay import errors
from relay.config import Config
from relay.hub import Hub
from relay.web import HTTPError

log = logging.getLogger(__name__)

# Limits on what callers name; each is a named default in one place (STYLE.md rule 3).
LOGIN_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
MIN_PASSWORD_CHARS = 10
MAX_PASSWORD_CHARS = 1024
MAX_CLIENT_ID_CHARS = 128


def check_client_id(client_id: str | None) -> None:
    """``client_id`` (idempotent sends and uploads) is optional, 1 to N characters."""
    if client_id is not None and not 0 < len(client_id) <= MAX_CLIENT_ID_CHARS:
        raise Invalid(f"client_id は 1〜{MAX_CLIENT_ID_CHARS} 文字です / client_id must be "
                      f"1 to {MAX_CLIENT_ID_CHARS} characters", code="invalid_client_id")
MAX_ROOM_MEMBERS = 5000
HISTORY_DEFAULT_LIMIT = 50
HISTORY_MAX_LIMIT = 200
AUDIT_MAX_LIMIT = 1000
TOTP_STEP_S = 30
TOTP_DIGITS = 6
TOTP_SECRET_BYTES = 20  # 160 bits, RFC 4226's recommendation
TOTP_ISSUER = "Kakehashi"
# Lockouts remembered (so each is audited once, not once per refused attempt).
MAX_LOCKOUTS_TRACKED = 10_000
ACCOUNT_KINDS: tuple[AccountKind, ...] = ("staff", "external", "admin")


# --------------------------------------------------------------------------- plans


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated request: who, through which listener, with which session."""

    account: Account
    session: Session
    token: str
    zone: Zone


@dataclass(frozen=True, slots=True)
class NewAccount:
    login: str
    password: str | None
    kind: AccountKind
    display_name: str


@dataclass(frozen=True, slots=True)
class NewRoom:
    name: str
    kind: RoomKind
    member_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Send:
    caller: Caller
    room: Room
    body: str
    client_id: str | None


@dataclass(frozen=True, slots=True)
class Read:
    caller: Caller
    room: Room
    message: Message


@dataclass(frozen=True, slots=True)
class AddMember:
    caller: Caller
    room: Room
    account: Account


# --------------------------------------------------------------------------- accounts
# Module functions, not methods: relayctl creates accounts without a running relay.


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
    return NewAccount(login, password, kind, name)


def check_password_strength(password: str) -> None:
    if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        raise Invalid(f"パスワードは {MIN_PASSWORD_CHARS} 文字以上にしてください / "
                      f"password must be {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters",
                      code="weak_password", min=MIN_PASSWORD_CHARS)


async def do_create_account(store: Store, new: NewAccount, actor_id: str | None,
                            now: float) -> Account:
    account = await store.create_account(new.login, new.password, new.kind, new.display_name)
    await store.audit("account.created", actor_id, account.id,
                      {"login": account.login, "kind": account.kind}, now)
    return account


def one_time_password() -> str:
    """A random password for a first admin or a reset (about 96 bits)."""
    return secrets.token_urlsafe(12)


async def bootstrap_admin(store: Store, now: float) -> str | None:
    """Create login "admin" with a one-time password if no admin account exists;
    return that password (to be shown once), else None."""
    if any(a.kind == "admin" for a in await store.list_accounts()):
        return None
    password = one_time_password()
    try:
        await do_create_account(store, NewAccount("admin", password, "admin", "管理者"),
                                None, now)
    except Conflict:
        # "admin" is taken by a non-admin account: an operator decision, not ours.
        log.warning('no admin account exists and login "admin" is taken; '
                    "create one with relayctl account add")
        return None
    return password


# --------------------------------------------------------------------------- TOTP


def totp_for(secret: bytes) -> TOTP:
    # enforce_key_length=False: secrets enrolled elsewhere may be 80-bit (16 base32
    # characters), which authenticator apps accept.
    return TOTP(secret, TOTP_DIGITS, SHA1(), TOTP_STEP_S, enforce_key_length=False)


@dataclass(frozen=True, slots=True)
class TOTPEnrolment:
    secret_b32: str  # what a person types into an authenticator app
    uri: str  # otpauth://totp/... for a QR code


async def do_enrol_totp(store: Store, login: str, actor_id: str | None,
                        now: float) -> TOTPEnrolment:
    """Give ``login`` a new TOTP secret (replacing any old one: codes from the old
    authenticator entry stop working) and return it to be shown once."""
    account = await store.get_account_by_login(login)
    secret = secrets.token_bytes(TOTP_SECRET_BYTES)
    await store.set_totp_secret(account.login, secret)
    await store.audit("account.totp_enrolled", actor_id, account.id, {"login": account.login}, now)
    b32 = base64.b32encode(secret).decode("ascii").rstrip("=")
    return TOTPEnrolment(b32, totp_for(secret).get_provisioning_uri(account.login, TOTP_ISSUER))


# --------------------------------------------------------------------------- the service


class Service:
    """Everything a request can ask, with the state that outlives a request (rate
    limiters, the hub)."""

    def __init__(self, cfg: Config, store: Store, hub: Hub, now: Callable[[], float]) -> None:
        self.cfg = cfg
        self.store = store
        self.hub = hub
        self.now = now
        a = cfg.auth
        self.login_by_account = Limiter(Rate(a.login_burst_account, a.login_refill_s_account))
        self.login_by_ip = Limiter(Rate(a.login_burst_ip, a.login_refill_s_ip))
        self.sends = Limiter(Rate(a.message_burst, a.message_refill_s))
        self.messages_posted = 0
        # ("account"|"ip", key) -> when its current lockout ends; see _locked_out.
        self._lockouts: dict[tuple[str, str], float] = {}
        self._limits_restored = False

    # ------------------------------------------------------------ sessions
    async def authenticate(self, token: str | None, zone: Zone) -> Caller:
        """The caller behind a token, on this listener; 401 / 403 otherwise."""
        if not token:
            raise errors.unauthenticated()
        found = await self.store.session_for_token(token, self.now())
        # A session belongs to the listener it logged in through: a token copied from
        # the internet side is no key to the LGWAN side.
        if found is None or found[1].zone != zone:
            raise errors.unauthenticated()
        account, session = found
        access.check_zone(account.kind, zone)
        return Caller(account, session, token, zone)

    async def login(self, login: str, password: str, totp: str | None, zone: Zone,
                    peer: str) -> tuple[str, Account]:
        """A new session token after the password (and, where required, a TOTP code).

        Each attempt takes a token from the client address's bucket and the login's
        bucket; an empty bucket is a 429 with Retry-After, and the start of such a
        lockout is written to the audit log once."""
        if not self._limits_restored:
            await self._restore_login_limits()
        now = self.now()
        ip = ip_key(peer)
        wait = self.login_by_ip.take(ip, now)
        if wait:
            await self._locked_out("ip", ip, wait, zone, peer, now)
            raise errors.rate_limited(wait)
        # Over-long logins cannot exist (LOGIN_RE) and must not become limiter keys.
        key = login[:80]
        wait = self.login_by_account.take(key, now)
        if wait:
            await self._locked_out("account", key, wait, zone, peer, now)
            raise errors.rate_limited(wait)
        account = None
        if len(login) <= 64 and len(password) <= MAX_PASSWORD_CHARS:
            account = await self.store.check_password(login, password)
        if account is None:
            await self.store.audit("login.failed", None, key, {"zone": zone, "peer": peer}, now)
            raise errors.invalid_credentials()
        try:
            # Only after the password: otherwise the answer would tell strangers which
            # logins exist.
            access.check_zone(account.kind, zone)
            await self._check_totp(account, totp, zone, now)
        except (PolicyError, HTTPError) as exc:
            code = exc.code
            await self.store.audit("login.refused", account.id, account.id,
                                   {"zone": zone, "peer": peer, "code": code}, now)
            if code != "totp_invalid":
                # The right password and no code yet (the usual first step of a TOTP
                # login), or a refusal the person must fix elsewhere: not a guess, so
                # it does not use up the attempts.  A wrong code is a guess.
                self.login_by_ip.give_back(ip, now)
                self.login_by_account.give_back(key, now)
            raise
        token, _session = await self.store.create_session(
            account.id, zone, now, self.cfg.auth.session_ttl_hours * 3600)
        await self.store.audit("login.ok", account.id, account.id, {"zone": zone, "peer": peer}, now)
        # A successful login is not an attack: it does not use up the user's attempts.
        self.login_by_ip.give_back(ip, now)
        self.login_by_account.give_back(key, now)
        return token, account

    async def _restore_login_limits(self) -> None:
        """Count again the failed logins of the last refill window, read back from the
        audit log: a restart of relayd must not hand a guesser a fresh set of tries.
        (Successes since are not credited back: after a restart the limits are a
        little stricter, never looser.)"""
        self._limits_restored = True
        now = self.now()
        window = max(r.burst * r.refill_s
                     for r in (self.login_by_account.rate, self.login_by_ip.rate))
        for entry in await self.store.recent_audit(("login.failed",), now - window):
            at = datetime.strptime(entry.at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
                tzinfo=timezone.utc).timestamp()
            if entry.subject:
                self.login_by_account.take(entry.subject, at)
            peer = entry.data.get("peer")
            if isinstance(peer, str):
                self.login_by_ip.take(ip_key(peer), at)

    async def _locked_out(self, kind: str, key: str, wait: float, zone: Zone, peer: str,
                          now: float) -> None:
        """Audit the start of a lockout (``login.locked``), once per lockout: a flood
        of refused attempts must not become a flood of audit entries."""
        until = self._lockouts.get((kind, key))
        if until is not None and until > now:
            return
        if len(self._lockouts) >= MAX_LOCKOUTS_TRACKED:
            self._lockouts = {k: t for k, t in self._lockouts.items() if t > now}
            if len(self._lockouts) >= MAX_LOCKOUTS_TRACKED:
                return  # a flood of distinct keys: the log already shows it began
        # The lockout lasts while attempts keep coming; remember it for a full refill
        # of the bucket so a steady trickle of guesses is one entry, not one per token.
        rate = self.login_by_account.rate if kind == "account" else self.login_by_ip.rate
        self._lockouts[(kind, key)] = now + max(wait, rate.burst * rate.refill_s)
        target = key if kind == "account" else None
        log.warning("login attempts for %s %s over the limit; refused for %.0f s "
                    "(ログイン試行回数の上限)", kind, key, wait)
        await self.store.audit("login.locked", None, target,
                               {"by": kind, "key": key, "zone": zone, "peer": peer,
                                "retry_after_s": round(wait, 1)}, now)

    async def _check_totp(self, account: Account, code: str | None, zone: Zone,
                          now: float) -> None:
        """On the internet listener, an account with a TOTP secret gives a code at
        every login, and with ``auth.totp_required_internet_staff`` staff must have
        one.  The LGWAN listener is reached only from the closed network (and the
        office PC has no phone beside it): a password is enough there."""
        if zone != "internet":
            return
        secret, _last = await self.store.totp_state(account.id)
        required = secret is not None or (
            self.cfg.auth.totp_required_internet_staff and account.kind == "staff")
        if not required:
            return
        if secret is None:
            raise Forbidden("ワンタイムパスワードが未登録です。管理者に登録を依頼してください / "
                            "a one-time code (TOTP) is required but none is enrolled for "
                            "this account; ask an administrator", code="totp_not_enrolled")
        if not code:
            raise errors.totp_required()
        code = code.replace(" ", "")
        if len(code) != TOTP_DIGITS or not code.isascii() or not code.isdigit():
            raise errors.totp_invalid()
        totp = totp_for(secret)
        step = int(now // TOTP_STEP_S)
        # One step either side for clock skew; each step is accepted once, and never
        # one older than the last accepted (no replay).
        for s in (step, step - 1, step + 1):
            if hmac.compare_digest(totp.generate(s * TOTP_STEP_S), code.encode()):
                if await self.store.accept_totp_step(account.id, s):
                    return
                break
        raise errors.totp_invalid()

    async def logout(self, caller: Caller) -> None:
        await self.store.revoke_session(caller.token)
        self.hub.disconnect_session(caller.session.id, caller.account.id)

    # ------------------------------------------------------------ rooms
    async def rooms(self, caller: Caller) -> list[RoomSummary]:
        return await self.store.rooms_for(caller.account.id)

    async def directory(self, caller: Caller) -> list[Account]:
        if not access.may_list_directory(caller.account.kind):
            raise Forbidden("外部アカウントは名簿を閲覧できません / external accounts "
                                   "may not list the directory", code="directory_forbidden")
        return [a for a in await self.store.list_accounts() if not a.disabled]

    async def check_room(self, caller: Caller, room_id: str) -> Room:
        """The room if the caller is a member; room_not_found otherwise, so that a
        non-member cannot tell a room it is not in from one that does not exist."""
        room = await self.store.get_room(room_id)
        if caller.account.id not in room.members:
            raise RoomNotFound("room not found", room_id=room_id)
        return room

    async def check_create_room(self, caller: Caller, name: str, kind: RoomKind,
                                member_ids: list[str]) -> NewRoom:
        name = text.room_name(name)
        me = caller.account.id
        members = tuple(dict.fromkeys([me, *member_ids]))  # ordered, creator first
        if len(members) > MAX_ROOM_MEMBERS:
            raise Invalid(f"メンバーは {MAX_ROOM_MEMBERS} 人までです / at most "
                          f"{MAX_ROOM_MEMBERS} members", code="too_many_members")
        access.check_create_room(caller.account.kind, kind, len(members), self.cfg.policy)
        if caller.account.kind == "external":
            unshared = [m for m in members[1:] if not await self.store.shares_room(me, m)]
            access.check_external_members(caller.account.kind, unshared)
        for m in members[1:]:
            other = await self.store.get_account(m)
            if other.disabled:
                raise AccountNotFound("account not found", account_id=m)
        return NewRoom(name, kind, members)

    async def do_create_room(self, caller: Caller, new: NewRoom) -> Room:
        room = await self.store.create_room(new.name, new.kind, list(new.member_ids),
                                            caller.account.id, self.now())
        self.hub.publish(room.members, {"type": "room.created", "room": room_public(room)})
        return room

    async def check_add_member(self, caller: Caller, room_id: str, account_id: str) -> AddMember:
        room = await self.check_room(caller, room_id)
        if room.kind == "direct":
            raise Invalid("ダイレクトにはメンバーを追加できません / a direct room cannot get "
                          "more members", code="direct_room")
        kind = caller.account.kind
        access.check_create_room(kind, "group", len(room.members) + 1, self.cfg.policy)
        if kind == "external" and not await self.store.shares_room(caller.account.id, account_id):
            access.check_external_members(kind, [account_id])
        account = await self.store.get_account(account_id)
        if account.disabled:
            raise AccountNotFound("account not found", account_id=account_id)
        return AddMember(caller, room, account)

    async def do_add_member(self, add: AddMember) -> Room:
        room = await self.store.add_member(add.room.id, add.account.id)
        self.hub.publish(room.members, {"type": "room.member_added", "room": room_public(room),
                                        "account_id": add.account.id})
        return room

    # ------------------------------------------------------------ messages
    async def history(self, caller: Caller, room_id: str, before: str | None,
                      limit: int) -> list[Message]:
        await self.check_room(caller, room_id)
        return await self.store.history(room_id, before, limit)

    async def check_send(self, caller: Caller, room_id: str, body: str,
                         client_id: str | None) -> Send:
        room = await self.check_room(caller, room_id)
        check_client_id(client_id)
        body = text.message_body(body, self.cfg.policy)
        wait = self.sends.take(caller.account.id, self.now())
        if wait:
            raise errors.rate_limited(wait)
        await self.check_outbound(caller, room, body, "body")
        return Send(caller, room, body, client_id)

    async def check_outbound(self, caller: Caller, room: Room, value: str, where: str) -> None:
        """Text leaving LGWAN (a message body, a file name): a 個人番号 in it is audited
        and warned about or refused as policy says, when an internet member can read
        the room."""
        if caller.zone != "lgwan":
            return
        outbound = text.scan_outbound(value, self.cfg.policy)
        if outbound.verdict != "allow" and await self._reaches_internet(room):
            await self.store.audit(f"outbound.{outbound.verdict}", caller.account.id, room.id,
                                   {"my_number": list(outbound.masked), "in": where}, self.now())
            outbound.enforce()

    async def _reaches_internet(self, room: Room) -> bool:
        """Whether any member may read the room from the internet zone.  Only asked
        when a check found something, so the per-member look-ups are rare."""
        for member_id in room.members:
            member = await self.store.get_account(member_id)
            if access.may_use_zone(member.kind, "internet"):
                return True
        return False

    async def do_send(self, send: Send) -> Message:
        """Commit, then fan out.  Returns after COMMIT: the caller may acknowledge."""
        message, created = await self.store.post_message(
            send.room.id, send.caller.account.id, send.body, send.caller.zone,
            send.client_id, self.now())
        if created:
            self.messages_posted += 1
            event = {"type": "message.created", "message": message.public()}
            self.hub.publish(send.room.members, event)
        return message

    async def check_read(self, caller: Caller, room_id: str, up_to: str) -> Read:
        room = await self.check_room(caller, room_id)
        message = await self.store.get_message(up_to)
        if message.room_id != room.id:
            raise MessageNotFound("message not found", message_id=up_to)
        return Read(caller, room, message)

    async def do_read(self, read: Read) -> None:
        me = read.caller.account.id
        if await self.store.mark_read(read.room.id, me, read.message.id):
            self.hub.publish(read.room.members, {
                "type": "message.read", "room_id": read.room.id, "account_id": me,
                "up_to": read.message.id})

    async def readers(self, caller: Caller, message_id: str) -> Readers:
        message = await self.store.get_message(message_id)
        try:
            await self.check_room(caller, message.room_id)
        except RoomNotFound:
            raise MessageNotFound("message not found", message_id=message_id) from None
        return await self.store.readers(message_id)

    # ------------------------------------------------------------ admin
    def check_admin(self, caller: Caller) -> None:
        access.check_admin(caller.account.kind, caller.zone)

    async def admin_create_account(self, caller: Caller, new: NewAccount) -> Account:
        self.check_admin(caller)
        return await do_create_account(self.store, new, caller.account.id, self.now())

    async def admin_disable(self, caller: Caller, account_id: str) -> Account:
        self.check_admin(caller)
        target = await self.store.get_account(account_id)
        if target.id == caller.account.id:
            raise Invalid("自分自身は無効化できません / you cannot disable yourself",
                          code="cannot_disable_self")
        account = await self.store.disable_account(target.login)
        self.hub.disconnect_account(account.id)
        await self.store.audit("account.disabled", caller.account.id, account.id,
                               {"login": account.login}, self.now())
        return account

    async def admin_reset(self, caller: Caller, account_id: str,
                          password: str | None) -> tuple[Account, str]:
        self.check_admin(caller)
        if password is None:
            password = one_time_password()
        check_password_strength(password)
        target = await self.store.get_account(account_id)
        account = await self.store.set_password(target.login, password)
        await self.store.audit("account.password_reset", caller.account.id, account.id,
                               {"login": account.login}, self.now())
        return account, password

    async def admin_audit(self, caller: Caller, after: int, limit: int) -> list[AuditEntry]:
        self.check_admin(caller)
        return await self.store.audit_entries(after, limit)

    async def admin_audit_verify(self, caller: Caller) -> dict[str, Any]:
        self.check_admin(caller)
        ok, n, first_bad = await self.store.audit_verify()
        return {"ok": ok, "entries": n, "first_bad": None if first_bad is None else str(first_bad)}


def room_public(room: Room) -> dict[str, Any]:
    """A new room as it appears in a room list (nothing read, nothing said yet)."""
    return RoomSummary(room, 0, None).public()
