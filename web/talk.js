// One talk: messages oldest to newest with day separators, sender and time, 既読 N
// (tap: who has and has not read), each message a card (cards.js) with its 「…」 menu
// (actions.js); older history loaded as you scroll up, with the number of messages
// kept in the page bounded; edits, deletions and reactions replace a card in place.

import { h, dialog, announce } from "./dom.js";
import { get } from "./api.js";
import { dayKey, dayLabel } from "./format.js";
import { messageCard, summary } from "./cards.js";
import { messageMenu } from "./actions.js";
import { Composer } from "./composer.js";

const PAGE = 50;
const MAX_KEPT = 300; // messages in the page at once

export class Talk {
  constructor(ctx) {
    this.ctx = ctx;
    this.room = null;
    this.messages = []; // sorted by id
    this.nodes = new Map(); // id -> element
    this.days = new Map(); // day key -> its separator, kept like the cards
    this.olderNote = h("p", { class: "older muted" }, "上にスクロールすると過去のメッセージを読み込みます");
    this.emptyNote = h("p", { class: "muted center" });  // its text: render()
    this.pending = new Map(); // client-side id -> element (sending)
    this.hasOlder = false;
    this.hasNewer = false; // newest messages were dropped to keep the page small
    this.loadingOlder = false;
    this.title = h("h2", { class: "talk-title", id: "talk-title" });
    this.notice = h("p", { class: "external-notice", hidden: true },
      "庁外の参加者がいます。ここに書いた内容は庁外にも届きます。");
    this.back = h("button", { type: "button", class: "btn secondary back", onclick: () => ctx.showList() },
      h("span", { "aria-hidden": "true" }, "‹ "), "トーク一覧");
    this.list = h("div", { class: "messages", role: "log", "aria-labelledby": "talk-title", tabindex: "0" });
    this.newer = h("button", { type: "button", class: "btn jump", hidden: true, onclick: () => this.reload() },
      "最新のメッセージへ");
    this.composer = new Composer(ctx);
    this.empty = h("div", { class: "talk-empty" }, h("p", {}, "左の一覧からトークを選んでください。"));
    this.body = h("div", { class: "talk-body", hidden: true },
      h("header", { class: "talk-head" }, this.back, h("div", { class: "talk-head-text" }, this.title, this.notice)),
      this.list, this.newer, this.composer.el);
    this.el = h("section", { class: "pane talk", "aria-label": "トーク" }, this.empty, this.body);
    this.list.addEventListener("scroll", () => {
      if (this.list.scrollTop < 200 && this.hasOlder && !this.loadingOlder) this.loadOlder();
    });
    this.readersTimer = null;
  }

  async open(room, at = null) {
    this.room = room;
    this.empty.hidden = true;
    this.body.hidden = false;
    this.title.textContent = this.ctx.roomName(room);
    this.notice.hidden = !this.ctx.hasExternal(room);
    this.composer.setRoom(room);
    await this.reload();
    if (at) await this.jumpTo(at);
    else this.composer.input.focus();
  }

  // Archived or back while open: the composer goes off or on, an empty talk says why.
  setArchived(archived) {
    if (this.room) this.room.archived = archived;
    this.composer.setArchived(archived);
    this.render();
  }

  close() {
    this.room = null;
    this.body.hidden = true;
    this.empty.hidden = false;
  }

  async reload() {
    const room = this.room;
    const { messages } = await get(`/api/v1/rooms/${room.id}/messages?limit=${PAGE}`);
    if (this.room !== room) return;
    this.messages = messages;
    this.nodes.clear();
    this.days.clear();
    this.hasOlder = messages.length === PAGE;
    this.hasNewer = false;
    this.newer.hidden = true;
    this.render();
    this.toBottom();
    this.markRead();
  }

  // After the stream came back: what arrived since the newest message here
  // (?after=), then the newest page again for edits and reactions made meanwhile.
  async catchUp() {
    if (!this.room || this.hasNewer) return;
    const room = this.room;
    let last = this.messages.length ? this.messages[this.messages.length - 1].id : "0";
    for (let pages = 0; ; pages++) {
      if (pages === 4) return this.reload(); // away a long time: start from the newest
      const { messages } = await get(`/api/v1/rooms/${room.id}/messages?limit=200&after=${last}`);
      if (this.room !== room) return;
      for (const m of messages) this.upsert(m, false);
      if (messages.length < 200) break;
      last = messages[messages.length - 1].id;
    }
    const { messages } = await get(`/api/v1/rooms/${room.id}/messages?limit=${PAGE}`);
    if (this.room !== room) return;
    for (const m of messages) if (this.messages.some((x) => x.id === m.id)) this.upsert(m, false);
    this.render();
    this.toBottom();
    this.markRead();
  }

