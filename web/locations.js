// 位置情報: 「＋」 → 「現在地を送る」 takes the phone's position (the browser's
// Geolocation API: GPS on a phone) and posts it with an optional label; the card shows
// the label, the coordinates, the accuracy and links that open the place in a map.
//
// No map is drawn in the page: LGWAN PCs have no internet and the page fetches nothing
// from elsewhere (CSP default-src 'self').  A map is only ever a plain link the person
// follows — a geo: URI for the phone's map app, and 地理院地図 (GSI) behind the usual
// 「外部サイトへ移動します」 confirmation.  The position is taken only when the person
// presses the button, and shown before it is sent.

import { h, dialog, announce } from "./dom.js";
import { post, newClientId } from "./api.js";
import { registerComposerAction } from "./extend.js";
import { registerContent } from "./cards.js";

const MAX_LABEL = 200;

// Why there is no position, as the person can act on it.
function whyNot(err) {
  if (!window.isSecureContext) {
    return "暗号化されていない接続（http://）では、ブラウザーが位置情報を使わせません。"
      + "スマートフォンから https:// の接続で開いてください。";
  }
  if (!err) return "このブラウザーは位置情報に対応していません。";
  if (err.code === 1) {
    return "位置情報の利用が許可されていません。ブラウザーのアドレス欄の鍵のマーク（またはスマートフォンの"
      + "「設定」→ ブラウザー → 位置情報）で、このサイトに位置情報を許可してから、もう一度お試しください。";
  }
  if (err.code === 3) return "現在地の取得に時間がかかりすぎました。空が見える場所で、もう一度お試しください。";
  return "現在地がわかりませんでした。端末の位置情報（GPS）がオンになっているか確認し、"
    + "屋外や窓の近くでもう一度お試しください。";
}

function position() {
  return new Promise((resolve, reject) => {
    if (!window.isSecureContext || !navigator.geolocation) { reject(null); return; }
    navigator.geolocation.getCurrentPosition(resolve, reject,
      { enableHighAccuracy: true, timeout: 30000, maximumAge: 60000 });
  });
}

// 北緯 35.689487° 東経 139.691706° (南緯 / 西経 for the other halves).
export function coordinates(lat, lon) {
  const ns = lat < 0 ? "南緯" : "北緯";
  const ew = lon < 0 ? "西経" : "東経";
  return `${ns} ${Math.abs(lat).toFixed(6)}° ${ew} ${Math.abs(lon).toFixed(6)}°`;
}

function accuracyText(m) {
  if (m === null || m === undefined) return "";
  return m >= 1000 ? `誤差 約 ${(m / 1000).toFixed(1)} km` : `誤差 約 ${Math.round(m)} m`;
}

function sendLocation(ctx, room) {
  const label = h("input", { id: "loc-label", type: "text", maxlength: MAX_LABEL, autocomplete: "off",
    placeholder: "例：〇〇川 △△橋の北側", "aria-describedby": "loc-label-hint" });
  const status = h("p", { class: "loc-status", role: "status" });
  const error = h("p", { class: "error", role: "alert" });
  const take = h("button", { type: "button", class: "btn secondary" }, "現在地を取得する");
  const send = h("button", { type: "submit", class: "btn", disabled: true }, "この位置を送る");
  let found = null;
  const form = h("form", { class: "form" },
    h("p", { class: "muted" }, "端末の位置情報（スマートフォンの GPS）で現在地を取得し、トークに送ります。"
      + "ブラウザーが許可を求めたら「許可」を選んでください。"),
    h("div", { class: "field" }, h("label", { for: "loc-label" }, "場所の説明（任意）"), label,
      h("p", { id: "loc-label-hint", class: "hint" }, "何の場所かがわかるように書くと親切です。")),
    h("div", { class: "loc-take" }, take, status), error,
    h("div", { class: "form-actions" },
      h("button", { type: "button", class: "btn secondary", onclick: () => d.close() }, "やめる"), send));
  const d = dialog("現在地を送る", form);
  take.focus();

  take.addEventListener("click", async () => {
    error.textContent = "";
    status.textContent = "現在地を取得しています…";
    take.disabled = true;
    try {
      const p = await position();
      found = { lat: p.coords.latitude, lon: p.coords.longitude,
        accuracy_m: Number.isFinite(p.coords.accuracy) ? Math.min(p.coords.accuracy, 100000) : undefined };
      status.textContent = `${coordinates(found.lat, found.lon)}${found.accuracy_m !== undefined
        ? `（${accuracyText(found.accuracy_m)}）` : ""}`;
      send.disabled = false;
      send.focus();
    } catch (err) {
      found = null;
      send.disabled = true;
      status.textContent = "";
      error.textContent = whyNot(err);
    } finally {
      take.disabled = false;
      take.textContent = found ? "取得し直す" : "現在地を取得する";
    }
  });

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!found) return;
    send.disabled = true;
    const body = { ...found, client_id: newClientId() };
    if (label.value.trim()) body.label = label.value;
    try {
      const message = await post(`/api/v1/rooms/${room.id}/locations`, body);
      d.close();
      ctx.messageArrived(message);
      announce("現在地を送りました");
    } catch (err) {
      send.disabled = false;
      error.textContent = err.code === "my_number_blocked"
        ? "場所の説明に個人番号（マイナンバー）が含まれているため送れません。" : err.message;
    }
  });
}

// A link out of the page: asks first, like links in messages (dom.js richText).
function outside(href, text) {
  const a = h("a", { href, target: "_blank", rel: "noopener noreferrer", class: "loc-link" }, text);
  a.addEventListener("click", (e) => {
    if (!window.confirm(`外部サイトへ移動します。よろしいですか？\n${href}`)) e.preventDefault();
  });
  return a;
}

registerContent("location", (m) => {
  const loc = m.location;
  if (!loc) return h("p", { class: "text" }, m.body || "位置情報");
  const { lat, lon } = loc;
  const where = `${lat},${lon}`;
  const geo = `geo:${where}?q=${where}${loc.label ? `(${encodeURIComponent(loc.label)})` : ""}`;
  const gsi = `https://maps.gsi.go.jp/#17/${lat}/${lon}/`;
  return h("div", { class: "loc-card" },
    h("p", { class: "loc-title" }, h("span", { class: "loc-pin", "aria-hidden": "true" }, "📍"),
      h("span", {}, loc.label || "現在地")),
    h("p", { class: "loc-coords" }, coordinates(lat, lon)),
    loc.accuracy_m !== null && loc.accuracy_m !== undefined
      ? h("p", { class: "loc-accuracy" }, accuracyText(loc.accuracy_m)) : null,
    h("p", { class: "loc-links" },
      h("a", { href: geo, class: "loc-link" }, "地図アプリで開く"),
      outside(gsi, "地理院地図で開く")));
});

registerComposerAction("現在地を送る", sendLocation);
