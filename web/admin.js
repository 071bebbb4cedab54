// Administration (LGWAN only): accounts (create, disable, reset the password, enrol
// the one-time code — TOTP — for logins from the internet), rooms (members added or
// removed, archived or brought back: the same commands as relayctl, with the admin as
// the audited actor), requests for originals (approve / deny with a note), the audit
// log and the check of its hash chain.

import { h, clear, dialog, announce } from "./dom.js";
import { get, post } from "./api.js";
import { dateTime } from "./format.js";

const KINDS = { staff: "職員", external: "庁外", admin: "管理者" };
const STATUS = { pending: "審査待ち", approved: "承認済み", denied: "却下" };

export class Admin {
  constructor(ctx) {
    this.ctx = ctx;
    this.tabs = [["accounts", "アカウント"], ["rooms", "ルーム"], ["originals", "原本の申請"], ["audit", "監査ログ"]];
    this.current = "accounts";
    // The ルーム tab remembers its filter, the room open and the last result across redraws.
    this.roomFilter = { text: "", state: "open" };
    this.openRoom = null;
    this.roomResult = "";
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
    const views = { accounts: () => this.accounts(), rooms: () => this.rooms(), originals: () => this.originals(), audit: () => this.audit() };
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
          }) }, "パスワード再設定"),
        // Codes are asked on the internet listener only, where admins never log in.
        a.disabled || a.kind === "admin" ? null : h("button", { type: "button", class: "btn small secondary",
          onclick: (e) => { const opener = e.currentTarget; this.confirmThen(`${a.display_name} のワンタイムコード（2 段階目の確認）を設定しますか？ ` +
            "以前に設定した鍵があれば置き換わり、古い認証アプリの登録ではログインできなくなります。本人はいったんログアウトされます。", async () => {
            this.showTotp(a, await post(`/api/v1/admin/accounts/${a.id}/totp`), opener);
          }); } }, "ワンタイムコード設定"))));
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

  // The key is shown once, in groups of four for typing into an authenticator app; no QR
  // code (no library for one, and a typed key works in every app).
  showTotp(account, { secret, uri }, opener) {
    const grouped = secret.match(/.{1,4}/g).join(" ");
    dialog("ワンタイムコードの設定", h("div", { class: "totp" },
      h("p", {}, `${account.display_name}（${account.login}）のワンタイムコードの鍵です。`,
        h("strong", {}, "この画面を閉じると二度と表示されません。"), "以前に設定した鍵があれば、それはもう使えません。"),
      h("ol", {},
        h("li", {}, "本人のスマートフォンの認証アプリ（Google Authenticator、Microsoft Authenticator など）で「セットアップキーを入力」を選びます。"),
        h("li", {}, `アカウント名に「${account.login}」、キーに次の文字列を入力し、種類は「時間ベース」にします。`),
        h("li", {}, "庁外（インターネット側）からログインするときは、パスワードのあとにアプリの 6 桁の数字を入力します。")),
      h("p", { class: "secret totp-secret" }, h("code", {}, grouped)),
      h("p", { class: "muted" }, "QR コードは表示しません。鍵を手で入力してください。URI を登録できるアプリでは次の URI も使えます:"),
      h("p", { class: "totp-uri" }, h("code", {}, uri))),
    // Back to the row's button: the confirm dialog it came through is gone.
    { onClose: () => { if (opener && opener.isConnected) opener.focus(); } });
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

  // ---------------------------------------------------------------- ルーム
  async rooms() {
    const [{ rooms }, { accounts }] = await Promise.all([get("/api/v1/admin/rooms"), get("/api/v1/admin/accounts")]);
    this.roomList = rooms;
    this.accountsById = new Map(accounts.map((a) => [a.id, a]));
    const open = this.openRoom && rooms.find((r) => r.id === this.openRoom);
    if (open) this.roomDetail(open);
    else this.roomIndex();
  }

  roomIndex(focusFilter = false) {
    this.openRoom = null;
    const text = h("input", { id: "room-filter", type: "search", autocomplete: "off", value: this.roomFilter.text });
    const state = h("select", { id: "room-state" },
      [["open", "利用中"], ["archived", "アーカイブ済み"], ["all", "すべて"]].map(([v, label]) =>
        h("option", { value: v, selected: v === this.roomFilter.state }, label)));
    const count = h("p", { role: "status", class: "muted" });
    const list = h("ul", { class: "admin-rooms" });
    const draw = () => {
      this.roomFilter = { text: text.value, state: state.value };
      const words = text.value.trim().toLowerCase();
      const shown = this.roomList.filter((r) => (state.value === "all" || r.archived === (state.value === "archived"))
        && (!words || r.name.toLowerCase().includes(words)));
      count.textContent = `${shown.length} 件（全 ${this.roomList.length} 件）`;
      clear(list, shown.map((r) => h("li", { class: "admin-room" + (r.archived ? " is-archived" : "") },
        h("div", { class: "admin-room-main" },
          h("p", { class: "admin-room-name" }, r.name,
            r.kind === "direct" ? h("span", { class: "tag" }, "ダイレクト") : null,
            r.archived ? h("span", { class: "tag archived-tag" }, "アーカイブ済み") : null),
          h("p", { class: "muted" }, `部署: ${r.department || "なし"} ／ メンバー ${r.members.length} 人`)),
        h("button", { type: "button", class: "btn small secondary", "aria-label": `${r.name} のメンバーと設定`,
          onclick: () => { this.roomResult = ""; this.roomDetail(r); } }, "メンバー・設定"))));
      if (!shown.length) list.append(h("li", { class: "muted" }, "該当するルームはありません。"));
    };
    text.addEventListener("input", draw);
    state.addEventListener("change", draw);
    draw();
    clear(this.panel,
      h("div", { class: "form inline-form room-filters" },
        h("div", { class: "field" }, h("label", { for: "room-filter" }, "ルーム名で絞り込む"), text),
        h("div", { class: "field" }, h("label", { for: "room-state" }, "状態"), state)),
      count, list);
    if (focusFilter) text.focus();
  }

  roomDetail(room) {
    this.openRoom = room.id;
    const name = (id, i) => {
      const a = this.accountsById.get(id);
      return a ? `${a.display_name}（${a.login}）` : room.member_logins[i];
    };
    const done = (message) => (r) => {
      this.roomList = this.roomList.map((x) => (x.id === r.room.id ? r.room : x));
      this.roomResult = message;
      announce(message);
      this.roomDetail(r.room);
      // The button pressed is gone with the redraw: keyboard focus goes to the result, once
      // the confirm dialog has closed (the page behind a modal dialog takes no focus).
      setTimeout(() => { const result = this.panel.querySelector(".room-result"); if (result) result.focus(); }, 0);
    };
    const archive = room.archived
      ? h("button", { type: "button", class: "btn secondary", onclick: () => this.confirmThen(
        `「${room.name}」をアーカイブから戻しますか？ メンバーはまた投稿できるようになります。`, async () =>
          done(`「${room.name}」をアーカイブから戻しました`)(await post(`/api/v1/admin/rooms/${room.id}/archive`, { archived: false }))) },
      "アーカイブから戻す")
      : h("button", { type: "button", class: "btn secondary", onclick: () => this.confirmThen(
        `「${room.name}」をアーカイブしますか？ これまでのやりとりは読めますが、投稿できなくなります。`, async () =>
          done(`「${room.name}」をアーカイブしました`)(await post(`/api/v1/admin/rooms/${room.id}/archive`, { archived: true }))) },
      "アーカイブする");
    const members = room.members.map((id, i) => h("li", {},
      h("span", { class: "member-name" }, name(id, i)),
      h("button", { type: "button", class: "btn small secondary", "aria-label": `${name(id, i)} を外す`,
        onclick: () => this.confirmThen(`${name(id, i)} を「${room.name}」から外しますか？ このルームが見えなくなります（書いたメッセージは残ります）。`,
          async () => done(`${name(id, i)}を外しました`)(await post(`/api/v1/admin/rooms/${room.id}/members`,
            { login: room.member_logins[i], add: false }))) }, "外す")));
    let adding;
    if (room.kind === "direct") adding = h("p", { class: "muted" }, "ダイレクトにはメンバーを追加できません。");
    else if (room.archived) adding = h("p", { class: "muted" }, "アーカイブ済みのルームにはメンバーを追加できません。戻してから追加してください。");
    else {
      // Choosing from the directory: the enabled accounts not in the room, as suggestions
      // for the login (a municipality has too many people for a plain list).
      const candidates = [...this.accountsById.values()].filter((a) => !a.disabled && !room.members.includes(a.id));
      const login = h("input", { id: "room-add-login", list: "room-add-choices", required: true, autocomplete: "off", autocapitalize: "off" });
      const error = h("p", { class: "error", role: "alert" });
      adding = h("form", { class: "form inline-form", "aria-label": "メンバーの追加" },
        h("div", { class: "field" }, h("label", { for: "room-add-login" }, "追加する人（ログイン名・名簿から選べます）"), login,
          h("datalist", { id: "room-add-choices" }, candidates.map((a) =>
            h("option", { value: a.login }, `${a.display_name}（${KINDS[a.kind] || a.kind}）`)))),
        h("button", { type: "submit", class: "btn" }, "追加する"), error);
      adding.addEventListener("submit", (e) => {
        e.preventDefault();
        const who = [...this.accountsById.values()].find((a) => a.login === login.value.trim());
        if (!who) { error.textContent = "名簿にないログイン名です。候補から選んでください。"; return; }
        error.textContent = "";
        const label = `${who.display_name}（${who.login}）`;
        this.confirmThen(`${label} を「${room.name}」に追加しますか？ これまでのやりとりもすべて読めるようになります。`,
          async () => done(`${label}を追加しました`)(await post(`/api/v1/admin/rooms/${room.id}/members`,
            { login: who.login, add: true })));
      });
    }
    clear(this.panel,
      h("button", { type: "button", class: "btn small secondary", onclick: () => { this.roomResult = ""; this.roomIndex(); } }, "← ルーム一覧"),
      h("h3", {}, room.name, room.archived ? h("span", { class: "tag archived-tag" }, "アーカイブ済み") : null),
      h("p", { class: "muted" }, `${room.kind === "direct" ? "ダイレクト" : "グループ"} ／ 部署: ${room.department || "なし"} ／ メッセージ ${room.messages} 件` +
        (room.last_message_at ? ` ／ 最終投稿 ${dateTime(new Date(room.last_message_at))}` : "")),
      h("p", { class: "room-result ok", role: "status", tabindex: "-1" }, this.roomResult),
      h("div", { class: "form-actions room-archive" }, archive),
      h("h4", {}, `メンバー（${room.members.length} 人）`),
      h("ul", { class: "admin-members" }, members),
      h("h4", {}, "メンバーの追加"), adding);
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
