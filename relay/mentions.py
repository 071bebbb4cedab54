"""Mentions (メンション): ``@login``, ``@all`` and ``@here`` in a body, resolved by the
server into the account ids a message mentions.

``@all`` is every member of the room, ``@here`` every member with a stream open now;
``@login`` a member with that login (case-insensitive; a trailing ``.``/``-``/``_`` is
punctuation when the login without it exists).  The full-width ``＠`` that Japanese
input methods type counts too.  The sender is never among the mentioned, nor is
anyone outside the room, whatever the body says.
"""

from __future__ import annotations

import re

from store.records import Room

from relay.commands import Caller, Context

NAME_RE = re.compile(r"[@＠]([A-Za-z0-9][A-Za-z0-9._@-]{0,63})")
EVERYONE = "all"
CONNECTED = "here"
# At most this many @names of one body are looked at.
MAX_NAMES = 50


def names_in(body: str) -> list[str]:
    """The @names of a body in order of appearance, lowercase, each once."""
    if "@" not in body and "＠" not in body:
        return []
    return list(dict.fromkeys(m.group(1).lower() for m in NAME_RE.finditer(body)))[:MAX_NAMES]


async def resolve(ctx: Context, caller: Caller, room: Room, body: str) -> tuple[str, ...]:
    names = names_in(body)
    if not names:
        return ()
    found: set[str] = set()
    if EVERYONE in names:
        found.update(room.members)
    if CONNECTED in names:
        found.update(m for m in room.members if ctx.hub.sessions(m) > 0)
    logins = [n for n in names if n not in (EVERYONE, CONNECTED)]
    candidates = logins + [n.rstrip("._-") for n in logins if n.rstrip("._-") != n]
    if candidates:
        found.update((await ctx.store.members_by_login(room.id, candidates)).values())
    found.discard(caller.account.id)
    return tuple(sorted(found, key=int))
