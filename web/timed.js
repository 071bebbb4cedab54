// Time in the talk: リマインド (the sender of a message nudges the members who have
// not read it) and 予約送信 (a message written now, sent by relayd at a chosen time).
//
// リマインド is in a message's 「…」 menu for its sender; the answer names who was
// reminded, or says everyone has read it, or how many minutes to wait (relayd allows
// one reminder per message every 10 minutes).  A member who is reminded gets a toast
// and the message is marked in the talk.
//
// 予約送信 is in 「＋」: the text (the composer's draft) and a date and time; 「予約一覧」
// lists the caller's pending schedules with 取り消す.  The list is kept from the
// `scheduled.*` events, which reach every session of the sender, so a schedule made or
// cancelled on the phone shows on the desk too; sent and dropped ones are said aloud.

import { h, clear, dialog, announce } from "./dom.js";
import { get, post, del, newClientId } from "./api.js";
import { dateTime } from "./format.js";
import { summary } from "./cards.js";
import { registerCardDecorator, registerComposerAction, registerEvent, registerMessageAction,
  registerSessionHooks } from "./extend.js";

const pad = (n) => String(n).padStart(2, "0");

// A time for relayd: RFC 3339 with the browser's own offset (e.g. +09:00).
export function withOffset(d) {
  const off = -d.getTimezoneOffset();
  const sign = off >= 0 ? "+" : "-";
  const a = Math.abs(off);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${
    pad(d.getMinutes())}:${pad(d.getSeconds())}${sign}${pad(Math.floor(a / 60))}:${pad(a % 60)}`;
}

// The value of an <input type="datetime-local"> for a moment (local time, minutes).
export function inputValue(d) {
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

// ---------------------------------------------------------------- リマインド

// Messages this session was reminded of: id -> who reminded.
const reminded = new Map();

function markReminded(ctx, node, by) {
  node.classList.add("reminded");
  const meta = node.querySelector(".meta");
  if (meta && !meta.querySelector(".remind-tag")) {
    meta.prepend(h("span", { class: "remind-tag" }, `${ctx.personName(by)} さんからリマインド`));
  }
}

// A card is drawn again on every edit or reaction: the mark goes on each new one.
registerCardDecorator((ctx, m, node) => {
  if (reminded.has(m.id) && !m.deleted) markReminded(ctx, node, reminded.get(m.id));
});

async function remind(ctx, talk, m) {
  try {
    const { reminded: who } = await post(`/api/v1/messages/${m.id}/remind`);
    ctx.toast(who.length
      ? `リマインドを送りました（${who.length} 人）：${who.map((id) => ctx.personName(id)).join("、")}`
      : "全員がすでに読んでいます。リマインドは送りませんでした。");
  } catch (err) {
    if (err.code === "remind_too_soon") {
      const minutes = Math.max(1, Math.ceil(Number(err.details.retry_after || 60) / 60));
      ctx.toast(`リマインドは 10 分に 1 回までです。あと ${minutes} 分待ってから送ってください。`);
    } else {
      ctx.toast(err.message);
    }
  }
}

registerMessageAction("未読の人にリマインド", remind,
  (ctx, m) => m.sender === ctx.me.id && !m.deleted && m.kind !== "system");

registerEvent("message.reminded", (ctx, ev) => {
  const m = ev.message;
  reminded.set(m.id, ev.by);
  const room = ctx.rooms.find((r) => r.id === m.room_id);
  const text = summary(m, ctx);
  ctx.toast(`${ctx.personName(ev.by)} さんから確認のお願い（リマインド）${room ? `「${ctx.roomName(room)}」` : ""}：${
    text.length > 40 ? `${text.slice(0, 40)}…` : text}`);
  const node = ctx.talk.nodes.get(m.id);
  if (node && ctx.talk.room && ctx.talk.room.id === m.room_id) markReminded(ctx, node, ev.by);
});

// ---------------------------------------------------------------- 予約送信

// The caller's pending schedules, id -> Scheduled; null until first loaded.
let pending = null;
let listView = null; // the open 予約一覧, redrawn on changes
// Schedules relayd dropped while this page was open: a toast goes after a few seconds,
// so 予約一覧 keeps saying which were not sent and why.
const dropped = [];

const DROPPED = {
  not_member: "送信する時点でこのトークのメンバーではなくなっていたため",
  sender_disabled: "アカウントが無効になっていたため",
  room_archived: "トークがアーカイブされていたため",
  my_number_blocked: "個人番号（マイナンバー）が含まれ、庁外の参加者が加わったトークには送れないため",
};

async function loadPending() {
  const { scheduled } = await get("/api/v1/scheduled");
  pending = new Map(scheduled.map((s) => [s.id, s]));
}

function roomLabel(ctx, id) {
  const room = ctx.rooms.find((r) => r.id === id);
  return room ? ctx.roomName(room) : "（参加していないトーク）";
}

function short(text) { return text.length > 30 ? `${text.slice(0, 30)}…` : text; }

// The small reminder in the talk, above the composer, while anything of ours is
// pending (in any room): 「予約送信 N 件」, which opens 予約一覧.
let chip = null;

function changed() {
  if (listView) listView();
  if (!chip) return;
  const n = pending ? pending.size : 0;
  chip.hidden = n === 0;
  chip.textContent = `予約送信 ${n} 件`;
  chip.setAttribute("aria-label", `予約送信 ${n} 件（予約一覧を開く）`);
}

function scheduleDialog(ctx, room) {
  const composer = ctx.talk.composer;
  const draft = composer.roomId === room.id ? composer.input.value : ctx.drafts.get(room.id) || "";
  const text = h("textarea", { id: "sched-text", rows: 4, maxlength: 10000, value: draft });
  const soon = new Date(Date.now() + 60 * 60 * 1000);
  soon.setMinutes(Math.ceil(soon.getMinutes() / 5) * 5, 0, 0);
  const when = h("input", { id: "sched-at", type: "datetime-local", value: inputValue(soon),
    min: inputValue(new Date()), "aria-describedby": "sched-at-hint" });
  const error = h("p", { class: "error", role: "alert" });
  const submit = h("button", { type: "submit", class: "btn" }, "予約する");
  // novalidate: the checks below say what is wrong in Japanese, and a time with
  // seconds (typed or pasted) is not refused for not being on a whole minute.
  const form = h("form", { class: "form", novalidate: true },
    h("p", { class: "muted" }, `「${ctx.roomName(room)}」に、指定した日時にこのメッセージを送ります。`),
    h("div", { class: "field" }, h("label", { for: "sched-text" }, "メッセージ"), text),
    h("div", { class: "field" }, h("label", { for: "sched-at" }, "送信日時"), when,
      h("p", { id: "sched-at-hint", class: "hint" }, "1 年先まで予約できます。送信前なら「予約一覧」から取り消せます。")),
    error,
    h("div", { class: "form-actions" },
      h("button", { type: "button", class: "btn secondary", onclick: () => d.close() }, "やめる"), submit));
  const d = dialog("予約送信", form);
  form.addEventListener("input", () => { error.textContent = ""; });
  (draft ? when : text).focus();

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.textContent = "";
    if (!text.value.trim()) { error.textContent = "メッセージを入力してください。"; text.focus(); return; }
    const at = new Date(when.value);
    if (!when.value || Number.isNaN(at.getTime())) { error.textContent = "送信日時を入力してください。"; when.focus(); return; }
    if (at.getTime() < Date.now() - 30000) { error.textContent = "送信日時が過去です。これから先の日時にしてください。"; when.focus(); return; }
    submit.disabled = true;
    try {
      const { scheduled } = await post(`/api/v1/rooms/${room.id}/messages`,
        { body: text.value, client_id: newClientId(), send_at: withOffset(at) });
      d.close();
      if (pending) pending.set(scheduled.id, scheduled);
      changed();
      // The draft went into the schedule: the composer starts empty.
      if (text.value === draft) {
        ctx.drafts.delete(room.id);
        if (composer.roomId === room.id) { composer.input.value = ""; composer.grow(); }
      }
      ctx.toast(`${dateTime(new Date(scheduled.send_at))} に送信を予約しました。`);
    } catch (err) {
      submit.disabled = false;
      error.textContent = err.code === "send_at_past" ? "送信日時が過去です。これから先の日時にしてください。"
        : err.code === "send_at_too_far" ? "送信日時は 1 年以内にしてください。"
          : err.code === "my_number_blocked"
            ? "個人番号（マイナンバー）が含まれているため予約できません。庁外の参加者がいるトークには送れません。"
            : err.message;
    }
  });
}

async function cancel(ctx, s, button) {
  button.disabled = true;
  try {
    await del(`/api/v1/scheduled/${s.id}`);
    if (pending) pending.delete(s.id);
    changed();
    announce("予約送信を取り消しました");
  } catch (err) {
    button.disabled = false;
    if (err.code === "scheduled_done" || err.code === "scheduled_not_found") {
      if (pending) pending.delete(s.id);
      changed();
    }
    ctx.toast(err.code === "scheduled_done" ? "この予約はすでに送信されたか、取り消されています。" : err.message);
  }
}

async function listDialog(ctx) {
  const list = h("ul", { class: "sched-list", "aria-label": "予約中のメッセージ" });
  const count = h("p", { class: "muted", role: "status" }, "読み込んでいます…");
  const notSent = h("div", { class: "sched-dropped" });
  const d = dialog("予約一覧", h("div", {}, count, list, notSent), { onClose: () => { listView = null; } });
  const draw = () => {
    clear(notSent, dropped.length ? [h("h3", {}, "送信されなかった予約"),
      h("ul", { class: "sched-list" }, dropped.map((s) => h("li", { class: "sched-item" },
        h("div", { class: "sched-main" },
          h("p", { class: "sched-when" }, h("time", { datetime: s.send_at }, dateTime(new Date(s.send_at))),
            h("span", { class: "sched-room" }, roomLabel(ctx, s.room_id))),
          h("p", { class: "sched-body" }, s.body),
          h("p", { class: "sched-reason" }, `${droppedWhy(s.reason)}、送信されませんでした。`)))))] : null);
    const items = [...pending.values()].sort((a, b) => (a.send_at < b.send_at ? -1 : a.send_at > b.send_at ? 1 : 0));
    count.textContent = items.length ? `予約中のメッセージ ${items.length} 件` : "予約中のメッセージはありません。";
    clear(list, items.map((s) => {
      const btn = h("button", { type: "button", class: "btn secondary small danger-text",
        "aria-label": `${dateTime(new Date(s.send_at))} の予約「${short(s.body)}」を取り消す` }, "取り消す");
      btn.addEventListener("click", () => cancel(ctx, s, btn));
      return h("li", { class: "sched-item", dataset: { id: s.id } },
        h("div", { class: "sched-main" },
          h("p", { class: "sched-when" }, h("time", { datetime: s.send_at }, dateTime(new Date(s.send_at))),
            h("span", { class: "sched-room" }, roomLabel(ctx, s.room_id))),
          h("p", { class: "sched-body" }, s.body)),
        btn);
    }));
  };
  try {
    await loadPending();
  } catch (err) {
    count.textContent = err.message;
    return;
  }
  changed();
  if (!d.open) return;
  listView = draw;
  draw();
}

// What this module remembers belongs to one login: the next person on a shared PC
// starts with none of it (the page is not reloaded between logins).
function forget() {
  reminded.clear();
  pending = null;
  listView = null;
  dropped.length = 0;
  if (chip) chip.remove();
  chip = null;
}

function start(ctx) {
  forget();
  chip = h("button", { type: "button", class: "sched-chip", hidden: true, "aria-haspopup": "dialog",
    onclick: () => listDialog(ctx) });
  ctx.talk.composer.el.prepend(chip);
  loadPending().then(changed, () => { /* 予約一覧 tries again when opened */ });
}

registerSessionHooks({ start, leave: forget });

registerComposerAction("予約送信", scheduleDialog);
registerComposerAction("予約一覧", (ctx) => listDialog(ctx));

// A schedule made in another session of ours.
registerEvent("scheduled.created", (ctx, ev) => {
  if (pending) pending.set(ev.scheduled.id, ev.scheduled);
  changed();
});

registerEvent("scheduled.cancelled", (ctx, ev) => {
  const known = pending && pending.has(ev.scheduled.id);
  if (pending) pending.delete(ev.scheduled.id);
  changed();
  if (known) announce(`予約送信「${short(ev.scheduled.body)}」は取り消されました`);
});

// The message itself arrives as message.created, like any other.
registerEvent("scheduled.sent", (ctx, ev) => {
  if (pending) pending.delete(ev.scheduled.id);
  changed();
  ctx.toast(`予約したメッセージを「${roomLabel(ctx, ev.scheduled.room_id)}」に送信しました：${short(ev.scheduled.body)}`);
});

function droppedWhy(reason) { return DROPPED[reason] || `理由（${reason || "不明"}）により`; }

registerEvent("scheduled.dropped", (ctx, ev) => {
  if (pending) pending.delete(ev.scheduled.id);
  const reason = ev.reason || ev.scheduled.reason;
  dropped.unshift({ ...ev.scheduled, reason });
  changed();
  ctx.toast(`予約したメッセージ「${short(ev.scheduled.body)}」は、${droppedWhy(reason)}送信されませんでした。`
    + "「＋」→「予約一覧」で確認できます。");
});
