// One message as a card: avatar, sender and department, the quote it replies to, its
// content, reactions, and the meta line (編集済み, 既読 N, time, the 操作 menu).
//
// The content is drawn by the renderer registered for the message's `kind`
// (`registerContent`): text, file and stamp are here; new kinds of message (polls,
// 日程調整, 参集確認, tasks, notes, locations, phone memos) register their own card
// without touching this file.  A kind nobody registered shows its body as text.

import { h, richText, initials } from "./dom.js";
import { time, dateTime } from "./format.js";
import { fileCard } from "./files.js";
import { reactionsRow, stampLabel, isEmoji } from "./stamps.js";
import { cardDecorators } from "./extend.js";

const renderers = new Map();

// fn(message, ctx) -> Node | Node[]: what goes inside the bubble.
export function registerContent(kind, fn) { renderers.set(kind, fn); }

const MENTION_RE = /[@＠][A-Za-z0-9._@-]+/g;

// Message text: links (richText) and @mentions marked, as text nodes only.
export function bodyText(text) {
  const out = [];
  for (const part of richText(text)) {
    if (typeof part !== "string") { out.push(part); continue; }
    let last = 0;
    for (const m of part.matchAll(MENTION_RE)) {
      if (m.index > last) out.push(part.slice(last, m.index));
      out.push(h("span", { class: "mention" }, m[0]));
      last = m.index + m[0].length;
    }
    if (last < part.length) out.push(part.slice(last));
  }
  return out;
}

registerContent("text", (m) => h("p", { class: "text" }, bodyText(m.body)));
registerContent("file", (m, ctx) => [
  m.body ? h("p", { class: "text" }, bodyText(m.body)) : null,
  (m.attachments || []).map((att) => fileCard(att, ctx)),
]);
registerContent("stamp", (m, ctx) => h("p", { class: isEmoji(stampLabel(ctx, m.stamp)) ? "stamp-big emoji" : "stamp-big", role: "img",
  "aria-label": `スタンプ「${stampLabel(ctx, m.stamp)}」` }, stampLabel(ctx, m.stamp)));

function content(m, ctx) {
  if (m.deleted) return h("p", { class: "text deleted" }, "このメッセージは削除されました");
  const fn = renderers.get(m.kind) || (m.attachments && m.attachments.length ? renderers.get("file") : null)
    || renderers.get("text");
  return fn(m, ctx);
}

// What a message is, in a few words: for quotes, previews and announcements.
const KIND_LABELS = { poll: "アンケート", schedule: "日程調整", rollcall: "参集確認", task: "タスク",
  note: "ノート", location: "位置情報", memo: "電話メモ" };

export function summary(m, ctx) {
  if (m.deleted) return "削除されたメッセージ";
  if (m.kind === "stamp") return `［スタンプ］${stampLabel(ctx, m.stamp)}`;
  if (KIND_LABELS[m.kind]) return `［${KIND_LABELS[m.kind]}］${m.body || ""}`;
  if (m.body) return m.body;
  if (m.attachments && m.attachments[0]) return `［ファイル］${m.attachments[0].name}`;
  return m.kind === "file" ? "［ファイル］" : "";
}

export function quoteBlock(q, ctx, onJump) {
  const text = q.deleted ? "このメッセージは削除されました"
    : q.kind === "stamp" ? "［スタンプ］" : q.body || (q.kind === "file" ? "［ファイル］" : "");
  return h("button", { type: "button", class: "quote", onclick: onJump,
    "aria-label": `返信元 ${ctx.personName(q.sender)}: ${text}。返信元へ移動` },
  h("span", { class: "quote-name" }, ctx.personName(q.sender)),
  h("span", { class: "quote-text" }, text));
}

export function department(ctx, id) {
  const p = ctx.people.get(id);
  return p && p.department ? p.department.name : "";
}

// talk: { room, showReaders(m), openMenu(m, button), jumpTo(id) }
export function messageCard(m, ctx, talk) {
  const own = m.sender === ctx.me.id;
  const d = new Date(m.created_at);
  const name = ctx.personName(m.sender);
  const dept = department(ctx, m.sender);
  const mentioned = !m.deleted && (m.mentions || []).includes(ctx.me.id);
  const meta = h("div", { class: "meta" });
  if (m.edited_at && !m.deleted) meta.append(h("span", { class: "edited" }, "編集済み"));
  if (own) {
    const others = Math.max(0, (talk.room.members || []).length - 1);
    meta.append(h("button", { type: "button", class: "read-count",
      "aria-label": `既読 ${m.read_count} 人（${others} 人中）。既読・未読の人を表示`,
      onclick: () => talk.showReaders(m) }, `既読 ${m.read_count}`));
  }
  meta.append(h("time", { datetime: m.created_at, title: dateTime(d) }, time(d)));
  if (!m.deleted || ctx.me.kind === "admin" || own) {
    const menu = h("button", { type: "button", class: "msg-menu", "aria-haspopup": "dialog",
      "aria-label": `${name} ${time(d)} のメッセージの操作` }, "⋯");
    menu.addEventListener("click", () => talk.openMenu(m, menu));
    meta.append(menu);
  }
  const bubbleClass = m.kind === "stamp" && !m.deleted ? "bubble stamp" : "bubble";
  const card = h("article", { class: `msg${own ? " own" : ""}${mentioned ? " mentioned" : ""}${m.deleted ? " is-deleted" : ""}`,
    dataset: { id: m.id, kind: m.kind || "text" }, "aria-label": `${name} ${dateTime(d)}${mentioned ? "（あなたへのメンション）" : ""}` },
  own ? null : h("div", { class: "avatar", "aria-hidden": "true" }, initials(name)),
  h("div", { class: "msg-main" },
    own ? null : h("div", { class: "sender" }, name, dept ? h("span", { class: "dept" }, dept) : null),
    m.quote ? quoteBlock(m.quote, ctx, () => talk.jumpTo(m.quote.id)) : null,
    h("div", { class: bubbleClass }, mentioned ? h("span", { class: "visually-hidden" }, "あなたへのメンション: ") : null,
      content(m, ctx)),
    reactionsRow(ctx, m), meta));
  for (const fn of cardDecorators) fn(ctx, m, card);
  return card;
}
