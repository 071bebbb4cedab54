"""relay.files through ``app.handle``: a real Store on tmp_path, a real disarm pool
(one worker process), events read from the hub as stream sessions would get them."""

from __future__ import annotations

import time

import hashlib
import io
import json
import urllib.parse
from pathlib import Path
from typing import Any, AsyncIterator

import pytest
import trio
from PIL import ExifTags, Image

from policy import mynumber
from policy.config import PolicyConfig
from relay.app import build_app
from relay.config import AuthConfig, Config, HTTPConfig
from relay.hub import Subscription
from relay.web import Response
from sanitize.config import SanitizeConfig
from sanitize.pool import WorkerPool
from store.config import StoreConfig
from store.facade import Store
from tests.metrics import value
from tests.relay.test_api import PASSWORD, Clock, Env, body, code
from tests.sanitize import ooxml_fixtures as ox
from tests.sanitize import pdf_fixtures as px
from tests.audits import SETUP

TIMEOUT_S = 30
ELF = b"\x7fELF\x02\x01\x01\x00" + bytes(8) + b"\x02\x00\x3e\x00" + bytes(200)
DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def config(tmp_path: Path, *, max_upload: int = 1 << 20, upload_burst: int = 100,
           **policy: Any) -> Config:
    return Config(store=StoreConfig(state_dir=str(tmp_path / "state"), password_memory_kib=64),
                  http=HTTPConfig(ws_send_queue=64, max_upload_bytes=max_upload),
                  auth=AuthConfig(message_burst=1000, upload_burst=upload_burst,
                                  upload_refill_s=60.0),
                  sanitize=SanitizeConfig(workers=1),
                  policy=PolicyConfig(**policy))


async def make_env(cfg: Config, store: Store, clock: Clock) -> Env:
    e = Env(build_app(cfg, store, now=clock), store, clock)
    for acct in await store.list_accounts():
        e.ids[acct.login] = acct.id
    return e


async def add_accounts(store: Store) -> None:
    for login, kind in [("tanaka", "staff"), ("suzuki", "staff"), ("hoikuen", "external"),
                        ("root", "admin"), ("sato", "external")]:
        await store.create_account(login, PASSWORD, kind, login.title(), audit=SETUP, now=time.time())  # type: ignore[arg-type]


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    cfg = config(tmp_path)
    store = await Store.open(cfg.store)
    await add_accounts(store)
    e = await make_env(cfg, store, Clock())
    try:
        yield e
    finally:
        await e.app.aclose()
        await store.aclose()


async def upload(env: Env, room: str, data: bytes, name: str, as_: str, zone: str,
                 **query: str) -> Response:
    return await env.call("POST", f"/api/v1/rooms/{room}/files", raw=data, as_=as_, zone=zone,
                          query={"name": name, **query})


def subscribe(env: Env, login: str, zone: str) -> Subscription:
    return env.app.hub.subscribe(env.ids[login], zone, f"test-{login}-{zone}")  # type: ignore[arg-type]


async def next_event(sub: Subscription, *types: str) -> dict[str, Any]:
    with trio.fail_after(TIMEOUT_S):
        while True:
            ev = json.loads(await sub.receive.receive())
            if ev["type"] in types:
                return ev  # type: ignore[no-any-return]


async def download(r: Response) -> bytes:
    if r.stream is None:
        return r.body
    return b"".join([chunk async for chunk in r.stream])


def headers(r: Response) -> dict[str, str]:
    return dict(r.headers)


def gps_jpeg() -> bytes:
    exif = Image.Exif()
    exif[ExifTags.IFD.GPSInfo] = {ExifTags.GPS.GPSLatitudeRef: "N",
                                  ExifTags.GPS.GPSLatitude: (35.0, 41.0, 22.0)}
    buf = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 30, 30)).save(buf, "JPEG", exif=exif)
    return buf.getvalue()


def state_files(root: Path) -> list[Path]:
    """Every file under the blob, quarantine and temporary directories."""
    return sorted(p for d in ("blobs", "quarantine", "tmp") if (root / d).exists()
                  for p in (root / d).rglob("*") if p.is_file())


