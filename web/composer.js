// Writing: Enter sends and Shift+Enter breaks the line (or, as the settings say,
// Ctrl+Enter sends and Enter breaks it) -- except while a Japanese IME is composing,
// when Enter confirms the conversion and must never send.  Drafts are kept per room
// in memory only (nothing at rest on a shared PC).  Files come from the 添付 button,
// the camera on phones, paste or drop, with a progress bar each; スタンプ sends a
// stamp; a reply shows what it answers above the box; @ suggests members.

import { h, clear, announce, dialog } from "./dom.js";
import { upload } from "./api.js";
import { pickStamp } from "./stamps.js";
import { Mentions } from "./mentions.js";
import { summary } from "./cards.js";
import { prefs } from "./prefs.js";
import { composerActions } from "./extend.js";
import { canAnnotate, offerAnnotation } from "./annotate.js";

export class Composer {
  constructor(ctx) {
    this.ctx = ctx;
    this.roomId = null;
    this.composing = false;
    this.input = h("textarea", { id: "composer-text", class: "composer-text", rows: 1,
      placeholder: "メッセージを入力", "aria-label": "メッセージ",
      "aria-describedby": "composer-hint", enterkeyhint: "send" });
    this.error = h("p", { class: "error composer-error", role: "alert" });
    this.uploads = h("div", { class: "uploads", "aria-live": "polite" });
    this.file = h("input", { type: "file", multiple: true, class: "visually-hidden",
      tabindex: "-1", "aria-hidden": "true" });
    this.camera = h("input", { type: "file", accept: "image/*", capture: "environment",
      class: "visually-hidden", tabindex: "-1", "aria-hidden": "true" });
    const coarse = window.matchMedia("(pointer: coarse)").matches;
    this.sendBtn = h("button", { type: "submit", class: "btn send" }, "送信");
    this.replying = null;
    this.replyBar = h("div", { class: "reply-bar", hidden: true });
    this.mentions = new Mentions(ctx, this.input);
    this.hint = h("p", { id: "composer-hint", class: "hint" });
    this.el = h("form", { class: "composer", "aria-label": "メッセージの作成" },
      this.uploads, this.error, this.replyBar, this.mentions.list,
      h("div", { class: "composer-row" },
        h("button", { type: "button", class: "btn secondary attach", onclick: () => this.file.click() }, "添付"),
        coarse ? h("button", { type: "button", class: "btn secondary", onclick: () => this.camera.click() }, "写真") : null,
        h("button", { type: "button", class: "btn secondary stamp-btn", "aria-haspopup": "dialog",
          onclick: () => pickStamp(ctx, "スタンプを送る", (id) => this.sendStamp(id)) }, "スタンプ"),
        h("button", { type: "button", class: "btn secondary more-btn", "aria-haspopup": "dialog",
          "aria-label": "その他の投稿（アンケート・日程調整など）", onclick: () => this.moreMenu() }, "＋"),
        this.input, this.sendBtn),
      this.hint, this.file, this.camera);
    this.showHint();

    this.el.addEventListener("submit", (e) => { e.preventDefault(); this.send(); });
    this.input.addEventListener("compositionstart", () => { this.composing = true; });
    this.input.addEventListener("compositionend", () => { this.composing = false; });
    this.input.addEventListener("keydown", (e) => this.keydown(e));
    this.input.addEventListener("input", () => {
      this.ctx.drafts.set(this.roomId, this.input.value);
      this.error.textContent = "";
      this.grow();
    });
    this.input.addEventListener("paste", (e) => {
      const files = Array.from(e.clipboardData ? e.clipboardData.files : []);
      if (files.length) { e.preventDefault(); this.sendFiles(files); }
    });
    // Files dropped anywhere on the composer are sent like chosen ones.
    this.el.addEventListener("dragover", (e) => {
      if (e.dataTransfer && Array.from(e.dataTransfer.types).includes("Files")) e.preventDefault();
    });
    this.el.addEventListener("drop", (e) => {
      const files = Array.from(e.dataTransfer ? e.dataTransfer.files : []);
      if (files.length) { e.preventDefault(); this.sendFiles(files); }
    });
    for (const input of [this.file, this.camera]) {
      input.addEventListener("change", () => { this.sendFiles(Array.from(input.files)); input.value = ""; });
    }
  }

  // 「＋」: what the feature modules let a member post (extend.js).
  moreMenu() {
    const room = this.ctx.current;
    const usable = composerActions.filter((a) => a.when(this.ctx, room));
    const d = dialog("投稿する", h("div", { class: "menu" }, usable.length ? usable.map((a) =>
      h("button", { type: "button", class: "btn secondary menu-item",
        onclick: () => { d.close(); a.run(this.ctx, room); } }, a.label))
      : h("p", { class: "muted" }, "このトークで使える機能はありません。")));
    const first = d.querySelector(".menu-item");
    if (first) first.focus();
  }

  showHint() {
    this.hint.textContent = prefs.sendKey === "ctrl"
      ? "Ctrl + Enter で送信、Enter で改行" : "Enter で送信、Shift + Enter で改行";
  }

