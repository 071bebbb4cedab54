// ノート: a longer text a room keeps and its members edit together (議事録, 手順, 連絡先).
// Written from the composer's 「＋」 (ノート: title and body), announced in the talk by a
// card that opens it, listed per room (「＋」 → ノート一覧, and from every open note),
// edited in place with its version number, and every saved version readable.
//
// Saving sends the version the writer started from (`base_version`): when someone
// else saved in between, relayd refuses with `note_conflict` and overwrites nothing.
// The editor then says who saved which version when, keeps what the writer typed, and
// offers the newer text beside it, so the writer merges and saves on top knowingly.
// `note.updated` refreshes an open note and the card; while editing, it only warns.

import { h, clear, dialog, announce } from "./dom.js";
import { get, post, patch, newClientId } from "./api.js";
import { dateTime } from "./format.js";
import { registerContent } from "./cards.js";
import { registerComposerAction, registerEvent } from "./extend.js";

const TITLE_MAX = 200;
const BODY_MAX = 50000;

function meta(ctx, note) {
  return `第 ${note.version} 版・${ctx.personName(note.updated_by)}・${dateTime(new Date(note.updated_at))}`;
}

function refusal(err) {
  return err.code === "my_number_blocked"
    ? "個人番号（マイナンバー）が含まれているため保存できません。番号を消してください。" : err.message;
}

registerContent("note", (m, ctx) => {
  const note = m.note;
  if (!note) return h("p", { class: "text" }, m.body);
  return h("div", { class: "note-card" },
    h("p", { class: "card-kind" }, "ノート"),
    h("p", { class: "note-title" }, note.title),
    h("p", { class: "note-meta muted" }, meta(ctx, note)),
    h("button", { type: "button", class: "btn secondary small", "aria-label": `ノート「${note.title}」を開く`,
      onclick: () => openNote(ctx, note.id) }, "ノートを開く"));
});

// ---------------------------------------------------------------- writing one
function newNote(ctx, room) {
  const title = h("input", { id: "note-new-title", maxlength: TITLE_MAX, required: true });
  const body = h("textarea", { id: "note-new-body", class: "note-body-input", rows: 8, maxlength: BODY_MAX });
  const error = h("p", { class: "error", role: "alert" });
  const submit = h("button", { type: "submit", class: "btn" }, "ノートを作る");
  const form = h("form", { class: "form" },
    h("label", { for: title.id }, "タイトル"), title,
    h("label", { for: body.id }, "本文"), body, error,
    h("div", { class: "form-actions" },
      h("button", { type: "button", class: "btn secondary", onclick: () => d.close() }, "やめる"), submit));
  const d = dialog("ノートを作る", form);
  d.classList.add("wide-dialog");
  title.focus();
  const key = newClientId();
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!title.value.trim()) { error.textContent = "タイトルを入力してください。"; title.focus(); return; }
    submit.disabled = true;
    try {
      const note = await post(`/api/v1/rooms/${room.id}/notes`, { title: title.value, body: body.value, client_id: key });
      d.close();
      announce(`ノート「${note.title}」を作りました`);
    } catch (err) {
      error.textContent = refusal(err);
    } finally {
      submit.disabled = false;
    }
  });
}

// ---------------------------------------------------------------- a room's notes
async function noteList(ctx, room) {
  let notes;
  try {
    notes = (await get(`/api/v1/rooms/${room.id}/notes`)).notes;
  } catch (err) { ctx.toast(err.message); return; }
  const d = dialog(`ノート一覧（${ctx.roomName(room)}）`, h("div", { class: "note-list" },
    notes.length ? h("ul", { class: "plain-list" }, notes.map((n) => h("li", {},
      h("button", { type: "button", class: "note-row", onclick: () => { d.close(); openNote(ctx, n.id); } },
        h("span", { class: "note-title" }, n.title), h("span", { class: "note-meta" }, meta(ctx, n))))))
      : h("p", { class: "muted" }, "このトークにはまだノートがありません。「＋」→「ノート」で作れます。"),
    h("div", { class: "form-actions" }, h("button", { type: "button", class: "btn",
      onclick: () => { d.close(); newNote(ctx, room); } }, "新しいノート"))));
  d.classList.add("wide-dialog");
  const first = d.querySelector(".note-row");
  if (first) first.focus();
}

registerComposerAction("ノート", (ctx, room) => newNote(ctx, room));
registerComposerAction("ノート一覧", (ctx, room) => noteList(ctx, room));

