"""Shapes of what clients send: typed reads from JSON bodies, query values and
credentials, each refusal a 400 (or 401) that names the field.

Shared by the HTTP routes (``relay.routes``) and the stream (``relay.stream``), so a
message has one shape whichever way it comes.
"""

from __future__ import annotations

import ipaddress
import json
import re
from http.cookies import CookieError, SimpleCookie
from typing import Any

from relay import errors
from relay.web import Request

ID_RE = re.compile(r"[0-9]{1,18}")
COOKIE_PREFIX = "kakehashi_"  # + zone: browsers share cookies across ports of a host


async def read_json(req: Request, limit: int) -> Any:
    """The JSON body (None when empty).  A body must say it is JSON: a browser form
    posted from another site cannot (its types are form and text types)."""
    raw = await req.body.read_all(limit)
    if not raw:
        return None
    ctype = (req.header("content-type") or "").split(";", 1)[0].strip().lower()
    if ctype != "application/json":
        raise errors.error("unsupported_media_type", {"content_type": ctype[:100]})
    return parse_json(raw)


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def parse_json(raw: bytes | str) -> Any:
    """JSON from a client, or a 400: malformed text, nesting too deep for the parser,
    integers too long to convert, and strings with lone surrogates (which no UTF-8
    store or answer can hold) are the client's error, never ours."""
    try:
        obj = json.loads(raw)
        # A lone surrogate can only come from a \uD800-\uDFFF escape: only then is the
        # object re-encoded, the C-speed way to find one anywhere inside.
        if _SURROGATE_ESCAPE.search(raw if isinstance(raw, bytes) else raw.encode()):
            json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except (UnicodeError, ValueError, RecursionError) as exc:  # JSONDecodeError too
        raise errors.error("malformed_json", {"position": getattr(exc, "pos", None),
                                              "reason": type(exc).__name__}) from None
    return obj


