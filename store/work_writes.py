"""What the writes of structured messages share: the message that carries each
object (posted like any message, idempotent on the sender's ``client_id``), the checks
that the people named are members and that the room takes changes; and location
posts, whose whole change is that message and its coordinates.  Synchronous SQL run
by the facade (``store.work_facade``)."""

from __future__ import annotations

import sqlite3
from typing import Iterable

import sqlite_utils

from store.db import int_id
from store.errors import RoomArchived, StoreError
from store.messages import _message_row, _require_member, get_message, post_message_txn
from store.reactions import check_live
from store.records import Message, Zone


class ClientIdReused(StoreError):
    """The sender used this ``client_id`` for a message of another kind or room."""

    code, status = "client_id_reused", 409


class NotInRoom(StoreError):
    """An account named in the request (an assignee, a memo's recipient) is not a
    member of the room."""

    code, status = "not_in_room", 400


def post_structured_txn(db: sqlite_utils.Database, room_id: str, sender_id: str,
                        zone: Zone, client_id: str | None, now: float,
                        session_id: str | None, kind: str, body: str = "",
                        mentions: tuple[str, ...] = ()) -> tuple[int, bool]:
    """The message of kind ``kind`` that carries an object, its body the object's
    title (so search finds it; "" for none); (message id, created).  A ``client_id`` the sender already used returns that message when it
    is of the same kind and room, and ClientIdReused otherwise."""
    message, created = post_message_txn(db, room_id, sender_id, body, zone, client_id, now,
                                         session_id, kind, None, None, mentions)
    if not created and (message.kind != kind or message.room_id != str(int_id(room_id))):
        raise ClientIdReused("client_id は別のメッセージに使われています / client_id was used "
                             "for another message", client_id=client_id)
    return int(message.id), created


def require_in_room(c: sqlite3.Connection, room_id: int, accounts: Iterable[tuple[str, str]]) -> None:
    """NotInRoom for the first (field, account id) whose account is not a member."""
    for field, account in accounts:
        if c.execute("SELECT 1 FROM room_members WHERE room_id = ? AND account_id = ?",
                     (room_id, int_id(account))).fetchone() is None:
            raise NotInRoom(f"ルームのメンバーではありません / {account} is not a member",
                            field=field, account_id=account)


def require_changeable(c: sqlite3.Connection, message_id: str, actor_id: str) -> tuple[object, ...]:
    """The row of an object's message, when ``actor_id`` may still change it: the
    message is not deleted (MessageDeleted), the actor is a member (NotMember) and
    the room is not archived (RoomArchived)."""
    row = _message_row(c, message_id)
    check_live(row, message_id)
    room_id = int(row[1])
    _require_member(c, room_id, int_id(actor_id), str(room_id))
    if c.execute("SELECT archived_at FROM rooms WHERE id = ?", (room_id,)).fetchone()[0]:
        raise RoomArchived(f"ルームはアーカイブ済みです / room {room_id} is archived",
                           room_id=str(room_id))
    return row


def create_location_txn(db: sqlite_utils.Database, room_id: str, sender_id: str, zone: Zone,
                        client_id: str | None, now: float, session_id: str | None,
                        lat: float, lon: float, accuracy_m: float | None,
                        label: str | None) -> tuple[Message, bool]:
    mid, created = post_structured_txn(db, room_id, sender_id, zone, client_id, now,
                                       session_id, "location", label or "")
    if created:
        db.conn.execute("INSERT INTO locations (message_id, lat, lon, accuracy_m, label) "
                        "VALUES (?, ?, ?, ?, ?)", (mid, lat, lon, accuracy_m, label))
    return get_message(db, str(mid)), created
