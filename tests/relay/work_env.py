"""Helpers shared by the tests of tasks, notes, location posts and phone memos:
creating through ``env.call``, reading the audit log and the room's history."""

from __future__ import annotations

from typing import Any

from policy import mynumber
from store.db import iso
from tests.relay.collab_env import body, code, quiet, until
from tests.relay.test_api import Env

__all__ = ["MY_NUMBER", "audit", "body", "code", "create", "history", "now_iso", "quiet",
           "until"]

# A valid 12-digit 個人番号 (its check digit computed), never a real person's.
MY_NUMBER = "12345678901" + str(mynumber.check_digit("12345678901"))


async def create(env: Env, room: str, what: str, as_: str, zone: str = "lgwan",
                 **fields: Any) -> Any:
    """POST /api/v1/rooms/{room}/{what}; its JSON (asserting 201)."""
    r = await env.call("POST", f"/api/v1/rooms/{room}/{what}", fields, as_=as_, zone=zone)
    assert r.status == 201, body(r)
    return body(r)


async def audit(env: Env, action: str) -> list[dict[str, Any]]:
    entries = body(await env.call("GET", "/api/v1/admin/audit", as_="root",
                                  query={"limit": "1000"}))["entries"]
    return [e for e in entries if e["action"] == action]


async def history(env: Env, room: str, as_: str = "tanaka",
                  zone: str = "lgwan") -> list[dict[str, Any]]:
    return body(await env.call("GET", f"/api/v1/rooms/{room}/messages", as_=as_,
                               zone=zone))["messages"]


def now_iso(env: Env, offset_s: float = 0.0) -> str:
    return iso(env.clock.t + offset_s)
