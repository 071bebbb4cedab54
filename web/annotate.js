// 写真に書き込む: before a photo is sent, the member may draw arrows, circles, boxes,
// free lines and text on it (staff supporting a remote site write the steps onto a
// photo of the machine).  One photo picked, pasted or dropped gets the choice
// 「書き込んでから送る」 / 「そのまま送る」 (composer.js); several go out at once.
//
// The editor draws in the photo's own pixels (capped at MAX_SIDE on the long side)
// and only shows them scaled to fit, so what is sent has the photo's resolution on
// any screen.  That canvas changes once per finished shape; the shape being drawn
// and the text being typed go on an overlay at screen resolution, because drawing
// a 12-megapixel photo again at every pointer move takes far longer than a frame
// (bench/annotate.py).  Pointer Events, so a mouse, a pen and a finger draw alike.
// What is uploaded is a fresh canvas encoding: the original's EXIF (GPS position,
// camera) is not carried over, by construction -- keep it that way.  An animated GIF
// becomes its first frame (「そのまま送る」 keeps it whole).

import { h, dialog } from "./dom.js";

// Big enough for any phone photo (4032×3024), small enough for a phone's canvas limit.
const MAX_SIDE = 4096;
// High-contrast colours that stand out on photos; red first (the usual 「ここ」).
const COLORS = [["red", "赤", "#e60012"], ["yellow", "黄", "#ffd400"], ["blue", "青", "#0a5cff"],
  ["white", "白", "#ffffff"], ["black", "黒", "#000000"]];
// Line widths as a share of the photo's long side, so a mark looks the same whatever
// the resolution; text sizes go with them.
const WIDTHS = [["thin", "細", 0.005, 0.035], ["mid", "中", 0.01, 0.05], ["thick", "太", 0.018, 0.07]];
const TOOLS = [["arrow", "矢印"], ["ellipse", "丸"], ["rect", "四角"], ["pen", "手書き"], ["text", "文字"]];
const NAMES = Object.fromEntries(TOOLS);
const FONT = 'system-ui, "Hiragino Sans", "Noto Sans CJK JP", "Noto Sans JP", "Yu Gothic UI", Meiryo, sans-serif';
// Kinds a browser can draw; SVG is left out on purpose (a document, not a photo).
const IMAGE_TYPE = /^image\/(jpeg|pjpeg|png|webp|gif|bmp|avif|heic|heif)$/;
const IMAGE_EXT = /\.(jpe?g|png|webp|gif|bmp|avif|heic|heif)$/i;

export function canAnnotate(file) {
  return IMAGE_TYPE.test(file.type) || (!file.type && IMAGE_EXT.test(file.name || ""));
}

// `<original>_書き込み.jpg` (or .png when the original was a PNG or GIF: screenshots
// stay sharp and transparent).
export function annotatedName(name, type) {
  const base = (name || "").replace(/\.[^.]*$/, "").slice(0, 200) || "写真";
  return `${base}_書き込み${type === "image/png" ? ".png" : ".jpg"}`;
}

// One photo: send it as it is, or write on it first.  send(file) uploads.
export function offerAnnotation(file, send, { onDone } = {}) {
  const url = URL.createObjectURL(file);
  const label = file.name || "貼り付けた画像";
  let chosen = null;
  const choose = (how) => { chosen = how; d.close(); };
  const plain = h("button", { type: "button", class: "btn", onclick: () => choose("plain") }, "そのまま送る");
  const d = dialog("写真を送る", h("div", { class: "annotate-offer" },
    h("img", { class: "offer-preview", src: url, alt: `${label} のプレビュー` }),
    h("p", { class: "offer-name" }, label),
    h("p", { class: "hint" }, "矢印・丸・文字を書き込んでから送れます。"),
    h("div", { class: "form-actions" },
      h("button", { type: "button", class: "btn secondary", onclick: () => choose("annotate") }, "書き込んでから送る"),
      plain)),
  { onClose: () => {
    URL.revokeObjectURL(url);
    if (chosen === "annotate") { openEditor(file, send, { onDone }); return; }
    if (chosen === "plain") send(file);
    if (onDone) onDone();
  } });
  d.classList.add("offer");
  plain.focus();
}

