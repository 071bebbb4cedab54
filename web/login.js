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

// The three fields and the change itself; onDone(account) once relayd took it.
export function passwordForm({ onDone, button = "変更する", intro = null }) {
  const old = h("input", { id: "old-password", type: "password", autocomplete: "current-password", required: true });
  const pw1 = h("input", { id: "new-password", type: "password", autocomplete: "new-password", required: true,
    "aria-describedby": "new-password-hint" });
  const pw2 = h("input", { id: "new-password2", type: "password", autocomplete: "new-password", required: true });
  const error = h("p", { class: "error", role: "alert" });
  const submit = h("button", { type: "submit", class: "btn wide" }, button);
  const form = h("form", { class: "form password-form" }, intro,
    h("div", { class: "field" }, h("label", { for: "old-password" }, "今のパスワード"), old),
    h("div", { class: "field" }, h("label", { for: "new-password" }, "新しいパスワード"), pw1,
      h("p", { id: "new-password-hint", class: "hint" }, "10 文字以上。今のパスワードとは違うものにしてください。")),
    h("div", { class: "field" }, h("label", { for: "new-password2" }, "新しいパスワード（確認）"), pw2),
    error, submit);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.textContent = "";
    if (Array.from(pw1.value).length < 10) { error.textContent = "新しいパスワードは 10 文字以上にしてください。"; pw1.focus(); return; }
    if (pw1.value !== pw2.value) { error.textContent = "確認用のパスワードが一致しません。"; pw2.focus(); return; }
    submit.disabled = true;
    try {
      const account = await post("/api/v1/me/password", { old_password: old.value, new_password: pw1.value });
      form.reset();
      await onDone(account);
    } catch (err) {
      error.textContent = err.code === "invalid_credentials" ? "今のパスワードが違います。" : err.message;
    } finally {
      submit.disabled = false;
    }
  });
  return { form, first: old };
}

export function passwordChangeView(root, { onDone, onLogout }) {
  const { form, first } = passwordForm({ onDone,
    intro: h("p", {}, "管理者が設定した仮のパスワードです。ご自分だけが知るパスワードに変えてください（10 文字以上）。") });
  form.classList.add("login-form");
  form.setAttribute("aria-labelledby", "pw-title");
  form.prepend(h("h1", { id: "pw-title" }, "パスワードの変更"));
  if (onLogout) form.append(h("button", { type: "button", class: "btn secondary wide", onclick: onLogout }, "ログアウト"));
  clear(root, h("main", { class: "login" }, form));
  first.focus();
}