# --------------------------------------------------------------------------- the way in


async def test_internet_docm_pending_then_resumed_and_sanitized_for_lgwan(env: Env) -> None:
    room = await env.room("tanaka", "suzuki", "hoikuen")
    office = subscribe(env, "tanaka", "lgwan")
    phone = subscribe(env, "hoikuen", "internet")
    docm = ox.docm_with_vba()
    with trio.fail_after(TIMEOUT_S):
        # No background work yet: the file is committed and announced, and waits.
        r = await upload(env, room, docm, "報告書.docm", "hoikuen", "internet")
        assert r.status == 201, body(r)
        message = body(r)
        [att] = message["attachments"]
        assert att["status"] == "pending" and att["origin_zone"] == "internet"
        assert att["size"] == len(docm) and att["name"] == "報告書.docm"
        created = await next_event(office, "message.created")
        assert created["message"]["id"] == message["id"]
        pending = await env.call("GET", f"/api/v1/files/{att['id']}/content", as_="tanaka")
        assert pending.status == 409 and code(pending) == "file_pending"
        # The original is encrypted at rest: its bytes appear nowhere in the state dir.
        stored = b"".join(p.read_bytes() for p in state_files(Path(env.store.cfg.state_dir)))
        assert docm[:200] not in stored

        async with trio.open_nursery() as nursery:
            await nursery.start(env.app.run)  # resumes the pending job
            ready = await next_event(office, "file.ready", "file.blocked")
            assert ready["type"] == "file.ready", ready
            f = ready["file"]
            assert f["id"] == att["id"] and f["kind"] == "docm" and f["status"] == "ready"
            assert "ooxml.vba" in {x["code"] for x in f["report"]["removed"]}, f["report"]
            assert f["report"]["verdict"] == "sanitized" and f["report"]["message_ja"]
            assert f["content"] == {"variant": "sanitized", "name": "報告書.docx",
                                    "size": f["content"]["size"]}
            theirs = await next_event(phone, "file.ready", "file.blocked")
            assert theirs["file"]["content"]["variant"] == "original"

            lg = await env.call("GET", f"/api/v1/files/{att['id']}/content", as_="tanaka")
            assert lg.status == 200
            h = headers(lg)
            assert h["content-type"] == DOCX_MIME
            assert h["x-content-type-options"] == "nosniff" and h["cache-control"] == "no-store"
            quoted = urllib.parse.quote("報告書.docx", safe="")
            assert h["content-disposition"].startswith("attachment; ")
            assert f"filename*=UTF-8''{quoted}" in h["content-disposition"]
            clean = await download(lg)
            assert int(h["content-length"]) == len(clean) and clean != docm
            assert b"vbaProject" not in clean
            # The internet side receives the original by default (policy).
            net = await env.call("GET", f"/api/v1/files/{att['id']}/content", as_="hoikuen",
                                 zone="internet")
            assert net.status == 200 and await download(net) == docm
            nursery.cancel_scope.cancel()

    [crossed] = [e for e in await env.store.audit_entries(0, 100) if e.action == "file.crossed"]
    assert crossed.subject == att["id"] and crossed.actor == env.ids["hoikuen"]
    assert crossed.data["sha256"] == hashlib.sha256(docm).hexdigest()
    assert crossed.data["sanitized_sha256"] == hashlib.sha256(clean).hexdigest()
    assert crossed.data["verdict"] == "sanitized" and crossed.data["kind"] == "docm"
    assert crossed.data["removed"]["ooxml.vba"] == 4


