// What アンケート (polls.js), 日程調整 (schedules.js) and 参集確認 (rollcalls.js) share:
// a card that stays live, the create dialogs' pieces, and relayd's errors in plain
// Japanese with the field they are about marked.
//
// A live card: the message carries the object's summary (counts the same for every
// reader); what this member chose and who answered what come from the object's view
// (GET). The view is fetched once per object and kept per session, and each
// `…updated` event is applied to it in place (not fetched again: in a room of
// hundreds answering a roll call, every member would fetch on every event). Every card
// drawn for the object is redrawn from that one copy; what a member is typing in a
// card (and where the focus is) survives the redraw.

import { h, clear, dialog, announce } from "./dom.js";
import { get, post, newClientId } from "./api.js";
import { registerContent } from "./cards.js";
import { registerEvent } from "./extend.js";

const WEEKDAYS = ["日", "月", "火", "水", "木", "金", "土"];
const pad = (n) => String(n).padStart(2, "0");
const caches = new WeakMap(); // ctx (one per login) -> Map("kind:id" -> entry)

// kind: "poll" | "schedule" | "rollcall" (the message kind and its field); path: the
// object's GET; draw(ctx, entry) -> Node[]; merge(ctx, entry, event) applies an event.
export function liveCard(kind, path, draw, merge) {
  registerContent(kind, (m, ctx) => {
    const summary = m[kind];
    if (!summary) return h("p", { class: "text" }, m.body);
    const e = entryFor(ctx, kind, summary, m);
    const el = h("div", { class: `gather gather-${kind}`, dataset: { gather: summary.id } });
    // Kept per object, not per element: the talk draws a message's card anew when
    // its 既読 count or reactions change.
    const typed = () => {
      for (const i of el.querySelectorAll("input[data-keep], textarea[data-keep]")) {
        e.typed.set(i.dataset.keep, i.type === "checkbox" || i.type === "radio" ? i.checked : i.value);
      }
    };
    el.addEventListener("input", typed);
    el.addEventListener("change", typed);
    el.addEventListener("toggle", (ev) => { if (ev.target.dataset.keep) e.opened.set(ev.target.dataset.keep, ev.target.open); }, true);
    e.els.add(el);
    e.draw = draw;
    paint(ctx, e, el);
    if (!e.view && !e.loading) load(ctx, e, path);
    return el;
  });
  registerEvent(`${kind}.updated`, (ctx, ev) => {
    const e = cache(ctx).get(`${kind}:${ev[kind].id}`);
    if (!e) return; // never drawn here: the message brings its summary when it is
    e.summary = ev[kind];
    if (e.view) merge(ctx, e, ev);
    else if (e.loading) e.stale = true; // the view on its way may be from before it
    redraw(ctx, e);
  });
}

function cache(ctx) {
  if (!caches.has(ctx)) caches.set(ctx, new Map());
  return caches.get(ctx);
}

// The message's summary is taken when it is news: a copy of the message fetched
// again (a reopened talk, a catch-up after the stream was away) may know what events
// the page missed; the same copy drawn again (a reaction) is not news.
function entryFor(ctx, kind, summary, m) {
  const key = `${kind}:${summary.id}`;
  let e = cache(ctx).get(key);
  if (!e) {
    e = { kind, message: m, summary, seen: summary, view: null, loading: false, els: new Set(),
      typed: new Map(), opened: new Map() };
    cache(ctx).set(key, e);
  } else if (e.seen !== summary && JSON.stringify(e.seen) !== JSON.stringify(summary)) {
    e.seen = summary;
    e.summary = summary;
    e.view = null; // fetched again below
  }
  e.message = m;
  return e;
}

async function load(ctx, e, path) {
  e.loading = true;
  e.stale = false;
  try {
    const view = await get(`${path}${e.summary.id}`);
    e.view = view;
    e.summary = view;
    e.error = null;
  } catch (err) {
    e.error = err.message;
  } finally {
    e.loading = false;
  }
  if (e.stale && !e.error) { e.view = null; load(ctx, e, path); return; }
  redraw(ctx, e);
}

// The object as the card shows it: the view when there is one, else the summary.
export const data = (e) => e.view || e.summary;

