// Administration (LGWAN only): accounts (create, disable, reset the password),
// requests for originals (approve / deny with a note), the audit log and the check
// of its hash chain.

import { h, clear, dialog, announce } from "./dom.js";
import { get, post } from "./api.js";
import { dateTime } from "./format.js";

const KINDS = { staff: "職員", external: "庁外", admin: "管理者" };
const STATUS = { pending: "審査待ち", approved: "承認済み", denied: "却下" };

export class Admin {
  constructor(ctx) {
    this.ctx = ctx;
    this.tabs = [["accounts", "アカウント"], ["originals", "原本の申請"], ["audit", "監査ログ"]];
    this.current = "accounts";
    this.tabBar = h("div", { class: "tabs", role: "tablist", "aria-label": "管理メニュー" });
    this.panel = h("div", { class: "admin-panel", role: "tabpanel", tabindex: "0" });
    this.el = h("section", { class: "pane admin", "aria-label": "管理" },
      h("h2", {}, "管理"), this.tabBar, this.panel);
  }

  show(tab = this.current) {
    this.current = tab;
    clear(this.tabBar, this.tabs.map(([key, label]) => h("button", { type: "button", role: "tab",
      class: "tab", "aria-selected": String(key === tab), onclick: () => this.show(key) }, label)));
    clear(this.panel, h("p", { class: "muted" }, "読み込み中…"));
    const views = { accounts: () => this.accounts(), originals: () => this.originals(), audit: () => this.audit() };
    views[tab]().catch((err) => clear(this.panel, h("p", { class: "error" }, err.message)));
  }

