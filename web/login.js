// The login screen: login name and password, then the one-time code when relayd
// asks for it (totp_required); and the password change a new account must make.

import { h, clear } from "./dom.js";
import { post } from "./api.js";

export function loginView(root, { onLoggedIn, notice }) {
  const login = h("input", { id: "login", name: "username", autocomplete: "username", required: true,
    autocapitalize: "off", spellcheck: "false" });
  const password = h("input", { id: "password", type: "password", autocomplete: "current-password", required: true });
  const totp = h("input", { id: "totp", inputmode: "numeric", autocomplete: "one-time-code", maxlength: 7, pattern: "[0-9 ]*" });
  const totpRow = h("div", { class: "field", hidden: true },
    h("label", { for: "totp" }, "ワンタイムパスワード（6 桁）"), totp,
    h("p", { class: "hint" }, "スマートフォンの認証アプリに表示されている数字を入力してください。"));
  const error = h("p", { class: "error", role: "alert" });
  const button = h("button", { type: "submit", class: "btn wide" }, "ログイン");
  const form = h("form", { class: "form login-form", "aria-labelledby": "login-title" },
    h("h1", { id: "login-title" }, h("img", { src: document.querySelector("link[rel=icon]").href, alt: "", class: "logo" }), "架け橋"),
    h("p", { class: "muted" }, "業務用チャット"),
    notice ? h("p", { class: "notice", role: "status" }, notice) : null,
    h("div", { class: "field" }, h("label", { for: "login" }, "ログイン名"), login),
    h("div", { class: "field" }, h("label", { for: "password" }, "パスワード"), password),
    totpRow, error, button);
  clear(root, h("main", { class: "login" }, form));
  login.focus();
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.textContent = "";
    button.disabled = true;
    try {
      const body = { login: login.value.trim(), password: password.value };
      if (!totpRow.hidden && totp.value) body.totp = totp.value;
      const res = await post("/api/v1/login", body);
      password.value = "";
      await onLoggedIn(res.account);
    } catch (err) {
      if (err.code === "totp_required") {
        totpRow.hidden = false;
        error.textContent = "ワンタイムパスワードを入力してください。";
        totp.focus();
      } else {
        error.textContent = err.message;
        if (err.code === "totp_invalid") { totp.value = ""; totp.focus(); }
      }
    } finally {
      button.disabled = false;
    }
  });
}

export function passwordChangeView(root, { onDone }) {
  const old = h("input", { id: "old-password", type: "password", autocomplete: "current-password", required: true });
  const pw1 = h("input", { id: "new-password", type: "password", autocomplete: "new-password", minlength: 10, required: true });
  const pw2 = h("input", { id: "new-password2", type: "password", autocomplete: "new-password", minlength: 10, required: true });
  const error = h("p", { class: "error", role: "alert" });
  const form = h("form", { class: "form login-form", "aria-labelledby": "pw-title" },
    h("h1", { id: "pw-title" }, "パスワードの変更"),
    h("p", {}, "管理者が設定した仮のパスワードです。ご自分だけが知るパスワードに変えてください（10 文字以上）。"),
    h("div", { class: "field" }, h("label", { for: "old-password" }, "今のパスワード"), old),
    h("div", { class: "field" }, h("label", { for: "new-password" }, "新しいパスワード"), pw1),
    h("div", { class: "field" }, h("label", { for: "new-password2" }, "新しいパスワード（確認）"), pw2),
    error, h("button", { type: "submit", class: "btn wide" }, "変更する"));
  clear(root, h("main", { class: "login" }, form));
  old.focus();
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (pw1.value !== pw2.value) { error.textContent = "確認用のパスワードが一致しません。"; return; }
    try {
      const account = await post("/api/v1/me/password", { old_password: old.value, new_password: pw1.value });
      await onDone(account);
    } catch (err) {
      error.textContent = err.message;
    }
  });
}
