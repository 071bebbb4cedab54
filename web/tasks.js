// タスク: something to do, given to members of a room, with a due date (期限).
// Made from the composer's 「＋」 (タスク) or from a message's 「…」 (タスクにする, the title
// taken from the message); shown in the talk as a card (title, 担当, 期限 with 期限切れ
// marked, the 完了 checkbox with who ticked it and when); and gathered on the
// 「マイタスク」 page: the caller's open tasks across rooms, overdue first, each opening
// its message in its room.  `task.updated` redraws the card and the page live.
//
// relayd lets a task's assignees and its creator change it (API.md: PATCH answers
// `not_assigned` to anyone else), so for other members the checkbox is shown but
// disabled, with the reason beside it, rather than failing when ticked.

import { h, clear, dialog, announce } from "./dom.js";
import { get, post, patch, newClientId } from "./api.js";
import { dateTime } from "./format.js";
import { registerContent } from "./cards.js";
import { registerComposerAction, registerMessageAction, registerEvent, registerView } from "./extend.js";

const WEEKDAYS = ["日", "月", "火", "水", "木", "金", "土"];
const TITLE_MAX = 200;

// Today as relayd reads a due date: "that day in Japan" (API.md Task).
const japaneseDate = (d) => new Intl.DateTimeFormat("sv-SE", { timeZone: "Asia/Tokyo" }).format(d);
const todayInJapan = () => japaneseDate(new Date());

const isDate = (due) => /^\d{4}-\d{2}-\d{2}$/.test(due);

export function overdue(task, now = new Date()) {
  if (!task.due || task.done) return false;
  return isDate(task.due) ? task.due < todayInJapan() : new Date(task.due) < now;
}

export function dueLabel(due) {
  if (!isDate(due)) return dateTime(new Date(due));
  const [y, m, d] = due.split("-").map(Number);
  const day = new Date(y, m - 1, d);
  const today = todayInJapan();
  const tomorrow = japaneseDate(new Date(Date.now() + 864e5));
  const base = `${m}月${d}日(${WEEKDAYS[day.getDay()]})`;
  if (due === today) return `今日 ${base}`;
  if (due === tomorrow) return `明日 ${base}`;
  return y === new Date().getFullYear() ? base : `${y}年${base}`;
}

function canChange(ctx, task) {
  return task.created_by === ctx.me.id || task.assignees.includes(ctx.me.id);
}

function names(ctx, ids) {
  return ids.map((id) => (id === ctx.me.id ? `${ctx.personName(id)}（あなた）` : ctx.personName(id))).join("、");
}

// Overdue first (they are the earliest due), then by due, those without one last;
// done ones after every open one.
export function byDue(a, b) {
  if (a.done !== b.done) return a.done ? 1 : -1;
  if (!a.due !== !b.due) return a.due ? -1 : 1;
  const ta = a.due ? Date.parse(isDate(a.due) ? `${a.due}T23:59:59+09:00` : a.due) : 0;
  const tb = b.due ? Date.parse(isDate(b.due) ? `${b.due}T23:59:59+09:00` : b.due) : 0;
  return ta - tb || Number(a.id) - Number(b.id);
}

// The task in the open talk's message is replaced and its card drawn again, keeping
// the keyboard focus on the checkbox when it was there.
function taskChanged(ctx, task) {
  const talk = ctx.talk;
  if (talk.room && talk.room.id === task.room_id) {
    const m = talk.messages.find((x) => x.id === task.message_id);
    if (m) {
      const focused = document.activeElement && document.activeElement.dataset
        && document.activeElement.dataset.task === task.id;
      talk.changed({ ...m, task });
      const node = talk.nodes.get(m.id);
      if (focused && node) { const box = node.querySelector("input[data-task]"); if (box) box.focus(); }
    }
  }
  if (myTasks) myTasks.taskChanged(task);
}

// The box is not disabled while the change is on its way: a disabled box loses the
// keyboard focus, which the redrawn card gives back to the new box.
async function setDone(ctx, task, done, box) {
  try {
    const updated = await patch(`/api/v1/tasks/${task.id}`, { done });
    taskChanged(ctx, updated);
    announce(done ? `「${updated.title}」を完了にしました` : `「${updated.title}」を未完了に戻しました`);
  } catch (err) {
    box.checked = !done;
    ctx.toast(err.message);
  }
}

// The checkbox and the line saying who finished it; used by the card and the page.
function doneControl(ctx, task, idPrefix) {
  const id = `${idPrefix}-${task.id}`;
  const allowed = canChange(ctx, task);
  const box = h("input", { type: "checkbox", id, checked: task.done, disabled: !allowed,
    dataset: { task: task.id } });
  box.addEventListener("change", () => setDone(ctx, task, box.checked, box));
  return h("div", { class: "task-done" },
    h("label", { class: "pick", for: id }, box, h("span", {}, task.done ? "完了" : "完了にする"),
      h("span", { class: "visually-hidden" }, `：${task.title}`)),
    task.done && task.done_by ? h("span", { class: "task-who" },
      `${ctx.personName(task.done_by)}・${dateTime(new Date(task.done_at))}`) : null,
    allowed ? null : h("span", { class: "hint" }, "担当者と作成者が完了にできます"));
}

