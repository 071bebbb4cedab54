// The person's display settings: font size and the send key.  They are kept in this
// browser's localStorage under the account's id -- preferences only, never message
// content, so a shared PC keeps nothing anyone wrote -- and written only when changed.

export const FONT_SIZES = [["normal", "標準"], ["large", "大きい"], ["xlarge", "とても大きい"]];
export const SEND_KEYS = [["enter", "Enter で送信（Shift + Enter で改行）"], ["ctrl", "Ctrl + Enter で送信（Enter で改行）"]];

export const prefs = { fontSize: "normal", sendKey: "enter" };
let key = null;

function apply() {
  if (prefs.fontSize === "normal") delete document.documentElement.dataset.font;
  else document.documentElement.dataset.font = prefs.fontSize;
}

export function loadPrefs(accountId) {
  key = `kakehashi.prefs.${accountId}`;
  prefs.fontSize = "normal";
  prefs.sendKey = "enter";
  try {
    const saved = JSON.parse(localStorage.getItem(key) || "{}");
    if (FONT_SIZES.some(([k]) => k === saved.fontSize)) prefs.fontSize = saved.fontSize;
    if (SEND_KEYS.some(([k]) => k === saved.sendKey)) prefs.sendKey = saved.sendKey;
  } catch { /* storage refused or unreadable: the defaults */ }
  apply();
}

export function setPref(name, value) {
  prefs[name] = value;
  apply();
  try { if (key) localStorage.setItem(key, JSON.stringify(prefs)); } catch { /* kept for this page only */ }
}

// Back to the defaults at logout: the next person at this PC starts plain.
export function resetPrefs() {
  key = null;
  prefs.fontSize = "normal";
  prefs.sendKey = "enter";
  apply();
}
