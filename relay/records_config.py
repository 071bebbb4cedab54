"""The `[records]` section: how long chat records (公文書) are kept, per room kind.

Chat messages of a municipality are 行政文書; the important ones must be kept at least
a year.  ``minimum_days`` is that floor: nothing younger is ever purged — neither a
message, nor the earlier versions of an edited or deleted one, nor a file's contents —
and a retention set below it is refused at start, naming the key.

Room kinds: ``group`` (a room people made), ``direct`` (one to one) and
``department`` (a group room made for a department, ``relayctl room create
--department``).  For each, ``*_messages_days`` (0: kept for ever) and
``*_files_days`` (-1: as ``store.retention_days``; 0: kept for ever).
"""

from __future__ import annotations

from dataclasses import dataclass, field

ROOM_KINDS = ("group", "direct", "department")
KEEP, AS_STORE = 0, -1
_DAYS = {"min": 0, "max": 36_500}
_FILE_DAYS = {"min": -1, "max": 36_500}


@dataclass(frozen=True, slots=True)
class RecordsConfig:
    # Nothing younger than this is purged; a retention below it is refused (0: no floor).
    minimum_days: int = field(default=365, metadata=_DAYS)
    # Message texts (and their earlier versions) are emptied after this many days.
    group_messages_days: int = field(default=KEEP, metadata=_DAYS)
    direct_messages_days: int = field(default=KEEP, metadata=_DAYS)
    department_messages_days: int = field(default=KEEP, metadata=_DAYS)
    # File contents (original and rebuilt file) are removed after this many days.
    group_files_days: int = field(default=AS_STORE, metadata=_FILE_DAYS)
    direct_files_days: int = field(default=AS_STORE, metadata=_FILE_DAYS)
    department_files_days: int = field(default=AS_STORE, metadata=_FILE_DAYS)

    def __post_init__(self) -> None:
        for kind in ROOM_KINDS:
            for what in ("messages", "files"):
                key = f"{kind}_{what}_days"
                self.check(key, getattr(self, key))

    def check(self, key: str, days: int) -> None:
        """ValueError naming ``key`` when ``days`` would purge records younger than
        the minimum (``config.build`` reports it as ``<section>.<key>: …``)."""
        if 0 < days < self.minimum_days:
            raise ValueError(
                f"{key}: {days} 日は記録の最低保存期間 records.minimum_days ({self.minimum_days} "
                f"日) より短いため使えません / {days} days is below records.minimum_days "
                f"({self.minimum_days}): set 0 (keep), at least {self.minimum_days}, or lower "
                "records.minimum_days")

    def plan(self, store_retention_days: int) -> dict[str, tuple[int, int]]:
        """{room kind: (message days, file days)}, 0 meaning kept for ever."""
        out = {}
        for kind in ROOM_KINDS:
            files = getattr(self, f"{kind}_files_days")
            out[kind] = (getattr(self, f"{kind}_messages_days"),
                         store_retention_days if files == AS_STORE else files)
        return out
