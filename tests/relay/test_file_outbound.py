"""Files leaving LGWAN get the 個人番号 check: a real Store on tmp_path, a real worker
pool (one process) reading the files' text, events as the streams get them."""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any, AsyncIterator

import docx
import openpyxl
import pikepdf
import pytest
import trio

from policy import mynumber
from relay.hub import Subscription
from store.facade import Store
from tests.audits import SETUP
from tests.relay.test_api import PASSWORD, Clock, Env, body, code
from tests.relay.test_files import (TIMEOUT_S, add_accounts, config, download, make_env,
                                    next_event, subscribe, upload)


def my_number(first11: str) -> str:
    return first11 + str(mynumber.check_digit(first11))


N1 = my_number("12345678901")
N2 = my_number("98765432109")
MASKED = {"********" + N1[-4:], "********" + N2[-4:]}
FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


async def open_env(tmp_path: Path, **policy: Any) -> tuple[Env, Store]:
    cfg = config(tmp_path, **policy)
    store = await Store.open(cfg.store)
    await add_accounts(store)
    await store.create_account("kanri", PASSWORD, "admin", "Kanri", audit=SETUP, now=time.time())
    return await make_env(cfg, store, Clock()), store


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    e, store = await open_env(tmp_path)
    try:
        yield e
    finally:
        await e.app.aclose()
        await store.aclose()


def residents_csv() -> str:
    """A 住民 list: one number plain, one in fullwidth digits with hyphens."""
    wide = N2.translate(FULLWIDTH)
    return ("氏名,個人番号,電話番号,住所\r\n"
            f"山田太郎,{N1},03-1234-5678,東京都千代田区1-1\r\n"
            f"佐藤花子,{wide[:4]}－{wide[4:8]}－{wide[8:]},090-1234-5678,大阪府大阪市2-2\r\n")


def xlsx_numeric() -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["氏名", "個人番号", "金額"])
    ws.append(["山田太郎", int(N1), 12000])
    ws.append(["佐藤花子", int(N2), 3400])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def docx_header() -> bytes:
    d = docx.Document()
    d.add_paragraph("申請書の写しを送ります。")
    d.sections[0].header.paragraphs[0].text = f"申請者番号 {N1[:4]} {N1[4:8]} {N1[8:]}"
    out = io.BytesIO()
    d.save(out)
    return out.getvalue()


def pdf_text(line: str) -> bytes:
    pdf = pikepdf.new()
    page = pdf.add_blank_page(page_size=(595, 842))
    font = pdf.make_indirect(pikepdf.Dictionary(Type=pikepdf.Name.Font,
                                                Subtype=pikepdf.Name.Type1,
                                                BaseFont=pikepdf.Name.Helvetica))
    page.obj.Resources = pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font))
    page.obj.Contents = pdf.make_stream(b"BT /F1 11 Tf 50 800 Td (" + line.encode() +
                                        b") Tj ET\n")
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


async def outcome(env: Env, sub: Subscription, file_id: str) -> dict[str, Any]:
    """The file.ready / file.blocked event for this file."""
    while True:
        ev = await next_event(sub, "file.ready", "file.blocked")
        if ev["file"]["id"] == file_id:
            return ev


async def post(env: Env, room: str, data: bytes, name: str, as_: str = "tanaka") -> str:
    r = await upload(env, room, data, name, as_, "lgwan")
    assert r.status == 201, body(r)
    return str(body(r)["attachments"][0]["id"])


def found_in_file(entries: list[Any], file_id: str, action: str = "outbound.block") -> Any:
    [entry] = [e for e in entries if e.action == action and e.subject == file_id]
    return entry