  async accounts() {
    const { accounts } = await get("/api/v1/admin/accounts");
    const login = h("input", { id: "new-login", required: true, autocomplete: "off", autocapitalize: "off" });
    const name = h("input", { id: "new-name", maxlength: 100, autocomplete: "off" });
    const kind = h("select", { id: "new-kind" }, Object.entries(KINDS).map(([k, v]) => h("option", { value: k }, v)));
    // An outside partner needs a staff member responsible for it and a last day of use.
    const staff = accounts.filter((a) => a.kind === "staff" && !a.disabled);
    const sponsor = h("select", { id: "new-sponsor" },
      staff.map((a) => h("option", { value: a.id }, `${a.display_name}（${a.login}）`)));
    const expires = h("input", { id: "new-expires", type: "date" });
    const external = h("div", { class: "external-fields", hidden: true },
      h("div", { class: "field" }, h("label", { for: "new-sponsor" }, "担当職員"), sponsor),
      h("div", { class: "field" }, h("label", { for: "new-expires" }, "利用期限（空欄なら1年後）"), expires));
    kind.addEventListener("change", () => { external.hidden = kind.value !== "external"; });
    const error = h("p", { class: "error", role: "alert" });
    const form = h("form", { class: "form inline-form", "aria-label": "アカウントの追加" },
      h("div", { class: "field" }, h("label", { for: "new-login" }, "ログイン名"), login),
      h("div", { class: "field" }, h("label", { for: "new-name" }, "表示名"), name),
      h("div", { class: "field" }, h("label", { for: "new-kind" }, "種別"), kind),
      external,
      h("button", { type: "submit", class: "btn" }, "追加する"), error);
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      try {
        const body = { login: login.value.trim(), display_name: name.value, kind: kind.value };
        if (kind.value === "external") {
          body.sponsor = sponsor.value;
          if (expires.value) body.expires_at = expires.value;
        }
        const made = await post("/api/v1/admin/accounts", body);
        this.showPassword(made, made.initial_password);
        this.show("accounts");
      } catch (err) { error.textContent = err.message; }
    });
    const rows = accounts.map((a) => h("tr", {},
      h("td", {}, a.display_name), h("td", {}, a.login), h("td", {}, KINDS[a.kind] || a.kind),
      h("td", {}, a.disabled ? h("span", { class: "tag blocked" }, "無効") : "有効"),
      h("td", { class: "row-actions" },
        a.disabled || a.id === this.ctx.me.id ? null : h("button", { type: "button", class: "btn small secondary",
          onclick: () => this.confirmThen(`${a.display_name} を無効にしますか？ すぐにログアウトされます。`, async () => {
            await post(`/api/v1/admin/accounts/${a.id}/disable`);
            announce(`${a.display_name} を無効にしました`);
            this.show("accounts");
          }) }, "無効にする"),
        a.disabled ? null : h("button", { type: "button", class: "btn small secondary",
          onclick: () => this.confirmThen(`${a.display_name} のパスワードを再設定しますか？`, async () => {
            const r = await post(`/api/v1/admin/accounts/${a.id}/reset`);
            this.showPassword(r.account, r.password);
          }) }, "パスワード再設定"))));
    clear(this.panel, h("h3", {}, "アカウントの追加"), form,
      h("h3", {}, `アカウント一覧（${accounts.length} 件）`),
      h("div", { class: "table-wrap" }, h("table", {},
        h("thead", {}, h("tr", {}, ["表示名", "ログイン名", "種別", "状態", "操作"].map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", {}, rows))));
  }

  showPassword(account, password) {
    dialog("仮のパスワード", h("div", {},
      h("p", {}, `${account.display_name}（${account.login}）の仮のパスワードです。この画面を閉じると二度と表示されません。本人に安全な方法で伝えてください。`),
      h("p", { class: "secret" }, h("code", {}, password))));
  }

  confirmThen(question, action) {
    const error = h("p", { class: "error", role: "alert" });
    const ok = h("button", { type: "button", class: "btn danger" }, "はい");
    const cancel = h("button", { type: "button", class: "btn secondary" }, "やめる");
    const d = dialog("確認", h("div", {}, h("p", {}, question), error, h("div", { class: "form-actions" }, cancel, ok)));
    cancel.addEventListener("click", () => d.close());
    ok.addEventListener("click", async () => {
      try { await action(); d.close(); } catch (err) { error.textContent = err.message; }
    });
  }

  async originals() {
    const { requests } = await get("/api/v1/admin/original-requests?status=all");
    const pending = requests.filter((r) => r.status === "pending");
    const decided = requests.filter((r) => r.status !== "pending").reverse();
    const card = (r) => {
      const note = h("input", { id: `note-${r.id}`, maxlength: 1000, autocomplete: "off" });
      const error = h("p", { class: "error", role: "alert" });
      const decide = (approve) => async () => {
        try {
          await post(`/api/v1/admin/original-requests/${r.id}/decision`, { approve, note: note.value });
          announce(approve ? "承認しました" : "却下しました");
          this.show("originals");
        } catch (err) { error.textContent = err.message; }
      };
      return h("li", { class: "request" },
        h("p", {}, h("strong", {}, `申請 #${r.id}`), ` ファイル #${r.file_id} ／ 申請者 ${this.ctx.personName(r.requester)} ／ ${dateTime(new Date(r.created_at))}`),
        h("p", { class: "reason" }, "理由: ", r.reason),
        h("div", { class: "field" }, h("label", { for: `note-${r.id}` }, "メモ（申請者に伝わります）"), note),
        error,
        h("div", { class: "form-actions" },
          h("button", { type: "button", class: "btn secondary", onclick: decide(false) }, "却下する"),
          h("button", { type: "button", class: "btn", onclick: decide(true) }, "承認する")));
    };
    clear(this.panel,
      h("h3", {}, `審査待ち（${pending.length} 件）`),
      pending.length ? h("ul", { class: "requests" }, pending.map(card)) : h("p", { class: "muted" }, "審査待ちの申請はありません。"),
      h("h3", {}, "処理済み"),
      h("ul", { class: "requests" }, decided.slice(0, 50).map((r) => h("li", { class: "request" },
        h("p", {}, h("strong", {}, `申請 #${r.id}`), ` ${STATUS[r.status]} ／ ファイル #${r.file_id} ／ 申請者 ${this.ctx.personName(r.requester)}`),
        h("p", { class: "reason" }, "理由: ", r.reason, r.note ? ` ／ メモ: ${r.note}` : "")))));
  }

  async audit() {
    const result = h("p", { role: "status" });
    const verify = h("button", { type: "button", class: "btn", onclick: async () => {
      result.textContent = "検証しています…";
      try {
        const v = await get("/api/v1/admin/audit/verify");
        result.className = v.ok ? "ok" : "error";
        result.textContent = v.ok ? `改ざんはありません（${v.entries} 件を検証しました）。`
          : `記録 #${v.first_bad} 以降が改ざんされているか、欠けています。`;
      } catch (err) { result.className = "error"; result.textContent = err.message; }
    } }, "改ざんがないか検証する");
    const v = await get("/api/v1/admin/audit/verify");
    const after = Math.max(0, v.entries - 100);
    const { entries } = await get(`/api/v1/admin/audit?after=${after}&limit=100`);
    const rows = entries.reverse().map((e) => h("tr", {},
      h("td", {}, e.id), h("td", {}, dateTime(new Date(e.at))), h("td", {}, e.actor ? this.ctx.personName(e.actor) : "システム"),
      h("td", {}, h("code", {}, e.action)), h("td", {}, e.subject || ""),
      h("td", { class: "data" }, JSON.stringify(e.data))));
    clear(this.panel, h("div", { class: "verify" }, verify, result),
      h("h3", {}, "最近の記録（新しい順、100 件まで）"),
      h("div", { class: "table-wrap" }, h("table", { class: "audit" },
        h("thead", {}, h("tr", {}, ["#", "日時", "操作した人", "操作", "対象", "内容"].map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", {}, rows))));
  }
}
