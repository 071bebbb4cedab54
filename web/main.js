// The page: who is logged in, the shell (header, room list, talk, search, settings,
// admin; bottom tabs on phones), the live stream and what each event changes.
// Everything lives in memory only: logging out (or the session ending) drops it all
// and shows the login screen.

import { h, clear, announce } from "./dom.js";
import { get, post, onSessionEnded, newClientId } from "./api.js";
import { Stream } from "./stream.js";
import { loginView, passwordChangeView } from "./login.js";
import { RoomList } from "./rooms.js";
import { Talk } from "./talk.js";
import { Admin } from "./admin.js";
import { Search } from "./search.js";
import { Settings } from "./settings.js";
import { loadStamps } from "./stamps.js";
import { loadPrefs, resetPrefs } from "./prefs.js";
import { eventHandlers, views, sessionHooks } from "./extend.js";
import "./pwa.js";
import "./notify.js";
import "./sessions.js";
import "./locations.js";
import "./memos.js";
import "./timed.js";
import "./tasks.js";
import "./notes.js";
import "./polls.js";
import "./schedules.js";
import "./rollcalls.js";
import "./approvals.js";

const root = document.getElementById("app");
let ctx = null;

function byActivity(a, b) {
  const ta = a.last_message ? a.last_message.created_at : "";
  const tb = b.last_message ? b.last_message.created_at : "";
  if (ta !== tb) return ta < tb ? 1 : -1;
  return Number(b.id) - Number(a.id);
}

class App {
  constructor(me, zone) {
    this.me = me;
    this.zone = zone;
    this.people = new Map([[me.id, me]]);
    this.rooms = [];
    this.current = null;
    this.drafts = new Map();
    this.originals = new Map(); // file id -> this session's OriginalRequest
    this.readUpTo = new Map(); // room id -> last id we marked read
    this.stamps = new Map(); // stamp id -> label
    this.roomsView = new RoomList(this);
    this.talk = new Talk(this);
    this.search = new Search(this);
    this.settings = new Settings(this);
    this.admin = me.kind === "admin" ? new Admin(this) : null;
    this.banner = h("div", { class: "banner", role: "status", hidden: true }, "接続が切れました。再接続しています…");
    this.toastEl = h("div", { class: "toast", role: "alert", hidden: true });
    // The same tabs twice: in the top bar on wide screens, at the bottom on phones;
    // CSS shows one of them.
    const tabs = [["list", "トーク", () => this.showList()], ["search", "検索", () => this.showSearch()],
      ["settings", "設定", () => this.showSettings()]];
    // Pages of the feature modules (extend.js), before 設定.
    this.pages = new Map();
    for (const v of views) {
      if (!v.when(this)) continue;
      const page = v.create(this);
      page.el.classList.add("ext-page");
      page.el.dataset.page = v.view;
      this.pages.set(v.view, page);
      tabs.splice(tabs.length - 1, 0, [v.view, v.label, () => this.showPage(v.view)]);
    }
    if (this.admin) tabs.push(["admin", "管理", () => this.showAdmin()]);
    const nav = (cls, label) => h("nav", { class: cls, "aria-label": label }, tabs.map(([view, text, fn]) =>
      h("button", { type: "button", class: "nav-btn", dataset: { view }, onclick: fn }, text)));
    this.main = h("main", { class: "layout", dataset: { view: "list" } },
      this.roomsView.el, this.talk.el, this.search.el, this.settings.el);
    for (const page of this.pages.values()) this.main.append(page.el);
    if (this.admin) this.main.append(this.admin.el);
    this.navs = [nav("nav", "メニュー"), nav("tabbar", "メニュー（下）")];
    clear(root,
      h("header", { class: "topbar" },
        h("h1", { class: "brand" }, "架け橋"),
        h("span", { class: `zone zone-${zone}` }, zone === "lgwan" ? "庁内" : "庁外"),
        this.navs[0],
        h("span", { class: "me", title: me.login }, me.display_name),
        h("button", { type: "button", class: "btn secondary logout", onclick: () => this.logout() }, "ログアウト")),
      this.banner, this.main, this.navs[1], this.toastEl);
    this.setView("list");
    this.stream = new Stream({
      onEvent: (ev) => this.event(ev),
      onOpen: (reconnected) => { this.banner.hidden = true; if (reconnected) this.resync(); },
      onDown: () => { this.banner.hidden = false; },
      stillLoggedIn: () => this.stillLoggedIn(),
    });
    document.addEventListener("visibilitychange", this.visible);
  }

  visible = () => { if (document.visibilityState === "visible") this.talk.markRead(); };

  async start() {
    loadPrefs(this.me.id);
    this.talk.composer.showHint();
    await Promise.all([this.loadPeople(), this.loadRooms(), loadStamps(this)]);
    this.roomsView.render();
    this.stream.start();
    for (const k of sessionHooks) k.start(this);
  }

  // Staff get the directory; an outside partner the people it shares a room with.
  async loadPeople() {
    try {
      for (const p of (await get("/api/v1/accounts")).accounts) this.people.set(p.id, p);
    } catch { /* the names fall back to ids */ }
  }

