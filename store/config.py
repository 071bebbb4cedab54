"""The `[store]` section: where state lives and how commits are grouped."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class StoreConfig:
    # State directory: database, blobs, quarantine, keys.  Relative paths are taken
    # from the working directory (the embedded default is ./var).
    state_dir: str = "var"
    # Group commit: the writer waits at most this long for more work to share one
    # COMMIT (and one fsync) before committing.
    group_commit_ms: float = field(default=2.0, metadata={"min": 0.0, "max": 100.0})
    # Most operations in one group commit.
    group_commit_max: int = field(default=256, metadata={"min": 1, "max": 10_000})
    # Read connections (threads) used for queries.
    readers: int = field(default=4, metadata={"min": 1, "max": 64})
    # Days after which originals and their sanitized variants are purged (0 = keep);
    # the default of records.*_files_days, and never below records.minimum_days.
    retention_days: int = field(default=365, metadata={"min": 0, "max": 36_500})
    # argon2id cost of new password hashes: memory (KiB) and passes.  64 MiB and 3
    # passes (RFC 9106's second recommendation) take about 0.16 s per login on a 2-core
    # appliance.  A hash made with less is replaced at the account's next login.
    password_memory_kib: int = field(default=64 * 1024, metadata={"min": 64, "max": 4 * 1024 * 1024})
    password_time_cost: int = field(default=3, metadata={"min": 1, "max": 20})
    # Key files.  Empty: $CREDENTIALS_DIRECTORY/<name>.key if systemd passed one,
    # else <state_dir>/keys/<name>.key, created on first start (store.keys).
    audit_key_file: str = ""
    quarantine_key_file: str = ""

