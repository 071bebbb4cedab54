"""Search latency over a large message store (not a test).

    .venv/bin/python -m bench.search [--messages 2000000] [--rooms 2000] [--member-of 50]
                                     [--queries 400] [--dir DIR] [--keep]

Makes a state directory with the store's schema (``Store.open``: every migration,
the search index and its triggers), then fills it with SQL in large transactions:
``--rooms`` rooms of 12 members, ``--messages`` Japanese messages spread over them
(queued for the index by its trigger, and indexed by ``store.search.index_pending``
after each group of 200 once ``INDEX_BATCH`` are queued, as the store's writer does;
the last few stay queued), and one account that is a member of
``--member-of`` rooms.  Then, through the store facade (reader threads, as
relayd calls it), that account searches 2-, 3- and 4-character queries (substrings of
real messages, and some found nowhere) and the bench prints p50/p95/p99 per length.

Baseline, measured in the same run on the same data: a quarter of the same queries
answered by ``store.search.scan`` (LIKE over the messages of the rooms: what search
would cost without the index).  Also printed: the size of the index beside the size of the
text, and how long generating took.  With ``--dir`` an existing filled directory is
reused (``--keep`` keeps a temporary one).
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

import sqlite_utils
import trio

from store.config import StoreConfig
from store.db import iso
from store.facade import Store
from store import search
from store.search import SearchQuery

WORDS = (
    "保育園 子育て支援課 防災訓練 議会 予算 住民票 戸籍 国民健康保険 介護保険 年金 税務課 "
    "固定資産税 住民税 道路 河川 上下水道 ごみ収集 リサイクル 公園 図書館 公民館 学校 教育委員会 "
    "給食 健康診断 予防接種 避難所 消防団 自治会 町内会 回覧板 広報誌 ホームページ 補助金 "
    "申請書 決裁 起案 稟議 会議室 打ち合わせ 資料 議事録 報告書 見積書 契約書 請求書 入札 "
    "工事 点検 苦情 相談 窓口 来庁者 電話 メール 出張 研修 休暇 当番 宿直 災害対策本部 "
    "気象警報 大雨 台風 地震 停電 断水 避難指示 安否確認 物資 ボランティア 福祉 障害者 高齢者 "
    "児童 手当 生活保護 マイナンバーカード 証明書 印鑑 窓口業務 システム 端末 LGWAN 庁舎 "
    "駐車場 清掃 選挙 投票所 開票 統計 調査 アンケート 観光 イベント 祭り 農業 林業 漁業 "
    "商工会 企業誘致 移住 定住 空き家 人口 少子化 地域包括ケア 保健師 栄養士 ケースワーカー"
).split()
PARTICLES = ("の", "を", "に", "は", "が", "で", "と", "も", "について", "に関して")
ENDINGS = ("お願いします。", "確認してください。", "送付しました。", "準備中です。",
           "了解しました。", "ありがとうございます。", "修正をお願いします。", "共有します。",
           "明日までに対応します。", "ご検討ください。", "至急ご連絡ください。", "以上です。")
NAMES = ("田中", "鈴木", "佐藤", "高橋", "伊藤", "渡辺", "山本", "中村", "小林", "加藤")
ROOM_MEMBERS = 12
BATCH = 100_000
GROUP = 200  # messages in one of the store writer's groups under load


def sentence(rnd: random.Random) -> str:
    parts = [f"{rnd.choice(NAMES)}さん、"] if rnd.random() < 0.4 else []
    for _ in range(rnd.randint(1, 3)):
        parts.append(rnd.choice(WORDS) + rnd.choice(PARTICLES))
    if rnd.random() < 0.3:
        parts.append(f"{rnd.randint(1, 12)}月{rnd.randint(1, 28)}日の")
    parts.append(rnd.choice(WORDS))
    parts.append(rnd.choice(ENDINGS))
    return "".join(parts)


def fill(db_path: Path, messages: int, rooms: int, member_of: int, seed: int) -> float:
    """Write accounts, rooms and messages with SQL; returns the seconds it took."""
    rnd = random.Random(seed)
    c = sqlite3.connect(db_path, isolation_level=None)
    c.execute("PRAGMA synchronous=OFF")
    start = time.perf_counter()
    accounts = max(ROOM_MEMBERS * 4, rooms // 2)
    now = iso(1_800_000_000.0)
    c.execute("BEGIN")
    c.executemany("INSERT INTO accounts (id, login, display_name, kind, created_at) "
                  "VALUES (?, ?, '', 'staff', ?)",
                  [(i, f"u{i}", now) for i in range(1, accounts + 1)])
    c.executemany("INSERT INTO rooms (id, name, kind, created_at, created_by) "
                  "VALUES (?, ?, 'group', ?, 2)", [(r, f"room{r}", now)
                                                   for r in range(1, rooms + 1)])
    members: dict[int, list[int]] = {}
    searcher_rooms = set(rnd.sample(range(1, rooms + 1), min(member_of, rooms)))
    for r in range(1, rooms + 1):
        people = set(rnd.sample(range(2, accounts + 1), ROOM_MEMBERS - 1))
        if r in searcher_rooms:
            people.add(1)  # account 1 is the one who searches
        members[r] = sorted(people)
    c.executemany("INSERT INTO room_members (room_id, account_id) VALUES (?, ?)",
                  [(r, a) for r, people in members.items() for a in people])
    c.execute("COMMIT")
    t0 = 1_700_000_000.0
    db, known = sqlite_utils.Database(c), set[str]()
    for first in range(0, messages, BATCH):
        rows = []
        for i in range(first, min(messages, first + BATCH)):
            r = rnd.randint(1, rooms)
            rows.append((i + 1, r, rnd.choice(members[r]), sentence(rnd),
                         iso(t0 + i * 10.0), "lgwan"))
        c.execute("BEGIN")
        for at in range(0, len(rows), GROUP):
            c.executemany("INSERT INTO messages (id, room_id, sender, body, created_at, "
                          "origin_zone) VALUES (?, ?, ?, ?, ?, ?)", rows[at:at + GROUP])
            # As the store's writer does after each group: the queued bodies enter the
            # index together once there are enough (the last few stay queued).
            known |= search.index_pending(db, known, search.INDEX_BATCH)
        c.execute("COMMIT")
        print(f"  {min(messages, first + BATCH):,} messages, "
              f"{time.perf_counter() - start:.0f} s", flush=True)
    c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    c.close()
    return time.perf_counter() - start


def sizes(db_path: Path) -> tuple[int, int, int]:
    """(bytes of message text, bytes of the search index, bytes of the database)."""
    c = sqlite3.connect(db_path)
    text = c.execute("SELECT sum(length(CAST(body AS BLOB))) FROM messages").fetchone()[0]
    index = c.execute("SELECT sum(pgsize) FROM dbstat WHERE name LIKE 'messages_fts%'"
                      ).fetchone()[0]
    total = c.execute("SELECT page_count * page_size FROM pragma_page_count(), "
                      "pragma_page_size()").fetchone()[0]
    c.close()
    return int(text or 0), int(index or 0), int(total)


def queries(db_path: Path, n: int, seed: int) -> dict[int, list[str]]:
    """n queries per length 2, 3, 4: substrings of messages in the searcher's rooms
    (most), and substrings found nowhere (a few)."""
    rnd = random.Random(seed + 1)
    c = sqlite3.connect(db_path)
    mine = [r[0] for r in c.execute(
        "SELECT body FROM messages WHERE room_id IN (SELECT room_id FROM room_members "
        "WHERE account_id = 1) ORDER BY id")]
    bodies = rnd.sample(mine, min(len(mine), n * 3))  # the same ones in every run
    c.close()
    out: dict[int, list[str]] = {}
    for length in (2, 3, 4):
        qs = []
        for i in range(n):
            if i % 10 == 9:  # nowhere: kanji unlikely to be adjacent
                qs.append("鬱麒麟"[:length] if length <= 3 else "鬱麒麟龍")
                continue
            b = rnd.choice(bodies)
            start = rnd.randrange(0, max(1, len(b) - length))
            qs.append(b[start:start + length])
        out[length] = qs
    return out


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000


async def measure(state_dir: str, qs: dict[int, list[str]], limit: int) -> None:
    store = await Store.open(StoreConfig(state_dir=state_dir, password_memory_kib=64),
                             create=False)
    try:
        print(f"{'query':<28} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
              f"{'max ms':>8} {'hits':>6}")
        for label, run, share in (("index", store.search, 1),
                                  ("baseline LIKE scan", None, 4)):
            for length, texts in qs.items():
                texts = texts[: max(20, len(texts) // share)]
                times, hits = [], 0
                for t in texts:
                    query = SearchQuery("1", t, limit)
                    t0 = time.perf_counter()
                    if run is None:
                        found = await store._read(search.scan, query)
                    else:
                        found = await run(query)
                    times.append(time.perf_counter() - t0)
                    hits += len(found)
                print(f"{f'{length} chars, {label}':<28} {len(times):>5} {pct(times, .5):>8.1f} "
                      f"{pct(times, .95):>8.1f} {pct(times, .99):>8.1f} "
                      f"{max(times) * 1000:>8.1f} {hits / len(texts):>6.1f}")
    finally:
        await store.aclose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=2_000_000)
    ap.add_argument("--rooms", type=int, default=2000)
    ap.add_argument("--member-of", type=int, default=50)
    ap.add_argument("--queries", type=int, default=400, help="per query length")
    ap.add_argument("--limit", type=int, default=20)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--dir", default="", help="state directory to make or reuse")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()
    state = Path(args.dir or tempfile.mkdtemp(prefix="kk-search-"))
    db = state / "kakehashi.db"
    if not db.exists():
        async def create() -> None:
            await (await Store.open(StoreConfig(state_dir=str(state),
                                                password_memory_kib=64))).aclose()
        trio.run(create)
        took = fill(db, args.messages, args.rooms, args.member_of, args.seed)
        print(f"generated {args.messages:,} messages in {args.rooms:,} rooms in {took:.0f} s "
              f"({args.messages / took:,.0f} msg/s with the index)")
    text, index, total = sizes(db)
    print(f"text {text / 2**20:,.1f} MiB, search index {index / 2**20:,.1f} MiB "
          f"({index / max(1, text):.2f}x the text), database {total / 2**20:,.1f} MiB")
    trio.run(measure, str(state), queries(db, args.queries, args.seed), args.limit)
    if args.dir or args.keep:
        print(f"kept {state}")
    else:
        import shutil
        shutil.rmtree(state)


if __name__ == "__main__":
    main()
