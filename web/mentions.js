// Suggestions while typing @ in the composer: the room's members (by login, name or
// reading), then @all (全員) and @here (いま接続している人).  ↑↓ move, Enter or Tab
// choose, Esc closes; while the list is open Enter chooses and never sends.

import { h, clear, announce } from "./dom.js";

const TOKEN_RE = /(?:^|[\s(（「『])[@＠]([A-Za-z0-9._@-]{0,64})$/;

export class Mentions {
  constructor(ctx, input) {
    this.ctx = ctx;
    this.input = input;
    this.members = [];
    this.items = [];
    this.active = 0;
    this.start = -1;
    this.list = h("ul", { id: "mention-list", class: "mention-list", role: "listbox", "aria-label": "メンションの候補", hidden: true });
    input.setAttribute("aria-controls", "mention-list");
    input.addEventListener("input", () => this.update());
    input.addEventListener("blur", () => setTimeout(() => this.close(), 150));
  }

  setMembers(ids) { this.members = ids.filter((id) => id !== this.ctx.me.id); }

  get open() { return !this.list.hidden; }

  update() {
    const before = this.input.value.slice(0, this.input.selectionStart);
    const m = TOKEN_RE.exec(before);
    if (!m) { this.close(); return; }
    const q = m[1].toLowerCase();
    this.start = before.length - m[1].length - 1;
    const people = this.members.map((id) => this.ctx.people.get(id)).filter(Boolean)
      .filter((p) => !q || p.login.toLowerCase().startsWith(q) || p.display_name.toLowerCase().includes(q)
        || (p.kana || "").includes(q))
      .slice(0, 8)
      .map((p) => ({ login: p.login, label: p.display_name, note: p.department ? p.department.name : p.login }));
    const groups = [{ login: "all", label: "全員", note: "このトークの全員に通知" },
      { login: "here", label: "いま接続している人", note: "画面を開いている人に通知" }]
      .filter((g) => !q || g.login.startsWith(q));
    this.items = [...people, ...groups];
    if (!this.items.length) { this.close(); return; }
    this.active = 0;
    this.draw();
    this.list.hidden = false;
  }

  draw() {
    clear(this.list, this.items.map((it, i) => h("li", { id: `mention-${i}`, role: "option", class: "mention-option",
      "aria-selected": String(i === this.active),
      onmousedown: (e) => { e.preventDefault(); this.choose(i); } },
    h("span", { class: "mention-name" }, it.label), h("span", { class: "mention-note" }, `@${it.login}・${it.note}`))));
    this.input.setAttribute("aria-activedescendant", `mention-${this.active}`);
    announce(`${this.items[this.active].label}。候補 ${this.items.length} 件。上下で選び Enter で入力`);
  }

  // Keys while the list is open; true when the key was used here.
  key(e) {
    if (!this.open) return false;
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      this.active = (this.active + (e.key === "ArrowDown" ? 1 : -1) + this.items.length) % this.items.length;
      this.draw();
    } else if (e.key === "Enter" || e.key === "Tab") {
      this.choose(this.active);
    } else if (e.key === "Escape") {
      this.close();
    } else {
      return false;
    }
    e.preventDefault();
    return true;
  }

  choose(i) {
    const it = this.items[i];
    const caret = this.input.selectionStart;
    const value = this.input.value;
    const text = `@${it.login} `;
    this.input.value = value.slice(0, this.start) + text + value.slice(caret);
    const at = this.start + text.length;
    this.input.setSelectionRange(at, at);
    this.close();
    this.input.dispatchEvent(new Event("input"));
    this.close();
  }

  close() {
    this.list.hidden = true;
    this.input.removeAttribute("aria-activedescendant");
  }
}