  keydown(e) {
    // isComposing: the standard; keyCode 229: browsers that end the composition
    // before they report the Enter that confirmed it (Safari).
    if (e.isComposing || this.composing || e.keyCode === 229) return;
    if (this.mentions.key(e)) return;
    if (e.key === "Escape" && this.replying) { e.preventDefault(); this.cancelReply(); return; }
    if (e.key !== "Enter") return;
    if (e.shiftKey || e.altKey) return;
    const ctrl = e.ctrlKey || e.metaKey;
    if (prefs.sendKey === "ctrl" && !ctrl) return; // a line break
    e.preventDefault();
    this.send();
  }

  replyTo(m) {
    this.replying = m;
    const text = summary(m, this.ctx);
    clear(this.replyBar,
      h("div", { class: "reply-text" }, h("span", { class: "reply-label" }, `${this.ctx.personName(m.sender)} さんへの返信`),
        h("span", { class: "quote-text" }, text.length > 80 ? `${text.slice(0, 80)}…` : text)),
      h("button", { type: "button", class: "icon-btn", "aria-label": "返信をやめる", onclick: () => this.cancelReply() }, "×"));
    this.replyBar.hidden = false;
    this.input.focus();
    announce(`${this.ctx.personName(m.sender)} さんへの返信を書いています`);
  }

  cancelReply() {
    this.replying = null;
    this.replyBar.hidden = true;
    clear(this.replyBar);
  }

  // The message replied to was edited or deleted meanwhile.
  messageChanged(m) {
    if (!this.replying || this.replying.id !== m.id) return;
    if (m.deleted) this.cancelReply();
    else this.replyTo(m);
  }

  async sendStamp(id) {
    const roomId = this.roomId;
    const reply = this.replying;
    this.cancelReply();
    try {
      await this.ctx.sendMessage(roomId, "", { stamp: id, reply_to: reply ? reply.id : undefined });
    } catch (err) {
      this.error.textContent = err.message;
    }
    this.input.focus();
  }

  grow() {
    this.input.style.height = "auto";
    this.input.style.height = `${Math.min(this.input.scrollHeight, 200)}px`;
  }

  // An archived room is read, not written to: everything that would send is off.
  setArchived(archived) {
    for (const el of this.el.querySelectorAll("textarea, button")) el.disabled = archived;
    this.input.placeholder = archived ? "アーカイブされたトークには送信できません" : "メッセージを入力";
  }

  setRoom(room) {
    this.setArchived(Boolean(room.archived));
    const roomId = room.id;
    this.roomId = roomId;
    this.mentions.setMembers(room.members || []);
    this.mentions.close();
    this.cancelReply();
    this.input.value = this.ctx.drafts.get(roomId) || "";
    this.error.textContent = "";
    clear(this.uploads);
    this.grow();
  }

  async send() {
    const text = this.input.value;
    if (!text.trim()) return;
    const roomId = this.roomId;
    const reply = this.replying;
    this.input.value = "";
    this.ctx.drafts.delete(roomId);
    this.cancelReply();
    this.grow();
    try {
      await this.ctx.sendMessage(roomId, text, { reply_to: reply ? reply.id : undefined });
    } catch (err) {
      if (reply && this.roomId === roomId && !this.replying && err.code !== "invalid_reply") this.replyTo(reply);
      // Refused (for example a 個人番号 that may not leave LGWAN): say why, keep the draft.
      if (this.roomId === roomId && !this.input.value) {
        this.input.value = text;
        this.grow();
      }
      this.ctx.drafts.set(roomId, text);
      this.error.textContent = err.code === "my_number_blocked"
        ? "個人番号（マイナンバー）が含まれているため送信できません。庁外の参加者がいるトークには送れません。番号を消してから送ってください。"
        : err.message;
    }
    this.input.focus();
  }

  // One photo: the member may write on it first (annotate.js).  Several files go
  // out at once, so ten photos from a site are not ten questions.
  sendFiles(files) {
    const roomId = this.roomId;
    if (files.length === 1 && canAnnotate(files[0])) {
      offerAnnotation(files[0], (f) => this.sendFile(f, roomId),
        { onDone: () => { if (this.roomId === roomId) this.input.focus(); } });
      return;
    }
    for (const f of files) this.sendFile(f, roomId);
  }

  async sendFile(file, roomId = this.roomId) {
    const bar = h("progress", { max: 1, value: 0, "aria-label": `${file.name} の送信状況` });
    const row = h("div", { class: "upload" }, h("span", { class: "upload-name" }, file.name), bar);
    this.uploads.append(row);
    try {
      const message = await upload(roomId, file, (p) => { bar.value = p; });
      row.remove();
      announce(`${file.name} を送信しました`);
      this.ctx.messageArrived(message);
    } catch (err) {
      clear(row, h("span", { class: "error" }, `${file.name}: ${err.message}`),
        h("button", { type: "button", class: "icon-btn", "aria-label": "閉じる", onclick: () => row.remove() }, "×"));
    }
  }
}