@pytest.mark.parametrize("encoding", ["utf-8-sig", "cp932"])
async def test_a_csv_with_a_my_number_column_is_held_from_internet_members_only(
        env: Env, encoding: str) -> None:
    room = await env.room("tanaka", "hoikuen")
    office = subscribe(env, "tanaka", "lgwan")
    outside = subscribe(env, "hoikuen", "internet")
    data = residents_csv().encode(encoding)
    with trio.fail_after(TIMEOUT_S):
        fid = await post(env, room, data, "住民一覧.csv")
        async with trio.open_nursery() as nursery:
            await nursery.start(env.app.run)
            theirs = await outcome(env, outside, fid)
            ours = await outcome(env, office, fid)
            nursery.cancel_scope.cancel()
    # Outside LGWAN: blocked, with the reason in both languages and no number at all.
    assert theirs["type"] == "file.blocked" and theirs["file"]["content"] is None
    assert theirs["file"]["report"]["reason"] == "my_number_in_file"
    assert "庁外の参加者には届けません" in theirs["file"]["report"]["message_ja"]
    assert "outside LGWAN" in theirs["file"]["report"]["message_en"]
    r = await env.call("GET", f"/api/v1/files/{fid}/content", as_="hoikuen", zone="internet")
    assert r.status == 403 and code(r) == "file_blocked"
    details = body(r)["error"]["details"]
    assert details["reason"] == "my_number_in_file" and details["message_en"]
    assert N1 not in r.body.decode() and N1[-4:] not in r.body.decode()
    # The sender's side: the file is theirs to read, and they are told it is held outside.
    assert ours["type"] == "file.ready"
    held = ours["file"]["report"]["outbound"]
    assert held["reason"] == "my_number_in_file" and held["verdict"] == "block"
    assert held["count"] == 2 and "庁外の参加者には届けません" in held["message_ja"]
    view = body(await env.call("GET", f"/api/v1/files/{fid}", as_="tanaka"))
    assert view["report"]["outbound"]["reason"] == "my_number_in_file"
    got = await env.call("GET", f"/api/v1/files/{fid}/content", as_="tanaka")
    assert got.status == 200 and await download(got) == data
    # Audited once, masked, with the file; nothing was sent out.
    entries = await env.store.audit_entries(0, 200)
    entry = found_in_file(entries, fid)
    assert entry.actor == env.ids["tanaka"] and entry.data["in"] == "file"
    assert set(entry.data["my_number"]) == MASKED and entry.data["file_id"] == fid
    assert N1 not in str(entry.data) and N2 not in str(entry.data)
    assert not [e for e in entries if e.action == "file.sent_out"]


async def test_a_csv_of_phone_numbers_and_amounts_is_delivered(env: Env) -> None:
    room = await env.room("tanaka", "hoikuen")
    outside = subscribe(env, "hoikuen", "internet")
    data = ("\ufeff担当,電話,金額,口座\n"
            "山田,03-1234-5678,1234567,0001234567\n"
            "佐藤,+81-90-1234-5678,98000,1234567890123\n"
            "受付,2026-04-01 13:00,\"1,234,567,890\",192.168.100.200\n").encode()
    with trio.fail_after(TIMEOUT_S):
        fid = await post(env, room, data, "連絡先.csv")
        async with trio.open_nursery() as nursery:
            await nursery.start(env.app.run)
            ev = await outcome(env, outside, fid)
            nursery.cancel_scope.cancel()
    assert ev["type"] == "file.ready", ev
    r = await env.call("GET", f"/api/v1/files/{fid}/content", as_="hoikuen", zone="internet")
    assert r.status == 200 and await download(r) == data
    assert not [e for e in await env.store.audit_entries(0, 200)
                if e.action.startswith("outbound.")]


@pytest.mark.parametrize("name, data", [
    ("名簿.xlsx", xlsx_numeric()),
    ("申請書.docx", docx_header()),
    ("通知.pdf", pdf_text(f"My Number: {N1[:4]}-{N1[4:8]}-{N1[8:]}")),
], ids=["xlsx-numeric-cells", "docx-header", "pdf-text"])
async def test_office_documents_and_pdfs_are_read_and_held(env: Env, name: str,
                                                           data: bytes) -> None:
    room = await env.room("tanaka", "hoikuen")
    outside = subscribe(env, "hoikuen", "internet")
    with trio.fail_after(TIMEOUT_S):
        fid = await post(env, room, data, name)
        async with trio.open_nursery() as nursery:
            await nursery.start(env.app.run)
            ev = await outcome(env, outside, fid)
            nursery.cancel_scope.cancel()
    assert ev["type"] == "file.blocked" and ev["file"]["report"]["reason"] == "my_number_in_file"
    r = await env.call("GET", f"/api/v1/files/{fid}/content", as_="hoikuen", zone="internet")
    assert r.status == 403 and body(r)["error"]["details"]["reason"] == "my_number_in_file"
    entry = found_in_file(await env.store.audit_entries(0, 200), fid)
    assert "********" + N1[-4:] in entry.data["my_number"]


async def test_a_pdf_whose_text_cannot_be_read_is_held_as_not_checked(env: Env) -> None:
    room = await env.room("tanaka", "hoikuen")
    outside = subscribe(env, "hoikuen", "internet")
    # A composite font with no ToUnicode map: its codes say nothing of the characters.
    pdf = pikepdf.new()
    page = pdf.add_blank_page()
    font = pdf.make_indirect(pikepdf.Dictionary(
        Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type0, BaseFont=pikepdf.Name("/MSMincho"),
        Encoding=pikepdf.Name("/Identity-H")))
    page.obj.Resources = pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font))
    page.obj.Contents = pdf.make_stream(b"BT /F1 11 Tf 50 800 Td <00120013> Tj ET\n")
    out = io.BytesIO()
    pdf.save(out)
    with trio.fail_after(TIMEOUT_S):
        fid = await post(env, room, out.getvalue(), "scan.pdf")
        async with trio.open_nursery() as nursery:
            await nursery.start(env.app.run)
            ev = await outcome(env, outside, fid)
            nursery.cancel_scope.cancel()
    assert ev["type"] == "file.blocked" and ev["file"]["report"]["reason"] == "file_not_checked"
    entry = found_in_file(await env.store.audit_entries(0, 200), fid)
    assert entry.data["reason"] == "file_not_checked" and entry.data["my_number"] == []


