"""Routes: what a path and method lead to, and who may call it — declared once per
route (``public``, ``member`` — any session, the handler gets a ``Caller`` — or
``admin``, which exists on the LGWAN listener only).  Every route module builds its
list with these; ``relay.app`` dispatches over them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from relay.commands import Caller
from relay.shapes import ID_RE
from relay.web import Request, Response, json_response

# A web client asset: a name, the first hex digits of its content's hash, a suffix
# (relay.webclient names them so); nothing else, so no path and no traversal.
ASSET_HASH_CHARS = 16
ASSET_RE = re.compile(r"[a-z][a-z0-9-]{0,40}\.[0-9a-f]{%d}\.(?:js|css|svg)" % ASSET_HASH_CHARS)

PublicHandler = Callable[[Request, list[str]], Awaitable[Response]]
MemberHandler = Callable[[Request, Caller, list[str]], Awaitable[Response]]


def ok(status: int, obj: Any, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    # Answers carry personal data: no cache keeps them.
    return json_response(status, obj, headers=(("cache-control", "no-store"), *headers))


def no_content(headers: tuple[tuple[str, str], ...] = ()) -> Response:
    return Response(204, (("cache-control", "no-store"), *headers))


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    pattern: tuple[str, ...]  # path segments; "{id}" matches an id
    handler: Callable[..., Awaitable[Response]]
    access: str  # "public" | "member" | "admin"
    lgwan_only: bool  # admin and operations paths: absent elsewhere

    @property
    def path(self) -> str:
        return "/" + "/".join(self.pattern)

    def match(self, segments: list[str]) -> list[str] | None:
        if len(segments) != len(self.pattern):
            return None
        params: list[str] = []
        for want, got in zip(self.pattern, segments):
            if want == "{id}":
                if not ID_RE.fullmatch(got):
                    return None
                params.append(got)
            elif want == "{asset}":  # a web client file name: no path, no traversal
                if not ASSET_RE.fullmatch(got):
                    return None
                params.append(got)
            elif want != got:
                return None
        return params


def segments(path: str) -> list[str]:
    return path.strip("/").split("/") if path.strip("/") else []


def public(method: str, path: str, handler: PublicHandler, lgwan_only: bool = False) -> Route:
    return Route(method, tuple(segments(path)), handler, "public", lgwan_only)


def member(method: str, path: str, handler: MemberHandler) -> Route:
    return Route(method, tuple(segments(path)), handler, "member", False)


def admin(method: str, path: str, handler: MemberHandler) -> Route:
    return Route(method, tuple(segments(path)), handler, "admin", True)
