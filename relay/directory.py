"""The operator's directory work as commands: departments (部・課・係), an account's
display name and department, deleting an account, and rooms seen from above
(members added and removed, archived, made for a department).

relayctl reaches these through ``relay.directory_ops``; each change commits with its
audit entry and publishes its events after the COMMIT, like every command.  A deleted
account's messages stay, shown under ``削除されたアカウント`` (store.directory); its
login is free for someone else.
"""

from __future__ import annotations

from typing import Any

from policy import access, text
from policy.errors import Forbidden, Invalid
from store import directory as sd
from store.directory import Department, Person, RoomInfo
from store.errors import AccountNotFound, RoomArchived, RoomNotFound
from store.records import Account, Audit

from relay.commands import Actor, Caller, Context, Done, Event
from relay.outbound import check_display_name, check_history_out, check_text_out
from relay.rooms import room_public

ACCOUNT_STATES = ("enabled", "disabled", "deleted")


def _name(raw: str, what: str) -> str:
    name = text.normalise(raw).strip()[: text.MAX_NAME_CHARS]
    if not name:
        raise Invalid(f"{what}が空です / empty {what}", code="invalid_request")
    if sd.PATH_SEP in name:
        raise Invalid(f"名前に {sd.PATH_SEP} は使えません / a name cannot contain "
                      f"{sd.PATH_SEP}", code="invalid_request")
    return name


# --------------------------------------------------------------------------- departments


async def departments(ctx: Context) -> list[Department]:
    return await sd.read(ctx.store, sd.departments)


async def department(ctx: Context, path: str) -> Department:
    return await sd.read(ctx.store, sd.department_by_path, path)


async def add_department(ctx: Context, actor: Actor, name: str,
                         parent: str | None) -> Done[Department]:
    """A department under ``parent`` (a path such as "総務部/総務課"), or at the top."""
    name = _name(name, "部署名")
    parent_id = (await department(ctx, parent)).id if parent else None
    made = await sd.write(ctx.store, sd.create_department_txn, (name, parent_id, ctx.now()),
                          lambda d: Audit("department.created", actor.account_id, d.id,
                                          {"name": d.name, "path": d.path,
                                           "parent_id": d.parent_id}), ctx.now())
    return Done(made)


async def rename_department(ctx: Context, actor: Actor, path: str,
                            name: str) -> Done[Department]:
    before = await department(ctx, path)
    name = _name(name, "部署名")
    made = await sd.write(ctx.store, sd.rename_department_txn, (before.id, name),
                          Audit("department.renamed", actor.account_id, before.id,
                                {"from": before.path, "name": name}), ctx.now())
    return Done(made)


def check_directory(caller: Caller) -> None:
    if not access.may_list_directory(caller.account.kind):
        raise Forbidden("外部アカウントは名簿を閲覧できません / external accounts "
                        "may not list the directory", code="directory_forbidden")


async def with_departments(ctx: Context, found: list[Account]) -> list[dict[str, Any]]:
    """Accounts as the directory shows them: each with its department (or null)."""
    deps = {d.id: d for d in await departments(ctx)}
    people = {p.id: p for p in await sd.read(ctx.store, sd.people)}
    out = []
    for a in found:
        p = people.get(a.id)
        d = deps.get(p.department_id) if p is not None and p.department_id else None
        out.append({**a.public(), "kana": p.kana if p else "",
                    "department": None if d is None else {"id": d.id, "name": d.name,
                                                          "path": d.path}})
    return out


# --------------------------------------------------------------------------- accounts


async def people(ctx: Context, kind: str | None = None, department_path: str | None = None,
                 state: str | None = None) -> list[Person]:
    """Accounts for the operator, filtered; deleted ones only when asked for."""
    found = await sd.read(ctx.store, sd.people)
    if department_path:
        ids = set(await sd.read(ctx.store, sd.subtree, department_path))
        found = [p for p in found if p.department_id in ids]
    if kind:
        found = [p for p in found if p.kind == kind]
    if state:
        found = [p for p in found if p.state == state]
    else:
        found = [p for p in found if p.state != "deleted"]
    return found


async def person(ctx: Context, login: str) -> Person:
    return await sd.read(ctx.store, sd.person, login)


async def rename_account(ctx: Context, actor: Actor, login: str,
                         display_name: str) -> Done[Person]:
    before = await person(ctx, login)
    name = _name(display_name, "表示名")
    await check_display_name(ctx, actor.account_id, name)
    after = await sd.write(ctx.store, sd.update_person_txn, (login, {"display_name": name}),
                           Audit("account.updated", actor.account_id, before.id,
                                 {"login": login, "changes": {"display_name": {
                                     "from": before.display_name, "to": name}}}), ctx.now())
    return Done(after)


async def move_account(ctx: Context, actor: Actor, login: str,
                       department_path: str | None) -> Done[Person]:
    """Put the account in a department (None or "": in none)."""
    before = await person(ctx, login)
    dep = await department(ctx, department_path) if department_path else None
    old = ({d.id: d.path for d in await departments(ctx)}.get(before.department_id or "", ""))
    after = await sd.write(ctx.store, sd.update_person_txn,
                           (login, {"department_id": dep.id if dep else None}),
                           Audit("account.moved", actor.account_id, before.id,
                                 {"login": login, "from": old, "to": dep.path if dep else ""}),
                           ctx.now())
    return Done(after)


