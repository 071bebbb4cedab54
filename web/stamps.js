// Stamps (スタンプ): relayd's set of text and emoji stamps, the picker used both to
// send a stamp message and to react to a message, and the reactions under a message
// (each stamp with its count; pressing one puts or takes back your own; 詳細 shows
// who reacted).

import { h, dialog } from "./dom.js";
import { get, put, del } from "./api.js";

export async function loadStamps(ctx) {
  try {
    for (const s of (await get("/api/v1/stamps")).stamps) ctx.stamps.set(s.id, s.label);
  } catch { /* without the set, stamps show as 「スタンプ」 */ }
}

export function stampLabel(ctx, id) {
  return ctx.stamps.get(id) || "スタンプ";
}

// An emoji-only stamp is drawn larger: a pictograph is read at a glance only when big.
export const isEmoji = (label) => /^[\p{Extended_Pictographic}\u200d\ufe0f]+$/u.test(label);

// A modal grid of stamps; onPick(stampId) when one is chosen.  Arrow keys move
// between stamps, Enter chooses, Esc closes.
export function pickStamp(ctx, title, onPick) {
  const buttons = [...ctx.stamps].map(([id, label]) => h("button", { type: "button", class: isEmoji(label) ? "stamp-choice emoji" : "stamp-choice",
    dataset: { stamp: id }, onclick: () => { d.close(); onPick(id); } }, label));
  const grid = h("div", { class: "stamp-grid", role: "group", "aria-label": "スタンプ" }, buttons);
  grid.addEventListener("keydown", (e) => {
    const i = buttons.indexOf(document.activeElement);
    if (i < 0) return;
    const cols = Math.max(1, Math.round(grid.clientWidth / buttons[0].offsetWidth) || 1);
    const step = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: cols, ArrowUp: -cols }[e.key];
    if (!step) return;
    e.preventDefault();
    buttons[Math.min(buttons.length - 1, Math.max(0, i + step))].focus();
  });
  const d = dialog(title, buttons.length ? grid : h("p", { class: "muted" }, "スタンプを読み込めませんでした。"));
  if (buttons.length) buttons[0].focus();
  return d;
}

export async function toggleReaction(ctx, m, stampId, on) {
  const path = `/api/v1/messages/${m.id}/reactions/${stampId}`;
  try {
    await (on ? put(path) : del(path));
    // Shown at once, even with the stream away; reaction.changed brings relayd's list.
    ctx.talk.ownReaction(m.id, stampId, on);
  } catch (err) {
    ctx.toast(err.message);
  }
}

// The row under a message: one toggle per stamp used, then 詳細 (who reacted).
export function reactionsRow(ctx, m) {
  const list = m.reactions || [];
  if (!list.length || m.deleted) return null;
  const chips = list.map((r) => {
    const mine = r.accounts.includes(ctx.me.id);
    const label = stampLabel(ctx, r.stamp);
    const names = r.accounts.map((id) => ctx.personName(id)).join("、");
    return h("button", { type: "button", class: `reaction${mine ? " mine" : ""}`, "aria-pressed": String(mine),
      title: names, dataset: { stamp: r.stamp },
      "aria-label": `${label} ${r.accounts.length} 人${mine ? "（あなたも）" : ""}。押すと${mine ? "取り消します" : "同じスタンプを付けます"}`,
      onclick: () => toggleReaction(ctx, m, r.stamp, !mine) },
    h("span", { class: "reaction-label" }, label), h("span", { class: "reaction-count" }, String(r.accounts.length)));
  });
  const who = h("button", { type: "button", class: "reaction-who", "aria-label": "リアクションした人を表示",
    onclick: () => showReactors(ctx, m) }, "詳細");
  return h("div", { class: "reactions" }, chips, who);
}

function showReactors(ctx, m) {
  dialog("リアクションした人", h("div", { class: "readers" }, (m.reactions || []).map((r) => [
    h("h3", {}, `${stampLabel(ctx, r.stamp)}（${r.accounts.length} 人）`),
    h("ul", {}, r.accounts.map((id) => h("li", {}, id === ctx.me.id ? `${ctx.personName(id)}（あなた）` : ctx.personName(id)))),
  ])));
}