// ---------------------------------------------------------------- one note
let openView = null; // the NoteView on screen, for note.updated

class NoteView {
  constructor(ctx, note) {
    this.ctx = ctx;
    this.note = note;
    this.mode = "read";
    this.content = h("div", { class: "note-view" });
    this.d = dialog(note.title, this.content, { onClose: () => { if (openView === this) openView = null; } });
    this.d.classList.add("wide-dialog");
    this.heading = this.d.querySelector("h2");
    // Esc and × would drop an unsaved edit with the dialog: ask first.  (A capture
    // listener on × runs before the one dom.js closes the dialog with.)
    this.d.addEventListener("cancel", (e) => { if (!this.mayLeave()) e.preventDefault(); });
    this.d.querySelector(".dialog-head .icon-btn").addEventListener("click", (e) => {
      if (!this.mayLeave()) e.stopImmediatePropagation();
    }, { capture: true });
    openView = this;
    this.read();
  }

  dirty() {
    return this.mode === "edit" && (this.title.value !== this.startTitle || this.body.value !== this.startBody);
  }

  mayLeave() {
    return !this.dirty() || window.confirm("保存していない変更があります。破棄してよろしいですか？");
  }

  setNote(note) {
    this.note = note;
    this.heading.textContent = note.title;
  }

  read() {
    this.mode = "read";
    const { ctx, note } = this;
    const room = ctx.rooms.find((r) => r.id === note.room_id);
    const edit = h("button", { type: "button", class: "btn", onclick: () => this.edit() }, "編集する");
    clear(this.content,
      h("p", { class: "note-meta muted", role: "status" }, meta(ctx, note)),
      h("div", { class: "note-body", role: "region", tabindex: "0", "aria-label": "本文" },
        note.body ? note.body : h("span", { class: "muted" }, "（本文はありません）")),
      h("div", { class: "form-actions" },
        room ? h("button", { type: "button", class: "btn secondary", onclick: () => { this.d.close(); noteList(ctx, room); } },
          "ノート一覧") : null,
        h("button", { type: "button", class: "btn secondary", onclick: () => this.versions() }, "版の履歴"),
        edit));
    edit.focus();
  }

  edit() {
    this.mode = "edit";
    const { note } = this;
    this.base = note.version;
    this.startTitle = note.title;
    this.startBody = note.body;
    this.title = h("input", { id: "note-edit-title", maxlength: TITLE_MAX, required: true, value: note.title });
    this.body = h("textarea", { id: "note-edit-body", class: "note-body-input", rows: 8, maxlength: BODY_MAX,
      value: note.body });
    this.warning = h("div", { class: "note-warning", role: "alert", hidden: true });
    this.newer = h("div", { class: "note-newer", hidden: true });
    this.error = h("p", { class: "error", role: "alert" });
    const save = h("button", { type: "submit", class: "btn" }, "保存する");
    const form = h("form", { class: "form" },
      h("p", { class: "note-meta muted" }, `第 ${this.base} 版を編集しています`),
      this.warning, this.newer,
      h("label", { for: this.title.id }, "タイトル"), this.title,
      h("label", { for: this.body.id }, "本文"), this.body, this.error,
      h("div", { class: "form-actions" },
        h("button", { type: "button", class: "btn secondary", onclick: () => { if (this.mayLeave()) this.read(); } }, "やめる"),
        save));
    form.addEventListener("submit", (e) => { e.preventDefault(); this.save(save); });
    clear(this.content, form);
    this.body.focus();
  }

  async save(button) {
    if (!this.title.value.trim()) { this.error.textContent = "タイトルを入力してください。"; return; }
    button.disabled = true;
    this.saving = true;
    this.error.textContent = "";
    try {
      const note = await patch(`/api/v1/notes/${this.note.id}`,
        { title: this.title.value, body: this.body.value, base_version: this.base });
      this.setNote(note);
      noteChanged(this.ctx, note);
      announce(`ノートを保存しました（第 ${note.version} 版）`);
      this.read();
    } catch (err) {
      if (err.code === "note_conflict") this.conflict(err.details);
      else this.error.textContent = refusal(err);
    } finally {
      button.disabled = false;
      this.saving = false;
    }
  }