async def delete_account(ctx: Context, actor: Actor, login: str) -> Done[Person]:
    """Delete: the account can never log in again, its sessions and streams end, it
    leaves every room; its messages stay, under the placeholder name."""
    before = await person(ctx, login)
    if before.id == actor.account_id:
        raise Invalid("自分自身は削除できません / you cannot delete yourself",
                      code="cannot_disable_self")
    rooms_before = [r for r in await sd.read(ctx.store, sd.room_infos) if before.id in r.members]
    gone = await sd.write(ctx.store, sd.delete_account_txn, (login, ctx.now()),
                          Audit("account.deleted", actor.account_id, before.id,
                                {"login": login, "rooms": [r.id for r in rooms_before]}),
                          ctx.now())
    events = tuple(Event(r.members, {"type": "room.member_removed", "room_id": r.id,
                                     "account_id": before.id}) for r in rooms_before)
    return Done(gone, events=events, end_accounts=(before.id,))


# --------------------------------------------------------------------------- rooms


async def room_infos(ctx: Context, department_path: str | None = None,
                     archived: bool | None = None) -> list[RoomInfo]:
    found = await sd.read(ctx.store, sd.room_infos)
    if department_path:
        ids = set(await sd.read(ctx.store, sd.subtree, department_path))
        found = [r for r in found if r.department_id in ids]
    if archived is not None:
        found = [r for r in found if r.archived == archived]
    return found


async def room_info(ctx: Context, room_id: str) -> RoomInfo:
    found = await sd.read(ctx.store, sd.room_infos, room_id)
    if not found:
        raise RoomNotFound(f"ルームがありません / no such room: {room_id}", room_id=room_id)
    return found[0]


async def _enabled(ctx: Context, login: str) -> Account:
    account = await ctx.store.get_account_by_login(login)
    if account.disabled:
        raise AccountNotFound(f"無効なアカウントです / account is disabled: {login}",
                              login=login)
    return account


async def create_room(ctx: Context, actor: Actor, name: str, member_logins: list[str],
                      department_path: str | None) -> Done[RoomInfo]:
    """A group room of the given members and, with a department, of every enabled
    account in it and the departments under it; the room is recorded as that
    department's.  The first member named (or found) is recorded as creator."""
    name = text.room_name(name)
    ids = [(await _enabled(ctx, login)).id for login in dict.fromkeys(member_logins)]
    dep = await department(ctx, department_path) if department_path else None
    if dep is not None:
        ids += [p.id for p in await people(ctx, department_path=dep.path, state="enabled")]
    ids = list(dict.fromkeys(ids))
    if not ids:
        raise Invalid("メンバーが必要です / a room needs members", code="invalid_request")
    # A room's name is text every member sees, from wherever they read.
    await check_text_out(ctx, actor.account_id, tuple(ids), None, name, "room_name")
    room = await sd.write(ctx.store, sd.create_room_txn,
                          (name, ids, dep.id if dep else None, ctx.now()),
                          lambda r: Audit("room.created", actor.account_id, r.id,
                                          {"name": r.name, "kind": r.kind,
                                           "members": list(r.members),
                                           # the same entry as the API's, unless the
                                           # room is a department's
                                           **({"department_id": r.department_id}
                                              if r.department_id else {})}), ctx.now())
    form = {"type": "room.created", "room": room_public(await ctx.store.get_room(room.id))}
    return Done(room, events=(Event(room.members, form),))


async def add_member(ctx: Context, actor: Actor, room_id: str, login: str) -> Done[RoomInfo]:
    before = await room_info(ctx, room_id)
    if before.archived:
        raise RoomArchived("ルームはアーカイブ済みです / the room is archived", room_id=room_id)
    if before.kind == "direct":
        raise Invalid("ダイレクトにはメンバーを追加できません / a direct room cannot get "
                      "more members", code="direct_room")
    account = await _enabled(ctx, login)
    await check_history_out(ctx, actor.account_id, before.members, before.id, account.id)
    room = await ctx.store.add_member(
        before.id, account.id, now=ctx.now(),
        audit=Audit("room.member_added", actor.account_id, before.id,
                    {"account_id": account.id}))
    after = await room_info(ctx, room.id)
    form = {"type": "room.member_added", "room": room_public(room), "account_id": account.id}
    return Done(after, events=(Event(room.members, form),))


async def remove_member(ctx: Context, actor: Actor, room_id: str,
                        login: str) -> Done[RoomInfo]:
    """The account leaves the room: it no longer sees it (its messages stay)."""
    before = await room_info(ctx, room_id)
    account = await ctx.store.get_account_by_login(login)
    after = await sd.write(ctx.store, sd.remove_member_txn, (before.id, account.id),
                           Audit("room.member_removed", actor.account_id, before.id,
                                 {"account_id": account.id}), ctx.now())
    return Done(after, events=(Event(before.members, {
        "type": "room.member_removed", "room_id": before.id, "account_id": account.id}),))


async def set_archived(ctx: Context, actor: Actor, room_id: str,
                       archived: bool) -> Done[RoomInfo]:
    """Archive (read-only: history stays readable, sends answer ``room_archived``) or
    bring back."""
    before = await room_info(ctx, room_id)
    action = "room.archived" if archived else "room.unarchived"
    after = await sd.write(ctx.store, sd.set_archived_txn, (before.id, archived, ctx.now()),
                           Audit(action, actor.account_id, before.id, {"name": before.name}),
                           ctx.now())
    return Done(after, events=(Event(before.members, {
        "type": action, "room_id": before.id}),))
