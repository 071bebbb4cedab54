// The room list (newest activity first, unread and @ mention badges, 庁外 marker,
// a filter by name) and the dialog that starts a new group talk or a one-to-one talk.

import { h, clear, dialog, initials } from "./dom.js";
import { get, post } from "./api.js";
import { shortWhen } from "./format.js";
import { summary } from "./cards.js";

export class RoomList {
  constructor(ctx) {
    this.ctx = ctx;
    this.search = h("input", { type: "search", id: "room-search", class: "search",
      placeholder: "トークを検索", "aria-label": "トークを検索", oninput: () => this.draw() });
    this.list = h("ul", { class: "room-list", "aria-label": "トーク一覧" });
    this.el = h("section", { class: "pane rooms", "aria-label": "トーク一覧" },
      h("div", { class: "rooms-head" }, this.search,
        h("button", { type: "button", class: "btn new-room", onclick: () => this.newRoom() }, "新しいトーク")),
      this.list);
  }

  // Drawn at most once a frame: in a busy room every message moves the list, and
  // redrawing a hundred rooms per message made the page fall behind.
  render() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => { this.frame = 0; this.draw(); });
  }

  draw() {
    const { ctx } = this;
    const q = this.search.value.trim().toLowerCase();
    const rooms = ctx.rooms.filter((r) => !q || ctx.roomName(r).toLowerCase().includes(q));
    const items = rooms.map((room) => {
      const name = ctx.roomName(room);
      const last = room.last_message;
      const preview = last ? `${last.sender === ctx.me.id ? "あなた" : ctx.personName(last.sender)}: ${
        summary(last, ctx)}` : "メッセージはまだありません";
      const external = ctx.hasExternal(room);
      const mentions = room.mentions || 0;
      const label = `${name}${external ? "（庁外の参加者あり）" : ""}${room.archived ? "（アーカイブ済み）" : ""}${room.unread ? `、未読 ${room.unread} 件` : ""}${
        mentions ? `、あなたへのメンション ${mentions} 件` : ""}`;
      return h("li", {},
        h("button", { type: "button", class: `room${ctx.current && ctx.current.id === room.id ? " active" : ""}`,
          "aria-label": label, "aria-current": ctx.current && ctx.current.id === room.id ? "true" : null,
          onclick: () => ctx.openRoom(room.id) },
          h("span", { class: "avatar", "aria-hidden": "true" }, initials(name)),
          h("span", { class: "room-text" },
            h("span", { class: "room-line" },
              h("span", { class: "room-name" }, name),
              external ? h("span", { class: "tag external" }, "庁外") : null,
              room.archived ? h("span", { class: "tag archived" }, "アーカイブ") : null,
              last ? h("span", { class: "room-time" }, shortWhen(new Date(last.created_at))) : null),
            h("span", { class: "room-line" },
              h("span", { class: "room-preview" }, preview),
              mentions ? h("span", { class: "badge mention-badge", title: "あなたへのメンション" },
                `@${mentions > 99 ? "99+" : mentions}`) : null,
              room.unread ? h("span", { class: "badge" }, room.unread > 99 ? "99+" : String(room.unread)) : null))));
    });
    if (!items.length) {
      items.push(h("li", { class: "muted center" }, q ? "見つかりません" : "まだトークはありません。「新しいトーク」から始めましょう。"));
    }
    clear(this.list, items);
  }

  async newRoom() {
    const { ctx } = this;
    let people;
    try {
      people = (await get("/api/v1/accounts")).accounts.filter((a) => a.id !== ctx.me.id);
    } catch (err) {
      ctx.toast(err.message);
      return;
    }
    for (const p of people) ctx.people.set(p.id, p);
    const kindGroup = h("input", { type: "radio", name: "kind", id: "kind-group", value: "group", checked: true });
    const kindDirect = h("input", { type: "radio", name: "kind", id: "kind-direct", value: "direct" });
    const name = h("input", { id: "room-name", maxlength: 100, autocomplete: "off" });
    const nameRow = h("div", { class: "field" }, h("label", { for: "room-name" }, "トーク名"), name);
    const filter = h("input", { type: "search", id: "member-filter", "aria-label": "メンバーを検索", placeholder: "名前で絞り込み" });
    const list = h("ul", { class: "pick-list" });
    const error = h("p", { class: "error", role: "alert" });
    const direct = () => kindDirect.checked;
    const draw = () => {
      const q = filter.value.trim().toLowerCase();
      const chosen = new Set([...list.querySelectorAll("input:checked")].map((i) => i.value));
      clear(list, people.filter((p) => !q || p.display_name.toLowerCase().includes(q) || p.login.toLowerCase().includes(q) || chosen.has(p.id))
        .map((p) => h("li", {}, h("label", { class: "pick" },
          h("input", { type: direct() ? "radio" : "checkbox", name: "member", value: p.id, checked: chosen.has(p.id) }),
          h("span", { class: "avatar small", "aria-hidden": "true" }, initials(p.display_name)),
          h("span", {}, p.display_name, p.kind === "external" ? h("span", { class: "tag external" }, "庁外") : null)))));
      nameRow.hidden = direct();
    };
    filter.addEventListener("input", draw);
    kindGroup.addEventListener("change", draw);
    kindDirect.addEventListener("change", draw);
    draw();
    const form = h("form", { class: "form" },
      h("fieldset", { class: "kinds" }, h("legend", {}, "種類"),
        h("label", { class: "radio" }, kindGroup, "グループ"),
        h("label", { class: "radio" }, kindDirect, "1対1のトーク")),
      nameRow,
      h("fieldset", {}, h("legend", {}, "メンバー"), filter, list),
      error,
      h("div", { class: "form-actions" }, h("button", { type: "submit", class: "btn" }, "作成する")));
    const d = dialog("新しいトーク", form);
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const members = [...list.querySelectorAll("input:checked")].map((i) => i.value);
      if (!members.length) { error.textContent = "メンバーを選んでください。"; return; }
      const roomName = direct() ? `${ctx.me.display_name} と ${ctx.personName(members[0])}` : name.value;
      if (!roomName.trim()) { error.textContent = "トーク名を入力してください。"; name.focus(); return; }
      try {
        const room = await post("/api/v1/rooms", { name: roomName, kind: direct() ? "direct" : "group", members });
        d.close();
        ctx.roomCreated(room);
        ctx.openRoom(room.id);
      } catch (err) {
        error.textContent = err.message;
      }
    });
  }
}