  // Refused: someone saved after the version this edit started from.
  conflict(details) {
    const who = this.ctx.personName(details.updated_by);
    const when = details.updated_at ? dateTime(new Date(details.updated_at)) : "";
    clear(this.warning,
      h("p", { class: "note-warning-title" }, "保存できませんでした：ほかの人が先に更新しています"),
      h("p", {}, `${who} さんが ${when} に第 ${details.version} 版を保存しました。あなたは第 ${this.base} 版から編集していたため、`,
        "上書きしないように保存を止めました。あなたの入力は下に残っています。"),
      h("button", { type: "button", class: "btn secondary small", onclick: () => this.loadNewer() },
        `第 ${details.version} 版を表示して見比べる`));
    this.warning.hidden = false;
    this.warning.querySelector("button").focus();
  }

  // The newer text beside the writer's own; saving now builds on it.
  async loadNewer() {
    try {
      const note = await get(`/api/v1/notes/${this.note.id}`);
      this.setNote(note);
      this.base = note.version;
    this.startTitle = note.title;
    this.startBody = note.body;
      clear(this.newer, h("p", { class: "note-warning-title" }, `最新の内容（${meta(this.ctx, note)}）`),
        h("div", { class: "note-body", role: "region", tabindex: "0", "aria-label": `第 ${note.version} 版の本文` }, note.body));
      this.newer.hidden = false;
      clear(this.warning, h("p", {}, `第 ${note.version} 版の内容を上に表示しました。必要なところを入力欄に取り込んでから「保存する」を押すと、第 ${note.version + 1} 版として保存されます。`));
      this.content.querySelector(".note-meta").textContent = `第 ${note.version} 版の上に編集しています`;
      this.body.focus();
    } catch (err) {
      this.error.textContent = err.message;
    }
  }

  async versions() {
    this.mode = "versions";
    let data;
    try {
      data = await get(`/api/v1/notes/${this.note.id}/versions`);
    } catch (err) { this.ctx.toast(err.message); return; }
    const back = h("button", { type: "button", class: "btn secondary", onclick: () => this.read() }, "ノートに戻る");
    clear(this.content,
      h("p", { class: "muted" }, `${data.versions.length} 版（新しい順）`),
      h("ul", { class: "note-versions" }, [...data.versions].reverse().map((v) => h("li", {},
        h("details", {}, h("summary", {}, `第 ${v.version} 版・${this.ctx.personName(v.saved_by)}・${dateTime(new Date(v.saved_at))}`,
          v.title !== this.note.title ? `（${v.title}）` : ""),
        h("div", { class: "note-body" }, v.body || "（本文なし）"))))),
      h("div", { class: "form-actions" }, back));
    back.focus();
  }

  // note.updated for this note.
  updated(note) {
    if (note.version <= this.note.version && this.mode !== "edit") return;
    if (this.mode === "edit") {
      // Our own save's event may come before its answer.
      if (note.version <= this.base || (this.saving && note.updated_by === this.ctx.me.id)) return;
      clear(this.warning, h("p", {}, `編集中に ${this.ctx.personName(note.updated_by)} さんが第 ${note.version} 版を保存しました。`,
        "このまま保存すると止められます。先に最新の内容を確認してください。"),
      h("button", { type: "button", class: "btn secondary small", onclick: () => this.loadNewer() }, `第 ${note.version} 版を表示する`));
      this.warning.hidden = false;
      return;
    }
    this.setNote(note);
    if (this.mode === "read") this.read();
    announce(`ノート「${note.title}」が ${this.ctx.personName(note.updated_by)} さんにより更新されました（第 ${note.version} 版）`);
  }
}

async function openNote(ctx, id) {
  try {
    const note = await get(`/api/v1/notes/${id}`);
    if (openView) openView.d.close();
    return new NoteView(ctx, note);
  } catch (err) {
    ctx.toast(err.message);
    return null;
  }
}

// The card of the note's message (if its talk is open) shows the new version.
function noteChanged(ctx, note) {
  const talk = ctx.talk;
  if (!talk.room || talk.room.id !== note.room_id) return;
  const m = talk.messages.find((x) => x.id === note.message_id);
  if (!m || !m.note) return;
  const { body, ...summaryNote } = note; // the card carries no body, as relayd sends it
  void body;
  talk.changed({ ...m, note: summaryNote });
}

registerEvent("note.updated", (ctx, ev) => {
  noteChanged(ctx, ev.note);
  if (openView && openView.note.id === ev.note.id) openView.updated(ev.note);
});