// The photo decoded upright (EXIF orientation applied).  Browsers without the
// option fall back to an <img>, which applies the orientation itself.
async function decode(file) {
  try {
    return { source: await createImageBitmap(file, { imageOrientation: "from-image" }), url: null };
  } catch { /* below */ }
  const url = URL.createObjectURL(file);
  const img = new Image();
  img.src = url;
  try {
    await img.decode();
  } catch (err) {
    URL.revokeObjectURL(url);
    throw err;
  }
  return { source: img, url };
}

export function openEditor(file, send, opts = {}) {
  return new Editor(file, send, opts);
}

class Editor {
  constructor(file, send, { onDone } = {}) {
    this.file = file;
    this.send = send;
    this.onDone = onDone;
    this.shapes = [];
    this.undone = [];
    this.draft = null; // the shape a pointer is drawing
    this.pointer = null;
    this.textAt = null; // where typed text goes; null: the centre
    this.tool = "arrow";
    this.color = COLORS[0][2];
    this.width = WIDTHS[1];
    this.photo = null;
    this.sent = false;
    this.canvas = h("canvas", { class: "annotate-canvas", role: "img",
      "aria-label": "書き込む写真", dataset: { ready: "false" } });
    this.ctx2d = this.canvas.getContext("2d");
    this.overlay = h("canvas", { class: "annotate-overlay", "aria-hidden": "true" });
    this.frameEl = h("div", { class: "annotate-frame" }, this.canvas, this.overlay);
    this.stage = h("div", { class: "annotate-stage" }, this.frameEl);
    this.status = h("p", { class: "annotate-status", role: "status" }, "写真を読み込んでいます…");
    this.toolBtns = TOOLS.map(([tool, label]) => h("button", { type: "button", class: "tool-btn",
      dataset: { tool }, "aria-pressed": String(tool === this.tool), onclick: (e) => this.pick(tool, e) }, label));
    this.colorBtns = COLORS.map(([key, label, value]) => h("button", { type: "button",
      class: `swatch swatch-${key}`, "aria-pressed": String(value === this.color),
      title: label, onclick: () => this.pickColor(value) }, label));
    this.widthBtns = WIDTHS.map((w) => h("button", { type: "button", class: "tool-btn width-btn",
      "aria-pressed": String(w === this.width), onclick: () => this.pickWidth(w) }, w[1]));
    this.textInput = h("input", { id: "annotate-text-input", type: "text", maxlength: "100",
      enterkeyhint: "done", autocomplete: "off", "aria-describedby": "annotate-text-hint" });
    this.textRow = h("div", { class: "annotate-text", hidden: true },
      h("div", { class: "field" },
        h("label", { for: "annotate-text-input" }, "書き込む文字"), this.textInput,
        h("p", { id: "annotate-text-hint", class: "hint" }, "写真の上で押した所に置きます（選ばなければ中央）。")),
      h("button", { type: "button", class: "btn secondary", onclick: () => this.placeText() }, "置く"));
    this.undoBtn = h("button", { type: "button", class: "btn secondary small", disabled: true,
      onclick: () => this.undo() }, "元に戻す");
    this.redoBtn = h("button", { type: "button", class: "btn secondary small", disabled: true,
      onclick: () => this.redo() }, "やり直す");
    this.sendBtn = h("button", { type: "button", class: "btn small", disabled: true,
      onclick: () => this.submit() }, "送信");
    this.error = h("p", { class: "error", role: "alert" });
    const body = h("div", { class: "annotate-body" }, this.stage, this.status, this.error,
      h("div", { class: "annotate-bar" },
        h("div", { class: "tool-group", role: "group", "aria-label": "書き込む道具" }, this.toolBtns),
        h("div", { class: "tool-group", role: "group", "aria-label": "色" }, this.colorBtns),
        h("div", { class: "tool-group", role: "group", "aria-label": "線と文字の太さ" }, this.widthBtns)),
      this.textRow,
      h("div", { class: "annotate-actions" }, this.undoBtn, this.redoBtn,
        h("button", { type: "button", class: "btn secondary small", onclick: () => this.dialog.close() }, "やめる"),
        this.sendBtn));
    this.dialog = dialog("写真に書き込む", body, { onClose: () => this.closed() });
    this.dialog.classList.add("annotate");
    this.toolBtns[0].focus();
    this.wire();
    this.load();
  }