async def test_blocked_and_clean_files_and_their_events(env: Env) -> None:
    room = await env.room("tanaka", "hoikuen")
    office = subscribe(env, "tanaka", "lgwan")
    sender = subscribe(env, "hoikuen", "internet")
    with trio.fail_after(TIMEOUT_S):
        async with trio.open_nursery() as nursery:
            await nursery.start(env.app.run)
            r = await upload(env, room, ELF, "invoice.pdf", "hoikuen", "internet")
            elf_id = body(r)["attachments"][0]["id"]
            blocked = await next_event(office, "file.ready", "file.blocked")
            assert blocked["type"] == "file.blocked"
            report = blocked["file"]["report"]
            assert report["reason"] == "executable" and report["name_mismatch"] is True
            assert report["message_ja"] and report["message_en"]
            assert blocked["file"]["content"] is None
            # The sender hears the verdict too, with the reason in both languages.
            told = await next_event(sender, "file.blocked")
            assert told["file"]["report"]["message_ja"] == report["message_ja"]
            r = await env.call("GET", f"/api/v1/files/{elf_id}/content", as_="tanaka")
            assert r.status == 403 and code(r) == "file_blocked"
            assert body(r)["error"]["details"]["reason"] == "executable"

            r = await upload(env, room, gps_jpeg(), "写真.jpg", "hoikuen", "internet")
            photo = await next_event(office, "file.ready", "file.blocked")
            assert photo["type"] == "file.ready" and photo["file"]["kind"] == "jpeg"
            got = await env.call("GET", f"/api/v1/files/{photo['file']['id']}/content",
                                 as_="tanaka")
            assert headers(got)["content-type"] == "image/jpeg"
            im = Image.open(io.BytesIO(await download(got)))
            assert im.getexif().get_ifd(ExifTags.IFD.GPSInfo) == {}
            nursery.cancel_scope.cancel()
    metrics = (await env.call("GET", "/metrics")).body.decode()
    assert value(metrics, "kakehashi_disarm_jobs_total", verdict="blocked") == 1
    assert value(metrics, "kakehashi_disarm_seconds_count") == 2
    assert value(metrics, "kakehashi_disarm_queue_depth") == 0


async def test_lgwan_files_reach_internet_members_by_kind(env: Env) -> None:
    room = await env.room("tanaka", "suzuki")
    phone = subscribe(env, "suzuki", "internet")
    office = subscribe(env, "suzuki", "lgwan")
    pdf = px.text_pdf()
    pdf_bytes = px.to_bytes(pdf)
    with trio.fail_after(TIMEOUT_S):
        r = await upload(env, room, pdf_bytes, "議事録.pdf", "tanaka", "lgwan")
        pdf_id = body(r)["attachments"][0]["id"]
        r = await upload(env, room, ELF, "tool.pdf", "tanaka", "lgwan")
        elf_id = body(r)["attachments"][0]["id"]
        # LGWAN members have LGWAN files at once; the internet side waits for the kind.
        got = await env.call("GET", f"/api/v1/files/{elf_id}/content", as_="suzuki")
        assert got.status == 200 and await download(got) == ELF
        assert headers(got)["content-type"] == "application/octet-stream"
        r = await env.call("GET", f"/api/v1/files/{pdf_id}/content", as_="suzuki", zone="internet")
        assert r.status == 409 and code(r) == "file_pending"
        async with trio.open_nursery() as nursery:
            await nursery.start(env.app.run)
            seen = {}
            for _ in range(2):
                ev = await next_event(phone, "file.ready", "file.blocked")
                seen[ev["file"]["id"]] = ev
            assert seen[pdf_id]["type"] == "file.ready"
            assert seen[elf_id]["type"] == "file.blocked"
            assert seen[elf_id]["file"]["report"]["reason"] == "policy_blocked"
            # The same moment in LGWAN: both are simply ready.
            for _ in range(2):
                assert (await next_event(office, "file.ready", "file.blocked"))["type"] == "file.ready"
            nursery.cancel_scope.cancel()
    r = await env.call("GET", f"/api/v1/files/{pdf_id}/content", as_="suzuki", zone="internet")
    assert r.status == 200 and await download(r) == pdf_bytes
    r = await env.call("GET", f"/api/v1/files/{elf_id}/content", as_="suzuki", zone="internet")
    assert r.status == 403 and code(r) == "policy_blocked"
    # Their kind came from a detect-only job: the disarm capacity went to nothing.
    metrics = (await env.call("GET", "/metrics")).body.decode()
    assert value(metrics, "kakehashi_disarm_seconds_count") == 0
    sent = [e for e in await env.store.audit_entries(0, 100) if e.action == "file.sent_out"]
    assert [e.subject for e in sent] == [pdf_id]
    assert sent[0].data["sha256"] == hashlib.sha256(pdf_bytes).hexdigest()


