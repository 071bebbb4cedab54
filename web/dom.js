// Building the page: elements with attributes and children, and text only ever as
// text nodes. User text never goes through innerHTML, so nothing it contains runs.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "value" || k === "checked" || k === "disabled" || k === "hidden") el[k] = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function clear(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

// Said to screen readers through the page's live region.
export function announce(text) {
  const live = document.getElementById("live");
  if (!live) return;
  live.textContent = "";
  setTimeout(() => { live.textContent = text; }, 30);
}

const URL_RE = /https?:\/\/[^\s<>"'「」（）]+/g;

// Message text with web addresses as links that warn before leaving the site.
export function richText(text) {
  const out = [];
  let last = 0;
  for (const m of text.matchAll(URL_RE)) {
    if (m.index > last) out.push(text.slice(last, m.index));
    const a = h("a", { href: m[0], target: "_blank", rel: "noopener noreferrer" }, m[0]);
    a.addEventListener("click", (e) => {
      if (!window.confirm("外部サイトへ移動します。よろしいですか？\n" + m[0])) e.preventDefault();
    });
    out.push(a);
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

// A modal dialog (native <dialog>: focus is trapped and Esc closes it).
export function dialog(title, body, { onClose } = {}) {
  const closeBtn = h("button", { type: "button", class: "icon-btn", "aria-label": "閉じる" }, "×");
  const d = h("dialog", { class: "dialog", "aria-labelledby": "dlg-title" },
    h("div", { class: "dialog-head" }, h("h2", { id: "dlg-title" }, title), closeBtn), body);
  closeBtn.addEventListener("click", () => d.close());
  d.addEventListener("close", () => { d.remove(); if (onClose) onClose(); });
  document.body.append(d);
  d.showModal();
  return d;
}

export function initials(name) {
  const s = (name || "?").trim();
  return s ? Array.from(s)[0].toUpperCase() : "?";
}