  async load() {
    try {
      this.photo = await decode(this.file);
    } catch {
      // A kind this browser cannot draw (HEIC outside Safari): it can still go as it is.
      this.status.textContent = "";
      this.error.textContent = "この画像には書き込めません。そのまま送ることはできます。";
      const plain = h("button", { type: "button", class: "btn small", onclick: () => {
        this.sent = true;
        this.dialog.close();
        this.send(this.file);
      } }, "そのまま送る");
      this.sendBtn.replaceWith(plain);
      plain.focus();
      return;
    }
    if (!this.dialog.open) { this.release(); return; }
    const src = this.photo.source;
    const w = src.naturalWidth || src.width;
    const hgt = src.naturalHeight || src.height;
    const scale = Math.min(1, MAX_SIDE / Math.max(w, hgt));
    this.canvas.width = Math.max(1, Math.round(w * scale));
    this.canvas.height = Math.max(1, Math.round(hgt * scale));
    this.long = Math.max(this.canvas.width, this.canvas.height);
    // Transparent PNG / GIF stay PNG; everything else becomes a JPEG on white.
    this.type = /png|gif/.test(this.file.type) ? "image/png" : "image/jpeg";
    this.fit();
    this.redraw();
    this.canvas.dataset.ready = "true";
    this.sendBtn.disabled = false;
    this.status.textContent = "写真の上をなぞって書き込みます。";
  }

  wire() {
    const c = this.overlay;
    c.addEventListener("pointerdown", (e) => this.down(e));
    c.addEventListener("pointermove", (e) => this.move(e));
    c.addEventListener("pointerup", (e) => this.up(e));
    // Where the text goes: on click, where phones let a script open the keyboard.
    c.addEventListener("click", (e) => {
      if (this.tool !== "text" || !this.photo) return;
      this.textAt = this.at(e);
      this.textInput.focus();
      this.preview();
    });
    c.addEventListener("pointercancel", (e) => {
      if (e.pointerId === this.pointer) { this.pointer = null; this.draft = null; this.preview(); }
    });
    // The whole stage is the photo's frame: resizing the window (or turning the
    // phone) scales the photo again.
    this.resize = new ResizeObserver(() => this.fit());
    this.resize.observe(this.stage);
    this.textInput.addEventListener("input", () => this.preview());
    this.textInput.addEventListener("keydown", (e) => {
      // Enter confirms an IME conversion; only a plain Enter places the text.
      if (e.key !== "Enter" || e.isComposing || e.keyCode === 229) return;
      e.preventDefault();
      this.placeText();
    });
    this.dialog.addEventListener("keydown", (e) => {
      if (e.target === this.textInput || !(e.ctrlKey || e.metaKey)) return;
      const key = e.key.toLowerCase();
      if (key === "z" && !e.shiftKey) { e.preventDefault(); this.undo(); }
      else if (key === "y" || (key === "z" && e.shiftKey)) { e.preventDefault(); this.redo(); }
    });
    // Esc with drawings on the photo would lose them: only 「やめる」 or × does that.
    this.dialog.addEventListener("cancel", (e) => {
      if (e.target !== this.dialog) return;
      if (this.textInput.value && document.activeElement === this.textInput) {
        e.preventDefault();
        this.textInput.value = "";
        this.preview();
      } else if (this.shapes.length) {
        e.preventDefault();
        this.status.textContent = "書き込みをやめるときは「やめる」を押してください。";
      }
    });
  }