  async loadRooms() {
    this.rooms = (await get("/api/v1/rooms")).rooms.sort(byActivity);
    if (this.current) this.current = this.rooms.find((r) => r.id === this.current.id) || this.current;
  }

  async resync() {
    try {
      await this.loadRooms();
      this.roomsView.render();
      await this.talk.catchUp();
    } catch { /* the next reconnect tries again */ }
  }

  async stillLoggedIn() {
    try {
      const { account } = await get("/api/v1/session");
      if (account) return true;
    } catch {
      return true; // relayd unreachable: keep trying
    }
    this.sessionEnded();
    return false;
  }

  // ---------------------------------------------------------------- helpers for views
  personName(id) {
    const p = this.people.get(id);
    return p ? p.display_name : `メンバー ${id}`;
  }

  roomName(room) {
    if (room.kind === "direct") {
      const other = room.members.find((id) => id !== this.me.id);
      if (other && this.people.has(other)) return this.people.get(other).display_name;
    }
    return room.name;
  }

  hasExternal(room) {
    return this.me.kind !== "external" && room.members.some((id) => {
      const p = this.people.get(id);
      return p && p.kind === "external";
    });
  }

  toast(text) {
    this.toastEl.textContent = text;
    this.toastEl.hidden = false;
    clearTimeout(this.toastTimer);
    this.toastTimer = setTimeout(() => { this.toastEl.hidden = true; }, 6000);
  }

  // ---------------------------------------------------------------- navigation
  // The tab of a view is marked current in both tab bars.
  setView(view) {
    this.main.dataset.view = view;
    this.main.classList.toggle("on-page", this.pages.has(view));
    for (const [name, page] of this.pages) page.el.classList.toggle("current-page", name === view);
    const tab = view === "talk" ? "list" : view;
    for (const n of this.navs) {
      for (const b of n.children) b.setAttribute("aria-current", b.dataset.view === tab ? "page" : "false");
    }
  }

  showList() {
    this.setView(this.current ? "talk" : "list");
    if (window.matchMedia("(max-width: 799px)").matches) {
      this.setView("list");
      this.current = null;
      this.talk.close();
    }
    this.roomsView.render();
  }

  showAdmin() {
    this.setView("admin");
    this.admin.show();
  }

  showSearch() {
    this.setView("search");
    this.search.show();
  }

  showPage(view) {
    this.setView(view);
    this.pages.get(view).show();
  }

  showSettings() {
    this.setView("settings");
    this.settings.show();
  }

  async openRoom(id, at = null) {
    const room = this.rooms.find((r) => r.id === id);
    if (!room) return;
    this.current = room;
    this.setView("talk");
    this.roomsView.render();
    try {
      await this.talk.open(room, at);
    } catch (err) {
      this.toast(err.message);
    }
  }

  roomCreated(room) {
    if (!this.rooms.some((r) => r.id === room.id)) this.rooms.unshift({ ...room, unread: 0, last_message: null });
    this.roomsView.render();
  }

  // ---------------------------------------------------------------- messages
  // extra: { reply_to, stamp } (a stamp message has no body).
  async sendMessage(roomId, text, extra = {}) {
    const key = newClientId();
    if (this.current && this.current.id === roomId) this.talk.showPending(key, text);
    const body = { client_id: key, ...extra };
    if (!extra.stamp) body.body = text;
    try {
      const message = await post(`/api/v1/rooms/${roomId}/messages`, body);
      this.messageArrived(message);
    } finally {
      this.talk.dropPending(key);
    }
  }

  messageArrived(m) {
    const room = this.rooms.find((r) => r.id === m.room_id);
    if (room) {
      const isNew = !room.last_message || BigInt(room.last_message.id) < BigInt(m.id);
      if (isNew) room.last_message = m;
      const open = this.current && this.current.id === m.room_id;
      if (isNew && m.sender !== this.me.id && !(open && document.visibilityState === "visible")) {
        room.unread += 1;
        if ((m.mentions || []).includes(this.me.id)) room.mentions = (room.mentions || 0) + 1;
      }
      this.rooms.sort(byActivity);
      this.roomsView.render();
    } else {
      this.loadRooms().then(() => this.roomsView.render());
    }
    if (this.current && this.current.id === m.room_id) this.talk.arrived(m);
  }

  // Taken out of a room (by an admin or relayctl): it leaves the list, and the talk
  // closes with a word why.
  leftRoom(roomId) {
    const room = this.rooms.find((r) => r.id === roomId);
    this.rooms = this.rooms.filter((r) => r.id !== roomId);
    if (this.current && this.current.id === roomId) {
      this.current = null;
      this.talk.close();
      this.setView("list");
    }
    this.roomsView.render();
    if (room) this.toast(`トーク「${this.roomName(room)}」のメンバーから外れました。`);
  }

