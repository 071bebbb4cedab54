// 参集確認 (roll call): who can come, after an earthquake or on a Sunday morning. Made
// from 「＋」 → 「参集確認」 (a title, an optional needed count, options defaulting to
// 参集可 / 遅れて参集 / 参集不可; relayd always sends it urgent). The card shows the live
// tally against the needed count; a member answers with one big button per option,
// with an optional ETA in minutes and a comment. The creator sees who has not
// answered, reminds them (they get a toast) and closes it. Once enough are coming, a
// member who has not answered reads 「必要な人数が揃いました…」 and need not come.

import { h, announce } from "./dom.js";
import { post } from "./api.js";
import { registerComposerAction, registerEvent } from "./extend.js";
import { liveCard, data, gotView, redraw, cardHead, bar, names, confirmDialog, field, optionList,
  createForm } from "./gather.js";

const DEFAULTS = ["参集可", "遅れて参集", "参集不可"];

function describe(a) {
  return [a.option, a.eta_minutes !== null && a.eta_minutes !== undefined ? `（${a.eta_minutes} 分後）` : "",
    a.comment ? `「${a.comment}」` : ""].join("");
}

function draw(ctx, e) {
  const r = data(e);
  const v = e.view;
  const own = r.creator === ctx.me.id;
  const coming = r.tally[r.options[0]] || 0;
  const mine = v && v.my_answer;
  const parts = [cardHead("参集確認", r.title, r.needed ? `必要 ${r.needed} 人` : null)];
  if (r.closed) parts.push(h("p", { class: "g-banner" }, "この参集確認は終了しました。"));
  else if (r.filled && !(v && v.notice)) parts.push(h("p", { class: "g-banner g-ok" }, "必要な人数が揃いました"));
  if (r.needed) parts.push(h("p", { class: "g-progress" }, `${r.options[0]} ${coming} 人／必要 ${r.needed} 人`, bar(Math.min(coming, r.needed), r.needed)));
  parts.push(h("ul", { class: "g-tally", "aria-label": "回答の集計" },
    r.options.map((o, i) => h("li", { class: i === 0 ? "g-first" : null }, h("span", {}, o), h("strong", {}, `${r.tally[o] || 0} 人`))),
    h("li", { class: "g-none" }, h("span", {}, "未回答"), h("strong", {}, `${r.unanswered_count} 人`))));
  if (v && v.notice) parts.push(h("p", { class: "g-notice" }, v.notice));
  if (mine) parts.push(h("p", { class: "g-mine" }, "あなたの回答：", h("strong", {}, describe(mine))));
  if (v && !r.closed) {
    const eta = h("input", { type: "number", min: 0, max: 1440, step: 1, inputmode: "numeric", dataset: { keep: "eta" },
      value: mine && mine.eta_minutes !== null ? String(mine.eta_minutes) : "" });
    const comment = h("input", { type: "text", maxlength: 500, autocomplete: "off", dataset: { keep: "comment" }, value: mine ? mine.comment : "" });
    parts.push(h("div", { class: "g-answer-box" },
      h("div", { class: "g-fields" }, h("label", { class: "g-inline" }, "到着まで（分・任意）", eta),
        h("label", { class: "g-inline" }, "コメント（任意）", comment)),
      h("div", { class: "g-big", role: "group", "aria-label": mine ? "回答を変更する" : "回答する" }, r.options.map((o, i) =>
        h("button", { type: "button", class: `btn g-answer-btn${i === 0 ? "" : " secondary"}`, "aria-pressed": String(!!mine && mine.option === o),
          dataset: { keep: `a${i}` }, onclick: () => answer(ctx, e, o, eta, comment) }, o)))));
  }
  if (v && v.answers.length) parts.push(h("details", { class: "g-list", dataset: { keep: "answers" } },
    h("summary", {}, `回答した人（${v.answers.length} 人）`),
    h("ul", {}, v.answers.map((a) => h("li", {}, h("span", { class: "g-name" }, names(ctx, [a.account])[0]), describe(a))))));
  if (v && own) {
    parts.push(h("details", { class: "g-list", dataset: { keep: "unanswered" } },
      h("summary", {}, `未回答の人（${v.unanswered.length} 人）`),
      v.unanswered.length ? h("ul", {}, names(ctx, v.unanswered).map((n) => h("li", {}, n))) : h("p", { class: "muted" }, "全員が回答しました")));
    if (!r.closed) parts.push(h("div", { class: "g-actions" },
      h("button", { type: "button", class: "btn secondary small", disabled: !v.unanswered.length, dataset: { keep: "remind" },
        onclick: () => remind(ctx, e) }, "未回答の人に再通知"),
      h("button", { type: "button", class: "btn secondary small", dataset: { keep: "close" },
        onclick: () => confirmDialog("参集確認を終了する", "終了すると、回答も再通知もできなくなります。", "終了する", () => close(ctx, e)) }, "終了する")));
  }
  return parts;
}