async def test_my_number_in_a_file_name_does_not_leave_lgwan(env: Env, tmp_path: Path) -> None:
    n = "12345678901" + str(mynumber.check_digit("12345678901"))
    room = await env.room("tanaka", "suzuki")
    r = await upload(env, room, b"hello", f"住民票_{n}.txt", "tanaka", "lgwan")
    assert r.status == 403 and code(r) == "my_number_blocked" and n not in r.body.decode()
    audit = [e for e in await env.store.audit_entries(0, 100) if e.action == "outbound.block"]
    assert audit and audit[0].data["in"] == "file_name"
    assert state_files(tmp_path / "state") == [] and await env.store.pending_attachments() == []


async def test_refusals_leave_nothing_behind(env: Env, tmp_path: Path) -> None:
    room = await env.room("tanaka", "hoikuen")
    big = b"x" * ((1 << 20) + 1)
    r = await upload(env, room, big, "big.bin", "hoikuen", "internet")
    assert r.status == 413
    r = await upload(env, room, b"", "empty.txt", "hoikuen", "internet")
    assert r.status == 400 and code(r) == "empty_file"
    for name in ("", "../", " "):
        r = await upload(env, room, b"x", name, "hoikuen", "internet")
        assert r.status == 400 and code(r) == "invalid_file_name", name
    r = await upload(env, "999", b"x", "a.txt", "hoikuen", "internet")
    assert r.status == 404 and code(r) == "room_not_found"
    assert state_files(tmp_path / "state") == []
    assert await env.store.pending_attachments() == []
    assert body(await env.call("GET", f"/api/v1/rooms/{room}/messages", as_="tanaka"))["messages"] == []


async def test_names_are_cleaned_and_uploads_are_idempotent(env: Env) -> None:
    room = await env.room("tanaka", "hoikuen")
    r = await upload(env, room, b"a,b\n", "C:\\Users\\x\\名簿\u202e.csv", "hoikuen", "internet",
                     client_id="c-1")
    assert r.status == 201
    first = body(r)
    assert first["attachments"][0]["name"] == "名簿.csv"
    again = await upload(env, room, b"a,b\n", "名簿.csv", "hoikuen", "internet", client_id="c-1")
    assert body(again)["id"] == first["id"]
    assert len(await env.store.pending_attachments()) == 1


async def test_strangers_cannot_see_files(env: Env) -> None:
    room = await env.room("tanaka", "hoikuen")
    r = await upload(env, room, b"memo", "memo.txt", "hoikuen", "internet")
    fid = body(r)["attachments"][0]["id"]
    for path in (f"/api/v1/files/{fid}", f"/api/v1/files/{fid}/content",
                 f"/api/v1/files/{fid}/original"):
        r = await env.call("GET", path, as_="sato", zone="internet")
        assert r.status == 404 and code(r) == "file_not_found", path
    r = await env.call("GET", f"/api/v1/files/{fid}", as_="tanaka")
    assert r.status == 200 and body(r)["content"] is None and body(r)["status"] == "pending"
    r = await upload(env, room, b"memo", "memo.txt", "sato", "internet")
    assert r.status == 404 and code(r) == "room_not_found"


async def test_upload_rate_limit_per_account(tmp_path: Path) -> None:
    cfg = config(tmp_path, upload_burst=2)
    async with await Store.open(cfg.store) as store:
        await add_accounts(store)
        env = await make_env(cfg, store, Clock())
        room = await env.room("tanaka", "hoikuen")
        for _ in range(2):
            assert (await upload(env, room, b"x", "a.txt", "hoikuen", "internet")).status == 201
        r = await upload(env, room, b"x", "a.txt", "hoikuen", "internet")
        assert r.status == 429 and code(r) == "rate_limited"
        assert int(headers(r)["retry-after"]) >= 1
        # Another account has its own bucket.
        assert (await upload(env, room, b"x", "a.txt", "tanaka", "lgwan")).status == 201
        env.clock.t += 60
        assert (await upload(env, room, b"x", "a.txt", "hoikuen", "internet")).status == 201
        await env.app.aclose()


