// アンケート (polls): made from 「＋」 → 「アンケート」 (a question, 2–50 options, 複数選択,
// 匿名, an optional 締切), drawn in the talk as a card with each option's count and bar.
// A member votes and may change the vote until it closes; the creator closes it; who
// voted for what opens on a tap unless the poll is anonymous. Counts change live for
// everyone (`poll.updated`, through gather.js).

import { h, dialog, announce } from "./dom.js";
import { post } from "./api.js";
import { registerComposerAction } from "./extend.js";
import { liveCard, data, isClosed, gotView, redraw, cardHead, bar, when, names, confirmDialog,
  field, optionList, isoFromLocal, localValue, createForm } from "./gather.js";

let drawn = 0; // radio groups of different cards never share a name

function draw(ctx, e) {
  const p = data(e);
  const closed = isClosed(ctx, e, p);
  const loaded = !!e.view;
  const mine = new Set(p.my_votes || []);
  const own = p.creator === ctx.me.id;
  const group = `poll-${p.id}-${++drawn}`;
  const opts = p.options.map((o) => h("label", { class: `g-opt${mine.has(o.id) ? " mine" : ""}` },
    h("input", { type: p.multiple ? "checkbox" : "radio", name: group, value: o.id, checked: mine.has(o.id),
      disabled: closed || !loaded, dataset: { keep: `o${o.id}` } }),
    h("span", { class: "g-opt-text" },
      h("span", { class: "g-opt-label" }, o.label, mine.has(o.id) ? h("span", { class: "g-you" }, "（あなた）") : null),
      h("span", { class: "g-count" }, `${o.count} 票`), bar(o.count, p.voters))));
  const actions = [];
  if (!closed && loaded) {
    actions.push(h("button", { type: "submit", class: "btn small", dataset: { keep: "vote" } },
      mine.size ? "投票を変更する" : "投票する"));
    if (mine.size) actions.push(h("button", { type: "button", class: "btn secondary small", dataset: { keep: "undo" },
      onclick: () => vote(ctx, e, []) }, "投票を取り消す"));
  }
  if (!p.anonymous && loaded && p.voters) actions.push(h("button", { type: "button", class: "btn secondary small",
    "aria-haspopup": "dialog", dataset: { keep: "who" }, onclick: () => voters(ctx, e) }, "投票した人"));
  if (own && !closed && loaded) actions.push(h("button", { type: "button", class: "btn secondary small", dataset: { keep: "close" },
    onclick: () => confirmDialog("アンケートを締め切る", "締め切ると、これ以降は誰も投票できません。", "締め切る", () => close(ctx, e)) }, "締め切る"));
  const form = h("form", { class: "g-form" },
    h("fieldset", { class: "g-plain" }, h("legend", { class: "visually-hidden" }, `${p.question}（${p.multiple ? "複数選択可" : "1 つ選択"}）`), opts),
    h("p", { class: "g-status" }, `${p.voters} 人が投票`,
      closed ? h("strong", { class: "g-closed" }, "締め切りました") : p.closes_at ? `・締切 ${when(p.closes_at)}` : null),
    actions.length ? h("div", { class: "g-actions" }, actions) : null);
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const chosen = [...form.querySelectorAll("input:checked")].map((i) => i.value);
    if (!chosen.length) { e.error = "選択肢を選んでから「投票する」を押してください。"; redraw(ctx, e); return; }
    vote(ctx, e, chosen);
  });
  return [cardHead("アンケート", p.question, p.multiple ? "複数選択可" : null, p.anonymous ? "匿名" : null), form];
}

async function vote(ctx, e, options) {
  try {
    e.error = null;
    gotView(ctx, e, await post(`/api/v1/polls/${e.summary.id}/votes`, { options }));
    announce(options.length ? "投票しました" : "投票を取り消しました");
  } catch (err) {
    e.error = err.code === "poll_closed" ? "このアンケートは締め切られたため、投票できませんでした。" : err.message;
    redraw(ctx, e);
  }
}

async function close(ctx, e) {
  try {
    e.error = null;
    gotView(ctx, e, await post(`/api/v1/polls/${e.summary.id}/close`));
    announce("アンケートを締め切りました");
  } catch (err) {
    e.error = err.message;
    redraw(ctx, e);
  }
}

function voters(ctx, e) {
  const p = data(e);
  const votes = p.votes || {};
  dialog("投票した人", h("div", { class: "readers" }, p.options.map((o) => {
    const who = votes[o.id] || [];
    return [h("h3", {}, `${o.label}（${who.length} 人）`),
      who.length ? h("ul", {}, names(ctx, who).map((n) => h("li", {}, n))) : h("p", { class: "muted" }, "まだいません")];
  })));
}

// A vote event: the counts from the summary, the voter moved in `votes`.
function merge(ctx, e, ev) {
  const v = Object.assign(e.view, ev.poll);
  if (!ev.vote) return;
  const { account, options } = ev.vote;
  if (v.votes) {
    for (const k of Object.keys(v.votes)) v.votes[k] = v.votes[k].filter((id) => id !== account);
    for (const o of options) (v.votes[o] = v.votes[o] || []).push(account);
  }
  if (account === ctx.me.id) v.my_votes = options;
}

liveCard("poll", "/api/v1/polls/", draw, merge);

function createPoll(ctx, room) {
  const question = h("textarea", { id: "poll-question", rows: 2, maxlength: 200, required: true });
  const options = optionList("poll-opt", ["", ""], 50);
  const multiple = h("input", { id: "poll-multiple", type: "checkbox" });
  const anonymous = h("input", { id: "poll-anonymous", type: "checkbox" });
  const closes = h("input", { id: "poll-closes", type: "datetime-local", min: localValue(new Date()) });
  let filled = []; // the options as sent: a refusal names them by their index
  createForm(ctx, room, {
    heading: "アンケートを作る", path: "polls", posted: "アンケートを投稿しました", focus: question,
    fields: [field("poll-question", "質問", question),
      options.el,
      h("label", { class: "pick", for: "poll-multiple" }, multiple, "複数選択できるようにする"),
      h("label", { class: "pick", for: "poll-anonymous" }, anonymous, "匿名にする（誰が何を選んだかは作成者にも見えません）"),
      field("poll-closes", "締切（任意）", closes, "空欄なら、作成者が締め切るまで投票できます。")],
    body: (error) => {
      filled = options.inputs().filter((i) => i.value.trim());
      if (!question.value.trim()) { error.textContent = "質問を入力してください。"; question.focus(); return null; }
      if (filled.length < 2) {
        error.textContent = "選択肢を 2 つ以上入力してください。";
        options.inputs().find((i) => !i.value.trim()).focus();
        return null;
      }
      const body = { question: question.value, options: filled.map((i) => i.value), multiple: multiple.checked,
        anonymous: anonymous.checked };
      if (closes.value) body.closes_at = isoFromLocal(closes.value);
      return body;
    },
    fieldFor: (f) => (f === "title" || f === "question" ? question : f === "closes_at" ? closes
      : filled[Number((/^options\[(\d+)\]/.exec(f) || [])[1])] || null),
  });
}

registerComposerAction("アンケート", createPoll);
