// 上長承認: the approver's page 「承認」 (LGWAN only, shown to approvers and admins) —
// the files from LGWAN that wait before internet members get them, each with a look at
// the file, 承認する and 差し戻す (with a reason) — and, for admins, where approval
// applies and who approves.  The file card's 承認待ち / 承認済み / 差し戻し is files.js's.

import { h, clear, dialog, announce } from "./dom.js";
import { get, post } from "./api.js";
import { dateTime, size } from "./format.js";
import { registerEvent, registerSessionHooks, registerView } from "./extend.js";

const STATUS = { pending: "承認待ち", approved: "承認済み", refused: "差し戻し" };
const FILTERS = [["pending", "承認待ち"], ["approved", "承認済み"], ["refused", "差し戻し"], ["all", "すべて"]];
const IMAGE_KINDS = new Set(["jpeg", "png", "gif", "webp", "bmp"]);
const TEXT_KINDS = new Set(["text", "csv"]);
const PREVIEW_CHARS = 2000;

let page = null;

function tabButtons() {
  return document.querySelectorAll('.nav-btn[data-view="approvals"]');
}

class ApprovalsPage {
  constructor(ctx) {
    this.ctx = ctx;
    this.approver = false;
    this.filter = h("select", { id: "approvals-filter", onchange: () => this.load() },
      FILTERS.map(([v, label]) => h("option", { value: v }, label)));
    this.status = h("p", { class: "muted", role: "status" });
    this.list = h("ul", { class: "approval-list", "aria-label": "承認の依頼" });
    this.settings = h("div", { class: "approval-settings" });
    this.el = h("section", { class: "pane page approvals-page", "aria-labelledby": "approvals-title" },
      h("div", { class: "approvals-head" }, h("h2", { id: "approvals-title" }, "承認"),
        h("div", { class: "field inline" }, h("label", { for: "approvals-filter" }, "表示する依頼"), this.filter)),
      h("p", { class: "hint" }, "庁内から庁外の参加者へ送られたファイルのうち、承認が必要なものです。承認すると庁外の参加者がダウンロードできるようになります。"),
      this.status, this.list, this.settings);
  }

  async show() {
    await this.load();
    if (this.ctx.me.kind === "admin") await this.loadSettings();
  }

  async load() {
    try {
      const got = await get(`/api/v1/approvals?status=${this.filter.value}`);
      this.approver = got.approver;
      this.render(got.approvals);
    } catch (err) {
      this.status.textContent = err.message;
    }
  }

  render(items) {
    const waiting = items.filter((a) => a.status === "pending").length;
    this.status.textContent = items.length ? `${items.length} 件${waiting ? `（承認待ち ${waiting} 件）` : ""}` : "承認の依頼はありません。";
    clear(this.list, items.map((a) => this.item(a)));
  }

  item(a) {
    const { ctx } = this;
    const mine = a.sender === ctx.me.id;
    const preview = h("div", { class: "approval-preview" });
    const li = h("li", { class: `approval-item is-${a.status}`, dataset: { approval: a.id } },
      h("div", { class: "approval-main" },
        h("p", { class: "approval-name" }, a.name, h("span", { class: "muted" }, ` ${size(a.size)}`)),
        h("p", { class: "approval-where muted" }, `${a.room_name}・送信 ${ctx.personName(a.sender)}・${dateTime(new Date(a.created_at))}`),
        h("p", { class: `approval-state state-${a.status}` }, h("strong", {}, STATUS[a.status] || a.status),
          a.status !== "pending" && a.decided_by ? `（${ctx.personName(a.decided_by)}）` : "",
          a.reason ? ` 理由: ${a.reason}` : ""),
        preview),
      h("div", { class: "approval-actions" },
        mine ? null : h("button", { type: "button", class: "btn small secondary", "aria-label": `「${a.name}」の内容を確認`,
          onclick: () => this.look(a, preview) }, "内容を確認"),
        mine ? null : h("a", { class: "btn small secondary", href: `/api/v1/approvals/${a.id}/content`, download: a.name,
          "aria-label": `「${a.name}」をダウンロード` }, "ダウンロード"),
        a.status === "pending" && !mine ? [
          h("button", { type: "button", class: "btn small", "aria-label": `「${a.name}」を承認する`,
            onclick: () => this.decide(a, true, "").catch((err) => { ctx.toast(err.message); this.load(); }) }, "承認する"),
          h("button", { type: "button", class: "btn small danger", "aria-label": `「${a.name}」を差し戻す`,
            onclick: () => this.refuse(a) }, "差し戻す")] : null,
        mine && a.status === "pending" ? h("span", { class: "muted" }, "自分のファイルは他の承認者が判断します") : null));
    return li;
  }

