// The installable app: the service worker (/sw.js — web/sw.js says what it keeps and
// why nothing personal) registered at every load, and Web Push for this device.
//
// Web Push is offered on the internet listener only (phones; relayd refuses it
// elsewhere with push_internet_only).  Turning it on asks the browser's permission
// (from the click), subscribes with relayd's VAPID key and gives relayd the
// subscription; relayd's id for it is kept in localStorage under this browser's
// endpoint — an id, nothing of a message — so it can be deleted again.  Logging out
// turns it off (a phone passed on, a shared PC): the next person gets nobody's pushes.

import { h, clear, announce } from "./dom.js";
import { get, post, del } from "./api.js";
import { registerSessionHooks } from "./extend.js";

const PUSH_KEY = "kakehashi.push";
let worker = null; // Promise<ServiceWorkerRegistration | null>
export let workerProblem = null; // why there is no worker, for 設定

function start() {
  if (!("serviceWorker" in navigator)) {
    workerProblem = "このブラウザーはアプリとしての利用（Service Worker）に対応していません。";
    worker = Promise.resolve(null);
    return;
  }
  worker = navigator.serviceWorker.register("/sw.js", { scope: "/" })
    .then(() => navigator.serviceWorker.ready)
    .catch((err) => {
      workerProblem = `Service Worker を登録できませんでした（${err.name}）。`;
      return null;
    });
}
start();

// The active worker's registration (notifications are shown through it), or null —
// also when it is not active within 10 s (an install that failed never becomes ready).
export function registration() {
  return Promise.race([worker, new Promise((resolve) => { setTimeout(() => resolve(null), 10000); })]);
}

function saved() {
  try { return JSON.parse(localStorage.getItem(PUSH_KEY) || "null"); } catch { return null; }
}

function keep(value) {
  try {
    if (value) localStorage.setItem(PUSH_KEY, JSON.stringify(value));
    else localStorage.removeItem(PUSH_KEY);
  } catch { /* storage refused: relayd's 404/410 ends it later */ }
}

function keyBytes(b64url) {
  const s = atob(b64url.replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

const pushSupported = () => "PushManager" in window && "Notification" in window;

// This device's subscription for this account, or null.
async function current(ctx) {
  const reg = await registration();
  if (!reg || !pushSupported()) return null;
  const sub = await reg.pushManager.getSubscription();
  const mine = saved();
  return sub && mine && mine.endpoint === sub.endpoint && mine.account === ctx.me.id ? { sub, id: mine.id } : null;
}

export async function pushOn(ctx) {
  // First, while the click still counts as the person's: the browser asks them.
  const permission = await Notification.requestPermission();
  if (permission !== "granted") {
    throw new Error("通知が許可されていません。ブラウザーのサイトの設定で通知を許可してください。");
  }
  const reg = await registration();
  if (!reg) throw new Error(workerProblem || "Service Worker が使えません。");
  const { public_key: key } = await get("/api/v1/push/key");
  let sub;
  try {
    sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(key) });
  } catch (err) {
    throw new Error(`この端末ではプッシュ通知を登録できませんでした。ブラウザーがプッシュ通知のサービスに接続できません（${err.name}）。`);
  }
  try {
    const { id } = await post("/api/v1/push/subscriptions", sub.toJSON());
    keep({ account: ctx.me.id, endpoint: sub.endpoint, id });
  } catch (err) {
    await sub.unsubscribe().catch(() => {});
    throw err;
  }
}

// live: the session still works, so relayd is told too; otherwise only the browser
// forgets it (relayd drops it when the push service answers 410).
export async function pushOff(ctx, live = true) {
  const reg = await registration();
  const sub = reg && pushSupported() ? await reg.pushManager.getSubscription() : null;
  const mine = saved();
  keep(null);
  if (live && mine && (!ctx || mine.account === ctx.me.id)) {
    await del(`/api/v1/push/subscriptions/${mine.id}`).catch(() => {});
  }
  if (sub) await sub.unsubscribe().catch(() => {});
}

registerSessionHooks({ leave: (ctx, live) => (saved() ? pushOff(ctx, live) : undefined) });

// 設定's section: Web Push for this device.
export function pushSection(ctx) {
  const body = h("div", {}, h("p", { class: "muted" }, "確認しています…"));
  const el = h("section", { class: "card push", "aria-labelledby": "set-push" },
    h("h3", { id: "set-push" }, "プッシュ通知（この端末）"), body);
  drawPush(ctx, body);
  return el;
}

async function drawPush(ctx, body) {
  if (ctx.zone !== "internet") {
    clear(body, h("p", { class: "muted" }, "プッシュ通知は、インターネット側（スマートフォン）から使う場合だけ登録できます。"
      + "庁内（LGWAN）の端末では、この画面を開いている間の通知をお使いください。"));
    return;
  }
  const reg = await registration();
  if (!reg || !pushSupported()) {
    // Safari on iPhone offers push only to the app added to the home screen.
    const ios = /iPhone|iPad/.test(navigator.userAgent);
    clear(body, h("p", { class: "muted" }, !pushSupported() ? (ios
      ? "iPhone・iPad では、共有メニューの「ホーム画面に追加」で追加した架け橋を開いて、ここで設定してください。"
      : "このブラウザーはプッシュ通知に対応していません。")
      : workerProblem || "Service Worker の準備ができていません。ページを再読み込みしてください。"));
    return;
  }
  let on = !!(await current(ctx).catch(() => null));
  const problem = h("p", { class: "error", role: "alert" });
  const state = h("p", { class: "ok", role: "status" });
  const box = h("input", { type: "checkbox", id: "push-on", checked: on });
  box.addEventListener("change", async () => {
    problem.textContent = "";
    state.textContent = "";
    box.disabled = true;
    try {
      if (box.checked) await pushOn(ctx); else await pushOff(ctx);
      on = box.checked;
      state.textContent = on ? "この端末でプッシュ通知を受け取ります。" : "この端末のプッシュ通知を止めました。";
      announce(state.textContent);
    } catch (err) {
      box.checked = on;
      problem.textContent = err.message;
    } finally {
      box.disabled = false;
    }
  });
  clear(body,
    h("label", { class: "switch", for: "push-on" }, box, "この端末でプッシュ通知を受け取る"),
    h("p", { class: "muted small" }, "画面を閉じていても、新しいメッセージが届いたことをお知らせします。"
      + "通知にメッセージの内容は表示されません。ログアウトすると解除されます。"),
    state, problem);
}