// An answer of relayd (a view) after our own vote, answer, close or decision.
export function gotView(ctx, e, view) {
  e.view = { ...(e.view || {}), ...view };
  e.summary = e.view;
  e.typed.clear(); // sent: the card shows what relayd now has
  redraw(ctx, e);
}

export function redraw(ctx, e) {
  for (const el of e.els) {
    if (el.isConnected) paint(ctx, e, el);
    else e.els.delete(el); // a card the talk dropped
  }
}

// Draw again, keeping what the member typed or ticked and the lists it opened
// ([data-keep]), and the focus.
function paint(ctx, e, el) {
  const focused = el.contains(document.activeElement) ? document.activeElement.dataset.keep : null;
  // An error is said (role=alert) when it is new, not again at every live redraw.
  const fresh = e.error && e.error !== e.said;
  e.said = e.error;
  clear(el, e.draw(ctx, e), e.error ? h("p", { class: "error", role: fresh ? "alert" : null }, e.error) : null);
  for (const i of el.querySelectorAll("[data-keep]")) {
    const k = i.dataset.keep;
    if (i.tagName === "DETAILS") i.open = e.opened.get(k) || false;
    else if (e.typed.has(k) && (i.type === "checkbox" || i.type === "radio")) i.checked = e.typed.get(k);
    else if (e.typed.has(k)) i.value = e.typed.get(k);
    if (k === focused) i.focus({ preventScroll: true });
  }
}

// ---------------------------------------------------------------- drawing helpers
// Closed, or past its 締切: a message's summary says `closed` only as it was sent, and
// relayd sends no event when the time comes, so the card is drawn again then.
export function isClosed(ctx, e, o) {
  if (o.closed) return true;
  if (!o.closes_at) return false;
  const left = new Date(o.closes_at) - Date.now();
  if (left > 0 && !e.wake && left < 2 ** 31 - 1) e.wake = setTimeout(() => redraw(ctx, e), left + 500);
  return left <= 0;
}

export function cardHead(label, title, ...tags) {
  return h("div", { class: "g-head" }, h("span", { class: "g-kind" }, label),
    h("p", { class: "g-title" }, title), h("p", { class: "g-tags" }, tags.filter(Boolean).map((t) => h("span", { class: "g-tag" }, t))));
}

// A bar of n out of total (drawn only: the count is in the text beside it).
export function bar(n, total) {
  const fill = h("span", { class: "g-fill" });
  fill.style.width = `${total ? Math.round((100 * n) / total) : 0}%`; // CSSOM, allowed by the CSP
  return h("span", { class: "g-bar", "aria-hidden": "true" }, fill);
}

