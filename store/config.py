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
    # Days after which originals and their sanitized variants are purged (0 = keep).
    retention_days: int = field(default=90, metadata={"min": 0, "max": 36_500})
    # scrypt cost (a power of two) for new password hashes; existing hashes keep the
    # cost they were made with.  2**15 = 32 MiB, about 0.1 s per login.
    scrypt_n: int = field(default=2 ** 15, metadata={"min": 2 ** 10, "max": 2 ** 20})
    # Key files.  Empty: $CREDENTIALS_DIRECTORY/<name>.key if systemd passed one,
    # else <state_dir>/keys/<name>.key, created on first start (store.keys).
    audit_key_file: str = ""
    quarantine_key_file: str = ""

    def __post_init__(self) -> None:
        if self.scrypt_n & (self.scrypt_n - 1):
            raise ValueError("scrypt_n: must be a power of two")
