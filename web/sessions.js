// 設定 → ログイン中の端末: the person's sessions in both zones (device, 庁内/庁外, when
// last used, この端末 for this one) and 「ログアウトさせる」 for any other — a phone
// that was lost or left logged in somewhere.  relayd ends that session at once: its
// next request answers 401 and its live stream closes, so the other page shows its
// login screen by itself.

import { h, clear, announce, dialog } from "./dom.js";
import { get, del } from "./api.js";
import { dateTime } from "./format.js";
import { registerSettingsSection } from "./extend.js";

// relayd says "Chrome (Windows)"; people read 「Chrome / Windows」.
export function deviceName(device) {
  if (!device) return "不明な端末";
  const m = /^(.+) \((.+)\)$/.exec(device);
  return m ? `${m[1]} / ${m[2]}` : device;
}

const zoneName = (zone) => (zone === "lgwan" ? "庁内" : "庁外");

function confirmEnd(name) {
  return new Promise((resolve) => {
    let answer = false;
    const yes = h("button", { type: "button", class: "btn danger" }, "ログアウトさせる");
    const no = h("button", { type: "button", class: "btn secondary" }, "キャンセル");
    const d = dialog("端末をログアウトさせる", h("div", {},
      h("p", {}, `${name} のログインを終了します。その端末ではもう一度ログインが必要になります。`),
      h("div", { class: "form-actions" }, no, yes)), { onClose: () => resolve(answer) });
    no.focus();
    yes.addEventListener("click", () => { answer = true; d.close(); });
    no.addEventListener("click", () => d.close());
  });
}

function row(s, redraw, problem) {
  const name = deviceName(s.device);
  const where = `${name}（${zoneName(s.zone)}）`;
  const used = s.last_seen_at ? `最終利用 ${dateTime(new Date(s.last_seen_at))}` : "";
  const since = `ログイン ${dateTime(new Date(s.created_at))}`;
  let action = h("span", { class: "tag current" }, "この端末");
  if (!s.current) {
    action = h("button", { type: "button", class: "btn secondary small", "aria-label": `${where}をログアウトさせる`,
      onclick: async () => {
        if (!(await confirmEnd(where))) return;
        try {
          await del(`/api/v1/me/sessions/${s.id}`);
          announce(`${where}をログアウトさせました`);
        } catch (err) {
          problem.textContent = err.message;
        }
        redraw();
      } }, "ログアウトさせる");
  }
  return h("li", { class: `session${s.current ? " this" : ""}` },
    h("span", { class: "session-text" },
      h("span", { class: "session-name" }, name, " ", h("span", { class: `tag zone-tag zone-${s.zone}` }, zoneName(s.zone))),
      h("span", { class: "muted small" }, [used, since].filter(Boolean).join("・"))),
    action);
}

function sessionsSection() {
  const list = h("ul", { class: "session-list", "aria-label": "ログイン中の端末" });
  const problem = h("p", { class: "error", role: "alert" });
  const redraw = async () => {
    try {
      const { sessions } = await get("/api/v1/me/sessions");
      clear(list, sessions.map((s) => row(s, redraw, problem)));
    } catch (err) {
      problem.textContent = err.message;
    }
  };
  clear(list, h("li", { class: "muted" }, "読み込み中…"));
  redraw();
  return h("section", { class: "card sessions", "aria-labelledby": "set-sessions" },
    h("h3", { id: "set-sessions" }, "ログイン中の端末"),
    h("p", { class: "muted small" }, "なくした端末や、ログアウトし忘れた端末があれば「ログアウトさせる」でログインを終了できます。"),
    list, problem,
    h("button", { type: "button", class: "btn secondary small", onclick: () => redraw() }, "一覧を更新"));
}

registerSettingsSection(sessionsSection);