  // The canvas keeps the photo's pixels; its CSS size is what fits the stage.  The
  // overlay covers it exactly, with the screen's pixels.
  fit() {
    if (!this.photo) return;
    const box = this.stage.getBoundingClientRect();
    if (!box.width || !box.height) return;
    const k = Math.min(box.width / this.canvas.width, box.height / this.canvas.height);
    const cssW = Math.max(1, Math.floor(this.canvas.width * k));
    const cssH = Math.max(1, Math.floor(this.canvas.height * k));
    this.frameEl.style.width = `${cssW}px`;
    this.frameEl.style.height = `${cssH}px`;
    const dpr = Math.min(3, window.devicePixelRatio || 1);
    this.overlay.width = Math.round(cssW * dpr);
    this.overlay.height = Math.round(cssH * dpr);
    this.preview();
  }

  pick(tool, e) {
    this.tool = tool;
    for (const b of this.toolBtns) b.setAttribute("aria-pressed", String(b.dataset.tool === tool));
    this.textRow.hidden = tool !== "text";
    if (tool === "text") {
      this.textAt = null;
      // From the keyboard (a click with detail 0) or a mouse: straight to typing, at
      // the centre.  A finger first taps where the text goes: the phone's keyboard
      // would otherwise cover the photo before a place is chosen.
      const touch = e && e.pointerType === "touch";
      if (!touch || e.detail === 0) this.textInput.focus();
      this.status.textContent = touch ? "文字を置く所をタップして、入力してください。"
        : "文字を入力して「置く」を押してください。";
    } else {
      this.status.textContent = `${NAMES[tool]}: 写真の上をなぞって書き込みます。`;
    }
    this.preview();
  }

  pickColor(value) {
    this.color = value;
    for (const [i, b] of this.colorBtns.entries()) b.setAttribute("aria-pressed", String(COLORS[i][2] === value));
    this.preview();
  }

  pickWidth(w) {
    this.width = w;
    for (const [i, b] of this.widthBtns.entries()) b.setAttribute("aria-pressed", String(WIDTHS[i] === w));
    this.preview();
  }

  // A pointer position in the photo's pixels.
  at(e) {
    const r = this.overlay.getBoundingClientRect();
    const x = (e.clientX - r.left) * this.canvas.width / r.width;
    const y = (e.clientY - r.top) * this.canvas.height / r.height;
    return [Math.max(0, Math.min(this.canvas.width, x)), Math.max(0, Math.min(this.canvas.height, y))];
  }

  lineWidth() { return Math.max(2, this.long * this.width[2]); }

  down(e) {
    // One pointer draws; a second finger (a pinch) or a right click does nothing.
    if (!this.photo || this.pointer !== null || !e.isPrimary || e.button > 0) return;
    e.preventDefault();
    if (this.tool === "text") return; // placed on click (below)
    const p = this.at(e);
    this.pointer = e.pointerId;
    this.overlay.setPointerCapture(e.pointerId);
    const style = { tool: this.tool, color: this.color, lw: this.lineWidth() };
    this.draft = this.tool === "pen" ? { ...style, points: [p] } : { ...style, a: p, b: p };
    this.preview();
  }

  move(e) {
    if (e.pointerId !== this.pointer || !this.draft) return;
    const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [];
    if (this.draft.tool === "pen") {
      for (const ev of events.length ? events : [e]) this.draft.points.push(this.at(ev));
    } else {
      this.draft.b = this.at(e);
    }
    this.schedule();
  }

  up(e) {
    if (e.pointerId !== this.pointer) return;
    this.pointer = null;
    const d = this.draft;
    this.draft = null;
    if (!d) return;
    if (d.tool !== "pen") d.b = this.at(e);
    // A tap, not a stroke: nothing to keep (4 screen pixels).
    const pts = d.points || [d.a, d.b];
    const xs = pts.map((p) => p[0]);
    const ys = pts.map((p) => p[1]);
    const span = Math.max(Math.max(...xs) - Math.min(...xs), Math.max(...ys) - Math.min(...ys));
    const perPx = this.canvas.width / this.overlay.getBoundingClientRect().width;
    if (span >= 4 * perPx) this.add(d);
    else this.preview();
  }

  // A new shape goes onto the photo's canvas as it is; undo and redo draw it all again.
  add(shape, said = `${NAMES[shape.tool]}を書き込みました。`) {
    this.shapes.push(shape);
    draw(this.ctx2d, shape);
    this.undone = [];
    this.changed(said, false);
  }