async function answer(ctx, e, option, etaInput, commentInput) {
  const body = { option };
  const eta = etaInput.value.trim();
  if (eta) {
    const n = Number(eta);
    if (!Number.isInteger(n) || n < 0 || n > 1440) {
      e.error = "到着までの時間は 0〜1440 分の整数で入力してください。";
      redraw(ctx, e);
      return;
    }
    body.eta_minutes = n;
  }
  if (commentInput.value.trim()) body.comment = commentInput.value;
  try {
    e.error = null;
    const got = await post(`/api/v1/rollcalls/${e.summary.id}/answers`, body);
    applyAnswers(ctx, e.view, [got.my_answer]);
    e.view.notice = null;
    gotView(ctx, e, got);
    announce(`「${option}」と回答しました`);
  } catch (err) {
    e.error = err.code === "rollcall_closed" ? "この参集確認は終了したため、回答できませんでした。"
      : err.code === "my_number_blocked" ? "個人番号（マイナンバー）と思われる番号がコメントに含まれています。番号を消してください。" : err.message;
    redraw(ctx, e);
  }
}

async function remind(ctx, e) {
  try {
    e.error = null;
    const { reminded } = await post(`/api/v1/rollcalls/${e.summary.id}/remind`);
    ctx.toast(`${reminded.length} 人に再通知しました。`);
    redraw(ctx, e);
  } catch (err) {
    e.error = err.code === "rate_limited"
      ? `再通知は 1 分に 1 回までです。${err.details.retry_after || ""} 秒ほど待ってからもう一度お試しください。` : err.message;
    redraw(ctx, e);
  }
}

async function close(ctx, e) {
  try {
    e.error = null;
    gotView(ctx, e, await post(`/api/v1/rollcalls/${e.summary.id}/close`));
    announce("参集確認を終了しました");
  } catch (err) {
    e.error = err.message;
    redraw(ctx, e);
  }
}

// Answers (from an event or our own) into the view: each member's one answer, and
// who is left without one.
function applyAnswers(ctx, v, list) {
  for (const a of list) {
    if (!a) continue;
    const i = v.answers.findIndex((x) => x.account === a.account);
    if (i >= 0) v.answers[i] = a; else v.answers.push(a);
    v.unanswered = v.unanswered.filter((id) => id !== a.account);
    if (a.account === ctx.me.id) v.my_answer = a;
  }
}

function merge(ctx, e, ev) {
  const v = Object.assign(e.view, ev.rollcall);
  const before = v.notice;
  applyAnswers(ctx, v, ev.answers || []);
  v.notice = v.filled && !v.my_answer ? ev.notice || v.notice || null : null;
  // Said once, when it becomes true (the card is drawn again at every answer).
  if (v.notice && !before) announce(`参集確認「${v.title}」：${v.notice}`);
}

liveCard("rollcall", "/api/v1/rollcalls/", draw, merge);

// Only the members without an answer get it (the creator too, if it has none).
registerEvent("rollcall.reminded", (ctx, ev) => {
  if (ev.by === ctx.me.id) return;
  const r = ev.rollcall;
  ctx.toast(ev.notice ? `参集確認「${r.title}」：${ev.notice}`
    : `${ctx.personName(ev.by)} さんから参集確認「${r.title}」への回答のお願いが届きました。`);
});

function createRollcall(ctx, room) {
  const title = h("input", { id: "rc-title", type: "text", maxlength: 200, required: true, autocomplete: "off" });
  const members = (room.members || []).length;
  const needed = h("input", { id: "rc-needed", type: "number", min: 1, max: members, step: 1, inputmode: "numeric" });
  const options = optionList("rc-opt", DEFAULTS, 10);
  let filled = []; // the options as sent: a refusal names them by their index
  createForm(ctx, room, {
    heading: "参集確認を作る", submitLabel: "緊急で送る", path: "rollcalls", posted: "参集確認を送りました", focus: title,
    fields: [field("rc-title", "タイトル", title, "例：震度5弱 本庁舎への参集確認"),
      field("rc-needed", "必要な人数（任意）", needed, `1〜${members} 人。揃うと、未回答の人に「揃いました」と表示されます。`),
      options.el,
      h("p", { class: "hint" }, "最初の選択肢が「参集する」の意味になり、必要な人数に数えられます。参集確認は緊急のお知らせとして届きます。")],
    body: (error) => {
      if (!title.value.trim()) { error.textContent = "タイトルを入力してください。"; title.focus(); return null; }
      filled = options.inputs().filter((i) => i.value.trim());
      if (filled.length < 2) { error.textContent = "選択肢を 2 つ以上入力してください。"; options.inputs().find((i) => !i.value.trim()).focus(); return null; }
      const body = { title: title.value, options: filled.map((i) => i.value) };
      if (needed.value.trim()) body.needed = Number(needed.value);
      if (body.needed !== undefined && !Number.isInteger(body.needed)) {
        error.textContent = "必要な人数は整数で入力してください。";
        needed.focus();
        return null;
      }
      return body;
    },
    fieldFor: (f) => (f === "title" ? title : f === "needed" ? needed
      : filled[Number((/^options\[(\d+)\]/.exec(f) || [])[1])] || null),
    onRefused: (err, error) => {
      if (err.code === "invalid_needed") {
        error.textContent = `必要な人数は 1〜${err.details.limit || members} 人にしてください。`;
        needed.setAttribute("aria-invalid", "true");
        needed.focus();
      }
    },
  });
}

registerComposerAction("参集確認", createRollcall);
