"""Sessions and login: who a token belongs to, logging in (password, TOTP, limits),
logging out.

A session belongs to the listener it logged in through: a token copied from the
internet side is no key to the LGWAN side.  Every login attempt takes a token from the
client address's bucket and from the login's bucket *in that zone*; an empty bucket
answers 429 with Retry-After and the start of such a lockout is audited once.  Keeping
the zones' buckets apart means guesses sent to the internet listener can never lock
staff (or an LGWAN-only admin) out of their LGWAN PCs.  An account that may not use a
zone, or an external account past its last day of use (store.externals), is answered
exactly like a wrong password, so it cannot be probed.  The failed logins of the
last window are read back from the audit log when relayd starts, so a restart hands a
guesser no fresh set of tries.

With ``[ldap]`` on, the staff's password is the office directory's (relay.ldapauth):
checked by a bind there, never kept here, under the same buckets and audit entries; a
directory that cannot be reached answers 503 ``directory_unavailable``, and the local
admin (whose password relayd keeps) still signs in.
"""

from __future__ import annotations

import hmac
import logging
from datetime import datetime, timezone

from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.totp import TOTP

from policy import access
from policy.errors import Forbidden, PolicyError
from policy.ratelimit import ip_key
from policy.zones import Zone
from store import externals
from store.errors import AccountNotFound
from store.records import Account, Audit

from relay import errors, ldapauth
from relay.commands import Caller, Context, Done
from relay.my_sessions import last_seen
from relay.web import HTTPError

log = logging.getLogger(__name__)

MAX_LOGIN_CHARS = 64
MAX_PASSWORD_CHARS = 1024
TOTP_STEP_S = 30
TOTP_DIGITS = 6
# Lockouts remembered (so each is audited once, not once per refused attempt).
MAX_LOCKOUTS_TRACKED = 10_000


def login_key(zone: Zone, login: str) -> str:
    """The login's bucket in one zone: guesses on one listener never drain the other's."""
    return f"{zone}\x00{login}"


def totp_for(secret: bytes) -> TOTP:
    # enforce_key_length=False: secrets enrolled elsewhere may be 80-bit (16 base32
    # characters), which authenticator apps accept.
    return TOTP(secret, TOTP_DIGITS, SHA1(), TOTP_STEP_S, enforce_key_length=False)


async def authenticate(ctx: Context, token: str | None, zone: Zone) -> Caller:
    """The caller behind a token, on this listener; 401 / 403 otherwise."""
    if not token:
        raise errors.unauthenticated()
    found = await ctx.store.session_for_token(token, ctx.now())
    if found is None or found[1].zone != zone:
        raise errors.unauthenticated()
    account, session = found
    access.check_zone(account.kind, zone)
    last_seen(ctx).mark(session.id, ctx.now())
    return Caller(account, session, token, zone)


async def logout(ctx: Context, caller: Caller) -> Done[None]:
    now = ctx.now()
    await ctx.store.revoke_session(
        caller.token, now=now,
        audit=Audit("session.logout", caller.account.id, caller.account.id,
                    {"zone": caller.zone, "session_id": caller.session.id}))
    return Done(None, end_sessions=((caller.session.id, caller.account.id),))