  placeText() {
    const text = this.textInput.value.trim();
    if (!text || !this.photo) return;
    const [x, y] = this.textAt || [this.canvas.width / 2, this.canvas.height / 2];
    const size = this.textSize();
    this.textInput.value = "";
    // The next text goes on the line below, as when writing steps one by one.
    this.textAt = [x, Math.min(this.canvas.height - size / 2, y + size * 1.3)];
    this.add({ tool: "text", color: this.color, text, x, y, size }, `文字「${text}」を置きました。`);
  }

  textSize() { return Math.max(14, Math.round(this.long * this.width[3])); }

  undo() {
    if (!this.shapes.length) return;
    const s = this.shapes.pop();
    this.undone.push(s);
    this.changed(`${NAMES[s.tool]}を取り消しました。`);
  }

  redo() {
    if (!this.undone.length) return;
    const s = this.undone.pop();
    this.shapes.push(s);
    this.changed(`${NAMES[s.tool]}を元に戻しました。`);
  }

  changed(said, redraw = true) {
    // A button that becomes disabled would drop the keyboard focus out of the dialog:
    // it moves to the other one (nothing left to undo: やり直す can be pressed).
    const had = document.activeElement;
    this.undoBtn.disabled = !this.shapes.length;
    this.redoBtn.disabled = !this.undone.length;
    if (had === this.undoBtn && this.undoBtn.disabled) this.redoBtn.focus();
    if (had === this.redoBtn && this.redoBtn.disabled) this.undoBtn.focus();
    this.canvas.setAttribute("aria-label", `書き込む写真（書き込み ${this.shapes.length} 件）`);
    this.canvas.dataset.shapes = String(this.shapes.length);
    this.status.textContent = said;
    if (redraw) this.redraw();
    this.preview();
  }

  schedule() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => { this.frame = 0; this.preview(); });
  }

  // The photo and every shape on the photo's canvas: what is sent.
  redraw() {
    if (!this.photo) return;
    const g = this.ctx2d;
    const { width: w, height: hgt } = this.canvas;
    g.clearRect(0, 0, w, hgt);
    if (this.type === "image/jpeg") { g.fillStyle = "#fff"; g.fillRect(0, 0, w, hgt); }
    g.drawImage(this.photo.source, 0, 0, w, hgt);
    for (const s of this.shapes) draw(g, s);
  }

  // The overlay: the shape being drawn, the text being typed or where it will go.
  // In the photo's coordinates, scaled to the overlay's pixels.
  preview() {
    const o = this.overlay;
    const g = o.getContext("2d");
    g.setTransform(1, 0, 0, 1, 0, 0);
    g.clearRect(0, 0, o.width, o.height);
    if (!this.photo) return;
    const k = o.width / this.canvas.width;
    g.setTransform(k, 0, 0, k, 0, 0);
    if (this.draft) draw(g, this.draft, this.canvas);
    if (this.tool === "text") {
      const [x, y] = this.textAt || [this.canvas.width / 2, this.canvas.height / 2];
      const text = this.textInput.value.trim();
      if (text) draw(g, { tool: "text", color: this.color, text, x, y, size: this.textSize() }, this.canvas);
      else marker(g, x, y, this.long);
    }
  }

  async submit() {
    if (!this.photo || this.sent) return;
    this.placeText(); // typed but not yet placed: it was meant to be on the photo
    this.sendBtn.disabled = true;
    this.status.textContent = "画像を作っています…";
    const blob = await new Promise((resolve) => this.canvas.toBlob(resolve, this.type, 0.9));
    if (!blob) {
      this.sendBtn.disabled = false;
      this.error.textContent = "画像を作れませんでした。もう一度お試しください。";
      return;
    }
    this.sent = true;
    const out = new File([blob], annotatedName(this.file.name, this.type), { type: this.type });
    this.dialog.close();
    this.send(out);
  }

  release() {
    if (!this.photo) return;
    if (this.photo.source.close) this.photo.source.close();
    if (this.photo.url) URL.revokeObjectURL(this.photo.url);
    this.photo = null;
  }

  closed() {
    if (this.resize) this.resize.disconnect();
    if (this.frame) cancelAnimationFrame(this.frame);
    this.release();
    // A canvas of 4096 px keeps its memory until it is shrunk (Safari).
    this.canvas.width = 1;
    this.canvas.height = 1;
    this.overlay.width = 1;
    this.overlay.height = 1;
    if (this.onDone) this.onDone();
  }
}

