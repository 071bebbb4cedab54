"""Every error code the API answers with, defined once, and the one place other
packages' errors become answers.

``CODES`` maps each stable code to its HTTP status and its message (Japanese, then
English after " / ").  ``store.errors`` and ``policy.errors`` carry a code; ``translate``
turns them into ``relay.web.HTTPError`` at the boundary, with the status from here.
A policy error keeps its own message (it may name a limit or a field); the store's
messages are for operators' logs, so people read the one here.  docs/API.md lists the
same codes; a test keeps the two in step.
"""

from __future__ import annotations

import logging
from typing import Any

from policy.errors import PolicyError
from policy.ratelimit import retry_after_header
from store.errors import StateUnusable, StoreError

from relay.web import HTTPError

log = logging.getLogger("relay")

# What a client is told to wait before retrying a write a full disk refused.
STORAGE_FULL_RETRY_S = 5

CODES: dict[str, tuple[int, str]] = {
    # ---- the HTTP layer
    "bad_request": (400, "リクエストが不正です / malformed HTTP request"),
    "malformed_json": (400, "リクエストの JSON が不正です / malformed JSON body"),
    "invalid_field": (400, "項目が不正です / a field has the wrong shape"),
    "text_frames_only": (400, "テキストフレームで送ってください / send JSON in text frames"),
    "not_found": (404, "見つかりません / not found"),
    "method_not_allowed": (405, "このメソッドは使えません / method not allowed"),
    "request_timeout": (408, "リクエストの送信が遅すぎます / request too slow"),
    "body_too_large": (413, "リクエスト本文が大きすぎます / request body too large"),
    "upgrade_required": (426, "WebSocket で接続してください / use a WebSocket upgrade"),
    "too_many_connections": (429, "同じアドレスからの接続が多すぎます / too many connections "
                                  "from this address"),
    "rate_limited": (429, "しばらく待ってから再試行してください / too many requests, retry later"),
    "unsupported_media_type": (415, "JSON は Content-Type: application/json で送ってください / "
                                    "send JSON bodies with Content-Type: application/json"),
    "headers_too_large": (431, "ヘッダーが大きすぎます / request headers too large"),
    "internal_error": (500, "内部エラーが発生しました / internal error"),
    # ---- sessions
    "unauthenticated": (401, "ログインしてください / authentication required"),
    "invalid_credentials": (401, "ログイン名またはパスワードが違います / invalid login or "
                                 "password"),
    "totp_required": (401, "ワンタイムパスワードが必要です / a one-time code (TOTP) is required"),
    "totp_invalid": (401, "ワンタイムパスワードが違うか、既に使われています / the one-time code "
                          "(TOTP) is wrong or was already used"),
    "totp_not_enrolled": (403, "ワンタイムパスワードが未登録です。管理者に登録を依頼してください / "
                               "a one-time code (TOTP) is required but none is enrolled"),
    "zone_forbidden": (403, "このアカウントはこのネットワークから利用できません / this account "
                            "may not be used from this network"),
    "origin_forbidden": (403, "この Origin からは接続できません / origin not allowed"),
    "forbidden": (403, "権限がありません / forbidden"),
    "policy_refused": (403, "設定により許可されていません / refused by policy"),
    # ---- sign-in against the office directory (relay.ldapauth)
    "directory_unavailable": (503, "ディレクトリ（Active Directory 等）に接続できないため、"
                                   "パスワードを確認できません。しばらくしてから再試行してください / "
                                   "the office directory cannot be reached to check the "
                                   "password; retry later"),
    "password_in_directory": (409, "このアカウントのパスワードはディレクトリ（Active Directory "
                                   "等）で管理されています。変更は庁内の手順で行ってください / "
                                   "this account's password is managed in the office "
                                   "directory; change it there"),
    # ---- accounts
    "invalid_request": (400, "リクエストが不正です / invalid request"),
    "invalid_period": (400, "期間が不正です（開始日から終了日まで） / the period must run from a "
                             "start date to an end date not before it"),
    "invalid_login": (400, "ログイン名は英数字と . _ @ - の 64 文字以内です / login: 1-64 of "
                           "A-Z a-z 0-9 . _ @ -"),
    "invalid_kind": (400, "種別は staff / external / admin のいずれかです / kind must be staff, "
                          "external or admin"),
    "weak_password": (400, "パスワードが短すぎます / password too short"),
    "password_change_required": (403, "パスワードを変更してください（管理者が設定したパスワードのままです） / "
                                      "change your password first: it was set by an administrator"),
    "same_password": (400, "新しいパスワードは今のパスワードと違うものにしてください / the new password "
                           "must differ from the old one"),
    "cannot_disable_self": (400, "自分自身は無効化できません / you cannot disable yourself"),
    "login_exists": (409, "そのログイン名は既に使われています / login already exists"),
    "account_not_found": (404, "アカウントが見つかりません / account not found"),
    "session_not_found": (404, "セッションが見つかりません / session not found"),
    "sponsor_required": (400, "外部アカウントには担当職員 (sponsor) が必要です / an external "
                              "account needs a sponsor"),
    "invalid_sponsor": (400, "担当者は有効な職員 (staff) アカウントにしてください / the sponsor "
                             "must be an enabled staff account"),
    "invalid_expiry": (400, "有効期限の日付が不正です / expires_at must be a date from today "
                            "(YYYY-MM-DD)"),
    "not_external": (400, "担当者と有効期限は外部アカウントにだけ設定できます / sponsor and "
                          "expires_at apply to external accounts only"),
    "directory_forbidden": (403, "外部アカウントは名簿を閲覧できません / external accounts may "
                                 "not list the directory"),
    # ---- rooms and messages
    "room_not_found": (404, "ルームが見つかりません / room not found"),
    "room_archived": (403, "このルームはアーカイブされています（閲覧のみ） / the room is archived "
                           "(read-only)"),
    "department_not_found": (404, "部署が見つかりません / department not found"),
    "department_exists": (409, "同じ名前の部署が既にあります / a department of that name exists "
                               "there"),
    "invalid_csv": (400, "CSV ファイルが不正です / the CSV file is malformed"),
    "message_not_found": (404, "メッセージが見つかりません / message not found"),
    "not_member": (403, "ルームのメンバーではありません / not a member of the room"),
    "too_many_members": (400, "メンバーが多すぎます / too many members"),
    "direct_room": (400, "ダイレクトにはメンバーを追加できません / a direct room cannot get "
                         "more members"),
    "direct_needs_two": (400, "ダイレクトは 2 人で作成します / a direct room has exactly two "
                              "members"),
    "room_create_forbidden": (403, "外部アカウントはルームを作成できません / external accounts "
                                   "may not create rooms"),
    "member_not_visible": (403, "面識のないアカウントを追加できません / external accounts may "
                                "only add people they already share a room with"),
    "invalid_client_id": (400, "client_id は 1〜128 文字です / client_id must be 1 to 128 "
                               "characters"),
    "empty_message": (400, "メッセージが空です / empty message"),
    "message_too_long": (400, "メッセージが長すぎます / message too long"),
    "empty_name": (400, "ルーム名が空です / empty room name"),
    "name_too_long": (400, "ルーム名が長すぎます / room name too long"),
    "my_number_blocked": (403, "個人番号（マイナンバー）と思われる番号は庁外へ送れません / a "
                               "number that looks like a My Number may not leave LGWAN"),
    # ---- working together: stamps, replies, edits, search
    "unknown_stamp": (400, "そのスタンプはありません / unknown stamp"),
    "invalid_reply": (400, "返信先のメッセージがこのルームにありません / the message replied to "
                           "is not in this room"),
    "not_your_message": (403, "自分のメッセージだけが対象です / only the sender may do this"),
    "not_editable": (400, "このメッセージは編集できません / this message cannot be edited"),
    "message_deleted": (409, "削除されたメッセージです / the message was deleted"),
    "query_too_short": (400, "検索語は 2 文字以上にしてください / the search text needs 2 "
                             "characters or more"),
    "query_too_long": (400, "検索語が長すぎます（最大 100 文字） / the search text is too long "
                            "(max 100 characters)"),
    # ---- time: scheduled messages, reminders
    "invalid_send_at": (400, "送信日時は時差付きの RFC 3339 形式で指定してください / send_at must "
                             "be an RFC 3339 time with its offset"),
    "send_at_past": (400, "送信日時が過去です / send_at is in the past"),
    "send_at_too_far": (400, "送信日時は 1 年以内にしてください / send_at is more than a year "
                             "ahead"),
    "scheduled_not_found": (404, "予約送信が見つかりません / scheduled message not found"),
    "scheduled_done": (409, "予約送信は送信・取消済みです / the scheduled message was already "
                            "sent, cancelled or dropped"),
    "too_many_scheduled": (409, "予約送信が多すぎます（最大 100 件） / too many scheduled "
                                "messages (max 100)"),
    "remind_too_soon": (429, "リマインドは 10 分に 1 回までです / a message may be reminded once "
                             "every 10 minutes"),
    # ---- answering together: polls, schedule adjustments, roll calls
    "empty_title": (400, "タイトル（質問）が空です / empty title or question"),
    "title_too_long": (400, "タイトル（質問）が長すぎます / title or question too long"),
    "comment_too_long": (400, "コメントが長すぎます / comment too long"),
    "empty_option": (400, "選択肢が空です / empty option"),
    "option_too_long": (400, "選択肢が長すぎます / option too long"),
    "too_many_options": (400, "選択肢が多すぎます / too many options"),
    "too_few_options": (400, "選択肢が足りません / too few options"),
    "duplicate_option": (400, "同じ選択肢が 2 つあります / duplicate option"),
    "invalid_time": (400, "日時が不正です / invalid time"),
    "too_few_slots": (400, "候補日時が必要です / at least one slot is needed"),
    "too_many_slots": (400, "候補日時が多すぎます / too many slots"),
    "invalid_slot": (400, "候補日時が不正です / invalid slot"),
    "invalid_needed": (400, "必要人数が不正です / needed is out of range"),
    "invalid_eta": (400, "到着までの時間が不正です / eta_minutes is out of range"),
    "poll_not_found": (404, "アンケートが見つかりません / poll not found"),
    "schedule_not_found": (404, "日程調整が見つかりません / schedule not found"),
    "rollcall_not_found": (404, "参集確認が見つかりません / roll call not found"),
    "poll_closed": (409, "アンケートは締め切られました / the poll is closed"),
    "schedule_closed": (409, "日程調整は締め切られました / the schedule is closed"),
    "schedule_decided": (409, "日程は決定済みです / the schedule was already decided"),
    "rollcall_closed": (409, "参集確認は終了しました / the roll call is closed"),
    "unknown_option": (400, "その選択肢はありません / no such option here"),
    "unknown_slot": (400, "その候補日時はありません / no such slot here"),
    "single_choice": (400, "このアンケートは 1 つだけ選べます / this poll takes one option"),
    "not_creator": (403, "作成者だけができます / only the creator may do this"),
    # ---- tasks, notes, locations, phone memos
    "empty_text": (400, "項目が空です / a required text is empty"),
    "text_too_long": (400, "項目が長すぎます / a text is too long"),
    "invalid_coordinates": (400, "緯度・経度などが範囲外です / a coordinate is not a finite "
                                 "number in range"),
    "not_in_room": (400, "ルームのメンバーではないアカウントが指定されました / the account named "
                         "is not a member of the room"),
    "client_id_reused": (409, "client_id は別のメッセージに使われています / client_id was used "
                              "for another message"),
    "task_not_found": (404, "タスクが見つかりません / task not found"),
    "note_not_found": (404, "ノートが見つかりません / note not found"),
    "memo_not_found": (404, "電話メモが見つかりません / phone memo not found"),
    "note_conflict": (409, "ノートは他の人が先に更新しました / someone saved the note since "
                           "the version this save started from"),
    "not_assigned": (403, "担当者または作成者だけができます / only the assignees or the "
                          "creator may do this"),
    # ---- files and originals
    "file_not_found": (404, "ファイルが見つかりません / file not found"),
    "invalid_file_name": (400, "ファイル名が不正です / invalid file name"),
    "empty_file": (400, "空のファイルは送れません / the file is empty"),
    "file_too_large": (413, "ファイルが大きすぎます / file too large"),
    "file_pending": (409, "ファイルは無害化の処理中です。しばらくしてから再度お試しください / "
                          "the file is still being disarmed; try again shortly"),
    "file_blocked": (403, "このファイルは安全のため届けられません / the file was blocked and "
                          "is not delivered"),
    "policy_blocked": (403, "この種類のファイルは設定によりこの方向へは送れません / policy does "
                            "not allow this file type to cross in this direction"),
    "upload_queue_full": (429, "無害化待ちのファイルが多すぎます。しばらくしてから送ってください / "
                               "too many files are waiting to be disarmed; send it later"),
    "file_purged": (410, "保存期間を過ぎたため、ファイルの内容は削除されました / the file's "
                         "content was removed after its retention period"),
    "lgwan_only": (403, "原本の申請は庁内（LGWAN）からのみできます / originals are requested "
                        "from the LGWAN side"),
    "not_quarantined": (400, "このファイルは無害化の対象ではありません / this file was not "
                             "disarmed; its original is what you receive"),
    "empty_reason": (400, "申請理由を入力してください / a reason is required"),
    "reason_too_long": (400, "申請理由が長すぎます / reason too long"),
    "note_too_long": (400, "メモが長すぎます / note too long"),
    "original_not_released": (403, "原本は管理者の承認を受けた申請者だけが取得できます / the "
                                   "original has not been released to you"),
    "original_request_not_found": (404, "原本の申請が見つかりません / original request not "
                                        "found"),
    "original_request_decided": (409, "この申請は既に処理されています / the request was "
                                      "already decided"),
    "own_request": (403, "自分の申請は承認・却下できません。別の管理者に依頼してください / you "
                         "cannot decide your own request; ask another administrator"),
    # ---- 上長承認 (relay.approvals)
    "approval_pending": (409, "このファイルは上長の承認待ちです。承認されると届きます / the file "
                              "waits for an approver; it is delivered once approved"),
    "approval_refused": (403, "このファイルは承認されなかったため届けられません / the file was "
                              "not approved and is not delivered"),
    "approval_lgwan_only": (403, "承認は庁内（LGWAN）からのみ行えます / approvals are handled "
                                 "from the LGWAN side"),
    "approval_not_found": (404, "承認の依頼が見つかりません / approval not found"),
    "approval_decided": (409, "この承認依頼は既に処理されています / the approval was already "
                              "decided"),
    "not_approver": (403, "このファイルを承認する権限がありません / you are not an approver "
                          "for this file"),
    "own_file": (403, "自分のファイルは承認できません。別の承認者に依頼してください / you cannot "
                      "decide on your own file; ask another approver"),
    "empty_refusal_reason": (400, "差し戻しの理由を入力してください / a reason is required to "
                                  "refuse"),
    "refusal_reason_too_long": (400, "差し戻しの理由が長すぎます / reason too long"),
    # ---- the store and the control socket
    "conflict": (409, "競合しています / conflict"),
    "store_error": (500, "保存処理でエラーが発生しました / storage error"),
    "store_corrupt": (500, "保存データが壊れています / stored data is corrupt"),
    "store_unavailable": (503, "保存処理を一時的に利用できません / storage is unavailable"),
    "storage_full": (503, "保存領域がいっぱいです。しばらくしてから再試行してください / storage is "
                          "full; retry later"),
    "push_endpoint_refused": (400, "この通知先は使えません / this push endpoint is not allowed"),
    "push_key_invalid": (400, "通知の鍵が不正です / a push subscription key is not valid"),
    "push_internet_only": (403, "通知の登録はスマートフォン（インターネット側）からのみできます / "
                                "push is subscribed from the internet listener"),
    "unknown_command": (400, "不明なコマンドです / unknown command"),
    "state_unusable": (503, "状態ディレクトリを使えません / the state directory cannot be used"),
    "no_state": (503, "データベースがありません（relayctl init で作成します） / no database: "
                      "create the state with relayctl init"),
    "key_missing": (503, "鍵が見つかりません / a key is missing"),
    "key_unusable": (503, "鍵を読めません / a key cannot be used"),
    "not_a_database": (503, "データベースではないファイルです / not a database"),
    "schema_too_new": (503, "データベースがこの版より新しい形式です / the database is from a "
                            "newer version"),
    "database_corrupt": (503, "データベースが壊れています / the database is corrupt"),
    "control_refused": (403, "制御ソケットはこのユーザーには使えません / the control socket "
                             "refuses this user"),
}


