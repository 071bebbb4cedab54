// 日程調整 (schedule adjustment): made from 「＋」 → 「日程調整」 (a title and 1–30
// candidate slots, each a date, a start, an optional end and label), drawn as a ○△×
// table: one row per slot with its counts and each member's answer. A member answers
// every slot (and may add a comment) in a dialog; the creator decides a slot, after
// which the row is marked and relayd tells the room in a message. Live for everyone
// through `schedule.updated` (gather.js).

import { h, dialog, announce } from "./dom.js";
import { post } from "./api.js";
import { registerComposerAction } from "./extend.js";
import { liveCard, data, isClosed, gotView, cardHead, when, field, isoFromLocal, localValue, showError,
  createForm } from "./gather.js";

const MARKS = { yes: ["○", "参加できる"], maybe: ["△", "未定"], no: ["×", "参加できない"] };
const pad = (n) => String(n).padStart(2, "0");

export function slotText(s) {
  let out = when(s.start);
  if (s.end) {
    const a = new Date(s.start);
    const b = new Date(s.end);
    out += a.toDateString() === b.toDateString() ? `〜${pad(b.getHours())}:${pad(b.getMinutes())}` : `〜${when(s.end)}`;
  }
  return out;
}

function mark(said) {
  if (!said) return h("span", { class: "muted" }, "−", h("span", { class: "visually-hidden" }, "未回答"));
  return h("span", { class: `g-mark g-${said}` }, MARKS[said][0], h("span", { class: "visually-hidden" }, MARKS[said][1]));
}

function draw(ctx, e) {
  const s = data(e);
  const closed = isClosed(ctx, e, s);
  const loaded = !!e.view;
  const answers = (e.view && e.view.answers) || [];
  const decided = s.slots.find((x) => x.id === s.decided_slot);
  const who = answers.map((a) => (a.account === ctx.me.id ? "あなた" : ctx.personName(a.account)));
  const table = h("table", { class: "g-table" },
    h("caption", { class: "visually-hidden" }, `${s.title}の候補日時と回答`),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "候補日時"),
      ["yes", "maybe", "no"].map((k) => h("th", { scope: "col", class: "g-num" }, MARKS[k][0], h("span", { class: "visually-hidden" }, MARKS[k][1]))),
      who.map((n) => h("th", { scope: "col", class: "g-person" }, n)))),
    h("tbody", {}, s.slots.map((slot) => h("tr", { class: slot.id === s.decided_slot ? "g-decided" : null },
      h("th", { scope: "row" }, slotText(slot), slot.label ? h("span", { class: "g-slot-label" }, slot.label) : null,
        slot.id === s.decided_slot ? h("strong", { class: "g-chosen" }, "決定") : null),
      h("td", { class: "g-num" }, slot.yes), h("td", { class: "g-num" }, slot.maybe), h("td", { class: "g-num" }, slot.no),
      answers.map((a) => h("td", { class: "g-num" }, mark(a.answers[slot.id])))))));
  const comments = answers.filter((a) => a.comment);
  const own = s.creator === ctx.me.id;
  const mine = e.view && Object.keys(e.view.my_answers || {}).length;
  const actions = [];
  if (!closed && loaded) actions.push(h("button", { type: "button", class: "btn small", "aria-haspopup": "dialog",
    dataset: { keep: "answer" }, onclick: () => answer(ctx, e) }, mine ? "回答を変更する" : "回答する"));
  if (own && !s.decided_slot && loaded) actions.push(h("button", { type: "button", class: "btn secondary small",
    "aria-haspopup": "dialog", dataset: { keep: "decide" }, onclick: () => decide(ctx, e) }, "日程を決定する"));
  return [cardHead("日程調整", s.title),
    decided ? h("p", { class: "g-banner" }, "決定しました：", h("strong", {}, slotText(decided)), decided.label ? ` ${decided.label}` : "") : null,
    h("div", { class: "table-wrap g-scroll", role: "region", tabindex: "0", "aria-label": `${s.title}の回答表` }, table),
    comments.length ? h("ul", { class: "g-comments" }, comments.map((a) =>
      h("li", {}, h("span", { class: "g-name" }, ctx.personName(a.account)), a.comment))) : null,
    h("p", { class: "g-status" }, `${s.respondents} 人が回答`,
      closed && !decided ? h("strong", { class: "g-closed" }, "締め切りました") : null,
      !closed && s.closes_at ? `・締切 ${when(s.closes_at)}` : null),
    actions.length ? h("div", { class: "g-actions" }, actions) : null];
}