// Text is outlined in the opposite of its colour so it reads on any part of a photo.
function outline(color) {
  return ["#ffd400", "#ffffff"].includes(color) ? "#000000" : "#ffffff";
}

// `area`: the photo's canvas, whose size bounds text (the overlay has other pixels).
function draw(g, s, area = g.canvas) {
  g.save();
  g.strokeStyle = s.color;
  g.fillStyle = s.color;
  g.lineWidth = s.lw;
  g.lineCap = "round";
  g.lineJoin = "round";
  if (s.tool === "arrow") arrow(g, s);
  else if (s.tool === "ellipse") {
    const [[x1, y1], [x2, y2]] = [s.a, s.b];
    g.beginPath();
    g.ellipse((x1 + x2) / 2, (y1 + y2) / 2, Math.abs(x2 - x1) / 2, Math.abs(y2 - y1) / 2, 0, 0, Math.PI * 2);
    g.stroke();
  } else if (s.tool === "rect") {
    const [[x1, y1], [x2, y2]] = [s.a, s.b];
    g.strokeRect(Math.min(x1, x2), Math.min(y1, y2), Math.abs(x2 - x1), Math.abs(y2 - y1));
  } else if (s.tool === "pen") {
    g.beginPath();
    g.moveTo(...s.points[0]);
    for (const p of s.points.slice(1)) g.lineTo(...p);
    if (s.points.length === 1) g.lineTo(s.points[0][0] + 0.1, s.points[0][1]);
    g.stroke();
  } else if (s.tool === "text") {
    g.font = `bold ${s.size}px ${FONT}`;
    g.textAlign = "center";
    g.textBaseline = "middle";
    // Kept inside the photo when placed near an edge.
    const half = g.measureText(s.text).width / 2;
    const x = Math.max(half, Math.min(area.width - half, s.x));
    const y = Math.max(s.size / 2, Math.min(area.height - s.size / 2, s.y));
    g.lineWidth = Math.max(2, s.size * 0.16);
    g.strokeStyle = outline(s.color);
    g.strokeText(s.text, x, y);
    g.fillText(s.text, x, y);
  }
  g.restore();
}

function arrow(g, s) {
  const [[x1, y1], [x2, y2]] = [s.a, s.b];
  const len = Math.hypot(x2 - x1, y2 - y1);
  if (!len) return;
  const head = Math.min(len * 0.6, Math.max(s.lw * 4, 12));
  const t = Math.atan2(y2 - y1, x2 - x1);
  // The line stops inside the head, so a thick line does not blunt the tip.
  const back = head * 0.6;
  g.beginPath();
  g.moveTo(x1, y1);
  g.lineTo(x2 - back * Math.cos(t), y2 - back * Math.sin(t));
  g.stroke();
  g.beginPath();
  g.moveTo(x2, y2);
  g.lineTo(x2 - head * Math.cos(t - 0.45), y2 - head * Math.sin(t - 0.45));
  g.lineTo(x2 - head * Math.cos(t + 0.45), y2 - head * Math.sin(t + 0.45));
  g.closePath();
  g.fill();
}

// Where typed text will go: a small cross (never in what is sent).
function marker(g, x, y, long) {
  const r = Math.max(8, long * 0.02);
  g.save();
  g.lineWidth = Math.max(2, long * 0.004);
  for (const [color, extra] of [["#ffffff", g.lineWidth * 1.5], ["#000000", 0]]) {
    g.strokeStyle = color;
    g.lineWidth += extra;
    g.beginPath();
    g.moveTo(x - r, y); g.lineTo(x + r, y);
    g.moveTo(x, y - r); g.lineTo(x, y + r);
    g.stroke();
    g.lineWidth -= extra;
  }
  g.restore();
}
