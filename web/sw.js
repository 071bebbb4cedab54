// The web client's service worker, served at /sw.js so that it controls "/".  relayd
// writes two constants above this comment: SHELL (the page "/" and every hashed asset,
// the only URLs this worker ever keeps) and VERSION (changes with any of them, so a
// new relayd brings a new worker that drops the old copy).
//
// What it keeps, and why so little.  The same client runs on shared LGWAN PCs: after
// one person logs out, the next must find nothing of theirs.  So the worker keeps only
// what is the same for everybody and holds nothing personal — the page's HTML (static:
// who is logged in is asked of /api/v1/session at every load) and the hashed,
// immutable scripts, styles and icons — and it never answers, reads or keeps anything
// under /api/ (nor the WebSocket, which workers never see): those requests go past it
// to relayd as if there were no worker (in Chromium a static route sends them to the
// network without waking the worker at all).  The page comes from relayd whenever relayd
// answers; the kept copy is only for opening the installed app with no network,
// where it says in Japanese that relayd cannot be reached instead of a browser error.
//
// Notifications.  A Web Push from relayd carries no text — only that a message came,
// in which room and whether it is urgent — and the worker fetches nothing to name the
// sender or the room (that would put names in a background request and, on a shared
// device, in the notification centre after logout), so it says 「新しいメッセージが
// あります」.  Page and push notifications of a room share one tag: a room shows at
// most one.  A click opens the page at that room.

const CACHE = `kakehashi-shell-${VERSION}`;

self.addEventListener("install", (event) => {
  // Where the browser can (Static Routing API), /api/ does not even wake the worker:
  // those requests go straight to relayd.  Elsewhere the fetch handler lets them by.
  const routed = event.addRoutes
    ? Promise.resolve(event.addRoutes([{ condition: { urlPattern: "/api/*" }, source: "network" }]))
      .catch(() => {})
    : Promise.resolve();
  event.waitUntil(Promise.all([routed, caches.open(CACHE).then((c) => c.addAll(SHELL))])
    .then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

self.addEventListener("fetch", (event) => {
  const req = event.request;
  if (req.method !== "GET") return;
  const url = new URL(req.url);
  if (url.origin !== self.location.origin) return;
  if (req.mode === "navigate" && url.pathname === "/") {
    // relayd first: a new version is picked up at once; the copy only when offline.
    event.respondWith(fetch(req).catch(() => caches.open(CACHE).then((c) => c.match("/"))
      .then((hit) => hit || Response.error())));
  } else if (url.pathname.startsWith("/assets/")) {
    // Hashed names never change content: the kept copy is as good as relayd's.
    event.respondWith(caches.open(CACHE).then((c) => c.match(req)).then((hit) => hit || fetch(req)));
  }
  // Anything else (/api/…, /sw.js, the manifest) is not answered here: the browser
  // asks relayd, and nothing of it is kept.
});

function roomTag(roomId) { return `room-${roomId}`; }

async function pushed(data) {
  const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  // The page in front shows its own notifications (with names): no second one.
  if (windows.some((w) => w.focused && w.visibilityState === "visible")) return;
  const urgent = data.urgent === true;
  const roomId = typeof data.room_id === "string" ? data.room_id : null;
  await self.registration.showNotification(
    urgent ? "【緊急】新しいメッセージがあります" : "新しいメッセージがあります", {
      body: "架け橋を開いて確認してください",
      tag: roomId ? roomTag(roomId) : "message",
      renotify: true,
      requireInteraction: urgent,
      lang: "ja",
      data: { room_id: roomId, urgent },
    });
}

self.addEventListener("push", (event) => {
  let data = {};
  try { data = event.data ? event.data.json() : {}; } catch { /* not ours: shown plain */ }
  event.waitUntil(pushed(data && typeof data === "object" ? data : {}));
});

// The room of a clicked notification: an open page goes there itself (it is told
// through postMessage and brought to the front); with none, a new one opens at
// /#room=<id> and goes there once logged in.
async function openRoom(roomId) {
  const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  const page = windows.find((w) => new URL(w.url).origin === self.location.origin);
  if (page) {
    page.postMessage({ type: "open-room", room_id: roomId });
    try { await page.focus(); } catch { /* not allowed without a click: it still went there */ }
    return;
  }
  await self.clients.openWindow(roomId ? `/#room=${roomId}` : "/");
}

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const data = event.notification.data || {};
  event.waitUntil(openRoom(typeof data.room_id === "string" ? data.room_id : null));
});