// The member's ○△× for every slot, and a comment, in a dialog.
function answer(ctx, e) {
  const s = data(e);
  const mine = e.view.my_answers || {};
  const me = (e.view.answers || []).find((a) => a.account === ctx.me.id);
  const comment = h("textarea", { id: "sch-comment", rows: 2, maxlength: 500, value: me ? me.comment : "" });
  const error = h("p", { class: "error", role: "alert" });
  const sets = s.slots.map((slot, i) => h("fieldset", { class: "g-answer" },
    h("legend", {}, slotText(slot), slot.label ? ` ${slot.label}` : ""),
    h("div", { class: "g-marks" }, Object.entries(MARKS).map(([k, [sym, word]]) =>
      h("label", { class: "radio g-choice" }, h("input", { type: "radio", name: `sch-${i}`, value: k, checked: mine[slot.id] === k,
        dataset: { slot: slot.id } }), h("span", { class: `g-mark g-${k}`, "aria-hidden": "true" }, sym), word)))));
  const form = h("form", { class: "form", novalidate: true }, h("p", { class: "muted" }, s.title), sets,
    field("sch-comment", "コメント（任意）", comment), error,
    h("div", { class: "form-actions" },
      h("button", { type: "button", class: "btn secondary", onclick: () => d.close() }, "やめる"),
      h("button", { type: "submit", class: "btn" }, "回答する")));
  const d = dialog("日程調整に回答", form);
  (form.querySelector("input:checked") || form.querySelector("input")).focus();
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const answers = {};
    for (const i of form.querySelectorAll("input:checked")) answers[i.dataset.slot] = i.value;
    if (!Object.keys(answers).length) { error.textContent = "少なくとも 1 つの候補に ○・△・× を選んでください。"; return; }
    try {
      gotView(ctx, e, await post(`/api/v1/schedules/${s.id}/answers`, { answers, comment: comment.value }));
      d.close();
      announce("日程調整に回答しました");
    } catch (err) {
      showError(form, error, err, (f) => (f === "comment" ? comment : null));
      if (err.code === "comment_too_long") error.textContent = "コメントは 500 文字までにしてください。";
    }
  });
}

function decide(ctx, e) {
  const s = data(e);
  const error = h("p", { class: "error", role: "alert" });
  const form = h("form", { class: "form", novalidate: true },
    h("fieldset", {}, h("legend", {}, "決定する日程"), s.slots.map((slot) =>
      h("label", { class: "radio" }, h("input", { type: "radio", name: "sch-decide", value: slot.id }),
        `${slotText(slot)}${slot.label ? ` ${slot.label}` : ""}（○${slot.yes} △${slot.maybe} ×${slot.no}）`))),
    h("p", { class: "hint" }, "決定すると、トークに決定のお知らせが投稿され、回答は締め切られます。"), error,
    h("div", { class: "form-actions" },
      h("button", { type: "button", class: "btn secondary", onclick: () => d.close() }, "やめる"),
      h("button", { type: "submit", class: "btn" }, "この日程に決定する")));
  const d = dialog("日程を決定する", form);
  const best = [...s.slots].sort((a, b) => b.yes - a.yes || b.maybe - a.maybe)[0];
  const pick = form.querySelector(`input[value="${best.id}"]`);
  pick.checked = true;
  pick.focus();
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const chosen = form.querySelector("input:checked");
    try {
      const view = await post(`/api/v1/schedules/${s.id}/decide`, { slot: chosen.value });
      d.close();
      gotView(ctx, e, view);
      if (view.announcement) ctx.messageArrived(view.announcement);
      announce("日程を決定しました");
    } catch (err) {
      showError(form, error, err);
    }
  });
}

// An answer event: that member's row replaced (or added); a decision is in the summary.
function merge(ctx, e, ev) {
  const v = Object.assign(e.view, ev.schedule);
  if (!ev.answer) return;
  const answers = v.answers || [];
  const i = answers.findIndex((a) => a.account === ev.answer.account);
  if (i >= 0) answers[i] = ev.answer; else answers.push(ev.answer);
  v.answers = answers;
  if (ev.answer.account === ctx.me.id) v.my_answers = ev.answer.answers;
}

liveCard("schedule", "/api/v1/schedules/", draw, merge);

