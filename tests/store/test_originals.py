"""Releasing a quarantined original: request, decision once, to the requester alone."""

from __future__ import annotations

import pytest
import trio

from store.errors import AlreadyDecided, FileNotFound, RequestNotFound
from store.facade import Store
from tests.store.conftest import TEST_TIMEOUT_S
from store.records import Audit, OriginalRequest
from tests.audits import SETUP

NOW = 1_800_000_000.0


async def test_request_approve_release_expire(store: Store) -> None:
    with trio.fail_after(TEST_TIMEOUT_S):
        staff = await store.create_account("staff", None, "staff", "", audit=SETUP, now=NOW)
        other = await store.create_account("other", None, "staff", "", audit=SETUP, now=NOW)
        admin = await store.create_account("admin", None, "admin", "", audit=SETUP, now=NOW)
        partner = await store.create_account("partner", None, "external", "", audit=SETUP, now=NOW)
        room = await store.create_room("r", "group", [staff.id, other.id], partner.id, NOW, audit=SETUP)
        msg, _ = await store.post_file(room.id, partner.id, "internet", "a.docm", 10, "0" * 64,
                                       "docm", "ready", None, NOW)
        file_id = msg.attachments[0].id

        def decision(r: OriginalRequest) -> Audit:
            return Audit(f"original.{r.status}", admin.id, r.file_id, {"request_id": r.id})

        req = await store.request_original(file_id, staff.id, "原本の押印確認のため", NOW, audit=SETUP)
        assert (req.status, req.file_id, req.requester) == ("pending", file_id, staff.id)
        assert [r.id for r in await store.original_requests("pending")] == [req.id]
        assert not await store.original_released_to(file_id, staff.id, NOW)

        done = await store.decide_original_request(req.id, admin.id, True, "ok", NOW, ttl_s=600,
                                                   audit=decision)
        assert done.status == "approved" and done.decided_by == admin.id
        assert await store.original_requests("pending") == []
        assert await store.original_released_to(file_id, staff.id, NOW + 10)
        assert not await store.original_released_to(file_id, other.id, NOW + 10)
        assert not await store.original_released_to(file_id, staff.id, NOW + 600)
        with pytest.raises(AlreadyDecided):
            await store.decide_original_request(req.id, admin.id, False, "", NOW, audit=decision)

        denied = await store.request_original(file_id, other.id, "見たい", NOW, audit=SETUP)
        denied = await store.decide_original_request(denied.id, admin.id, False, "不要", NOW,
                                                     audit=decision)
        assert denied.status == "denied" and denied.public()["note"] == "不要"
        assert not await store.original_released_to(file_id, other.id, NOW)
        assert len(await store.original_requests(None)) == 2
        # Each decision is in the audit chain, committed with it (once: the refused
        # second decision left no entry, its audit was rolled back with it).
        decisions = [(e.action, e.data["request_id"], e.actor)
                     for e in await store.audit_entries(0, 100) if e.action.startswith("original.")]
        assert decisions == [("original.approved", req.id, admin.id),
                             ("original.denied", denied.id, admin.id)]

        with pytest.raises(FileNotFound):
            await store.request_original("999", staff.id, "x", NOW, audit=SETUP)
        with pytest.raises(RequestNotFound):
            await store.get_original_request("999")
