// Extension points for the features that sit beside chatting (polls, 日程調整, 参集確認,
// tasks, notes, locations, phone memos, photo annotation, push, sessions …).  Each
// feature is one module that registers here when main.js imports it, so adding one
// touches neither the composer, the stream handling, the settings nor the tab bar.
// (New kinds of message card register with cards.js `registerContent`.)

// The composer's 「＋」 menu: { label, run(ctx, room), when(ctx, room) -> bool }.
export const composerActions = [];
export function registerComposerAction(label, run, when = () => true) {
  composerActions.push({ label, run, when });
}

// Stream events: type -> [fn(ctx, event)], called after main.js's own handling of the
// type, if it has one (notify.js watches message.created).
export const eventHandlers = new Map();
export function registerEvent(type, fn) {
  if (!eventHandlers.has(type)) eventHandlers.set(type, []);
  eventHandlers.get(type).push(fn);
}

// Sections of 設定, in order: fn(ctx) -> Node (drawn each time 設定 opens).
export const settingsSections = [];
export function registerSettingsSection(fn) { settingsSections.push(fn); }

// A page with its own tab (for example 「マイタスク」): create(ctx) -> { el, show() }.
// when(ctx) -> bool decides whether this account gets the tab.
export const views = [];
export function registerView(view, label, create, when = () => true) {
  views.push({ view, label, create, when });
}

// Items of a message's 「…」 menu (actions.js), after 返信 and リアクション:
// { label, run(ctx, talk, message), when(ctx, message) -> bool }.
export const messageActions = [];
export function registerMessageAction(label, run, when = () => true) {
  messageActions.push({ label, run, when });
}

// The session's own moments: start(ctx) once the rooms are loaded and the stream runs;
// leave(ctx, live) when it ends — live true before logging out (the session still
// works, so a hook may still call relayd; awaited), false once it already ended.
export const sessionHooks = [];
export function registerSessionHooks({ start = () => {}, leave = () => {} }) {
  sessionHooks.push({ start, leave });
}

// Marks a feature puts on a message's card each time it is drawn (a card is drawn
// again on every edit, reaction and 既読 change): fn(ctx, message, node).
export const cardDecorators = [];
export function registerCardDecorator(fn) { cardDecorators.push(fn); }