def error(code: str, details: dict[str, Any] | None = None,
          headers: tuple[tuple[str, str], ...] = (), message: str | None = None) -> HTTPError:
    """The answer for ``code`` (which must be in ``CODES``)."""
    status, text = CODES[code]
    return HTTPError(status, code, message or text, details, headers)


def translate(exc: BaseException) -> HTTPError | None:
    """The HTTPError for a store or policy error; None for anything else (a bug)."""
    if isinstance(exc, HTTPError):
        return exc
    if isinstance(exc, (StoreError, PolicyError)):
        status, text = CODES.get(exc.code, (exc.status, ""))
        # Policy errors name the limit or field; a state directory that cannot be used
        # names its path: both say more than the catalogue.
        specific = isinstance(exc, (PolicyError, StateUnusable))
        message = exc.message if specific else text
        details, headers = _plain(exc.details), ()
        if exc.code == "storage_full":
            # Nothing was written; the same request (same client_id) may come again.
            details["retry_after"] = STORAGE_FULL_RETRY_S
            headers = (("retry-after", str(STORAGE_FULL_RETRY_S)),)
        return HTTPError(status, exc.code, message or f"{exc.message} / {exc.code}",
                         details, headers)
    return None


def for_exception(exc: Exception, where: str) -> HTTPError:
    """The answer to show for ``exc``: its translation, or -- for a bug -- a logged
    500 that says nothing about the internals."""
    http = translate(exc)
    if http is None:
        log.error("unhandled error in %s", where, exc_info=exc)
        http = error("internal_error")
    elif http.status >= 500 and http.code != "storage_full":
        # A full disk is logged by the store, once per episode, not once per request.
        log.error("%s: %s", where, exc)
    return http


