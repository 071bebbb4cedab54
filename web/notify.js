// Notifications while the page is open, and their settings: 通知 (the browser's
// permission, asked only from the 「通知を受け取る」 button), プッシュ通知 (pwa.js) and
// 業務時間外 (the after_hours opt-in of on-call staff).
//
// A new message from someone else is notified when it is in another room than the one
// shown, or while the page is hidden; never one's own, and never one whose
// notification business hours hold (message.created with notify: false: no pop-up, no
// sound — it is in the talk all the same, marked 「時間外（通知なし）」 while this page
// lives); its sender is told once when the others will be notified.  Urgent ones say 【緊急】 and stay until
// clicked.  They are shown through the service worker's registration, like pushes, so
// a click is handled in one place (web/sw.js) and a room's page and push notifications
// share one tag.  They name the sender and the room but carry no message text: on a
// shared PC a notification outlives the page in the system's notification centre;
// logging out closes this page's ones.  notify.digest (hours begin) becomes one toast
// and one notification.

import { h, clear, announce } from "./dom.js";
import { get, api } from "./api.js";
import { registerEvent, registerSessionHooks, registerSettingsSection } from "./extend.js";
import { registration, pushSection } from "./pwa.js";
import { dateTime } from "./format.js";

let active = null; // the App while logged in
const held = new Map(); // message id -> notify_at of the held ones seen by this page
let watcher = null; // marks them again whenever the talk redraws a message
const told = new Set(); // notify_at values the sender was already told of

function markHeld(root) {
  if (!held.size) return;
  for (const el of root.querySelectorAll(".msg[data-id]")) {
    const at = held.get(el.dataset.id);
    const meta = at !== undefined && !el.querySelector(".held") ? el.querySelector(".meta") : null;
    if (!meta) continue;
    const when = at ? `。${dateTime(new Date(at))}の業務開始時に、未読ならまとめてお知らせします` : "";
    meta.prepend(h("span", { class: "held", title: `業務時間外のため通知していません${when}` }, "時間外（通知なし）"));
  }
}
const supported = () => "Notification" in window;

async function show(title, options) {
  if (!supported() || Notification.permission !== "granted") return;
  const reg = await registration();
  if (reg) await reg.showNotification(title, { lang: "ja", ...options }).catch(() => {});
}

function messageCreated(ctx, ev) {
  const m = ev.message;
  if (!m) return;
  if (m.sender === ctx.me.id) {
    // One's own message after hours: said once per opening, not at every message.
    if (ev.notify === false && ev.notify_at && !told.has(ev.notify_at)) {
      told.add(ev.notify_at);
      ctx.toast(`業務時間外のため、ほかのメンバーへの通知は ${dateTime(new Date(ev.notify_at))} に送られます（当番・待機中の人にはすぐ届きます）。`);
    }
    return;
  }
  if (ev.notify === false) {
    held.set(m.id, ev.notify_at || null);
    markHeld(ctx.talk.el);
    return;
  }
  // The room is on screen only in the talk view (not behind 検索 or 設定).
  const shown = ctx.current && ctx.current.id === m.room_id && ctx.main.dataset.view === "talk"
    && document.visibilityState === "visible";
  if (shown) return;
  const room = ctx.rooms.find((r) => r.id === m.room_id);
  const who = ctx.personName(m.sender);
  show(`${m.urgent ? "【緊急】" : ""}${who}さんから新しいメッセージ`, {
    body: room ? `トーク「${ctx.roomName(room)}」` : "新しいトーク",
    tag: `room-${m.room_id}`,
    renotify: true,
    requireInteraction: !!m.urgent,
    data: { room_id: m.room_id, urgent: !!m.urgent },
  });
}

function digest(ctx, ev) {
  const rooms = ev.rooms || [];
  if (!ev.total) return;
  const where = rooms.length > 1 ? `（${rooms.length} つのトーク）` : "";
  const text = `業務時間外に届いた未読のメッセージが ${ev.total} 件あります${where}。`;
  ctx.toast(text);
  show("業務時間外のメッセージ", {
    body: text, tag: "digest", data: { room_id: rooms.length === 1 ? rooms[0].room_id : null },
  });
}

