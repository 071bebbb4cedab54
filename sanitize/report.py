"""What a disarm job returns, and the stable reason codes with their user messages.

A format module either returns a ``Rebuilt`` (the new bytes and what was removed) or
raises ``Blocked(reason, detail)``.  The engine turns both into a ``Result``: the
verdict (``sanitized`` / ``clean`` / ``blocked``), the list of removed items, and a
message in Japanese and English fit to show a user.  Reason codes are part of the wire
contract (API.md ``report.reason``): add new ones, never rename.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Verdict(str, enum.Enum):
    SANITIZED = "sanitized"  # rebuilt, and something was removed
    CLEAN = "clean"  # rebuilt, nothing found to remove
    BLOCKED = "blocked"  # not delivered; ``reason`` says why


@dataclass(frozen=True, slots=True)
class Removed:
    """One thing the engine took out: ``code`` is stable (``pdf.javascript``),
    ``detail`` says where (``object 12 0 /JS``)."""

    code: str
    detail: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class Rebuilt:
    """A format module's output: new bytes written from the parts judged safe."""

    data: bytes
    kind: str  # kind of the output (docm in, "docx" out)
    removed: tuple[Removed, ...] = ()


class Blocked(Exception):
    """Raised anywhere in the engine to refuse a file: fail closed."""

    def __init__(self, reason: str, detail: str = "") -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown block reason {reason!r}: add it to REASONS")
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class VerifyFailed(Blocked):
    """The verify step found a removed construct (or could not re-open) the output."""

    def __init__(self, detail: str) -> None:
        super().__init__("verify_failed", detail)


# reason code -> (日本語, English).  Shown to the people who sent and who receive.
REASONS: dict[str, tuple[str, str]] = {
    "executable": ("実行ファイル・スクリプトは安全のため受け付けられません。",
                   "Executables and scripts are not accepted."),
    "unknown_kind": ("ファイルの種類を判別できないため、無害化できませんでした。",
                     "The file type could not be recognised, so it could not be disarmed."),
    "unsupported_kind": ("この種類のファイルは無害化に対応していないため、届けられません。",
                         "This file type cannot be disarmed, so it cannot be delivered."),
    "encrypted": ("パスワード付き（暗号化された）ファイルは中身を確認できないため届けられません。",
                  "Password-protected (encrypted) files cannot be inspected and are not delivered."),
    "too_large": ("ファイルが大きすぎるため処理できません。",
                  "The file is too large to process."),
    "limit_exceeded": ("ファイルの構造が上限（ページ数・画素数・展開サイズなど）を超えています。",
                       "The file exceeds a safety limit (pages, pixels, expanded size, …)."),
    "archive_bomb": ("展開すると極端に大きくなる圧縮ファイル（zip爆弾）の疑いがあります。",
                     "The archive expands to an extreme size (suspected zip bomb)."),
    "archive_unsafe_name": ("圧縮ファイル内に危険なファイル名（../ や絶対パスなど）があります。",
                            "The archive contains an unsafe entry name (../, absolute path, …)."),
    "archive_too_deep": ("圧縮ファイルの入れ子が深すぎます。",
                         "Archives are nested too deeply."),
    "corrupt": ("ファイルが壊れているか、形式が不正なため無害化できませんでした。",
                "The file is damaged or malformed and could not be disarmed."),
    "macro_needs_rewrite": ("マクロ・外部リンクを安全に除去できない形式のため届けられません（新しい形式で保存し直してください）。",
                            "Macros or links in this legacy format cannot be removed safely; please re-save it in a current format."),
    "active_content": ("除去できない動的コンテンツ（マクロ・埋め込みオブジェクト等）が含まれています。",
                       "It contains active content (macros, embedded objects, …) that cannot be removed."),
    "picture_not_rebuilt": ("文書内の図を安全に作り直せない形式のため届けられません（docx・xlsx・pptx など新しい形式で保存し直してください）。",
                            "A picture inside this legacy Office document cannot be rebuilt safely, so it is not delivered; please re-save it in a current format (docx, xlsx, pptx)."),
    "verify_failed": ("無害化後の検査で問題が見つかったため届けられません。",
                      "The check after disarming found a problem, so the file is not delivered."),
    "timeout": ("無害化の処理が時間内に終わらなかったため届けられません。",
                "Disarming did not finish in time, so the file is not delivered."),
    "worker_crashed": ("無害化の処理が異常終了したため届けられません。",
                       "The disarm process failed, so the file is not delivered."),
    "internal_error": ("無害化の処理中にエラーが起きたため届けられません。",
                       "An error occurred while disarming, so the file is not delivered."),
    "policy_blocked": ("この種類のファイルは設定によりこの方向へは送れません。",
                       "Policy does not allow this file type to cross in this direction."),
}

_CLEAN = ("ファイルを再構成しました。除去した項目はありません。",
          "The file was rebuilt; nothing needed to be removed.")
_SANITIZED = ("ファイルを無害化しました。{n} 件の項目を除去しました。",
              "The file was disarmed; {n} item(s) were removed.")


def messages_for(verdict: Verdict, reason: str | None, removed_count: int) -> tuple[str, str]:
    """(日本語, English) message for a result."""
    if verdict is Verdict.BLOCKED:
        return REASONS[reason or "internal_error"]
    if verdict is Verdict.CLEAN:
        return _CLEAN
    ja, en = _SANITIZED
    return ja.format(n=removed_count), en.format(n=removed_count)


@dataclass(frozen=True, slots=True)
class Result:
    """The outcome of one file.  ``output`` is None unless the verdict lets it through."""

    verdict: Verdict
    kind: str  # detected kind of the input ("pdf", "docm", "elf", "unknown", …)
    output: bytes | None
    output_kind: str | None  # kind of the output ("docx" for a docm)
    output_name: str | None  # suggested file name, extension mapped (報告書.docm -> 報告書.docx)
    removed: tuple[Removed, ...] = ()
    reason: str | None = None
    detail: str = ""  # for operators' logs, not for users
    name_mismatch: bool = False  # the declared name's extension disagrees with the content
    seconds: float = 0.0
    message_ja: str = field(default="")
    message_en: str = field(default="")

    def report(self) -> dict[str, object]:
        """The attachment `report` object of API.md."""
        out: dict[str, object] = {
            "verdict": self.verdict.value,
            "kind": self.kind,
            "removed": [r.as_dict() for r in self.removed],
            "message_ja": self.message_ja,
            "message_en": self.message_en,
        }
        if self.reason:
            out["reason"] = self.reason
        if self.name_mismatch:
            out["name_mismatch"] = True
        return out