  async loadOlder() {
    if (!this.messages.length) return;
    this.loadingOlder = true;
    const room = this.room;
    try {
      const { messages } = await get(`/api/v1/rooms/${room.id}/messages?limit=${PAGE}&before=${this.messages[0].id}`);
      if (this.room !== room) return;
      this.hasOlder = messages.length === PAGE;
      // What the reader looks at stays where it is: the first card shown now is the
      // anchor (the page's height alone does not tell once newer cards are dropped).
      const anchor = this.nodes.get(this.messages[0].id);
      const offset = anchor ? anchor.offsetTop - this.list.scrollTop : 0;
      this.messages = [...messages, ...this.messages];
      if (this.messages.length > MAX_KEPT) {
        for (const m of this.messages.slice(MAX_KEPT)) this.nodes.delete(m.id);
        this.messages = this.messages.slice(0, MAX_KEPT);
        this.hasNewer = true;
        this.newer.hidden = false;
      }
      this.render();
      if (anchor) this.list.scrollTop = anchor.offsetTop - offset;
    } finally {
      this.loadingOlder = false;
    }
  }

  nearBottom() {
    return this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 120;
  }

  toBottom() {
    this.list.scrollTop = this.list.scrollHeight;
  }

  upsert(m, rerender = true) {
    const i = this.messages.findIndex((x) => x.id === m.id);
    if (i >= 0) {
      this.messages[i] = keepDecided(this.messages[i], m);
      this.nodes.delete(m.id);
    } else {
      let j = this.messages.length;
      while (j > 0 && BigInt(this.messages[j - 1].id) > BigInt(m.id)) j--;
      this.messages.splice(j, 0, m);
    }
    if (rerender) this.render();
  }

  // A message of this room arrived (stream or our own send).
  arrived(m) {
    if (this.hasNewer) { this.newer.hidden = false; return; }
    const stick = this.nearBottom() || m.sender === this.ctx.me.id;
    this.upsert(m);
    if (stick) this.toBottom();
    if (m.sender !== this.ctx.me.id) {
      announce(`${this.ctx.personName(m.sender)}: ${summary(m, this.ctx)}`);
      this.markRead();
    }
  }

  // An edit, a deletion or a reaction: the card is drawn again where it is.
  changed(m) {
    const i = this.messages.findIndex((x) => x.id === m.id);
    if (i < 0) return;
    this.messages[i] = m;
    this.nodes.delete(m.id);
    const stick = this.nearBottom();
    this.render();
    if (stick) this.toBottom();
    this.composer.messageChanged(m);
  }

  reactions(messageId, reactions) {
    const m = this.messages.find((x) => x.id === messageId);
    if (m) this.changed({ ...m, reactions });
  }

  ownReaction(messageId, stamp, on) {
    const m = this.messages.find((x) => x.id === messageId);
    if (!m) return;
    const me = this.ctx.me.id;
    const list = (m.reactions || []).map((r) => ({ ...r, accounts: r.accounts.filter((id) => id !== me || r.stamp !== stamp) }));
    const r = list.find((x) => x.stamp === stamp);
    if (on && r) r.accounts.push(me);
    else if (on) list.push({ stamp, accounts: [me] });
    const same = JSON.stringify(list.filter((x) => x.accounts.length)) === JSON.stringify(m.reactions || []);
    if (!same) this.changed({ ...m, reactions: list.filter((x) => x.accounts.length) });
  }

  updateAttachment(file) {
    const m = this.messages.find((x) => x.id === file.message_id);
    if (!m) return;
    m.attachments = m.attachments.map((a) => (a.id === file.id ? { ...a, ...file } : a));
    this.upsert(m);
  }

  refreshFile(fileId) {
    const m = this.messages.find((x) => x.attachments.some((a) => a.id === fileId));
    if (m) this.upsert(m);
  }

  // Someone's read marker moved: refresh the 既読 counts shown.
  readMoved() {
    clearTimeout(this.readersTimer);
    this.readersTimer = setTimeout(async () => {
      if (!this.room || !this.messages.length) return;
      const room = this.room;
      const { messages } = await get(`/api/v1/rooms/${room.id}/messages?limit=${PAGE}`);
      if (this.room !== room) return;
      let changed = false;
      for (const fresh of messages) {
        const old = this.messages.find((x) => x.id === fresh.id);
        if (old && old.read_count !== fresh.read_count) {
          old.read_count = fresh.read_count;
          this.nodes.delete(old.id);
          changed = true;
        }
      }
      if (changed) this.render();
    }, 250);
  }

  markRead() {
    if (!this.room || document.visibilityState !== "visible" || !this.messages.length) return;
    const last = this.messages[this.messages.length - 1];
    this.ctx.markRead(this.room.id, last.id);
  }