  // The file itself: an image shown, a text's beginning shown as text (never as page
  // content), anything else downloaded.
  async look(a, where) {
    const url = `/api/v1/approvals/${a.id}/content`;
    if (IMAGE_KINDS.has(a.kind)) {
      clear(where, h("img", { class: "preview", src: url, alt: `${a.name} のプレビュー` }));
      return;
    }
    if (TEXT_KINDS.has(a.kind)) {
      try {
        const res = await fetch(url, { credentials: "same-origin" });
        if (!res.ok) throw new Error(`読み込めませんでした（${res.status}）`);
        const text = await res.text();
        clear(where, h("pre", { class: "approval-text", tabindex: "0", "aria-label": `${a.name} の内容` },
          text.length > PREVIEW_CHARS ? `${text.slice(0, PREVIEW_CHARS)}…` : text));
      } catch (err) {
        clear(where, h("p", { class: "error" }, err.message));
      }
      return;
    }
    clear(where, h("p", { class: "muted" }, "この種類のファイルはここでは表示できません。ダウンロードして確認してください。"));
  }

  async decide(a, approve, reason) {
    const got = await post(`/api/v1/approvals/${a.id}/decision`, { approve, reason });
    announce(approve ? `「${a.name}」を承認しました` : `「${a.name}」を差し戻しました`);
    this.ctx.toast(approve ? `「${a.name}」を承認しました。庁外の参加者がダウンロードできます。` : `「${a.name}」を差し戻しました。`);
    await this.load();
    return got;
  }