class Fields:
    """Typed reads from a JSON object; a wrong shape is a 400 naming the field path."""

    def __init__(self, obj: Any, path: str = "") -> None:
        if not isinstance(obj, dict):
            raise errors.invalid_field(path, "a JSON object")
        self.obj = obj
        self.path = path

    @classmethod
    async def of(cls, req: Request, limit: int) -> "Fields":
        return cls(await read_json(req, limit))

    def _p(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def _get(self, name: str, required: bool, expected: str) -> Any:
        value = self.obj.get(name)
        if value is None and required:
            raise errors.invalid_field(self._p(name), expected, "missing")
        return value

    def opt_str(self, name: str, required: bool = False) -> str | None:
        value = self._get(name, required, "a string")
        if value is not None and not isinstance(value, str):
            raise errors.invalid_field(self._p(name), "a string")
        return value

    def req_str(self, name: str) -> str:
        value = self.opt_str(name, required=True)
        assert value is not None
        return value

    def choice(self, name: str, choices: tuple[str, ...], required: bool = True) -> str | None:
        expected = " or ".join(f'"{c}"' for c in choices)
        value = self._get(name, required, expected)
        if value is None:
            return None
        if value not in choices:
            raise errors.invalid_field(self._p(name), expected)
        return str(value)

    def id_list(self, name: str) -> list[str]:
        value = self._get(name, True, "a list of ids")
        if not isinstance(value, list):
            raise errors.invalid_field(self._p(name), "a list of ids")
        for i, item in enumerate(value):
            if not isinstance(item, str) or not ID_RE.fullmatch(item):
                raise errors.invalid_field(f"{self._p(name)}[{i}]", "an id string")
        return value

    def str_list(self, name: str, required: bool = True) -> list[str] | None:
        value = self._get(name, required, "a list of strings")
        if value is None:
            return None
        if not isinstance(value, list):
            raise errors.invalid_field(self._p(name), "a list of strings")
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise errors.invalid_field(f"{self._p(name)}[{i}]", "a string")
        return value

    def objects(self, name: str) -> list["Fields"]:
        """A list of JSON objects, each read with its own ``Fields`` (``slots[2].start``)."""
        value = self._get(name, True, "a list of objects")
        if not isinstance(value, list):
            raise errors.invalid_field(self._p(name), "a list of objects")
        return [Fields(item, f"{self._p(name)}[{i}]") for i, item in enumerate(value)]

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.obj.get(name)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise errors.invalid_field(self._p(name), "true or false")
        return value

    def req_flag(self, name: str) -> bool:
        """A boolean the caller must give: left out is a mistake, not a wish."""
        value = self._get(name, True, "true or false")
        if not isinstance(value, bool):
            raise errors.invalid_field(self._p(name), "true or false", "wrong_type")
        return value

    def opt_int(self, name: str) -> int | None:
        """An integer (JSON true/false and 1.5 are not)."""
        value = self.obj.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise errors.invalid_field(self._p(name), "an integer")
        return value

    def id(self, name: str) -> str:
        value = self.req_str(name)
        if not ID_RE.fullmatch(value):
            raise errors.invalid_field(self._p(name), "an id string")
        return value

    def opt_id(self, name: str) -> str | None:
        return None if self.obj.get(name) is None else self.id(name)


def query_int(req: Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = req.query.get(name)
    if raw is None:
        return default
    if not re.fullmatch(r"[0-9]{1,9}", raw) or not lo <= int(raw) <= hi:
        raise errors.invalid_field(name, f"an integer {lo}..{hi}")
    return int(raw)


def query_bool(req: Request, name: str) -> bool | None:
    """``true`` or ``false``; None when absent (anything else is refused)."""
    raw = req.query.get(name)
    if raw is None:
        return None
    if raw not in ("true", "false"):
        raise errors.invalid_field(name, "true or false")
    return raw == "true"


def query_id(req: Request, name: str) -> str | None:
    raw = req.query.get(name)
    if raw is not None and not ID_RE.fullmatch(raw):
        raise errors.invalid_field(name, "an id string")
    return raw


def bearer_token(req: Request, lgwan_http_cookie: bool = False) -> str | None:
    """The token from ``Authorization: Bearer``, else the zone's session cookie."""
    return credentials(req, lgwan_http_cookie)[0]


def cookie_allowed(req: Request, lgwan_http_cookie: bool) -> bool:
    """Whether this listener sets and reads the session cookie: TLS listeners always;
    the plain-HTTP LGWAN listener with ``auth.lgwan_http_cookie``, or for a browser on
    the relay host itself (loopback traffic never crosses a network: the embedded
    default can be tried in a browser, admin screens included)."""
    if req.tls:
        return True
    return req.zone == "lgwan" and (lgwan_http_cookie or _loopback(req.peer))


def _loopback(peer: str) -> bool:
    try:
        return ipaddress.ip_address(peer).is_loopback
    except ValueError:
        return False


def credentials(req: Request, lgwan_http_cookie: bool = False) -> tuple[str | None, bool]:
    """(token, whether it came from the cookie).  A browser sends the cookie with any
    request, also one a foreign page makes it send; a bearer header it never adds by
    itself."""
    auth = req.header("authorization")
    if auth:
        scheme, _, token = auth.partition(" ")
        return (token.strip() if scheme.lower() == "bearer" and token.strip() else None), False
    if cookie_allowed(req, lgwan_http_cookie) and (raw := req.header("cookie")):
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(raw)
        except CookieError:
            return None, False
        morsel = jar.get(COOKIE_PREFIX + req.zone)
        return (morsel.value, True) if morsel else (None, False)
    return None, False


def same_origin(req: Request, allowed: tuple[str, ...]) -> bool:
    """Whether a request comes from our own pages (or a configured origin): the page's
    Origin names this listener's own scheme://host[:port].  (A page of another site
    that a rebound DNS name points here shows its own name in both Origin and Host,
    but the browser sends it no cookie of ours.)"""
    origin = req.header("origin")
    if origin is None:
        return False
    host = req.header("host")
    scheme = "https" if req.tls else "http"
    return origin in allowed or (host is not None and origin == f"{scheme}://{host}")
