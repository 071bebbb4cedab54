"""Routes of tasks, notes, location posts and phone memos.  Each handler reads the
request's shape and calls one command or domain function (``relay.tasks``,
``relay.notes``, ``relay.locations``, ``relay.memos``), which check membership: these
routes are open to any session on both listeners."""

from __future__ import annotations

from typing import TYPE_CHECKING

from store.tasks import TaskChange

from relay import errors, locations, memos, notes, tasks
from relay.routing import Route, member, ok
from relay.commands import Caller
from relay.shapes import Fields, query_bool, query_id, query_int
from relay.web import Request, Response
from relay.work_checks import boolean, id_list, integer

if TYPE_CHECKING:
    from relay.app import RelayApp


def work_routes(app: "RelayApp") -> list[Route]:
    ctx = app.ctx
    limit = app.cfg.http.max_json_bytes

    # ------------------------------------------------------------ tasks
    async def create_task(req: Request, caller: Caller, p: list[str]) -> Response:
        f = await Fields.of(req, limit)
        message = await ctx.run(tasks.create(
            ctx, caller, p[0], f.req_str("title"),
            id_list(f, "assignees", tasks.MAX_ASSIGNEES), f.obj.get("due"),
            f.opt_str("client_id")))
        return ok(201, message.public())

    async def list_tasks(req: Request, caller: Caller, p: list[str]) -> Response:
        assignee = req.query.get("assignee", "me")
        if assignee not in ("me", "any"):
            raise errors.invalid_field("assignee", '"me" or "any"')
        found = await tasks.listing(
            ctx, caller, assignee, query_bool(req, "done"), query_id(req, "room"),
            query_int(req, "limit", tasks.LIST_DEFAULT_LIMIT, 1, tasks.LIST_MAX_LIMIT))
        return ok(200, {"tasks": [t.public() for t in found]})

    async def get_task(req: Request, caller: Caller, p: list[str]) -> Response:
        return ok(200, (await tasks.visible_task(ctx, caller, p[0])).public())

    async def update_task(req: Request, caller: Caller, p: list[str]) -> Response:
        f = await Fields.of(req, limit)
        set_due = "due" in f.obj
        due, due_ts = (tasks.parse_due(f.obj["due"], ctx.now())
                       if f.obj.get("due") is not None else (None, None))
        change = TaskChange(
            title=f.opt_str("title"), set_due=set_due, due=due, due_ts=due_ts,
            assignees=(id_list(f, "assignees", tasks.MAX_ASSIGNEES)
                       if "assignees" in f.obj else None),
            done=boolean(f, "done", required=False))
        task = await ctx.run(tasks.update(ctx, caller, p[0], change))
        return ok(200, task.public())

    # ------------------------------------------------------------ notes
    async def create_note(req: Request, caller: Caller, p: list[str]) -> Response:
        f = await Fields.of(req, limit)
        note = await ctx.run(notes.create(ctx, caller, p[0], f.req_str("title"),
                                          f.opt_str("body") or "", f.opt_str("client_id")))
        return ok(201, note.public())

    async def room_notes(req: Request, caller: Caller, p: list[str]) -> Response:
        found = await notes.notes_of(ctx, caller, p[0])
        return ok(200, {"notes": [n.public(with_body=False) for n in found]})

    async def get_note(req: Request, caller: Caller, p: list[str]) -> Response:
        return ok(200, (await notes.visible_note(ctx, caller, p[0])).public())

    async def save_note(req: Request, caller: Caller, p: list[str]) -> Response:
        f = await Fields.of(req, limit)
        note = await ctx.run(notes.save(ctx, caller, p[0], integer(f, "base_version"),
                                        f.opt_str("title"), f.req_str("body")))
        return ok(200, note.public())

    async def note_versions(req: Request, caller: Caller, p: list[str]) -> Response:
        note, found = await notes.versions(ctx, caller, p[0])
        return ok(200, {"note": note.public(), "versions": [v.public() for v in found]})

    # ------------------------------------------------------------ locations, memos
    async def post_location(req: Request, caller: Caller, p: list[str]) -> Response:
        f = await Fields.of(req, limit)
        message = await ctx.run(locations.post(ctx, caller, p[0], f, f.opt_str("client_id")))
        return ok(201, message.public())

    async def create_memo(req: Request, caller: Caller, p: list[str]) -> Response:
        f = await Fields.of(req, limit)
        message = await ctx.run(memos.create(ctx, caller, p[0], f, f.opt_str("client_id")))
        return ok(201, message.public())

    async def memo_done(req: Request, caller: Caller, p: list[str]) -> Response:
        memo = await ctx.run(memos.done(ctx, caller, p[0]))
        return ok(200, memo.public())

    return [
        member("POST", "/api/v1/rooms/{id}/tasks", create_task),
        member("GET", "/api/v1/tasks", list_tasks),
        member("GET", "/api/v1/tasks/{id}", get_task),
        member("PATCH", "/api/v1/tasks/{id}", update_task),
        member("POST", "/api/v1/rooms/{id}/notes", create_note),
        member("GET", "/api/v1/rooms/{id}/notes", room_notes),
        member("GET", "/api/v1/notes/{id}", get_note),
        member("PATCH", "/api/v1/notes/{id}", save_note),
        member("GET", "/api/v1/notes/{id}/versions", note_versions),
        member("POST", "/api/v1/rooms/{id}/locations", post_location),
        member("POST", "/api/v1/rooms/{id}/memos", create_memo),
        member("POST", "/api/v1/memos/{id}/done", memo_done),
    ]