  markRead(roomId, upTo) {
    const done = this.readUpTo.get(roomId);
    if (done && BigInt(done) >= BigInt(upTo)) return;
    this.readUpTo.set(roomId, upTo);
    const room = this.rooms.find((r) => r.id === roomId);
    if (room && (room.unread || room.mentions)) { room.unread = 0; room.mentions = 0; this.roomsView.render(); }
    if (!this.stream.send({ type: "read", room_id: roomId, up_to: upTo })) {
      post(`/api/v1/rooms/${roomId}/read`, { up_to: upTo }).catch(() => {});
    }
  }

  refreshFile(fileId) { this.talk.refreshFile(fileId); }

  // An edit or deletion (ours, or from the stream).
  messageChanged(m) {
    const room = this.rooms.find((r) => r.id === m.room_id);
    if (room && room.last_message && room.last_message.id === m.id) {
      room.last_message = m;
      this.roomsView.render();
    }
    if (this.current && this.current.id === m.room_id) this.talk.changed(m);
  }

  event(ev) {
    switch (ev.type) {
      case "message.created": this.messageArrived(ev.message); break;
      case "message.read":
        if (this.current && this.current.id === ev.room_id && ev.account_id !== this.me.id) this.talk.readMoved();
        break;
      case "message.updated":
      case "message.deleted":
        this.messageChanged(ev.message);
        // relayd no longer counts a deleted mention: take its count again.
        if (ev.type === "message.deleted" && this.rooms.some((r) => r.id === ev.room_id && r.mentions)) {
          this.loadRooms().then(() => this.roomsView.render()).catch(() => {});
        }
        break;
      case "reaction.changed":
        if (this.current && this.current.id === ev.room_id) this.talk.reactions(ev.message_id, ev.reactions);
        break;
      case "file.ready":
      case "file.blocked":
        this.talk.updateAttachment(ev.file);
        break;
      case "room.created":
      case "room.member_added":
        // Someone new may have come into sight (an outside partner sees only co-members).
        Promise.all([this.loadRooms(), this.loadPeople()]).then(() => this.roomsView.render());
        if (ev.type === "room.created") announce(`新しいトーク「${this.roomName(ev.room)}」に参加しました`);
        break;
      case "room.member_removed":
        if (ev.account_id === this.me.id) this.leftRoom(ev.room_id);
        else this.loadRooms().then(() => this.roomsView.render()).catch(() => {});
        break;
      case "room.archived":
      case "room.unarchived": {
        const room = this.rooms.find((r) => r.id === ev.room_id);
        if (room) room.archived = ev.type === "room.archived";
        this.roomsView.render();
        if (this.current && this.current.id === ev.room_id) {
          this.talk.setArchived(ev.type === "room.archived");
          this.toast(ev.type === "room.archived"
            ? "このトークはアーカイブされました。読むことはできますが、送信はできません。"
            : "このトークのアーカイブが解除されました。また送信できます。");
        }
        break;
      }
      case "original.decided":
        this.originals.set(ev.request.file_id, ev.request);
        this.talk.refreshFile(ev.request.file_id);
        this.toast(ev.request.status === "approved" ? "原本の申請が承認されました。ダウンロードできます。" : "原本の申請は却下されました。");
        break;
      default:
        break;
    }
    for (const fn of eventHandlers.get(ev.type) || []) fn(this, ev);
  }

  // ---------------------------------------------------------------- session
  async logout() {
    await Promise.allSettled(sessionHooks.map((k) => k.leave(this, true)));
    try { await post("/api/v1/logout"); } catch { /* the session ends either way */ }
    this.teardown();
    showLogin("ログアウトしました。");
  }

  sessionEnded() {
    if (ctx !== this) return;
    for (const k of sessionHooks) k.leave(this, false);
    this.teardown();
    showLogin("ログインの有効期限が切れたか、ログアウトされました。もう一度ログインしてください。");
  }

  teardown() {
    this.stream.stop();
    resetPrefs();
    document.removeEventListener("visibilitychange", this.visible);
    this.drafts.clear();
    ctx = null;
  }
}

function showLogin(notice) {
  for (const d of document.querySelectorAll("dialog")) d.remove();
  loginView(root, { notice, onLoggedIn: () => boot() });
}

async function enter(account, zone) {
  if (account.password_change_required || account.must_change_password) {
    passwordChangeView(root, { onDone: () => boot(), onLogout: async () => {
      try { await post("/api/v1/logout"); } catch { /* the session ends either way */ }
      showLogin("ログアウトしました。");
    } });
    return;
  }
  ctx = new App(account, zone);
  await ctx.start();
}

async function boot() {
  let session;
  try {
    session = await get("/api/v1/session");
  } catch (err) {
    clear(root, h("main", { class: "login" }, h("p", { class: "error" }, err.message)));
    return;
  }
  if (!session.account) {
    showLogin(session.cookie === false
      ? "この接続（暗号化されていない HTTP）ではブラウザーのログインが無効です。管理者にお問い合わせください。" : null);
    return;
  }
  await enter(session.account, session.zone);
}

onSessionEnded(() => { if (ctx) ctx.sessionEnded(); });
boot();