function dueLine(task) {
  if (!task.due) return h("p", { class: "task-due muted" }, "期限なし");
  const late = overdue(task);
  return h("p", { class: late ? "task-due late" : "task-due" }, `期限 ${dueLabel(task.due)}`,
    late ? h("span", { class: "tag late-tag" }, "期限切れ") : null);
}

registerContent("task", (m, ctx) => {
  const task = m.task;
  if (!task) return h("p", { class: "text" }, m.body);
  return h("div", { class: `task-card${task.done ? " is-done" : ""}${overdue(task) ? " is-late" : ""}` },
    h("p", { class: "card-kind" }, "タスク"),
    h("p", { class: "task-title" }, task.title),
    h("p", { class: "task-who-line" }, `担当 ${names(ctx, task.assignees)}`),
    dueLine(task), doneControl(ctx, task, "task-card"));
});

// ---------------------------------------------------------------- making a task
let formSeq = 0;

// A new task, or (task given) a change of one: only what was changed is sent.
function taskForm(ctx, room, { title = "", assignees = [], task = null } = {}) {
  const n = ++formSeq;
  if (task) ({ title, assignees } = task);
  const dueBefore = !task || !task.due ? "" : isDate(task.due) ? task.due : japaneseDate(new Date(task.due));
  const titleInput = h("input", { id: `task-title-${n}`, maxlength: TITLE_MAX, required: true, value: title });
  const due = h("input", { type: "date", id: `task-due-${n}`, value: dueBefore });
  const filter = h("input", { type: "search", class: "search", "aria-label": "担当者を名前で絞り込む",
    placeholder: "名前で絞り込む" });
  const members = [...room.members].sort((a, b) => (a === ctx.me.id ? -1 : b === ctx.me.id ? 1 : 0));
  const picks = members.map((id) => h("li", { dataset: { name: ctx.personName(id) } },
    h("label", { class: "pick" }, h("input", { type: "checkbox", value: id, checked: assignees.includes(id) }),
      id === ctx.me.id ? `${ctx.personName(id)}（自分）` : ctx.personName(id))));
  filter.addEventListener("input", () => {
    const q = filter.value.trim().toLowerCase();
    for (const li of picks) li.hidden = !!q && !li.dataset.name.toLowerCase().includes(q);
  });
  const error = h("p", { class: "error", role: "alert" });
  const submit = h("button", { type: "submit", class: "btn" }, task ? "保存する" : "タスクを作る");
  const form = h("form", { class: "form task-form" },
    h("label", { for: titleInput.id }, "やること"), titleInput,
    h("fieldset", {}, h("legend", {}, "担当者"), members.length > 8 ? filter : null,
      h("ul", { class: "pick-list" }, picks)),
    h("label", { for: due.id }, "期限（なくてもよい）"), due, error,
    h("div", { class: "form-actions" },
      h("button", { type: "button", class: "btn secondary", onclick: () => d.close() }, "やめる"), submit));
  const d = dialog(task ? "タスクの編集" : "タスクを作る", form);
  titleInput.focus();
  const key = newClientId(); // the same task even when 作る is pressed twice
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const chosen = picks.map((li) => li.querySelector("input")).filter((b) => b.checked).map((b) => b.value);
    if (!titleInput.value.trim()) { error.textContent = "やることを入力してください。"; titleInput.focus(); return; }
    if (!chosen.length) { error.textContent = "担当者を 1 人以上選んでください。"; return; }
    submit.disabled = true;
    try {
      if (task) { await saveTask(ctx, task, d, { title: titleInput.value, due: due.value, dueBefore, assignees: chosen }); return; }
      const body = { title: titleInput.value, assignees: chosen, client_id: key };
      if (due.value) body.due = due.value;
      const message = await post(`/api/v1/rooms/${room.id}/tasks`, body);
      d.close();
      ctx.messageArrived(message);
      announce(`タスク「${message.task.title}」を作りました`);
    } catch (err) {
      error.textContent = err.code === "my_number_blocked"
        ? "個人番号（マイナンバー）が含まれているため作れません。番号を消してください。" : err.message;
    } finally {
      submit.disabled = false;
    }
  });
}

async function saveTask(ctx, task, d, { title, due, dueBefore, assignees }) {
  const body = {};
  if (title !== task.title) body.title = title;
  if (due !== dueBefore) body.due = due || null;
  if ([...assignees].sort().join() !== [...task.assignees].sort().join()) body.assignees = assignees;
  if (Object.keys(body).length) {
    const updated = await patch(`/api/v1/tasks/${task.id}`, body);
    taskChanged(ctx, updated);
    announce(`タスク「${updated.title}」を変更しました`);
  }
  d.close();
}