  showPending(key, text) {
    const el = h("article", { class: "msg own sending" },
      h("div", { class: "bubble" }, h("p", { class: "text" }, text || "スタンプ")),
      h("div", { class: "meta" }, "送信中…"));
    this.pending.set(key, el);
    this.list.append(el);
    this.toBottom();
  }

  dropPending(key) {
    const el = this.pending.get(key);
    if (el) el.remove();
    this.pending.delete(key);
  }

  // The list as this.messages says, changing only what differs: a new message is one
  // appended card, not 300 cards taken out and put back (which made a busy room's page
  // fall seconds behind; bench/browser.py (d)).
  render() {
    const out = [];
    let prevDay = null;
    let prevSender = null;
    for (const m of this.messages) {
      const d = new Date(m.created_at);
      const day = dayKey(d);
      if (day !== prevDay) {
        if (!this.days.has(day)) this.days.set(day, h("div", { class: "day", role: "separator" }, h("span", {}, dayLabel(d))));
        out.push(this.days.get(day));
        prevDay = day;
        prevSender = null;
      }
      let node = this.nodes.get(m.id);
      if (!node) {
        node = this.messageNode(m);
        this.nodes.set(m.id, node);
      }
      node.classList.toggle("continued", prevSender === m.sender);
      prevSender = m.sender;
      out.push(node);
    }
    if (this.hasOlder) out.unshift(this.olderNote);
    else if (!this.messages.length) {
      // An archived talk is read, not written to: no invitation to a first message.
      this.emptyNote.textContent = this.room && this.room.archived
        ? "まだメッセージはありません。アーカイブされたトークのため、送信はできません。"
        : "まだメッセージはありません。最初のメッセージを送りましょう。";
      out.push(this.emptyNote);
    }
    out.push(...this.pending.values());
    const keep = new Set(out);
    let cur = this.list.firstChild;
    for (const node of out) {
      while (cur && !keep.has(cur)) { const next = cur.nextSibling; cur.remove(); cur = next; }
      if (cur === node) cur = cur.nextSibling;
      else this.list.insertBefore(node, cur);
    }
    while (cur) { const next = cur.nextSibling; cur.remove(); cur = next; }
  }

  messageNode(m) {
    return messageCard(m, this.ctx, this);
  }

  openMenu(m) {
    messageMenu(this.ctx, this, m);
  }

  // Scroll to a message of this talk and flash it; load the page around it when it
  // is not in the page (a quote's original, a search result).
  async jumpTo(id) {
    if (!this.nodes.has(id)) {
      const room = this.room;
      const { messages } = await get(`/api/v1/rooms/${room.id}/messages?limit=${PAGE}&after=${BigInt(id) - 1n}`);
      if (this.room !== room) return;
      if (!messages.length || messages[0].id !== id) { this.ctx.toast("元のメッセージが見つかりません。"); return; }
      this.messages = messages;
      this.nodes.clear();
      this.days.clear();
      this.hasOlder = true;
      this.hasNewer = messages.length === PAGE;
      this.newer.hidden = !this.hasNewer;
      this.render();
    }
    const node = this.nodes.get(id);
    if (!node) return;
    node.scrollIntoView({ block: "center" });
    node.classList.add("flash");
    node.setAttribute("tabindex", "-1");
    node.focus({ preventScroll: true });
    setTimeout(() => node.classList.remove("flash"), 2000);
  }

  async showReaders(m) {
    try {
      const r = await get(`/api/v1/messages/${m.id}/readers`);
      const names = (ids) => ids.filter((id) => id !== m.sender).map((id) => h("li", {}, this.ctx.personName(id)));
      const read = names(r.read);
      const unread = names(r.unread);
      dialog("既読・未読", h("div", { class: "readers" },
        h("h3", {}, `既読 ${read.length} 人`), read.length ? h("ul", {}, read) : h("p", { class: "muted" }, "まだいません"),
        h("h3", {}, `未読 ${unread.length} 人`), unread.length ? h("ul", {}, unread) : h("p", { class: "muted" }, "全員が読みました")));
    } catch (err) {
      this.ctx.toast(err.message);
    }
  }
}

// A copy of a message can be older than the one shown: the answer to our own upload
// may land after the stream said its file was disarmed or blocked.  A file's state
// only moves on from "pending", so a decided one is never put back to 処理中.
function keepDecided(shown, m) {
  const decided = new Map((shown.attachments || []).filter((a) => a.status !== "pending")
    .map((a) => [a.id, a]));
  if (!decided.size || !m.attachments) return m;
  return { ...m, attachments: m.attachments.map((a) =>
    (a.status === "pending" && decided.has(a.id) ? { ...a, ...decided.get(a.id) } : a)) };
}