function openFromHash() {
  const m = /^#room=(\d{1,18})$/.exec(location.hash);
  if (!m || !active) return;
  history.replaceState(null, "", location.pathname + location.search);
  active.openRoom(m[1]);
}

function fromWorker(event) {
  const d = event.data || {};
  if (d.type === "open-room" && active && typeof d.room_id === "string") active.openRoom(d.room_id);
}

async function closeAll() {
  const reg = await registration();
  if (!reg) return;
  for (const n of await reg.getNotifications()) n.close();
}

if ("serviceWorker" in navigator) navigator.serviceWorker.addEventListener("message", fromWorker);
window.addEventListener("hashchange", openFromHash);
registerEvent("message.created", messageCreated);
registerEvent("notify.digest", digest);
registerSessionHooks({
  start: (ctx) => {
    active = ctx;
    watcher = new MutationObserver(() => markHeld(ctx.talk.el));
    watcher.observe(ctx.talk.el, { childList: true, subtree: true });
    openFromHash();
  },
  leave: () => {
    active = null;
    held.clear();
    told.clear();
    if (watcher) watcher.disconnect();
    closeAll().catch(() => {}); // not awaited: logging out never waits for the worker
  },
});

// ------------------------------------------------------------------ 設定

function permissionSection() {
  const body = h("div", {});
  const draw = () => {
    if (!window.isSecureContext) {
      // Browsers allow notifications (and service workers) only over HTTPS.
      clear(body, h("p", { class: "muted" }, "この接続（暗号化されていない HTTP）では、ブラウザーの通知は使えません。"
        + "新しいメッセージはトーク一覧の未読の数でお知らせします。"));
      return;
    }
    if (!supported()) {
      clear(body, h("p", { class: "muted" }, "このブラウザーは通知に対応していません。"));
      return;
    }
    const about = h("p", { class: "muted small" }, "ほかのトークに届いたメッセージや、この画面を見ていない間に届いたメッセージを"
      + "デスクトップ（スマートフォンでは画面上部）にお知らせします。通知にメッセージの内容は表示されません。");
    if (Notification.permission === "granted") {
      clear(body, h("p", { class: "ok" }, "通知は有効です。"), about);
    } else if (Notification.permission === "denied") {
      clear(body, h("p", {}, "通知はブラウザーでブロックされています。アドレスバーのサイト情報（鍵のマーク）から通知を許可してください。"), about);
    } else {
      clear(body, h("button", { type: "button", class: "btn", onclick: async () => {
        await Notification.requestPermission();
        draw();
        announce(Notification.permission === "granted" ? "通知を有効にしました" : "通知は許可されませんでした");
      } }, "通知を受け取る"), about);
    }
  };
  draw();
  return h("section", { class: "card", "aria-labelledby": "set-notify" },
    h("h3", { id: "set-notify" }, "通知"), body);
}

function afterHoursSection() {
  const problem = h("p", { class: "error", role: "alert" });
  const box = h("input", { type: "checkbox", id: "after-hours", disabled: true });
  get("/api/v1/me/settings").then((s) => { box.checked = !!s.after_hours; box.disabled = false; })
    .catch((err) => { problem.textContent = err.message; });
  box.addEventListener("change", async () => {
    problem.textContent = "";
    box.disabled = true;
    try {
      const s = await api("PUT", "/api/v1/me/settings", { after_hours: box.checked });
      box.checked = !!s.after_hours;
      announce(box.checked ? "業務時間外も通知します" : "業務時間外の通知は業務開始時にまとめてお知らせします");
    } catch (err) {
      box.checked = !box.checked;
      problem.textContent = err.message;
    } finally {
      box.disabled = false;
    }
  });
  return h("section", { class: "card", "aria-labelledby": "set-hours" },
    h("h3", { id: "set-hours" }, "業務時間外の通知"),
    h("label", { class: "switch", for: "after-hours" }, box, "当番・待機中は時間外も通知する"),
    h("p", { class: "muted small" }, "業務時間外に届いたメッセージは、すぐに画面に表示されますが通知はしません。"
      + "次の業務開始時に、まだ読んでいない分をまとめてお知らせします。緊急のメッセージと参集確認はいつでも通知されます。"),
    problem);
}

registerSettingsSection(permissionSection);
registerSettingsSection(pushSection);
registerSettingsSection(afterHoursSection);