// 1月20日(水) 10:00 (the year when it is not this year): dates to plan by, never 今日.
export function when(iso) {
  const d = new Date(iso);
  const y = d.getFullYear() === new Date().getFullYear() ? "" : `${d.getFullYear()}年`;
  return `${y}${d.getMonth() + 1}月${d.getDate()}日(${WEEKDAYS[d.getDay()]}) ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function names(ctx, ids) {
  return ids.map((id) => (id === ctx.me.id ? `${ctx.personName(id)}（あなた）` : ctx.personName(id)));
}

export function confirmDialog(title, text, yes, run) {
  const d = dialog(title, h("div", { class: "form" }, h("p", {}, text),
    h("div", { class: "form-actions" },
      h("button", { type: "button", class: "btn secondary", onclick: () => d.close() }, "やめる"),
      h("button", { type: "button", class: "btn", onclick: () => { d.close(); run(); } }, yes))));
  d.querySelector(".form-actions .btn:not(.secondary)").focus();
}

// ---------------------------------------------------------------- forms
export function field(id, label, input, hint) {
  if (hint) input.setAttribute("aria-describedby", `${id}-hint`);
  return h("div", { class: "field" }, h("label", { for: id }, label), input,
    hint ? h("p", { id: `${id}-hint`, class: "hint" }, hint) : null);
}

// A list of labelled text boxes that grows and shrinks (poll and roll-call options).
export function optionList(prefix, initial, max) {
  const list = h("ol", { class: "g-options-edit" });
  const add = h("button", { type: "button", class: "btn secondary small" }, "＋ 選択肢を追加");
  const row = (value) => {
    const input = h("input", { type: "text", maxlength: 100, value, autocomplete: "off" });
    const remove = h("button", { type: "button", class: "icon-btn small" }, "×");
    const li = h("li", {}, input, remove);
    remove.addEventListener("click", () => {
      const next = li.nextElementSibling || li.previousElementSibling;
      li.remove();
      renumber();
      next.querySelector("input").focus();
    });
    return li;
  };
  const renumber = () => {
    [...list.children].forEach((li, i) => {
      const input = li.querySelector("input");
      input.id = `${prefix}-${i}`;
      input.setAttribute("aria-label", `選択肢 ${i + 1}`);
      const remove = li.querySelector("button");
      remove.setAttribute("aria-label", `選択肢 ${i + 1} を削除`);
      remove.hidden = list.children.length <= 2; // two options at least
    });
    add.disabled = list.children.length >= max;
  };
  for (const v of initial) list.append(row(v));
  renumber();
  add.addEventListener("click", () => {
    const li = row("");
    list.append(li);
    renumber();
    li.querySelector("input").focus();
  });
  const inputs = () => [...list.querySelectorAll("input")];
  return { el: h("fieldset", { class: "g-fieldset" }, h("legend", {}, "選択肢"), list, add), inputs };
}

// datetime-local's "2027-01-20T10:00" (the browser's time) as RFC 3339.
export function isoFromLocal(date, t) {
  const d = new Date(t === undefined ? date : `${date}T${t}`);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

// "2027-01-20T10:00" for a datetime-local box, in the browser's time.
export function localValue(d) {
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

// relayd's refusal as the form shows it: its Japanese message, or ours where we can
// say more; the field it names (details.field, looked up by find) is marked and focused.
export function showError(form, errorEl, err, find = () => null) {
  for (const i of form.querySelectorAll("[aria-invalid]")) i.removeAttribute("aria-invalid");
  const f = (err.details && err.details.field) || "";
  let text = err.message;
  if (err.code === "my_number_blocked") text = "個人番号（マイナンバー）と思われる番号が含まれています。庁外の参加者がいるトークには送れません。番号を消してください。";
  else if (err.code === "rate_limited") text = `操作が続いたため受け付けられませんでした。${err.details.retry_after || "数"} 秒ほど待ってからもう一度お試しください。`;
  else if (err.code === "invalid_time" && f === "closes_at") text = "締切は今より後、1 年以内の日時にしてください。";
  else if (err.code === "invalid_time") text = "日時は 2000〜2099 年の日時にしてください。";
  else if (err.code === "room_archived") text = "このトークはアーカイブされているため、投稿・回答できません。";
  errorEl.textContent = text;
  const input = f ? find(f) : null;
  if (input) {
    input.setAttribute("aria-invalid", "true");
    input.focus();
  }
}

// A 「…を作る」 dialog (アンケート, 日程調整, 参集確認): its fields, the error line, やめる
// and the submit button; one client_id for every retry of the form (never two posts);
// the new message into the talk.  body(error) answers the request, or null once it has
// said in `error` what is missing; fieldFor(f) is the input relayd's refusal names;
// onRefused(err, error) adds what only this form knows about a refusal.
export function createForm(ctx, room, { heading, submitLabel = "作成する", fields, focus, path, body,
  fieldFor, posted, onRefused }) {
  const error = h("p", { class: "error", role: "alert" });
  const submit = h("button", { type: "submit", class: "btn" }, submitLabel);
  const form = h("form", { class: "form", novalidate: true }, fields, error,
    h("div", { class: "form-actions" },
      h("button", { type: "button", class: "btn secondary", onclick: () => d.close() }, "やめる"), submit));
  const d = dialog(heading, form);
  focus.focus();
  const clientId = newClientId();
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    error.textContent = "";
    const request = body(error);
    if (!request) return;
    submit.disabled = true;
    try {
      const message = await post(`/api/v1/rooms/${room.id}/${path}`, { ...request, client_id: clientId });
      d.close();
      ctx.messageArrived(message);
      announce(posted);
    } catch (err) {
      submit.disabled = false;
      showError(form, error, err, fieldFor);
      if (onRefused) onRefused(err, error);
    }
  });
}