def _plain(details: dict[str, Any]) -> dict[str, Any]:
    # Details go out as JSON: keep only what JSON can say.
    return {k: v if isinstance(v, (str, int, float, bool, list, type(None))) else str(v)
            for k, v in details.items()}


# ---------------------------------------------------------------- with details or headers


def method_not_allowed(allowed: list[str]) -> HTTPError:
    allow = sorted(set(allowed))
    return error("method_not_allowed", {"allowed": allow}, (("allow", ", ".join(allow)),))


def unauthenticated() -> HTTPError:
    return error("unauthenticated",
                 headers=(("www-authenticate", 'Bearer realm="kakehashi"'),))


def rate_limited(wait: float) -> HTTPError:
    after = retry_after_header(wait)
    return error("rate_limited", {"retry_after": int(after)}, (("retry-after", after),))


def invalid_field(path: str, expected: str, problem: str = "wrong_type") -> HTTPError:
    """A JSON body or query value of the wrong shape; ``path`` names it
    (``members[2]``)."""
    return error("invalid_field", {"field": path, "expected": expected, "problem": problem},
                 message=f"項目 {path or '(本文)'} が不正です（{expected} が必要） / "
                         f"field {path or '(body)'}: expected {expected}")


def upgrade_required() -> HTTPError:
    return error("upgrade_required", headers=(("upgrade", "websocket"),))


