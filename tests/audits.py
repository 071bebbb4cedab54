"""The audit entry tests give the store when they set up accounts and rooms directly
(the store appends an entry with every action; these are marked as test setup)."""

from store.records import Audit

SETUP = Audit("test.setup", None, None, {})
