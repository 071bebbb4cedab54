"""External accounts (保育園, 議員, 自治会長, neighbouring towns): a sponsor and a last day.

Every external account is created with a sponsor -- the enabled staff account
responsible for it (``sponsor_required`` otherwise) -- and a last day of use,
``expires_at`` (``YYYY-MM-DD``, Japan time; one year from today when not given, at most
``MAX_TERM_DAYS`` ahead).  Both can be changed later (admin API, relayctl), audited as
``account.sponsorship_changed``.

From the day after its last day the account cannot log in (answered exactly like a
wrong password) and its sessions answer 401 at once (store.accounts checks the date
with every token); open streams close at that moment (their timer is set from it).
``check_expiries``, run every ``CHECK_INTERVAL_S`` by ``watch``, revokes the sessions
of an account that has expired (``account.expired``, once) and reminds its sponsor 14
and 3 days before (``account.expiring`` to the sponsor's streams, audited once per
reminder); the sponsor can also see the accounts they are responsible for at any time
(``GET /api/v1/me/sponsored``).  Extending the date makes an expired account work
again, with new reminders for the new date.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Any

import trio

from policy.errors import Invalid
from store import externals as se
from store.errors import AccountNotFound, StoreError
from store.externals import Notice, Sponsorship
from store.records import Account, Audit

from relay import accounts
from relay.accounts import NewAccount
from relay.commands import Actor, Caller, Context, Done, Event
from relay.outbound import check_display_name

log = logging.getLogger(__name__)

DEFAULT_TERM_DAYS = 365  # an external account created without a last day
MAX_TERM_DAYS = 3 * 365 + 1  # no account is given more than about three years at once
REMINDER_DAYS = (14, 3)  # the sponsor is reminded this many days before the last day
REMIND_HOUR = 9  # a reminder is due at this hour (JST) of its day, when people work
CHECK_INTERVAL_S = 900.0


# --------------------------------------------------------------------------- checks


def last_day(raw: str | None, now: float) -> str:
    """A valid last day of use: today or later, at most MAX_TERM_DAYS ahead; the
    default term when None."""
    today = se.today(now)
    if raw is None:
        return (today + timedelta(days=DEFAULT_TERM_DAYS)).isoformat()
    try:
        day = date.fromisoformat(raw) if len(raw) == 10 else None
    except ValueError:
        day = None
    if day is None or not today <= day <= today + timedelta(days=MAX_TERM_DAYS):
        raise Invalid(f"有効期限は今日から {MAX_TERM_DAYS} 日以内の日付 (YYYY-MM-DD) です / "
                      f"expires_at must be a date (YYYY-MM-DD) from today to "
                      f"{MAX_TERM_DAYS} days ahead", code="invalid_expiry",
                      expires_at=str(raw)[:40], today=today.isoformat())
    return day.isoformat()


async def sponsor(ctx: Context, *, account_id: str | None = None,
                  login: str | None = None) -> Account:
    """The sponsor named by id or login: an enabled staff account."""
    try:
        found = (await ctx.store.get_account(account_id) if account_id is not None
                 else await ctx.store.get_account_by_login(login or ""))
    except AccountNotFound:
        found = None
    if found is None or found.kind != "staff" or found.disabled:
        raise Invalid("担当者は有効な職員 (staff) アカウントにしてください / the sponsor must "
                      "be an enabled staff account", code="invalid_sponsor",
                      sponsor=str(account_id or login)[:80])
    return found


def _refuse_sponsorship(kind: str) -> None:
    raise Invalid("担当者と有効期限は外部アカウントにだけ設定できます / sponsor and "
                  "expires_at apply to external accounts only", code="not_external",
                  kind=kind)


# --------------------------------------------------------------------------- commands


async def create_account(ctx: Context, actor: Actor, new: NewAccount, sponsor_account: Account | None,
                         expires_at: str | None, one_time: bool = False) -> Done[Account]:
    """``relay.accounts.create_account``, with the sponsor and last day an external
    account must have (and no other kind may have)."""
    if new.kind != "external":
        if sponsor_account is not None or expires_at is not None:
            _refuse_sponsorship(new.kind)
        return await accounts.create_account(ctx, actor, new, one_time=one_time)
    if sponsor_account is None:
        raise Invalid("外部アカウントには担当職員 (sponsor) が必要です / an external account "
                      "needs a sponsor: the staff member responsible for it",
                      code="sponsor_required")
    until = last_day(expires_at, ctx.now())
    await check_display_name(ctx, actor.account_id, new.display_name)
    account = await se.create_external(
        ctx.store, new.login, new.password, new.kind, new.display_name,
        sponsor=sponsor_account.id, expires_on=until, now=ctx.now(), must_change=one_time,
        audit=lambda a: Audit("account.created", actor.account_id, a.id, {
            "login": a.login, "kind": a.kind, "sponsor": sponsor_account.id,
            "expires_at": until}))
    return Done(account)


async def set_sponsorship(ctx: Context, actor: Actor, login: str,
                          sponsor_account: Account | None = None,
                          expires_at: str | None = None) -> Done[Sponsorship]:
    """A new sponsor and/or last day for an external account (None keeps it)."""
    target = await ctx.store.get_account_by_login(login)
    if target.kind != "external":
        _refuse_sponsorship(target.kind)
    if sponsor_account is None and expires_at is None:
        raise Invalid("sponsor か expires_at を指定してください / give sponsor or expires_at",
                      code="invalid_request")
    until = None if expires_at is None else last_day(expires_at, ctx.now())
    before = await se.read(ctx.store, se.sponsorship, target.id)
    changes: dict[str, Any] = {}
    if sponsor_account is not None and sponsor_account.id != before.sponsor:
        changes["sponsor"] = {"from": before.sponsor, "to": sponsor_account.id}
    if until is not None and until != before.expires_at:
        changes["expires_at"] = {"from": before.expires_at, "to": until}
    if not changes:
        return Done(before)
    after = await se.write(
        ctx.store, se.set_sponsorship_txn,
        (target.id, sponsor_account.id if "sponsor" in changes else None,
         until if "expires_at" in changes else None),
        Audit("account.sponsorship_changed", actor.account_id, target.id,
              {"login": target.login, "changes": changes}), ctx.now())
    return Done(after)


def _expiring_event(n: Notice) -> dict[str, Any]:
    return {"type": "account.expiring",
            "account": {"id": n.account_id, "login": n.login, "display_name": n.display_name},
            "expires_at": n.expires_at, "days_left": n.days_left}


async def check_expiries(ctx: Context) -> Done[list[Notice]]:
    """One check (the system acts: no actor): expired accounts' sessions end, due
    reminders go to their sponsors' streams."""
    notices = await se.check(ctx.store, ctx.now(), REMINDER_DAYS, REMIND_HOUR)
    events, ended = [], []
    for n in notices:
        if n.days_before == se.EXPIRED:
            ended.append(n.account_id)
            log.warning("external account %s reached its last day %s: its %d session(s) "
                        "ended (外部アカウントの有効期限切れ)", n.login, n.expires_at,
                        len(n.sessions_ended))
        elif n.sponsor is not None:
            events.append(Event((n.sponsor,), _expiring_event(n)))
        else:
            log.warning("external account %s expires on %s and has no enabled sponsor to "
                        "remind (担当者不在): relayctl account sponsor %s LOGIN", n.login,
                        n.expires_at, n.login)
    return Done(notices, events=tuple(events), end_accounts=tuple(ended))


async def watch(ctx: Context) -> None:
    """``check_expiries`` now and every CHECK_INTERVAL_S until cancelled."""
    while True:
        try:
            await ctx.run(check_expiries(ctx))
        except StoreError as exc:
            log.error("external account expiry check failed: %s", exc)
        await trio.sleep(CHECK_INTERVAL_S)


# --------------------------------------------------------------------------- reads


async def listing(ctx: Context, expiring_days: int | None = None) -> list[dict[str, Any]]:
    """External accounts (deleted ones left out) with sponsor and last day; with
    ``expiring_days``, only those whose last day is that close, or past."""
    now = ctx.now()
    out = []
    for s in await se.read(ctx.store, se.sponsorships):
        if s.state == "deleted":
            continue
        left = s.days_left(now)
        if expiring_days is not None and (left is None or left > expiring_days):
            continue
        out.append(s.public(now))
    return out


async def sponsored(ctx: Context, caller: Caller) -> list[dict[str, Any]]:
    """The external accounts the caller is responsible for, soonest last day first."""
    now = ctx.now()
    return [s.public(now) for s in await se.read(ctx.store, se.sponsored_by, caller.account.id)]
