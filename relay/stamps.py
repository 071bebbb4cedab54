"""The stamp catalogue (スタンプ): a default set of Japanese business stamps served by
relayd itself, as text and emoji (no images, nothing fetched from elsewhere).

A stamp id is a string of digits like every id of the API, so it fits the paths of
reactions (``/api/v1/messages/{id}/reactions/{id}``).  Ids are never reused: a stamp
taken out of the set stays known to the messages and reactions that carry it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from policy.errors import Invalid


@dataclass(frozen=True, slots=True)
class Stamp:
    id: str
    label: str  # what the client shows: Japanese text or an emoji

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "label": self.label}


DEFAULT_STAMPS: tuple[Stamp, ...] = tuple(Stamp(str(i), label) for i, label in enumerate((
    "了解", "ありがとう", "お疲れさまです", "確認します", "OK", "🙇", "承知しました",
    "よろしくお願いします", "お願いします", "すみません", "対応中", "対応済み", "至急",
    "👍", "🎉", "おはようございます"), start=1))
_BY_ID = {s.id: s for s in DEFAULT_STAMPS}


def catalogue() -> tuple[Stamp, ...]:
    return DEFAULT_STAMPS


def check_stamp(stamp_id: str) -> Stamp:
    """The stamp, or 400 ``unknown_stamp``."""
    stamp = _BY_ID.get(stamp_id)
    if stamp is None:
        raise Invalid("そのスタンプはありません / unknown stamp", code="unknown_stamp",
                      stamp=stamp_id[:40])
    return stamp
