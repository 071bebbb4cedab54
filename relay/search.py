"""Search (検索): the caller's query checked and shaped, the matches found in the
rooms the caller is a member of (``store.search``), and a snippet of each.

A query is normalised like message text, then must be 2 to ``MAX_QUERY_CHARS``
characters; it is a plain substring (case-insensitive), never a query language.  A
snippet is plain text (never HTML: a client shows it as text) of at most
``SNIPPET_CHARS`` characters around the first match, with ``…`` where the body was
cut and line breaks shown as spaces; ``highlights`` are the ``[start, end)`` offsets of
every match in the snippet, counted in Unicode code points.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

from policy import text
from store.db import iso
from store.search import SearchQuery

from relay import errors
from relay.commands import Caller, Context
from relay.rooms import check_room

MIN_QUERY_CHARS = 2
MAX_QUERY_CHARS = 100
DEFAULT_LIMIT = 20
MAX_LIMIT = 100
SNIPPET_CHARS = 100
SNIPPET_BEFORE = 30  # characters shown before the first match
ELLIPSIS = "…"
# A date without a time is the start of that day in Japan.
JST = timezone(timedelta(hours=9))


def check_query(raw: str) -> str:
    if len(raw) > MAX_QUERY_CHARS * 4:  # refused before any work on it
        raise errors.error("query_too_long", {"limit": MAX_QUERY_CHARS, "length": len(raw)})
    query = text.normalise(raw)
    if len(query) < MIN_QUERY_CHARS:
        raise errors.error("query_too_short", {"limit": MIN_QUERY_CHARS,
                                               "length": len(query)})
    if len(query) > MAX_QUERY_CHARS:
        raise errors.error("query_too_long", {"limit": MAX_QUERY_CHARS, "length": len(query)})
    return query


def parse_time(raw: str | None, field: str) -> str | None:
    """An RFC 3339 time with its offset, or a date (the start of that day in Japan),
    as the store writes times (UTC, milliseconds)."""
    if raw is None:
        return None
    try:
        if len(raw) > 40:
            raise ValueError(raw)
        if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", raw):
            when = datetime.fromisoformat(raw).replace(tzinfo=JST)
        else:
            when = datetime.fromisoformat(raw)
            if when.tzinfo is None:
                raise ValueError(raw)
    except ValueError:
        raise errors.invalid_field(field, "an RFC 3339 time with offset, or a date") from None
    return iso(when.timestamp())


def snippet(body: str, query: str) -> tuple[str, list[list[int]]]:
    """(snippet, highlights) of ``body`` around the matches of ``query``."""
    pattern = re.compile(re.escape(query), re.IGNORECASE)
    first = pattern.search(body)
    start = max(0, first.start() - SNIPPET_BEFORE) if first else 0
    end = min(len(body), start + SNIPPET_CHARS)
    shown = body[start:end].replace("\n", " ")
    lead = ELLIPSIS if start > 0 else ""
    marks = [[m.start() - start + len(lead), m.end() - start + len(lead)]
             for m in pattern.finditer(body, start, end)]
    return lead + shown + (ELLIPSIS if end < len(body) else ""), marks


async def search(ctx: Context, caller: Caller, raw: str, *, room_id: str | None = None,
                 sender_id: str | None = None, after: str | None = None,
                 before: str | None = None, before_id: str | None = None,
                 limit: int = DEFAULT_LIMIT) -> list[dict[str, Any]]:
    query = check_query(raw)
    if room_id is not None:
        await check_room(ctx, caller, room_id)
    found = await ctx.store.search(SearchQuery(
        caller.account.id, query, limit, room_id=room_id, sender_id=sender_id,
        after=parse_time(after, "after"), before=parse_time(before, "before"),
        before_id=before_id))
    results = []
    for message in found:
        shown, marks = snippet(message.body, query)
        results.append({"message": message.public(), "snippet": shown, "highlights": marks})
    return results