class Logins:
    """Logging in, with the limits and lockouts that outlive a request."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.by_account = ctx.limits.login_by_account
        self.by_ip = ctx.limits.login_by_ip
        # ("account"|"ip", key) -> when its current lockout ends; see _locked_out.
        self._lockouts: dict[tuple[str, str], float] = {}
        self._limits_restored = False
        self.directory = ldapauth.Directory()

    async def login(self, login: str, password: str, totp: str | None, zone: Zone,
                    peer: str, device: str = "") -> tuple[str, Account]:
        """A new session token after the password (and, where required, a TOTP code)."""
        ctx = self.ctx
        if not self._limits_restored:
            await self._restore_limits()
        now = ctx.now()
        ip = ip_key(peer)
        wait = self.by_ip.take(ip, now)
        if wait:
            await self._locked_out("ip", ip, wait, zone, peer, now)
            raise errors.rate_limited(wait)
        # Over-long logins cannot exist and must not become limiter keys.
        key = login[:80]
        wait = self.by_account.take(login_key(zone, key), now)
        if wait:
            await self._locked_out("account", key, wait, zone, peer, now)
            raise errors.rate_limited(wait)
        found = ldapauth.Outcome(None)
        if len(login) <= MAX_LOGIN_CHARS and len(password) <= MAX_PASSWORD_CHARS:
            try:
                found = await ldapauth.check_login(ctx, self.directory, login, password, now)
            except ldapauth.DirectoryUnavailable:
                # Nothing was checked: no guess either way, but the attempt was taken
                # from the buckets like any other (a dead directory is no way around them).
                await ctx.store.record(Audit("login.refused", None, key, {
                    "zone": zone, "peer": peer, "code": "directory_unavailable"}), now)
                raise errors.error("directory_unavailable") from None
        account = found.account
        expired = account is not None and await externals.read(
            ctx.store, externals.expired, account.id, now)
        if account is None or not access.may_use_zone(account.kind, zone) or expired:
            # A zone the account may not use, or an expired account, answers like a
            # wrong password (after the same password hash), and counts like one.
            data = {"zone": zone, "peer": peer}
            if account is not None:
                data["reason"] = "expired" if expired else "zone_forbidden"
            elif found.via_directory:
                data["reason"] = f"directory_{found.reason}"
            await ctx.store.record(Audit("login.failed", None, key, data), now)
            raise errors.invalid_credentials()
        try:
            await self._check_totp(account, totp, zone, now)
        except (PolicyError, HTTPError) as exc:
            code = exc.code
            await ctx.store.record(Audit("login.refused", account.id, account.id,
                                         {"zone": zone, "peer": peer, "code": code}), now)
            if code != "totp_invalid":
                # The right password and no code yet (the usual first step of a TOTP
                # login), or a refusal the person must fix elsewhere: not a guess, so
                # it does not use up the attempts.  A wrong code is a guess.
                self.by_ip.give_back(ip, now)
                self.by_account.give_back(login_key(zone, key), now)
            raise
        token, _session = await ctx.store.create_session(
            account.id, zone, now, ctx.cfg.auth.session_ttl_hours * 3600, device=device,
            audit=Audit("login.ok", account.id, account.id, {
                "zone": zone, "peer": peer} | ({"via": "directory"} if found.via_directory else {})))
        # A successful login is not an attack: it does not use up the user's attempts.
        self.by_ip.give_back(ip, now)
        self.by_account.give_back(login_key(zone, key), now)
        return token, account

    async def _restore_limits(self) -> None:
        """Count again the failed logins of the last refill window, read back from the
        audit log.  (Successes since are not credited back: after a restart the limits
        are a little stricter, never looser.)"""
        self._limits_restored = True
        now = self.ctx.now()
        window = max(r.burst * r.refill_s for r in (self.by_account.rate, self.by_ip.rate))
        for entry in await self.ctx.store.recent_audit(("login.failed",), now - window):
            at = datetime.strptime(entry.at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
                tzinfo=timezone.utc).timestamp()
            zone = entry.data.get("zone")
            if entry.subject and isinstance(zone, str):
                self.by_account.take(login_key(zone, entry.subject), at)
            peer = entry.data.get("peer")
            if isinstance(peer, str):
                self.by_ip.take(ip_key(peer), at)

    async def _locked_out(self, kind: str, key: str, wait: float, zone: Zone, peer: str,
                          now: float) -> None:
        """Audit the start of a lockout (``login.locked``), once per lockout: a flood
        of refused attempts must not become a flood of audit entries."""
        if kind == "account":
            key_in_zone = login_key(zone, key)
        else:
            key_in_zone = key
        until = self._lockouts.get((kind, key_in_zone))
        if until is not None and until > now:
            return
        if len(self._lockouts) >= MAX_LOCKOUTS_TRACKED:
            self._lockouts = {k: t for k, t in self._lockouts.items() if t > now}
            if len(self._lockouts) >= MAX_LOCKOUTS_TRACKED:
                return  # a flood of distinct keys: the log already shows it began
        # The lockout lasts while attempts keep coming; remember it for a full refill
        # of the bucket so a steady trickle of guesses is one entry, not one per token.
        rate = self.by_account.rate if kind == "account" else self.by_ip.rate
        self._lockouts[(kind, key_in_zone)] = now + max(wait, rate.burst * rate.refill_s)
        target = key if kind == "account" else None
        # A login that was never an account is whatever someone typed (a password
        # in the wrong field, a name): it is audited, never written to the log.
        shown = key if kind == "ip" or await self._is_account(key) else "(no such account)"
        log.warning("login attempts for %s %s over the limit; refused for %.0f s "
                    "(ログイン試行回数の上限)", kind, shown, wait)
        await self.ctx.store.record(
            Audit("login.locked", None, target, {"by": kind, "key": key, "zone": zone,
                                                 "peer": peer, "retry_after_s": round(wait, 1)}),
            now)

    async def _is_account(self, login: str) -> bool:
        try:
            await self.ctx.store.get_account_by_login(login)
        except AccountNotFound:
            return False
        return True

    async def _check_totp(self, account: Account, code: str | None, zone: Zone,
                          now: float) -> None:
        """On the internet listener, an account with a TOTP secret gives a code at
        every login, and with ``auth.totp_required_internet_staff`` staff must have
        one.  The LGWAN listener is reached only from the closed network (and the
        office PC has no phone beside it): a password is enough there."""
        if zone != "internet":
            return
        secret, _last = await self.ctx.store.totp_state(account.id)
        required = secret is not None or (
            self.ctx.cfg.auth.totp_required_internet_staff and account.kind == "staff")
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
                if await self.ctx.store.accept_totp_step(account.id, s):
                    return
                break
        raise errors.totp_invalid()
