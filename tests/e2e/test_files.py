"""End to end: files from the internet into LGWAN through a real relayd.

A partner on the internet listener sends a macro document, a PDF with JavaScript, a
photo with GPS EXIF and an ELF named .pdf; an LGWAN officer hears ``file.ready`` /
``file.blocked`` over the stream and downloads what LGWAN may have, and independent
tools (olevba, mraptor, pdfid, Pillow) judge those bytes.  The original needs an
admin's release.  A relayd killed while a file waits for its disarm finishes it after
the restart; an upload over the limit leaves nothing; an edited audit row is found."""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import urllib.parse
from pathlib import Path
from typing import Any

import h11
import pytest
import trio
from oletools.olevba import VBA_Parser
from PIL import ExifTags, Image
from pdfid import pdfid  # type: ignore[import-untyped]

from tests.e2e.harness import REPO, HTTPClient, Relayd, relayd, start_relayd, ws_recv_json
from tests.metrics import value
from tests.e2e.test_chat import PASSWORDS, login, ok, setup_accounts
from tests.sanitize import ooxml_fixtures as ox
from tests.sanitize import pdf_fixtures as px

pytestmark = pytest.mark.e2e

MAX_UPLOAD = 2 * 1024 * 1024
CONFIG = {"store": {"password_memory_kib": 64}, "sanitize": {"workers": 1},
          "http": {"max_upload_bytes": MAX_UPLOAD}}
ELF = b"\x7fELF\x02\x01\x01\x00" + bytes(8) + b"\x02\x00\x3e\x00" + bytes(500)
PDF_ACTIVE = ("/JS", "/JavaScript", "/OpenAction", "/AA", "/Launch", "/EmbeddedFile")
DB_NAME = "kakehashi.db"


# --------------------------------------------------------------------------- fixtures


def gps_jpeg() -> bytes:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "SECRETCAM"
    exif[ExifTags.IFD.GPSInfo] = {
        ExifTags.GPS.GPSLatitudeRef: "N", ExifTags.GPS.GPSLatitude: (35.0, 41.0, 22.0),
        ExifTags.GPS.GPSLongitudeRef: "E", ExifTags.GPS.GPSLongitude: (139.0, 41.0, 30.0)}
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (20, 120, 200)).save(buf, "JPEG", exif=exif)
    return buf.getvalue()


def pdf_counts(data: bytes) -> dict[str, int]:
    reports: list[dict[str, object]] = []
    pdfid.PDFID2Dict(pdfid.PDFiD("x.pdf", filebuffer=data), False, False, reports)
    assert reports, "pdfid could not read the file"
    return {k: int(v) for k, v in reports[0].items() if k in PDF_ACTIVE}  # type: ignore[call-overload]


def has_vba(data: bytes) -> bool:
    parser = VBA_Parser("file.docx", data=data)
    try:
        return bool(parser.detect_vba_macros())
    finally:
        parser.close()


def mraptor(path: Path) -> int:
    """mraptor's exit status: 0 no macro, 20 suspicious."""
    return subprocess.run([sys.executable, "-m", "oletools.mraptor", str(path)],
                          capture_output=True, timeout=60).returncode


def relayctl(r: Relayd, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "relay.ctl", "--config", str(r.config_path),
                           *args], capture_output=True, text=True, cwd=REPO, timeout=60)


def state_files(state: Path) -> list[Path]:
    return sorted(p for d in ("blobs", "quarantine", "tmp") if (state / d).exists()
                  for p in (state / d).rglob("*") if p.is_file())


