"""Records (公文書): the retention purge per room kind, and the control operations of
a disclosure request (情報公開) and the usage report.

``purge`` runs in the hourly retention loop (``relay.disarm_jobs``) with the plan of
``[records]`` (``relay.records_config``).  The operations read; ``room.export`` and
``audit.export`` also append ``records.exported`` (who asked, which room, the
period), committed before the answer leaves relayd.  They answer JSON; relayctl
writes the CSV or PDF (``relay.records_render``) on the operator's side, so relayd
needs no font and writes no file.

Periods come as RFC 3339 UTC strings ``[from, to)``; relayctl turns the dates it is
given (Japan time, both days included) into them (``period``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from store.records import Audit

from relay import errors
from relay.commands import Context

JST = dt.timezone(dt.timedelta(hours=9))


def period(first: str, last: str) -> tuple[str, str]:
    """Dates ``YYYY-MM-DD`` (Japan time, both included) as [from, to) in UTC;
    ValueError for a bad date or a period that ends before it starts."""
    start = dt.datetime.combine(dt.date.fromisoformat(first), dt.time(), JST)
    end = dt.datetime.combine(dt.date.fromisoformat(last), dt.time(), JST) + dt.timedelta(days=1)
    if end <= start:
        raise ValueError(f"{last} is before {first}")
    return _utc(start), _utc(end)


def _utc(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _ts(stamp: str) -> float:
    return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _span(a: dict[str, Any]) -> tuple[str, str]:
    start, end = str(a["from"]), str(a["to"])
    try:
        if _ts(end) <= _ts(start):
            raise ValueError("empty period")
    except ValueError as exc:
        raise errors.error("invalid_period", {"from": start[:40], "to": end[:40],
                                              "problem": str(exc)[:120]}) from None
    return start, end


async def purge(ctx: Context) -> dict[str, dict[str, int]]:
    """One run of the retention of records; the counts per room kind."""
    rec = ctx.cfg.records
    return await ctx.store.purge_records(rec.plan(ctx.cfg.store.retention_days),
                                         rec.minimum_days, ctx.now())


def _who(a: dict[str, Any]) -> dict[str, Any]:
    """Who asked: the OS user relayctl ran as, and the request's reference."""
    return {"operator": str(a.get("operator") or "")[:80], "note": str(a.get("note") or "")[:200]}


async def _room_export(ctx: Context, a: dict[str, Any]) -> dict[str, Any]:
    start, end = _span(a)
    history = await ctx.store.room_history(str(a["room"]), start, end)
    room = history["room"]
    await ctx.store.record(Audit("records.exported", None, room["id"], {
        "what": "room", "room_id": room["id"], "name": room["name"], "from": start, "to": end,
        "messages": len(history["messages"]), "format": str(a.get("format", ""))[:8],
        **_who(a)}), ctx.now())
    return {"history": history}


async def _audit_export(ctx: Context, a: dict[str, Any]) -> dict[str, Any]:
    start, end = _span(a)
    entries = await ctx.store.audit_range(start, end)
    # The export's own entry comes after what it exports: it is in the next export.
    await ctx.store.record(Audit("records.exported", None, None, {
        "what": "audit", "from": start, "to": end, "entries": len(entries),
        "format": str(a.get("format", ""))[:8], **_who(a)}), ctx.now())
    return {"from": start, "to": end, "entries": entries}


async def _report(ctx: Context, a: dict[str, Any]) -> dict[str, Any]:
    start, end = _span(a)
    return {"report": await ctx.store.usage_report(start, end, _ts(start), _ts(end))}


OPERATIONS = {
    "room.export": _room_export,
    "audit.export": _audit_export,
    "report": _report,
}
