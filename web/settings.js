// 設定: the font size and the send key, the password, then the sections feature
// modules register (extend.js: sessions, notifications, business hours …).

import { h, clear, announce } from "./dom.js";
import { passwordForm } from "./login.js";
import { prefs, setPref, FONT_SIZES, SEND_KEYS } from "./prefs.js";
import { settingsSections } from "./extend.js";

export class Settings {
  constructor(ctx) {
    this.ctx = ctx;
    this.el = h("section", { class: "pane page settings", "aria-labelledby": "settings-title" });
  }

  choice(name, legend, options, onChange) {
    return h("fieldset", { class: "choices" }, h("legend", {}, legend), options.map(([value, label]) =>
      h("label", { class: "radio" },
        h("input", { type: "radio", name, value, checked: prefs[name] === value,
          onchange: () => { setPref(name, value); onChange(); announce(`${legend}: ${label}`); } }),
        label)));
  }

  show() {
    const done = h("p", { class: "ok", role: "status" });
    const { form } = passwordForm({ button: "パスワードを変更する", onDone: () => {
      done.textContent = "パスワードを変更しました。ほかの端末のログインは終了しました。";
    } });
    form.classList.add("narrow");
    const me = this.ctx.me;
    const dept = me.department ? me.department.path : "";
    clear(this.el,
      h("h2", { id: "settings-title" }, "設定"),
      h("p", { class: "muted" }, `${me.display_name}（${me.login}）${dept ? `・${dept}` : ""}`),
      h("section", { class: "card", "aria-labelledby": "set-view" },
        h("h3", { id: "set-view" }, "表示と入力"),
        this.choice("fontSize", "文字の大きさ", FONT_SIZES, () => {}),
        this.choice("sendKey", "送信のキー", SEND_KEYS, () => this.ctx.talk.composer.showHint())),
      h("section", { class: "card", "aria-labelledby": "set-password" },
        h("h3", { id: "set-password" }, "パスワードの変更"),
        me.password_in_directory
          ? h("p", {}, "このアカウントのパスワードは庁内のディレクトリ（Active Directory 等）で管理されています。変更は庁内の手順で行ってください。")
          : [form, done]),
      settingsSections.map((fn) => fn(this.ctx)));
  }
}