# --------------------------------------------------------------------------- originals


async def test_original_released_to_the_approved_requester_only(env: Env) -> None:
    room = await env.room("tanaka", "suzuki", "hoikuen")
    pdf = px.js_openaction()
    requester = subscribe(env, "tanaka", "lgwan")
    with trio.fail_after(TIMEOUT_S):
        async with trio.open_nursery() as nursery:
            await nursery.start(env.app.run)
            fid = body(await upload(env, room, pdf, "案内.pdf", "hoikuen", "internet"))["attachments"][0]["id"]
            assert (await next_event(requester, "file.ready", "file.blocked"))["type"] == "file.ready"
            nursery.cancel_scope.cancel()
    orig = f"/api/v1/files/{fid}/original"
    r = await env.call("GET", orig, as_="tanaka")
    assert r.status == 403 and code(r) == "original_not_released"

    req_path = f"/api/v1/files/{fid}/original-requests"
    r = await env.call("POST", req_path, {"reason": ""}, as_="tanaka")
    assert r.status == 400 and code(r) == "empty_reason"
    r = await env.call("POST", req_path, {"reason": "原本の署名確認"}, as_="suzuki", zone="internet")
    assert r.status == 403 and code(r) == "lgwan_only"
    r = await env.call("POST", req_path, {"reason": "原本の署名確認"}, as_="tanaka")
    assert r.status == 201
    request = body(r)
    assert request["status"] == "pending" and request["file_id"] == fid
    assert request["requester"] == env.ids["tanaka"]

    listing = body(await env.call("GET", "/api/v1/admin/original-requests",
                                  as_="root", query={"status": "pending"}))
    assert [q["id"] for q in listing["requests"]] == [request["id"]]
    r = await env.call("GET", "/api/v1/admin/original-requests", as_="tanaka")
    assert r.status == 403
    r = await env.call("GET", "/api/v1/admin/original-requests", as_="root", query={"status": "x"})
    assert r.status == 400
    decide = f"/api/v1/admin/original-requests/{request['id']}/decision"
    r = await env.call("POST", decide, {"approve": "yes"}, as_="root")
    assert r.status == 400 and body(r)["error"]["details"]["field"] == "approve"
    r = await env.call("POST", decide, {"approve": True, "note": "確認済み"}, as_="root")
    assert r.status == 200 and body(r)["status"] == "approved" and body(r)["expires_at"]
    decided = await next_event(requester, "original.decided")
    assert decided["request"]["status"] == "approved"
    r = await env.call("POST", decide, {"approve": False}, as_="root")
    assert r.status == 409 and code(r) == "original_request_decided"

    r = await env.call("GET", orig, as_="tanaka")
    assert r.status == 200 and await download(r) == pdf
    assert headers(r)["content-type"] == "application/pdf"
    for login, zone in (("suzuki", "lgwan"), ("hoikuen", "internet")):
        r = await env.call("GET", orig, as_=login, zone=zone)
        assert r.status == 403 and code(r) == "original_not_released", login
    # The release ends (24 h by default).
    env.clock.t += 24 * 3600 + 1
    env.tokens.clear()
    r = await env.call("GET", orig, as_="tanaka")
    assert r.status == 403 and code(r) == "original_not_released"

    actions = [e.action for e in await env.store.audit_entries(0, 200)]
    for step in ("file.crossed", "original.requested", "original.approved", "original.downloaded"):
        assert step in actions, step
    ok = body(await env.call("GET", "/api/v1/admin/audit/verify", as_="root"))
    assert ok["ok"] is True


