// 電話メモ (電話取次メモ): whoever took a call writes it down from 「＋」 → 「電話メモ」
// for a member of the room — who called, from where, the number, when, whether to call
// back, what it was about.  The card reads like the paper slip offices use (○○さんへ /
// △△様より / 折り返しお願いします / the number), and the recipient or the writer (the
// two relayd allows) marks it 対応済み; every member sees that live (`memo.updated`).

import { h, dialog, announce } from "./dom.js";
import { post, newClientId } from "./api.js";
import { dateTime } from "./format.js";
import { registerComposerAction, registerEvent } from "./extend.js";
import { registerContent } from "./cards.js";
import { inputValue, withOffset } from "./timed.js";

function field(id, label, input, hint) {
  return h("div", { class: "field" }, h("label", { for: id }, label), input,
    hint ? h("p", { id: `${id}-hint`, class: "hint" }, hint) : null);
}

function writeMemo(ctx, room) {
  const members = (room.members || []).slice().sort((a, b) => (a === ctx.me.id) - (b === ctx.me.id));
  const to = h("select", { id: "memo-to", required: true }, members.map((id) =>
    h("option", { value: id }, id === ctx.me.id ? `${ctx.personName(id)}（自分）` : ctx.personName(id))));
  const caller = h("input", { id: "memo-caller", type: "text", maxlength: 100, required: true, autocomplete: "off" });
  const org = h("input", { id: "memo-org", type: "text", maxlength: 100, autocomplete: "off" });
  const number = h("input", { id: "memo-number", type: "tel", maxlength: 40, autocomplete: "off",
    "aria-describedby": "memo-number-hint" });
  const when = h("input", { id: "memo-at", type: "datetime-local", required: true, value: inputValue(new Date()) });
  const callback = h("input", { id: "memo-callback", type: "checkbox", checked: true });
  const note = h("textarea", { id: "memo-note", rows: 2, maxlength: 1000 });
  const error = h("p", { class: "error", role: "alert" });
  const submit = h("button", { type: "submit", class: "btn" }, "メモを送る");
  const form = h("form", { class: "form memo-form", novalidate: true },
    field("memo-to", "だれあての電話ですか", to),
    // Two columns where the screen is wide enough (app.css .memo-pairs).
    h("div", { class: "memo-pairs" },
      field("memo-caller", "相手のお名前（必須）", caller),
      field("memo-org", "相手の会社・団体名", org),
      field("memo-number", "電話番号", number, "内線や携帯番号もそのまま書けます。"),
      field("memo-at", "受けた日時", when)),
    h("label", { class: "pick", for: "memo-callback" }, callback, "折り返しの電話をお願いされた"),
    field("memo-note", "用件・伝言", note),
    error,
    h("div", { class: "form-actions" },
      h("button", { type: "button", class: "btn secondary", onclick: () => d.close() }, "やめる"), submit));
  const d = dialog("電話メモ", form);
  form.addEventListener("input", () => { error.textContent = ""; });
  to.focus();

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.textContent = "";
    if (!caller.value.trim()) { error.textContent = "相手のお名前を入力してください。"; caller.focus(); return; }
    const at = new Date(when.value);
    if (Number.isNaN(at.getTime())) { error.textContent = "受けた日時を入力してください。"; when.focus(); return; }
    const body = { to: to.value, caller: caller.value, received_at: withOffset(at),
      callback: callback.checked, client_id: newClientId() };
    if (org.value.trim()) body.caller_org = org.value;
    if (number.value.trim()) body.number = number.value;
    if (note.value.trim()) body.note = note.value;
    submit.disabled = true;
    try {
      const message = await post(`/api/v1/rooms/${room.id}/memos`, body);
      d.close();
      ctx.messageArrived(message);
      announce(`${ctx.personName(body.to)} さんへの電話メモを送りました`);
    } catch (err) {
      submit.disabled = false;
      error.textContent = err.code === "invalid_time"
        ? "受けた日時は、この 1 年のうちの今までの日時にしてください。"
        : err.code === "my_number_blocked"
          ? "個人番号（マイナンバー）が含まれているため送れません。番号を消してください。" : err.message;
    }
  });
}

// The recipient or the writer marks it handled; the card changes from the answer
// here and from memo.updated everywhere else.
async function markDone(ctx, m, button) {
  button.disabled = true;
  try {
    const memo = await post(`/api/v1/memos/${m.memo.id}/done`);
    updated(ctx, m.room_id, m.id, memo);
    announce("電話メモを対応済みにしました");
  } catch (err) {
    button.disabled = false;
    ctx.toast(err.message);
  }
}

function updated(ctx, roomId, messageId, memo) {
  const talk = ctx.talk;
  if (!talk.room || talk.room.id !== roomId) return;
  const m = talk.messages.find((x) => x.id === messageId);
  if (m) talk.changed({ ...m, memo });
}

registerContent("memo", (m, ctx) => {
  const memo = m.memo;
  if (!memo) return h("p", { class: "text" }, "電話メモ");
  const mine = memo.to === ctx.me.id;
  const canMark = !memo.done && (mine || m.sender === ctx.me.id);
  // A tel: link only for a number that is nothing else (03-1234-5678, +81 …): one
  // with 内線 or a note would dial the wrong digits run together, so it stays text.
  const dialable = memo.number && /^\+?[0-9０-９()（）\-－‐ ]+$/.test(memo.number);
  const number = memo.number
    ? h("p", { class: "memo-number" }, h("span", { class: "memo-key" }, "電話番号"),
      dialable ? h("a", { href: `tel:${memo.number.normalize("NFKC").replace(/[^0-9+]/g, "")}` }, memo.number)
        : h("span", { class: "memo-digits" }, memo.number)) : null;
  const button = canMark ? h("button", { type: "button", class: "btn small memo-done-btn" }, "対応済みにする") : null;
  if (button) button.addEventListener("click", () => markDone(ctx, m, button));
  return h("div", { class: `memo-slip${memo.done ? " done" : ""}` },
    h("p", { class: "memo-head" }, h("span", { class: "memo-kind" }, "電話メモ"),
      memo.done ? h("span", { class: "memo-state done" }, "対応済み") : h("span", { class: "memo-state" }, "未対応")),
    h("p", { class: "memo-recipient" }, `${ctx.personName(memo.to)} さんへ`, mine ? h("span", { class: "memo-you" }, "（あなた）") : null),
    h("p", { class: "memo-from" }, memo.caller_org ? h("span", { class: "memo-org" }, memo.caller_org) : null,
      `${memo.caller} 様より`),
    h("p", { class: "memo-when" }, `${dateTime(new Date(memo.received_at))} にお電話がありました`),
    memo.callback ? h("p", { class: "memo-callback" }, "折り返しお願いします") : h("p", { class: "memo-nocallback" }, "折り返しは不要です"),
    number,
    memo.note ? h("p", { class: "memo-note" }, memo.note) : null,
    h("p", { class: "memo-by" }, `受付：${ctx.personName(m.sender)}`),
    memo.done ? h("p", { class: "memo-done" },
      `${ctx.personName(memo.done_by)} さんが ${dateTime(new Date(memo.done_at))} に対応しました`) : button);
});

registerEvent("memo.updated", (ctx, ev) => {
  updated(ctx, ev.room_id, ev.message_id, ev.memo);
  if (ev.memo.done && ev.memo.done_by !== ctx.me.id) {
    announce(`${ctx.personName(ev.memo.to)} さんあての電話メモ（${ev.memo.caller} 様）が対応済みになりました`);
  }
});

registerComposerAction("電話メモ", writeMemo);