registerComposerAction("タスク", (ctx, room) => taskForm(ctx, room,
  { assignees: room.members.length === 2 ? room.members.filter((id) => id !== ctx.me.id) : [] }));

registerMessageAction("タスクにする", (ctx, talk, m) => {
  const room = ctx.rooms.find((r) => r.id === m.room_id) || talk.room;
  const line = (m.body || "").split("\n").find((s) => s.trim()) || "";
  taskForm(ctx, room, { title: Array.from(line.trim()).slice(0, TITLE_MAX).join(""),
    assignees: m.sender !== ctx.me.id ? [m.sender] : [] });
}, (ctx, m) => !["task", "note", "stamp", "system"].includes(m.kind));

registerMessageAction("タスクを編集", (ctx, talk, m) => {
  const room = ctx.rooms.find((r) => r.id === m.room_id) || talk.room;
  taskForm(ctx, room, { task: m.task });
}, (ctx, m) => m.kind === "task" && !!m.task && canChange(ctx, m.task));

registerEvent("task.updated", (ctx, ev) => taskChanged(ctx, ev.task));
// A new task given to me joins マイタスク while it is open.
registerEvent("message.created", (ctx, ev) => {
  if (ev.message && ev.message.kind === "task" && ev.message.task && myTasks) myTasks.taskChanged(ev.message.task);
});

// ---------------------------------------------------------------- マイタスク
let myTasks = null;

class MyTasks {
  constructor(ctx) {
    this.ctx = ctx;
    this.tasks = [];
    this.loads = 0; // only the newest load is drawn when the filter is flipped quickly
    this.withDone = h("input", { type: "checkbox", id: "mytasks-done", onchange: () => this.load() });
    this.status = h("p", { class: "muted", role: "status" });
    this.list = h("ul", { class: "task-list", "aria-label": "マイタスク一覧" });
    this.el = h("section", { class: "pane page tasks-page", "aria-labelledby": "mytasks-title" },
      h("div", { class: "tasks-head" }, h("h2", { id: "mytasks-title" }, "マイタスク"),
        h("label", { class: "pick", for: "mytasks-done" }, this.withDone, "完了したタスクも表示")),
      this.status, this.list);
  }

  async show() {
    await this.load();
  }

  async load() {
    const q = this.withDone.checked ? "assignee=me&limit=500" : "assignee=me&done=false&limit=500";
    const seq = ++this.loads;
    try {
      const { tasks } = await get(`/api/v1/tasks?${q}`);
      if (seq !== this.loads) return;
      this.tasks = tasks.sort(byDue);
      this.render();
    } catch (err) {
      this.status.textContent = err.message;
    }
  }

  // A change from the stream or our own tick.  A task just done stays where it is
  // in the list (ticked) until the page is opened again, so nothing moves under the
  // finger and a mistaken tick can be taken back.
  taskChanged(task) {
    const i = this.tasks.findIndex((t) => t.id === task.id);
    const mine = task.assignees.includes(this.ctx.me.id);
    if (i >= 0 && mine) this.tasks[i] = task;
    else if (i >= 0) this.tasks.splice(i, 1);
    else if (mine && !task.done) { this.tasks.push(task); this.tasks.sort(byDue); }
    else return;
    if (this.el.classList.contains("current-page")) this.render();
  }

  render() {
    const { ctx } = this;
    // Drawn again after a tick: the keyboard focus stays on that task's checkbox.
    const focused = this.list.contains(document.activeElement) && document.activeElement.dataset.task;
    const tasks = this.tasks;
    const open = tasks.filter((t) => !t.done).length;
    const late = tasks.filter((t) => overdue(t)).length;
    const done = tasks.length - open;
    this.status.textContent = tasks.length ? `未完了 ${open} 件${late ? `（うち期限切れ ${late} 件）` : ""}${
      done ? `・完了 ${done} 件` : ""}` : "担当のタスクはありません。";
    clear(this.list, tasks.map((t) => {
      const room = ctx.rooms.find((r) => r.id === t.room_id);
      return h("li", { class: `task-item${t.done ? " is-done" : ""}${overdue(t) ? " is-late" : ""}`, dataset: { task: t.id } },
        h("div", { class: "task-item-main" },
          h("p", { class: "task-title" }, t.title),
          h("p", { class: "task-where muted" }, room ? ctx.roomName(room) : "", "・", `依頼 ${ctx.personName(t.created_by)}`),
          dueLine(t)),
        h("div", { class: "task-item-side" }, doneControl(ctx, t, "mytask"),
          h("button", { type: "button", class: "btn secondary small", "aria-label": `「${t.title}」をトークで開く`,
            onclick: () => ctx.openRoom(t.room_id, t.message_id) }, "トークで開く")));
    }));
    const box = focused && this.list.querySelector(`input[data-task="${focused}"]`);
    if (box) box.focus();
  }
}

registerView("mytasks", "マイタスク", (ctx) => {
  myTasks = new MyTasks(ctx);
  return myTasks;
});