  refuse(a) {
    const reason = h("textarea", { id: "refuse-reason", rows: 3, maxlength: 1000, required: true });
    const error = h("p", { class: "error", role: "alert" });
    const form = h("form", { class: "form" },
      h("p", {}, "差し戻すと、このファイルは庁外の参加者には届きません。理由は送信者と庁内のメンバーに表示されます。"),
      h("label", { for: "refuse-reason" }, "差し戻しの理由"), reason, error,
      h("div", { class: "form-actions" }, h("button", { type: "submit", class: "btn danger" }, "差し戻す")));
    const d = dialog(`差し戻し: ${a.name}`, form);
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      try {
        await this.decide(a, false, reason.value);
        d.close();
      } catch (err) {
        error.textContent = err.message;
      }
    });
  }

  // ---------------------------------------------------------------- admins: settings
  async loadSettings() {
    try {
      this.renderSettings(await get("/api/v1/admin/approval-settings"));
    } catch (err) {
      clear(this.settings, h("p", { class: "error" }, err.message));
    }
  }

  renderSettings(s) {
    const { ctx } = this;
    const staff = [...ctx.people.values()].filter((p) => p.kind !== "external");
    const rows = s.departments.map((d) => {
      const pick = h("select", { id: `approver-${d.id}`, "aria-label": `${d.path} の承認者に追加する職員` },
        h("option", { value: "" }, "承認者を追加…"),
        staff.filter((p) => !d.approvers.includes(p.id)).map((p) => h("option", { value: p.id }, `${p.display_name}（${p.login}）`)));
      pick.addEventListener("change", () => pick.value && this.change(
        `/api/v1/admin/approval-settings/departments/${d.id}/approvers`, { account_id: pick.value, approver: true }));
      const box = h("input", { type: "checkbox", id: `require-${d.id}`, checked: d.required,
        onchange: () => this.change(`/api/v1/admin/approval-settings/departments/${d.id}`, { required: box.checked }) });
      return h("li", { class: "approval-dept" },
        h("label", { class: "pick", for: `require-${d.id}` }, box, h("span", {}, h("strong", {}, d.path), " のファイルは承認が必要")),
        h("div", { class: "approver-chips" }, d.approvers.map((id) => h("span", { class: "chip" }, ctx.personName(id),
          h("button", { type: "button", class: "icon-btn", "aria-label": `${ctx.personName(id)} を ${d.path} の承認者から外す`,
            onclick: () => this.change(`/api/v1/admin/approval-settings/departments/${d.id}/approvers`, { account_id: id, approver: false }) }, "×"))),
        pick));
    });
    const roomId = h("input", { id: "approval-room", inputmode: "numeric", autocomplete: "off", pattern: "[0-9]+" });
    const roomForm = h("form", { class: "form inline-form", "aria-label": "承認が必要なトークの追加" },
      h("div", { class: "field" }, h("label", { for: "approval-room" }, "トーク ID（relayctl room list で確認）"), roomId),
      h("button", { type: "submit", class: "btn small" }, "承認を必要にする"));
    roomForm.addEventListener("submit", (e) => {
      e.preventDefault();
      if (roomId.value.trim()) this.change(`/api/v1/admin/approval-settings/rooms/${roomId.value.trim()}`, { required: true });
    });
    clear(this.settings,
      h("h3", {}, "承認の設定（管理者）"),
      h("p", { class: "hint" }, "部署のファイル: その部署と配下の部署の職員が、庁外の参加者のいるトークへ送るファイル。承認者: その部署と配下の部署のファイルを承認できます。管理者はいつでも承認できます。"),
      s.departments.length ? h("ul", { class: "approval-depts", "aria-label": "部署ごとの設定" }, rows)
        : h("p", { class: "muted" }, "部署がありません（relayctl department add で作成します）。"),
      h("h4", {}, "承認が必要なトーク"),
      s.rooms.length ? h("ul", { class: "approval-rooms" }, s.rooms.map((r) => h("li", {}, `${r.name}（ID ${r.id}）`,
        h("button", { type: "button", class: "btn small secondary", "aria-label": `${r.name} の承認を不要にする`,
          onclick: () => this.change(`/api/v1/admin/approval-settings/rooms/${r.id}`, { required: false }) }, "不要にする"))))
        : h("p", { class: "muted" }, "ありません。"),
      roomForm,
      h("p", { class: "error", role: "alert", id: "approval-settings-error" }));
  }

  async change(path, body) {
    try {
      await post(path, body);
      announce("承認の設定を変更しました");
      await this.loadSettings();
    } catch (err) {
      const e = this.settings.querySelector("#approval-settings-error");
      if (e) e.textContent = err.message;
    }
  }
}

// The tab is there for LGWAN staff and admins, hidden until relayd says this account
// decides something (admins always do).
registerView("approvals", "承認", (ctx) => {
  page = new ApprovalsPage(ctx);
  queueMicrotask(() => { for (const b of tabButtons()) b.hidden = ctx.me.kind !== "admin"; });
  return page;
}, (ctx) => ctx.zone === "lgwan" && ctx.me.kind !== "external");

registerSessionHooks({
  start: async (ctx) => {
    if (!page || ctx.me.kind === "admin") return;
    try {
      const { approver } = await get("/api/v1/approvals");
      for (const b of tabButtons()) b.hidden = !approver;
    } catch { /* the tab stays hidden */ }
  },
  leave: () => { page = null; },
});

registerEvent("approval.requested", (ctx, ev) => {
  announce(`承認の依頼が届きました: ${ev.approval.name}`);
  if (page && page.el.classList.contains("current-page")) page.load();
});

registerEvent("approval.decided", (ctx, ev) => {
  ctx.talk.updateAttachment(ev.file);
  if (page && page.el.classList.contains("current-page")) page.load();
  const a = ev.approval;
  if (a.sender === ctx.me.id) {
    ctx.toast(a.status === "approved" ? `「${a.name}」が承認され、庁外の参加者に届くようになりました。`
      : `「${a.name}」は差し戻されました${a.reason ? `（${a.reason}）` : ""}。`);
  }
});
