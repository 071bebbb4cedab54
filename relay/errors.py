"""The relay's error answers, and the one place other packages' errors become them.

``store.errors`` and ``policy.errors`` carry a stable ``code`` and a status hint;
``translate`` turns them into ``relay.web.HTTPError`` with a Japanese message (English
after " / ") at the boundary, so handlers raise whatever their layer raises.
"""

from __future__ import annotations

import logging
from typing import Any

from policy.errors import PolicyError
from policy.ratelimit import retry_after_header
from store.errors import StoreError

from relay.web import HTTPError

# Messages for the store's codes: the store speaks English to operators' logs; people
# using the API read these.
_STORE_MESSAGES: dict[str, str] = {
    "not_found": "見つかりません / not found",
    "conflict": "競合しています / conflict",
    "login_exists": "そのログイン名は既に使われています / login already exists",
    "account_not_found": "アカウントが見つかりません / account not found",
    "room_not_found": "ルームが見つかりません / room not found",
    "message_not_found": "メッセージが見つかりません / message not found",
    "file_not_found": "ファイルが見つかりません / file not found",
}


def translate(exc: BaseException) -> HTTPError | None:
    """The HTTPError for a store or policy error; None for anything else (a bug)."""
    if isinstance(exc, HTTPError):
        return exc
    if isinstance(exc, StoreError):
        message = _STORE_MESSAGES.get(exc.code, f"{exc.message} / {exc.code}")
        return HTTPError(exc.status, exc.code, message, _plain(exc.details))
    if isinstance(exc, PolicyError):
        return HTTPError(exc.status, exc.code, exc.message, _plain(exc.details))
    return None


def for_exception(exc: Exception, where: str) -> HTTPError:
    """The answer to show for ``exc``: its translation, or -- for a bug -- a logged
    500 that says nothing about the internals."""
    http = translate(exc)
    if http is None:
        logging.getLogger("relay").error("unhandled error in %s", where, exc_info=exc)
        http = internal_error()
    return http


def _plain(details: dict[str, Any]) -> dict[str, Any]:
    # Details go out as JSON: keep only what JSON can say.
    return {k: v if isinstance(v, (str, int, float, bool, list, type(None))) else str(v)
            for k, v in details.items()}


def not_found() -> HTTPError:
    return HTTPError(404, "not_found", "見つかりません / not found")


def method_not_allowed(allowed: list[str]) -> HTTPError:
    allow = ", ".join(sorted(set(allowed)))
    return HTTPError(405, "method_not_allowed",
                     "このメソッドは使えません / method not allowed",
                     {"allowed": sorted(set(allowed))}, headers=(("allow", allow),))


def unauthenticated() -> HTTPError:
    return HTTPError(401, "unauthenticated",
                     "ログインしてください / authentication required",
                     headers=(("www-authenticate", 'Bearer realm="kakehashi"'),))


def invalid_credentials() -> HTTPError:
    return HTTPError(401, "invalid_credentials",
                     "ログイン名またはパスワードが違います / invalid login or password")


def totp_required() -> HTTPError:
    return HTTPError(401, "totp_required",
                     "ワンタイムパスワードが必要です / a one-time code (TOTP) is required")


def totp_invalid() -> HTTPError:
    return HTTPError(401, "totp_invalid",
                     "ワンタイムパスワードが違うか、既に使われています / the one-time code "
                     "(TOTP) is wrong or was already used")


def rate_limited(wait: float) -> HTTPError:
    after = retry_after_header(wait)
    return HTTPError(429, "rate_limited",
                     "しばらく待ってから再試行してください / too many requests, retry later",
                     {"retry_after": int(after)}, headers=(("retry-after", after),))


def invalid_field(path: str, expected: str, problem: str = "wrong_type") -> HTTPError:
    """A JSON body or query value of the wrong shape; ``path`` names it
    (``members[2]``)."""
    return HTTPError(400, "invalid_field",
                     f"項目 {path or '(本文)'} が不正です（{expected} が必要） / "
                     f"field {path or '(body)'}: expected {expected}",
                     {"field": path, "expected": expected, "problem": problem})


def upgrade_required() -> HTTPError:
    return HTTPError(426, "upgrade_required",
                     "WebSocket で接続してください / use a WebSocket upgrade",
                     headers=(("upgrade", "websocket"),))


def origin_forbidden(origin: str) -> HTTPError:
    return HTTPError(403, "origin_forbidden",
                     "この Origin からは接続できません / origin not allowed", {"origin": origin})


def forbidden() -> HTTPError:
    return HTTPError(403, "forbidden", "権限がありません / forbidden")


def internal_error() -> HTTPError:
    return HTTPError(500, "internal_error",
                     "内部エラーが発生しました / internal error")


# --------------------------------------------------------------------------- files (issue 4)

_DENIED: dict[str, str] = {
    "file_pending": "ファイルは無害化の処理中です。しばらくしてから再度お試しください / "
                    "the file is still being disarmed; try again shortly",
    "file_blocked": "このファイルは安全のため届けられません / the file was blocked and is "
                    "not delivered",
    "policy_blocked": "この種類のファイルは設定によりこの方向へは送れません / policy does not "
                      "allow this file type to cross in this direction",
}


def file_denied(code: str, status: int, details: dict[str, Any] | None = None) -> HTTPError:
    """The answer for ``policy.files.Denied``: pending, blocked, or not allowed outbound."""
    return HTTPError(status, code, _DENIED.get(code, f"受け取れません / refused ({code})"),
                     details)


def original_not_released() -> HTTPError:
    return HTTPError(403, "original_not_released",
                     "原本は管理者の承認を受けた申請者だけが取得できます / the original has not "
                     "been released to you")


def file_purged(file_id: str) -> HTTPError:
    return HTTPError(410, "file_purged",
                     "保存期間を過ぎたため、ファイルの内容は削除されました / the file's content was "
                     "removed after its retention period", {"file_id": file_id})


def empty_file() -> HTTPError:
    return HTTPError(400, "empty_file", "空のファイルは送れません / the file is empty")
