"""relayctl's directory operations (``relay.control.OPERATIONS`` takes them in):
accounts listed, shown, renamed, moved, deleted and imported from the personnel
system; departments; rooms listed, shown, created for a department, members added
and removed, archived.  Each returns plain JSON; the changes are commands of
``relay.directory`` and ``relay.personnel`` run as the operator.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from store.directory import Person, RoomInfo

from relay import directory, personnel
from relay.commands import OPERATOR, Context
from relay.lifecycle_ops import with_sponsorship

Operation = Callable[[Context, dict[str, Any]], Awaitable[dict[str, Any]]]


async def _paths(ctx: Context) -> dict[str, str]:
    return {d.id: d.path for d in await directory.departments(ctx)}


async def _logins(ctx: Context) -> dict[str, str]:
    return {p.id: p.login for p in await directory.people(ctx, state=None)} | {
        p.id: p.login for p in await directory.people(ctx, state="deleted")}


def _person(p: Person, paths: dict[str, str]) -> dict[str, Any]:
    return {**p.public(), "department": paths.get(p.department_id or "", "")}


def _room(r: RoomInfo, paths: dict[str, str], logins: dict[str, str]) -> dict[str, Any]:
    return {**r.public(), "department": paths.get(r.department_id or "", ""),
            "member_logins": [logins.get(m, m) for m in r.members]}


async def rooms_shown(ctx: Context, found: list[RoomInfo]) -> list[dict[str, Any]]:
    """Rooms as relayctl and the admin API (``relay.routes_admin``) both show them:
    with their department's path and their members' logins."""
    paths, logins = await _paths(ctx), await _logins(ctx)
    return [_room(r, paths, logins) for r in found]


async def _account_list(ctx: Context, a: dict[str, Any]) -> dict[str, Any]:
    found = await directory.people(ctx, a.get("kind"), a.get("department"), a.get("state"))
    paths = await _paths(ctx)
    rows = [_person(p, paths) for p in found]
    return {"accounts": await with_sponsorship(ctx, rows, a.get("expiring"))}


async def _account_show(ctx: Context, a: dict[str, Any]) -> dict[str, Any]:
    p = await directory.person(ctx, a["login"])
    rooms = [r for r in await directory.room_infos(ctx) if p.id in r.members]
    return {"account": {**_person(p, await _paths(ctx)),
                        "rooms": [{"id": r.id, "name": r.name, "kind": r.kind,
                                   "archived": r.archived} for r in rooms]}}


async def _account_rename(ctx: Context, a: dict[str, Any]) -> dict[str, Any]:
    p = await ctx.run(directory.rename_account(ctx, OPERATOR, a["login"], a["display_name"]))
    return {"account": _person(p, await _paths(ctx))}


async def _account_department(ctx: Context, a: dict[str, Any]) -> dict[str, Any]:
    p = await ctx.run(directory.move_account(ctx, OPERATOR, a["login"], a.get("department")))
    return {"account": _person(p, await _paths(ctx))}


async def _account_delete(ctx: Context, a: dict[str, Any]) -> dict[str, Any]:
    p = await ctx.run(directory.delete_account(ctx, OPERATOR, a["login"]))
    return {"account": p.public(), "login": a["login"]}


async def _account_import(ctx: Context, a: dict[str, Any]) -> dict[str, Any]:
    report = await ctx.run(personnel.import_file(ctx, OPERATOR, a["content"],
                                                 bool(a.get("apply"))))
    return {"report": report}


async def _department_add(ctx: Context, a: dict[str, Any]) -> dict[str, Any]:
    d = await ctx.run(directory.add_department(ctx, OPERATOR, a["name"], a.get("parent")))
    return {"department": d.public()}


async def _department_list(ctx: Context, a: dict[str, Any]) -> dict[str, Any]:
    deps = await directory.departments(ctx)
    counts: dict[str, int] = {}
    for p in await directory.people(ctx, state="enabled"):
        if p.department_id:
            counts[p.department_id] = counts.get(p.department_id, 0) + 1
    return {"departments": [{**d.public(), "accounts": counts.get(d.id, 0)} for d in deps]}


async def _department_rename(ctx: Context, a: dict[str, Any]) -> dict[str, Any]:
    d = await ctx.run(directory.rename_department(ctx, OPERATOR, a["department"], a["name"]))
    return {"department": d.public()}


async def _room_list(ctx: Context, a: dict[str, Any]) -> dict[str, Any]:
    archived = a.get("archived")
    found = await directory.room_infos(ctx, a.get("department"),
                                       None if archived is None else bool(archived))
    return {"rooms": await rooms_shown(ctx, found)}


async def _room_show(ctx: Context, a: dict[str, Any]) -> dict[str, Any]:
    r = await directory.room_info(ctx, str(a["id"]))
    return {"room": (await rooms_shown(ctx, [r]))[0]}


async def _room_create(ctx: Context, a: dict[str, Any]) -> dict[str, Any]:
    r = await ctx.run(directory.create_room(ctx, OPERATOR, a["name"], list(a.get("members") or []),
                                            a.get("department")))
    return {"room": (await rooms_shown(ctx, [r]))[0]}


async def _room_member(ctx: Context, a: dict[str, Any]) -> dict[str, Any]:
    cmd = directory.add_member if a.get("add", True) else directory.remove_member
    r = await ctx.run(cmd(ctx, OPERATOR, str(a["id"]), a["login"]))
    return {"room": (await rooms_shown(ctx, [r]))[0]}


async def _room_archive(ctx: Context, a: dict[str, Any]) -> dict[str, Any]:
    r = await ctx.run(directory.set_archived(ctx, OPERATOR, str(a["id"]),
                                             bool(a.get("archived", True))))
    return {"room": (await rooms_shown(ctx, [r]))[0]}


OPERATIONS: dict[str, Operation] = {
    "account.list": _account_list,
    "account.show": _account_show,
    "account.rename": _account_rename,
    "account.department": _account_department,
    "account.delete": _account_delete,
    "account.import": _account_import,
    "department.add": _department_add,
    "department.list": _department_list,
    "department.rename": _department_rename,
    "room.list": _room_list,
    "room.show": _room_show,
    "room.create": _room_create,
    "room.member": _room_member,
    "room.archive": _room_archive,
}