def db_rows(state: Path, sql: str) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(f"file:{state / DB_NAME}?mode=ro", uri=True)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (relayd's disarm workers)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


async def file_event(ws: Any) -> dict[str, Any]:
    """The next file.ready / file.blocked event (others are skipped)."""
    while True:
        ev = await ws_recv_json(ws)
        if ev["type"] in ("file.ready", "file.blocked"):
            return ev  # type: ignore[no-any-return]


async def post_file(client: HTTPClient, room: str, name: str, data: bytes) -> dict[str, Any]:
    reply = await client.request("POST", f"/api/v1/rooms/{room}/files?name="
                                 + urllib.parse.quote(name), body=data)
    return ok(reply, 201)  # type: ignore[no-any-return]


async def raw_upload(r: Relayd, zone: str, token: str, room: str, size: int,
                     chunked: bool) -> int:
    """Send ``size`` bytes as an upload, declared (Content-Length) or not (chunked, so
    the cap can only be found while streaming), reading the answer while sending (the
    server answers and closes without reading the rest); return its status."""
    stream = await r.endpoint(zone).connect()
    conn = h11.Connection(h11.CLIENT)
    length = ("transfer-encoding", "chunked") if chunked else ("content-length", str(size))
    status: list[int] = []

    async def send() -> None:
        block = b"z" * (256 * 1024)
        try:
            await stream.send_all(conn.send(h11.Request(
                method="POST", target=f"/api/v1/rooms/{room}/files?name=big.bin",
                headers=[("host", "relayd"), ("authorization", f"Bearer {token}"), length])))
            for start in range(0, size, len(block)):
                await stream.send_all(conn.send(h11.Data(data=block[:size - start])))
            await stream.send_all(conn.send(h11.EndOfMessage()))
        except trio.BrokenResourceError:
            pass  # closed by the server after its answer

    async def receive(done: trio.CancelScope) -> None:
        while True:
            ev = conn.next_event()
            if ev is h11.NEED_DATA:
                conn.receive_data(bytes(await stream.receive_some(65536)))
            elif isinstance(ev, h11.Response):
                status.append(ev.status_code)
                done.cancel()
                return
            else:
                raise AssertionError(f"unexpected {ev!r}")

    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(send)
            nursery.start_soon(receive, nursery.cancel_scope)
    finally:
        await trio.aclose_forcefully(stream)
    return status[0]


# --------------------------------------------------------------------------- tests


async def test_internet_files_reach_lgwan_disarmed_and_originals_need_release(
        tmp_path: Path) -> None:
    docm, js_pdf, photo = ox.docm_with_vba(), px.js_openaction(), gps_jpeg()
    # The fixtures really carry what must go.
    assert has_vba(docm) and pdf_counts(js_pdf)["/JS"] > 0
    assert Image.open(io.BytesIO(photo)).getexif().get_ifd(ExifTags.IFD.GPSInfo)
    with trio.fail_after(90):
        with relayd(tmp_path, CONFIG) as r:
            ids = await setup_accounts(r)
            office, _ = await login(r, "lgwan", "tanaka", PASSWORDS["tanaka"])
            colleague, _ = await login(r, "lgwan", "suzuki", PASSWORDS["suzuki"])
            partner, _ = await login(r, "internet", "hoikuen", PASSWORDS["hoikuen"])
            room = ok(await office.request("POST", "/api/v1/rooms", json={
                "name": "保育園との連絡", "members": [ids["hoikuen"], ids["suzuki"]]}), 201)["id"]

            async with r.ws("lgwan", office.token) as office_ws, \
                    r.ws("internet", partner.token) as partner_ws:
                sent = {}
                for name, data in [("お知らせ.docm", docm), ("案内.pdf", js_pdf),
                                   ("運動会.jpg", photo), ("請求書.pdf", ELF)]:
                    message = await post_file(partner, room, name, data)
                    [att] = message["attachments"]
                    assert att["status"] == "pending" and att["origin_zone"] == "internet"
                    sent[att["id"]] = (name, data)
                # Each file is announced at once, then its verdict follows.
                created: set[str] = set()
                events: dict[str, dict[str, Any]] = {}
                while len(events) < len(sent):
                    ev = await ws_recv_json(office_ws)
                    if ev["type"] == "message.created":
                        assert ev["message"]["attachments"][0]["id"] not in events
                        created.add(ev["message"]["attachments"][0]["id"])
                    elif ev["type"] in ("file.ready", "file.blocked"):
                        assert ev["file"]["id"] in created
                        events[ev["file"]["id"]] = ev
                by_name = {sent[fid][0]: ev for fid, ev in events.items()}
                # The sender hears the verdicts too, with the reason in both languages.
                told = [await file_event(partner_ws) for _ in sent]
                assert sorted(e["type"] for e in told) == sorted(e["type"] for e in events.values())

            for name in ("お知らせ.docm", "案内.pdf", "運動会.jpg"):
                assert by_name[name]["type"] == "file.ready", by_name[name]
            elf_ev = by_name["請求書.pdf"]
            assert elf_ev["type"] == "file.blocked"
            assert elf_ev["file"]["report"]["reason"] == "executable"
            assert elf_ev["file"]["report"]["message_ja"] and elf_ev["file"]["report"]["message_en"]

            async def content(client: HTTPClient, fid: str) -> Any:
                return await client.request("GET", f"/api/v1/files/{fid}/content")

            docx_id = by_name["お知らせ.docm"]["file"]["id"]
            got = await content(office, docx_id)
            assert got.status == 200
            assert got.headers["content-type"].endswith("wordprocessingml.document")
            assert got.headers["x-content-type-options"] == "nosniff"
            assert got.headers["cache-control"] == "no-store"
            assert "filename*=UTF-8''" + urllib.parse.quote("お知らせ.docx") in \
                got.headers["content-disposition"]
            assert not has_vba(got.body)
            (tmp_path / "out.docx").write_bytes(got.body)
            assert mraptor(tmp_path / "out.docx") == 0
            (tmp_path / "in.docm").write_bytes(docm)
            assert mraptor(tmp_path / "in.docm") == 20  # the judge does see the original's macro

            pdf_id = by_name["案内.pdf"]["file"]["id"]
            got = await content(office, pdf_id)
            assert got.status == 200 and got.headers["content-type"] == "application/pdf"
            assert pdf_counts(got.body) == dict.fromkeys(PDF_ACTIVE, 0)
            assert got.body != js_pdf

            photo_id = by_name["運動会.jpg"]["file"]["id"]
            got = await content(office, photo_id)
            assert got.status == 200 and got.headers["content-type"] == "image/jpeg"
            im = Image.open(io.BytesIO(got.body))
            assert im.size == (64, 48) and im.getexif().get_ifd(ExifTags.IFD.GPSInfo) == {}
            assert b"SECRETCAM" not in got.body

            elf_id = elf_ev["file"]["id"]
            for client in (office, colleague):
                got = await content(client, elf_id)
                assert got.status == 403 and got.error_code == "file_blocked"
                assert ELF not in got.body
            # The sender's side keeps the original by default.
            got = await content(partner, docx_id)
            assert got.status == 200 and got.body == docm

            # The original of the PDF: only after an admin's release, only to the requester.
            original = f"/api/v1/files/{pdf_id}/original"
            got = await office.request("GET", original)
            assert got.status == 403 and got.error_code == "original_not_released"
            req = ok(await office.request("POST", f"/api/v1/files/{pdf_id}/original-requests",
                                          json={"reason": "署名の確認のため"}), 201)
            assert req["status"] == "pending"
            listed = relayctl(r, "original", "list")
            assert listed.returncode == 0 and f"file {pdf_id}" in listed.stdout, listed
            approved = relayctl(r, "original", "approve", req["id"], "--note", "確認済み")
            assert approved.returncode == 0, approved.stderr
            again = relayctl(r, "original", "deny", req["id"])
            assert again.returncode == 1 and "original_request_decided" in again.stderr
            got = await office.request("GET", original)
            assert got.status == 200 and got.body == js_pdf
            got = await colleague.request("GET", original)
            assert got.status == 403 and got.error_code == "original_not_released"
            for client in (office, colleague):  # still blocked for everyone in LGWAN
                assert (await content(client, elf_id)).status == 403

            admin, _ = await login(r, "lgwan", "admin", r.admin_password or "")
            entries = ok(await admin.request("GET", "/api/v1/admin/audit?limit=1000"))["entries"]
            crossed = {e["subject"]: e for e in entries if e["action"] == "file.crossed"}
            assert set(crossed) == set(sent)
            assert crossed[pdf_id]["data"]["sha256"] == hashlib.sha256(js_pdf).hexdigest()
            assert crossed[elf_id]["data"]["verdict"] == "blocked"
            assert crossed[elf_id]["data"]["sanitized_sha256"] is None
            actions = [e["action"] for e in entries]
            for step in ("original.requested", "original.approved", "original.downloaded"):
                assert step in actions
            metrics = (await r.client("lgwan").request("GET", "/metrics")).body.decode()
            assert value(metrics, "kakehashi_disarm_jobs_total", verdict="blocked") == 1
            assert value(metrics, "kakehashi_disarm_seconds_count") == 4
            for c in (office, colleague, partner, admin):
                await c.aclose()

        # relayd is stopped: edit the crossing row of the PDF and the chain says so.
        assert relayctl(r, "audit", "verify").returncode == 0
        row_id = crossed[pdf_id]["id"]
        db = sqlite3.connect(r.state_dir / DB_NAME)
        with db:
            data = json.loads(db.execute("SELECT data FROM audit WHERE id = ?", (row_id,)).fetchone()[0])
            data["verdict"] = "clean"
            db.execute("UPDATE audit SET data = ? WHERE id = ?",
                       (json.dumps(data, ensure_ascii=False), row_id))
        db.close()
        broken = relayctl(r, "audit", "verify")
        assert broken.returncode != 0 and f"entry {row_id}" in broken.stderr


async def test_pending_disarm_survives_a_kill_and_oversize_uploads_leave_nothing(
        tmp_path: Path) -> None:
    docm = ox.docm_with_vba()
    with trio.fail_after(90):
        r = start_relayd(tmp_path, CONFIG)
        stopped: list[int] = []
        try:
            ids = await setup_accounts(r)
            office, _ = await login(r, "lgwan", "tanaka", PASSWORDS["tanaka"])
            partner, _ = await login(r, "internet", "hoikuen", PASSWORDS["hoikuen"])
            room = ok(await office.request("POST", "/api/v1/rooms", json={
                "name": "連絡", "members": [ids["hoikuen"]]}), 201)["id"]

            # Over the limit, declared (Content-Length) or found while streaming
            # (chunked): 413, and no blob, temporary file or row is left.
            over = MAX_UPLOAD + 1
            assert await raw_upload(r, "internet", partner.token or "", room, over, False) == 413
            assert await raw_upload(r, "internet", partner.token or "", room, over, True) == 413
            assert await raw_upload(r, "lgwan", office.token or "", room, over, True) == 413
            assert state_files(r.state_dir) == []
            assert db_rows(r.state_dir, "SELECT count(*) FROM attachments") == [(0,)]

            # The only disarm worker is held still (as if busy), so the file must wait.
            stopped = children(r.proc.pid)
            assert len(stopped) == 1, stopped
            for pid in stopped:
                os.kill(pid, signal.SIGSTOP)
            fid = (await post_file(partner, room, "議事録.docm", docm))["attachments"][0]["id"]
            r.kill()
        finally:
            for pid in stopped:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if r.proc.poll() is None:
                r.kill()
        assert db_rows(r.state_dir, f"SELECT status FROM attachments WHERE id = {int(fid)}") == \
            [("pending",)]

        with relayd(tmp_path, CONFIG, state_dir=r.state_dir) as r2:
            office, _ = await login(r2, "lgwan", "tanaka", PASSWORDS["tanaka"])
            while True:
                f = ok(await office.request("GET", f"/api/v1/files/{fid}"))
                if f["status"] != "pending":
                    break
                await trio.sleep(0.05)
            assert f["status"] == "ready" and f["content"]["name"] == "議事録.docx"
            got = await office.request("GET", f"/api/v1/files/{fid}/content")
            assert got.status == 200 and not has_vba(got.body)
            await office.aclose()
            assert "resuming 1 pending disarm job" in r2.log()
