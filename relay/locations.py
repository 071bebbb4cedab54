"""Location posts (位置情報): a member shares where they are (a disaster site, a
visit) as a message of kind ``location``.

Coordinates are WGS 84 degrees and must be finite JSON numbers in range: Python's JSON
parser accepts ``NaN`` and ``Infinity`` literals, and booleans are numbers to it, so
each is refused here by name (``invalid_coordinates``, ``invalid_field``).  A location
post is a message like any other, its own record, and is not audited (the audit log
would otherwise keep where people were); its label written from LGWAN gets the
個人番号 check of a message.
"""

from __future__ import annotations

from store.records import Message

from relay.commands import Caller, Context, Done, Event
from relay.messages import check_client_id
from relay.rooms import check_room
from relay.shapes import Fields
from relay.work_checks import check_texts, limited, number, take_send

MAX_LABEL_CHARS = 200
# Beyond this an accuracy says nothing about a place.
MAX_ACCURACY_M = 100_000.0


def read(f: Fields) -> tuple[float, float, float | None, str | None]:
    """(lat, lon, accuracy_m, label) of a request, checked."""
    lat = number(f, "lat", -90.0, 90.0)
    lon = number(f, "lon", -180.0, 180.0)
    accuracy = number(f, "accuracy_m", 0.0, MAX_ACCURACY_M, required=False)
    label = limited(f.opt_str("label"), "label", MAX_LABEL_CHARS)
    assert lat is not None and lon is not None
    return lat, lon, accuracy, label


async def post(ctx: Context, caller: Caller, room_id: str, f: Fields,
               client_id: str | None) -> Done[Message]:
    room = await check_room(ctx, caller, room_id)
    check_client_id(client_id)
    lat, lon, accuracy, label = read(f)
    take_send(ctx, caller)
    await check_texts(ctx, caller, room, {"location_label": label})
    message, created = await ctx.store.post_location(
        room.id, caller.account.id, caller.zone, client_id, ctx.now(), caller.session.id,
        lat, lon, accuracy, label)
    if not created:
        return Done(message)
    ctx.messages_posted += 1
    return Done(message, events=(Event(room.members, {"type": "message.created",
                                                      "message": message.public()}),))