def origin_forbidden(origin: str) -> HTTPError:
    return error("origin_forbidden", {"origin": origin})


def file_denied(code: str, details: dict[str, Any] | None = None) -> HTTPError:
    """The answer for ``policy.files.Denied``: pending, blocked, or not allowed outbound."""
    return error(code, details)


def file_purged(file_id: str) -> HTTPError:
    return error("file_purged", {"file_id": file_id})


def too_many_connections(retry_after_s: int = 5) -> HTTPError:
    return error("too_many_connections", headers=(("retry-after", str(retry_after_s)),))


def bad_request(detail: str) -> HTTPError:
    return error("bad_request", {"reason": detail})


def headers_too_large(limit: int) -> HTTPError:
    return error("headers_too_large", {"limit": limit})


def body_too_large(limit: int) -> HTTPError:
    return error("body_too_large", {"limit": limit})


# Codes with nothing to add: ``errors.not_found()`` reads like the others.
def not_found() -> HTTPError:
    return error("not_found")


def invalid_credentials() -> HTTPError:
    return error("invalid_credentials")


def totp_required() -> HTTPError:
    return error("totp_required")


def totp_invalid() -> HTTPError:
    return error("totp_invalid")


def internal_error() -> HTTPError:
    return error("internal_error")


def request_timeout() -> HTTPError:
    return error("request_timeout")


def original_not_released() -> HTTPError:
    return error("original_not_released")


def empty_file() -> HTTPError:
    return error("empty_file")