async def test_a_room_nobody_reads_from_the_internet_has_nothing_read_or_held(
        env: Env) -> None:
    room = await env.room("root", "kanri")
    office = subscribe(env, "kanri", "lgwan")
    data = residents_csv().encode("utf-8-sig")
    with trio.fail_after(TIMEOUT_S):
        fid = await post(env, room, data, "住民一覧.csv", as_="root")
        async with trio.open_nursery() as nursery:
            await nursery.start(env.app.run)
            ev = await outcome(env, office, fid)
            nursery.cancel_scope.cancel()
    assert ev["type"] == "file.ready" and "outbound" not in ev["file"]["report"]
    assert not [e for e in await env.store.audit_entries(0, 200)
                if e.action.startswith("outbound.")]
    r = await env.call("GET", f"/api/v1/files/{fid}/content", as_="kanri")
    assert r.status == 200 and await download(r) == data


async def test_a_member_added_later_waits_for_the_check_and_never_gets_a_held_file(
        env: Env) -> None:
    room = await env.room("root", "kanri")
    outside = subscribe(env, "hoikuen", "internet")
    with trio.fail_after(TIMEOUT_S):
        async with trio.open_nursery() as nursery:
            await nursery.start(env.app.run)
            office = subscribe(env, "kanri", "lgwan")
            held = await post(env, room, residents_csv().encode("utf-8-sig"), "住民.csv", "root")
            fine = await post(env, room, "\ufeff品名,数量\nりんご,3\n".encode(), "発注.csv", "root")
            for fid in (held, fine):
                assert (await outcome(env, office, fid))["type"] == "file.ready"
            r = await env.call("POST", f"/api/v1/rooms/{room}/members",
                               {"account_id": env.ids["hoikuen"]}, as_="root")
            assert r.status == 200, body(r)
            # Never checked (nobody outside could read the room): pending until it is.
            for fid in (held, fine):
                r = await env.call("GET", f"/api/v1/files/{fid}/content", as_="hoikuen",
                                   zone="internet")
                assert r.status == 409 and code(r) == "file_pending"
            got = {fid: await outcome(env, outside, fid) for fid in (held, fine)}
            nursery.cancel_scope.cancel()
    assert got[held]["type"] == "file.blocked"
    assert got[held]["file"]["report"]["reason"] == "my_number_in_file"
    assert got[fine]["type"] == "file.ready"
    r = await env.call("GET", f"/api/v1/files/{held}/content", as_="hoikuen", zone="internet")
    assert r.status == 403 and code(r) == "file_blocked"
    r = await env.call("GET", f"/api/v1/files/{fine}/content", as_="hoikuen", zone="internet")
    assert r.status == 200
    # Another member from outside, added after the check: held from them too.
    r = await env.call("POST", f"/api/v1/rooms/{room}/members",
                       {"account_id": env.ids["sato"]}, as_="root")
    assert r.status == 200
    r = await env.call("GET", f"/api/v1/files/{held}/content", as_="sato", zone="internet")
    assert r.status == 403 and body(r)["error"]["details"]["reason"] == "my_number_in_file"
    r = await env.call("GET", f"/api/v1/files/{held}/content", as_="kanri")
    assert r.status == 200


async def test_under_warn_the_file_goes_out_and_the_audit_says_warn(tmp_path: Path) -> None:
    env, store = await open_env(tmp_path, my_number_outbound="warn")
    try:
        room = await env.room("tanaka", "hoikuen")
        outside = subscribe(env, "hoikuen", "internet")
        data = residents_csv().encode("utf-8-sig")
        with trio.fail_after(TIMEOUT_S):
            fid = await post(env, room, data, "住民一覧.csv")
            async with trio.open_nursery() as nursery:
                await nursery.start(env.app.run)
                ev = await outcome(env, outside, fid)
                nursery.cancel_scope.cancel()
        assert ev["type"] == "file.ready"
        r = await env.call("GET", f"/api/v1/files/{fid}/content", as_="hoikuen",
                           zone="internet")
        assert r.status == 200 and await download(r) == data
        entries = await store.audit_entries(0, 200)
        entry = found_in_file(entries, fid, "outbound.warn")
        assert set(entry.data["my_number"]) == MASKED
        assert not [e for e in entries if e.action == "outbound.block"]
        view = body(await env.call("GET", f"/api/v1/files/{fid}", as_="tanaka"))
        assert view["report"]["outbound"]["verdict"] == "warn"
    finally:
        await env.app.aclose()
        await store.aclose()
