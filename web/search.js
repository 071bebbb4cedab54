// 検索: messages of your rooms by a plain substring (two characters are enough in
// Japanese), filtered by room, person and dates; each result a snippet with every
// match marked.  The marks are built from relayd's offsets (code points) as text
// nodes and <mark> elements: the snippet is never parsed as HTML.

import { h, clear } from "./dom.js";
import { get } from "./api.js";
import { dateTime } from "./format.js";

// snippet + [[start, end)] in code points -> text nodes and <mark>s.
export function highlighted(snippet, highlights) {
  const cps = Array.from(snippet);
  const out = [];
  let at = 0;
  for (const [start, end] of [...highlights].sort((a, b) => a[0] - b[0])) {
    const s = Math.max(at, Math.min(start, cps.length));
    const e = Math.max(s, Math.min(end, cps.length));
    if (s > at) out.push(document.createTextNode(cps.slice(at, s).join("")));
    if (e > s) out.push(h("mark", {}, cps.slice(s, e).join("")));
    at = Math.max(at, e);
  }
  if (at < cps.length) out.push(document.createTextNode(cps.slice(at).join("")));
  return out;
}

export class Search {
  constructor(ctx) {
    this.ctx = ctx;
    this.q = h("input", { type: "search", id: "search-q", minlength: 2, maxlength: 100, required: true,
      autocomplete: "off", enterkeyhint: "search" });
    this.room = h("select", { id: "search-room" });
    this.person = h("select", { id: "search-person" });
    this.after = h("input", { type: "date", id: "search-after" });
    this.before = h("input", { type: "date", id: "search-before" });
    this.status = h("p", { class: "muted", role: "status" });
    this.results = h("ol", { class: "results", "aria-label": "検索結果" });
    this.more = h("button", { type: "button", class: "btn secondary", hidden: true, onclick: () => this.run(true) },
      "さらに表示");
    const field = (id, label, input) => h("div", { class: "field" }, h("label", { for: id }, label), input);
    this.form = h("form", { class: "form search-form", role: "search", "aria-label": "メッセージの検索" },
      h("div", { class: "search-main" }, field("search-q", "検索する言葉（2 文字以上）", this.q),
        h("button", { type: "submit", class: "btn" }, "検索")),
      h("details", { class: "filters" }, h("summary", {}, "絞り込み（トーク・人・日付）"),
        h("div", { class: "filter-grid" },
          field("search-room", "トーク", this.room), field("search-person", "送った人", this.person),
          field("search-after", "この日から", this.after), field("search-before", "この日まで", this.before))));
    this.form.addEventListener("submit", (e) => { e.preventDefault(); this.run(false); });
    this.el = h("section", { class: "pane page search-page", "aria-labelledby": "search-title" },
      h("h2", { id: "search-title" }, "検索"), this.form, this.status, this.results, this.more);
    this.last = null;
  }

  show() {
    const { ctx } = this;
    const room = this.room.value;
    const person = this.person.value;
    clear(this.room, h("option", { value: "" }, "すべてのトーク"),
      ctx.rooms.map((r) => h("option", { value: r.id, selected: r.id === room }, ctx.roomName(r))));
    const people = [...ctx.people.values()].sort((a, b) => (a.kana || a.display_name).localeCompare(b.kana || b.display_name, "ja"));
    clear(this.person, h("option", { value: "" }, "すべての人"),
      people.map((p) => h("option", { value: p.id, selected: p.id === person }, p.id === ctx.me.id ? `${p.display_name}（自分）` : p.display_name)));
    this.q.focus();
  }

  async run(more) {
    const q = this.q.value.trim();
    if (Array.from(q).length < 2) { this.status.textContent = "2 文字以上を入力してください。"; return; }
    const params = new URLSearchParams({ q, limit: "20" });
    if (this.room.value) params.set("room", this.room.value);
    if (this.person.value) params.set("sender", this.person.value);
    // 「この日まで」 includes that day: relayd's `before` is 00:00 of the next one.
    if (this.after.value) params.set("after", this.after.value);
    if (this.before.value) {
      const d = new Date(`${this.before.value}T00:00:00Z`);
      d.setUTCDate(d.getUTCDate() + 1);
      params.set("before", d.toISOString().slice(0, 10));
    }
    if (more && this.last) params.set("before_id", this.last);
    this.status.textContent = "検索しています…";
    try {
      const { results } = await get(`/api/v1/search?${params}`);
      if (!more) clear(this.results);
      this.results.append(...results.map((r) => this.item(r)));
      this.last = results.length ? results[results.length - 1].message.id : this.last;
      this.more.hidden = results.length < 20;
      const n = this.results.childElementCount;
      this.status.textContent = n ? `${n} 件見つかりました${results.length < 20 ? "" : "（続きがあります）"}。` : "見つかりませんでした。";
    } catch (err) {
      this.status.textContent = err.message;
    }
  }

  item(r) {
    const { ctx } = this;
    const m = r.message;
    const room = ctx.rooms.find((x) => x.id === m.room_id);
    return h("li", {}, h("button", { type: "button", class: "result", onclick: () => ctx.openRoom(m.room_id, m.id) },
      h("span", { class: "result-head" },
        h("span", { class: "result-room" }, room ? ctx.roomName(room) : "トーク"),
        h("span", { class: "result-who" }, ctx.personName(m.sender)),
        h("time", { datetime: m.created_at }, dateTime(new Date(m.created_at)))),
      h("span", { class: "snippet" }, highlighted(r.snippet, r.highlights))));
  }
}