function createSchedule(ctx, room) {
  const title = h("input", { id: "sch-title", type: "text", maxlength: 200, required: true, autocomplete: "off" });
  const list = h("ol", { class: "g-slots-edit" });
  const add = h("button", { type: "button", class: "btn secondary small" }, "＋ 候補を追加");
  const closes = h("input", { id: "sch-closes", type: "datetime-local", min: localValue(new Date()) });
  const rows = () => [...list.children].map((li) => li.kkSlot);
  const renumber = () => {
    [...list.children].forEach((li, i) => {
      li.querySelector("legend").textContent = `候補 ${i + 1}`;
      for (const [k, input] of Object.entries(li.kkSlot)) input.id = `sch-${k}-${i}`;
      for (const label of li.querySelectorAll("label")) label.htmlFor = `sch-${label.dataset.k}-${i}`;
      const remove = li.querySelector(".icon-btn");
      remove.setAttribute("aria-label", `候補 ${i + 1} を削除`);
      remove.hidden = list.children.length === 1; // one candidate at least
    });
    add.disabled = list.children.length >= 30;
  };
  const row = (date = "", start = "", end = "") => {
    const slot = { date: h("input", { type: "date", value: date, required: true }),
      start: h("input", { type: "time", value: start, required: true }),
      end: h("input", { type: "time", value: end }),
      label: h("input", { type: "text", maxlength: 100, autocomplete: "off" }) };
    const lab = (k, text) => h("div", { class: "field" }, h("label", { dataset: { k } }, text), slot[k]);
    const remove = h("button", { type: "button", class: "icon-btn small" }, "×");
    const li = h("li", {}, h("fieldset", { class: "g-slot" }, h("legend", {}),
      lab("date", "日付"), lab("start", "開始"), lab("end", "終了（任意）"), lab("label", "場所・メモ（任意）"), remove));
    li.kkSlot = slot;
    remove.addEventListener("click", () => {
      const next = li.nextElementSibling || li.previousElementSibling;
      li.remove();
      renumber();
      next.querySelector("input").focus();
    });
    return li;
  };
  list.append(row());
  renumber();
  add.addEventListener("click", () => {
    // The next day at the same times: how candidate dates are usually listed.
    const last = rows().at(-1);
    let date = "";
    if (last.date.value) {
      const d = new Date(`${last.date.value}T00:00`);
      d.setDate(d.getDate() + 1);
      date = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
    }
    const li = row(date, last.start.value, last.end.value);
    list.append(li);
    renumber();
    li.kkSlot.date.focus();
  });
  createForm(ctx, room, {
    heading: "日程調整を作る", path: "schedules", posted: "日程調整を投稿しました", focus: title,
    fields: [field("sch-title", "タイトル", title),
      h("fieldset", { class: "g-fieldset" }, h("legend", {}, "候補日時"), list, add),
      field("sch-closes", "回答の締切（任意）", closes, "空欄なら、作成者が日程を決めるまで回答できます。")],
    body: (error) => {
      if (!title.value.trim()) { error.textContent = "タイトルを入力してください。"; title.focus(); return null; }
      const slots = [];
      for (const [i, r] of rows().entries()) {
        if (!r.date.value || !r.start.value) {
          error.textContent = `候補 ${i + 1} の日付と開始時刻を入力してください。`;
          (r.date.value ? r.start : r.date).focus();
          return null;
        }
        const slot = { start: isoFromLocal(r.date.value, r.start.value) };
        if (r.end.value) slot.end = isoFromLocal(r.date.value, r.end.value);
        if (r.label.value.trim()) slot.label = r.label.value;
        slots.push(slot);
      }
      const body = { title: title.value, slots };
      if (closes.value) body.closes_at = isoFromLocal(closes.value);
      return body;
    },
    fieldFor: (f) => {
      if (f === "title") return title;
      if (f === "closes_at") return closes;
      const m = /^slots\[(\d+)\](?:\.(\w+))?/.exec(f);
      const r = m && rows()[Number(m[1])];
      return r ? r[m[2] || "date"] || r.date : null;
    },
    onRefused: (err, error) => {
      if (err.code === "invalid_slot") {
        error.textContent = /\.end$/.test(err.details.field || "")
          ? "終了時刻は開始時刻より後にしてください。" : "同じ候補日時が 2 つあります。";
      }
    },
  });
}

registerComposerAction("日程調整", createSchedule);