async def test_originals_only_exist_for_quarantined_files(env: Env) -> None:
    room = await env.room("tanaka", "suzuki")
    fid = body(await upload(env, room, b"memo", "memo.txt", "tanaka", "lgwan"))["attachments"][0]["id"]
    r = await env.call("POST", f"/api/v1/files/{fid}/original-requests", {"reason": "x"},
                       as_="suzuki")
    assert r.status == 400 and code(r) == "not_quarantined"
    r = await env.call("GET", f"/api/v1/files/{fid}/original", as_="tanaka")
    assert r.status == 403 and code(r) == "original_not_released"


# --------------------------------------------------------------------------- lifecycle


async def test_retention_purges_and_downloads_say_so(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    clock = Clock()
    async with await Store.open(cfg.store) as store:
        await add_accounts(store)
        env = await make_env(cfg, store, clock)
        room = await env.room("tanaka", "suzuki")
        fid = body(await upload(env, room, b"memo", "memo.txt", "tanaka", "lgwan"))["attachments"][0]["id"]
        clock.t += (cfg.store.retention_days + 1) * 86400.0
        env.tokens.clear()
        with trio.fail_after(TIMEOUT_S):
            async with trio.open_nursery() as nursery:
                await nursery.start(env.app.run)  # the retention task runs at once
                while (await env.call("GET", f"/api/v1/files/{fid}/content",
                                      as_="suzuki")).status != 410:
                    await trio.sleep(0.05)
                nursery.cancel_scope.cancel()
        await env.app.aclose()
    assert state_files(tmp_path / "state") == []


async def test_aclose_stops_the_pool_it_started(env: Env) -> None:
    with trio.fail_after(TIMEOUT_S):
        async with trio.open_nursery() as nursery:
            await nursery.start(env.app.run)
            pool = env.app.jobs.pool
            assert pool is not None
            pids = pool.worker_pids()
            assert len(pids) == 1
            await env.app.aclose()
    assert env.app.jobs.pool is None
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or \
            Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"


async def test_a_pool_given_to_the_app_stays_its_owners(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    pool = await trio.to_thread.run_sync(WorkerPool, cfg.sanitize)
    try:
        async with await Store.open(cfg.store) as store:
            app = build_app(cfg, store, now=Clock(), pool=pool)
            with trio.fail_after(TIMEOUT_S):
                async with trio.open_nursery() as nursery:
                    await nursery.start(app.run)
                    await app.aclose()
        assert app.jobs.pool is pool
        result = await trio.to_thread.run_sync(pool.run, b"still here\n", "a.txt")
        assert result.verdict.value in ("clean", "sanitized")
    finally:
        pool.close()


async def test_tampered_original_is_blocked_and_the_next_file_goes_through(env: Env) -> None:
    # The original reaches the worker frame by frame as it is decrypted: a frame that
    # fails its check stops the job (fail closed) without costing a worker.
    room = await env.room("tanaka", "suzuki", "hoikuen")
    office = subscribe(env, "tanaka", "lgwan")
    pdf = px.to_bytes(px.text_pdf())
    with trio.fail_after(TIMEOUT_S):
        r = await upload(env, room, pdf, "議事録.pdf", "hoikuen", "internet")
        [att] = body(r)["attachments"]
        sealed = env.store.quarantine.sealed_path(hashlib.sha256(pdf).hexdigest())
        raw = bytearray(sealed.read_bytes())
        raw[-5] ^= 0x01  # one bit of the last frame's tag
        sealed.write_bytes(bytes(raw))
        async with trio.open_nursery() as nursery:
            await nursery.start(env.app.run)
            ev = await next_event(office, "file.ready", "file.blocked")
            assert ev["type"] == "file.blocked" and ev["file"]["id"] == att["id"]
            assert ev["file"]["report"]["reason"] == "internal_error"
            r = await upload(env, room, gps_jpeg(), "写真.jpg", "hoikuen", "internet")
            ev = await next_event(office, "file.ready", "file.blocked")
            assert ev["type"] == "file.ready" and ev["file"]["kind"] == "jpeg"
            nursery.cancel_scope.cancel()
