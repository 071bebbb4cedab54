// What can be done to one message, from its 「…」 menu: reply, react with a stamp,
// edit and delete your own text (an admin of the room may delete any message), and
// the earlier versions for the sender and admins.

import { h, dialog, announce } from "./dom.js";
import { get, patch, del } from "./api.js";
import { dateTime } from "./format.js";
import { pickStamp, toggleReaction } from "./stamps.js";
import { summary } from "./cards.js";
import { messageActions } from "./extend.js";

export function messageMenu(ctx, talk, m) {
  const own = m.sender === ctx.me.id;
  const admin = ctx.me.kind === "admin";
  const items = [];
  const item = (label, fn, cls = "") => items.push(h("button", { type: "button", class: `btn secondary menu-item ${cls}`,
    onclick: () => { d.close(); fn(); } }, label));
  if (!m.deleted) {
    item("返信", () => talk.composer.replyTo(m));
    item("リアクション", () => pickStamp(ctx, "リアクションを付ける", (id) => {
      const r = (m.reactions || []).find((x) => x.stamp === id);
      if (!r || !r.accounts.includes(ctx.me.id)) toggleReaction(ctx, m, id, true);
    }));
    if (own && (m.kind || "text") === "text") item("編集", () => editMessage(ctx, m));
    for (const a of messageActions) if (a.when(ctx, m)) item(a.label, () => a.run(ctx, talk, m));
  }
  if ((own || admin) && (m.edited_at || m.deleted)) item("編集履歴", () => showVersions(ctx, m));
  if (!m.deleted && (own || admin)) item(own ? "削除" : "削除（管理者）", () => deleteMessage(ctx, m), "danger-text");
  const preview = summary(m, ctx);
  const d = dialog("メッセージの操作", h("div", { class: "menu" },
    preview ? h("p", { class: "menu-preview" }, preview.length > 60 ? `${preview.slice(0, 60)}…` : preview) : null,
    items));
  if (items.length) items[0].focus();
  return d;
}

function editMessage(ctx, m) {
  const text = h("textarea", { id: "edit-text", rows: 4, maxlength: 10000, required: true, value: m.body });
  const error = h("p", { class: "error", role: "alert" });
  const form = h("form", { class: "form" },
    h("label", { for: "edit-text" }, "メッセージ"), text, error,
    h("div", { class: "form-actions" },
      h("button", { type: "button", class: "btn secondary", onclick: () => d.close() }, "やめる"),
      h("button", { type: "submit", class: "btn" }, "保存する")));
  const d = dialog("メッセージの編集", form);
  text.focus();
  text.setSelectionRange(text.value.length, text.value.length);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!text.value.trim()) { error.textContent = "メッセージが空です。削除するときは「削除」を選んでください。"; return; }
    try {
      const updated = await patch(`/api/v1/messages/${m.id}`, { body: text.value });
      d.close();
      ctx.messageChanged(updated);
      announce("メッセージを編集しました");
    } catch (err) {
      error.textContent = err.code === "my_number_blocked"
        ? "個人番号（マイナンバー）が含まれているため保存できません。番号を消してください。" : err.message;
    }
  });
}

function deleteMessage(ctx, m) {
  const error = h("p", { class: "error", role: "alert" });
  const ok = h("button", { type: "button", class: "btn danger" }, "削除する");
  const cancel = h("button", { type: "button", class: "btn secondary", onclick: () => d.close() }, "やめる");
  const d = dialog("メッセージの削除", h("div", {},
    h("p", {}, m.sender === ctx.me.id ? "このメッセージを削除しますか？ トークには「このメッセージは削除されました」と表示されます。"
      : `${ctx.personName(m.sender)} さんのメッセージを管理者として削除しますか？ 削除は監査ログに記録されます。`),
    error, h("div", { class: "form-actions" }, cancel, ok)));
  cancel.focus();
  ok.addEventListener("click", async () => {
    try {
      await del(`/api/v1/messages/${m.id}`);
      d.close();
      announce("メッセージを削除しました");
    } catch (err) { error.textContent = err.message; }
  });
}

async function showVersions(ctx, m) {
  try {
    const { versions } = await get(`/api/v1/messages/${m.id}/versions`);
    dialog("編集履歴", versions.length ? h("ol", { class: "versions" }, versions.map((v) => h("li", {},
      h("p", { class: "muted" }, `${dateTime(new Date(v.written_at))} に書かれ、${dateTime(new Date(v.replaced_at))} に${
        v.change === "delete" ? "削除" : "編集"}（${ctx.personName(v.replaced_by)}）`),
      h("p", { class: "text" }, v.body))))
      : h("p", { class: "muted" }, "以前の版はありません。"));
  } catch (err) {
    ctx.toast(err.message);
  }
}
