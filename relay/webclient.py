"""The web client: the files of ``web/`` served by relayd at ``/`` on both listeners.

No build step.  The client is plain ES modules; at start relayd reads ``web/`` once
and names every asset by the SHA-256 prefix of its content (``talk.js`` ->
``/assets/talk.3f2a…​.js``), rewriting the references between files (module imports,
``index.html``'s ``src``/``href``) so a name changes whenever anything it loads
changes.  Assets are then cached for a year as immutable; ``index.html`` is never
cached, so a new relayd version is picked up at the next page load.  Each body is
gzipped once at start and served compressed to browsers that accept it.

The page gets a strict Content-Security-Policy (no inline script or style, no eval,
nothing from another origin: LGWAN PCs have no internet) and the other browser
hardening headers.  Only names matching ``relay.routing.ASSET_RE`` are ever looked up, in a dict
built at start: there is no path from a request to the file system.

Two files are not hashed assets, because browsers need them at a fixed address: the
web app manifest (``/manifest.webmanifest``, its icons rewritten to their hashed
names) and the service worker (``/sw.js``: a worker's scope is the folder of its
script, so at the root it controls ``/``).  relayd puts the list of what the worker
may keep (``/`` and the hashed assets, see web/sw.js for why nothing else) at the top
of the worker's script, so the script — and with it the worker — changes whenever
any asset does; both are served ``no-cache`` so the browser always asks for the
current one.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from relay import errors
from relay.accounts import own_view
from relay.routing import ASSET_HASH_CHARS, Route, ok, public
from relay.sessions import authenticate
from relay.shapes import cookie_allowed, credentials
from relay.web import Request, Response

if TYPE_CHECKING:
    from relay.app import RelayApp

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parents[1] / "web"
HASH_CHARS = ASSET_HASH_CHARS
# A source file of web/ and the served name of an asset.
SOURCE_RE = re.compile(r"[a-z][a-z0-9-]{0,40}\.(?:js|css|svg)")
# A reference from one file to another: "./x.js" in a module or stylesheet, and
# src="x.js" / href="x.css" in index.html.
MODULE_REF_RE = re.compile(r"""(["'])\./([a-z][a-z0-9-]{0,40}\.(?:js|css|svg))\1""")
HTML_REF_RE = re.compile(r"""((?:src|href)=")([a-z][a-z0-9-]{0,40}\.(?:js|css|svg))(")""")
PRELOAD_MARK = "<!-- modulepreload -->"
WORKER = "sw.js"  # served at /sw.js, not as an asset
MANIFEST = "manifest.webmanifest"  # served at /manifest.webmanifest
# The worker's script gets its own policy (a worker's CSP is that of its response).
WORKER_CSP = "default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'"
CONTENT_TYPES = {"js": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8",
                 "svg": "image/svg+xml"}
# Only what the client uses: a photo from the camera, a location later.
PERMISSIONS = ("camera=(self), geolocation=(self), microphone=(), payment=(), usb=(), "
               "serial=(), midi=(), display-capture=()")
# A Host header is echoed into the CSP only when it is a plain host[:port].
HOST_RE = re.compile(r"(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?")
PAGE_HEADERS = (
    ("referrer-policy", "no-referrer"),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
    ("permissions-policy", PERMISSIONS),
    ("x-frame-options", "DENY"),
)
IMMUTABLE = "public, max-age=31536000, immutable"


@dataclass(frozen=True, slots=True)
class Asset:
    content_type: str
    body: bytes
    gzipped: bytes


@dataclass(frozen=True, slots=True)
class Bundle:
    """``web/`` as served: index.html with hashed references, assets by served name."""

    index: Asset
    assets: dict[str, Asset]  # "talk.3f2a….js" -> Asset
    names: dict[str, str]  # "talk.js" -> "talk.3f2a….js"
    worker: Asset | None = None  # /sw.js
    manifest: Asset | None = None  # /manifest.webmanifest


def _asset(content_type: str, body: bytes) -> Asset:
    return Asset(content_type, body, gzip.compress(body, 9, mtime=0))


def load(root: Path = WEB_DIR) -> Bundle:
    """Read ``root`` once and hash every asset.  Raises ``ValueError`` for a file name
    outside the pattern or a cycle of references (a hash cannot cover itself)."""
    sources: dict[str, str] = {}
    for path in sorted(root.iterdir()):
        if path.name in ("index.html", WORKER, MANIFEST) or path.name.startswith("."):
            continue
        if not path.is_file() or not SOURCE_RE.fullmatch(path.name):
            raise ValueError(f"web/{path.name}: not a name relayd serves ({SOURCE_RE.pattern})")
        sources[path.name] = path.read_text(encoding="utf-8")
    names: dict[str, str] = {}
    served: dict[str, Asset] = {}

    def visit(name: str, stack: tuple[str, ...]) -> str:
        if name in names:
            return names[name]
        if name in stack:
            raise ValueError("web/: references form a cycle: " + " -> ".join((*stack, name)))
        if name not in sources:
            raise ValueError(f"web/{stack[-1]}: refers to missing ./{name}")

        def swap(m: re.Match[str]) -> str:
            return f"{m.group(1)}./{visit(m.group(2), (*stack, name))}{m.group(1)}"

        body = MODULE_REF_RE.sub(swap, sources[name]).encode("utf-8")
        stem, ext = name.rsplit(".", 1)
        hashed = f"{stem}.{hashlib.sha256(body).hexdigest()[:HASH_CHARS]}.{ext}"
        names[name] = hashed
        served[hashed] = _asset(CONTENT_TYPES[ext], body)
        return hashed

    for name in sources:
        visit(name, ())
    html = (root / "index.html").read_text(encoding="utf-8")
    html = HTML_REF_RE.sub(lambda m: f"{m.group(1)}/assets/{visit(m.group(2), ('index.html',))}"
                           f"{m.group(3)}", html)
    # Every module fetched at once instead of one import level at a time.
    preload = "\n".join(f'<link rel="modulepreload" href="/assets/{names[n]}">'
                        for n in sorted(sources) if n.endswith(".js"))
    html = html.replace(PRELOAD_MARK, preload)
    index = _asset("text/html; charset=utf-8", html.encode("utf-8"))
    return Bundle(index, served, names, _worker(root, index, names), _manifest(root, names))


def _worker(root: Path, index: Asset, names: dict[str, str]) -> Asset | None:
    """web/sw.js after a first line naming the shell it may keep and its version."""
    path = root / WORKER
    if not path.is_file():
        return None
    shell = ["/", *(f"/assets/{names[n]}" for n in sorted(names))]
    version = hashlib.sha256(index.body + "\n".join(shell).encode()).hexdigest()[:HASH_CHARS]
    head = f"const SHELL = {json.dumps(shell)};\nconst VERSION = {json.dumps(version)};\n"
    return _asset(CONTENT_TYPES["js"], (head + path.read_text(encoding="utf-8")).encode("utf-8"))


def _manifest(root: Path, names: dict[str, str]) -> Asset | None:
    """web/manifest.webmanifest with each icon's ``src`` as its hashed asset."""
    path = root / MANIFEST
    if not path.is_file():
        return None
    manifest = json.loads(path.read_text(encoding="utf-8"))
    for icon in manifest.get("icons", []):
        if icon["src"] not in names:
            raise ValueError(f"web/{MANIFEST}: icon {icon['src']} is not in web/")
        icon["src"] = f"/assets/{names[icon['src']]}"
    body = json.dumps(manifest, ensure_ascii=False, indent=1).encode("utf-8")
    return _asset("application/manifest+json; charset=utf-8", body)


def content_security_policy(host: str | None, tls: bool) -> str:
    """The page's CSP.  connect-src names this host's WebSocket scheme too: older
    browsers do not count ws(s): as 'self'."""
    connect = "'self'"
    if host and HOST_RE.fullmatch(host):
        connect += f" {'wss' if tls else 'ws'}://{host}"
    return ("default-src 'self'; script-src 'self'; style-src 'self'; "
            "img-src 'self' blob:; font-src 'self'; object-src 'none'; "
            f"connect-src {connect}; frame-ancestors 'none'; base-uri 'none'; "
            "form-action 'self'")


def _gzip_ok(req: Request) -> bool:
    accept = req.header("accept-encoding") or ""
    return any(part.split(";")[0].strip() == "gzip" for part in accept.split(","))


def _serve(req: Request, asset: Asset, headers: tuple[tuple[str, str], ...]) -> Response:
    base = (("content-type", asset.content_type), ("vary", "accept-encoding"), *headers)
    if _gzip_ok(req):
        return Response(200, (*base, ("content-encoding", "gzip")), asset.gzipped)
    return Response(200, base, asset.body)


def web_routes(app: "RelayApp") -> list["Route"]:
    """``/`` (the page), ``/sw.js`` (its service worker), ``/manifest.webmanifest``,
    ``/assets/{asset}`` and the page's session check."""

    try:
        bundle: Bundle | None = load()
    except (OSError, ValueError) as exc:
        # relayd still serves the API (native clients, relayctl); the page is 404.
        log.error("web client not served: %s (ウェブ画面を配信できません)", exc)
        bundle = None

    async def page(req: Request, p: list[str]) -> Response:
        if bundle is None:
            raise errors.not_found()
        csp = content_security_policy(req.header("host"), req.tls)
        return _serve(req, bundle.index, (("cache-control", "no-store"),
                                          ("content-security-policy", csp), *PAGE_HEADERS))

    async def asset(req: Request, p: list[str]) -> Response:
        found = bundle.assets.get(p[0]) if bundle is not None else None
        if found is None:
            raise errors.not_found()
        return _serve(req, found, (("cache-control", IMMUTABLE),
                                   ("cross-origin-resource-policy", "same-origin")))

    async def session(req: Request, p: list[str]) -> Response:
        # "Who am I" without a 401: the page asks it at every load, when it cannot
        # know whether its HttpOnly cookie is there.
        # "cookie": whether this listener keeps a browser session at all.
        plain_cookie = app.cfg.auth.lgwan_http_cookie
        where = {"zone": req.zone, "cookie": cookie_allowed(req, plain_cookie)}
        token, _ = credentials(req, plain_cookie)
        try:
            caller = await authenticate(app.ctx, token, req.zone)
        except Exception as exc:
            refusal = errors.translate(exc)
            if refusal is None or refusal.status not in (401, 403):
                raise
            return ok(200, {"account": None, **where})
        return ok(200, {"account": own_view(app.ctx, caller.account), **where})

    async def worker(req: Request, p: list[str]) -> Response:
        if bundle is None or bundle.worker is None:
            raise errors.not_found()
        # no-cache: the browser checks for a new worker at every navigation anyway.
        return _serve(req, bundle.worker, (("cache-control", "no-cache"),
                                           ("content-security-policy", WORKER_CSP),
                                           ("cross-origin-resource-policy", "same-origin")))

    async def manifest(req: Request, p: list[str]) -> Response:
        if bundle is None or bundle.manifest is None:
            raise errors.not_found()
        return _serve(req, bundle.manifest, (("cache-control", "no-cache"),
                                             ("cross-origin-resource-policy", "same-origin")))

    return [public("GET", "/", page),
            public("GET", "/sw.js", worker),
            public("GET", "/manifest.webmanifest", manifest),
            public("GET", "/assets/{asset}", asset),
            public("GET", "/api/v1/session", session)]
