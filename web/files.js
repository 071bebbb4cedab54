// A file in a talk: its disarm state in words a clerk understands (処理中 /
// 無害化済み and what was removed / ブロック and why), a preview of disarmed images,
// the download this zone may have and, on LGWAN, asking for the original.

import { h, dialog, announce } from "./dom.js";
import { get, post } from "./api.js";
import { size } from "./format.js";

const IMAGE_KINDS = new Set(["jpeg", "png", "gif", "webp", "bmp"]);

// Removed-item codes (CDR.md) grouped into words people know.
const REMOVED = [
  [/gps/, "位置情報（GPS）"],
  [/vba|macro|auto_open|customization|customui/, "マクロ"],
  [/javascript|script|event_handler|launch|openaction|additional_actions|action/, "スクリプト・自動実行"],
  [/exif|xmp|metadata|comment|text_chunk|summary|icc|trailing/, "撮影情報などの付加情報"],
  [/external|link|uri|url|href|connection|frame|attached_template/, "外部への接続・リンク"],
  [/embedded|ole_object|altchunk|package|subdocument|activex|clsid/, "埋め込まれたファイル・部品"],
  [/dde|formula/, "危険な数式"],
];

export function removedLabels(report) {
  const labels = [];
  for (const item of report.removed || []) {
    const hit = REMOVED.find(([re]) => re.test(item.code));
    const label = hit ? hit[1] : "その他の項目";
    if (!labels.includes(label)) labels.push(label);
  }
  return labels;
}

// The icon is the name's extension in a box: no emoji font is needed on LGWAN PCs.
function extension(name) {
  const m = /\.([A-Za-z0-9]{1,4})$/.exec(name);
  return m ? m[1].toUpperCase() : "FILE";
}

export function isImage(att) {
  const kind = (att.report && att.report.output_kind) || att.kind;
  return IMAGE_KINDS.has(kind);
}

// The state line: [class, text, detail].
export function describe(att, zone) {
  const r = att.report || {};
  // 上長承認 (approvals.js): before an approver decides, nothing else matters outside.
  if (att.approval === "pending") {
    return ["pending", "承認待ち", zone === "lgwan" ? "承認されると庁外の参加者にも届きます。" : "庁内で確認中です。承認されると届きます。"];
  }
  if (att.approval === "refused") {
    return ["blocked", "差し戻し", zone === "lgwan" ? (att.approval_reason ? `（${att.approval_reason}）` : "") : "庁外の参加者には届けません。"];
  }
  if (att.status === "pending") {
    return ["pending", att.origin_zone === "internet" && zone === "lgwan" ? "処理中（無害化しています）" : "処理中", ""];
  }
  if (att.status === "blocked") {
    return ["blocked", "ブロック", (r.message_ja || "安全のため届けられません。").trim()];
  }
  if (att.origin_zone !== "internet") return ["ready", att.approval === "approved" ? "承認済み" : "", ""];
  // The sender's side receives the original; it learns what LGWAN received.
  const label = zone === "internet" ? "庁内へは無害化して届けました" : "無害化済み";
  const labels = removedLabels(r);
  if (labels.length) return ["ready", label, `${labels.join("・")}を削除しました`];
  return ["ready", label, "問題のある項目はありませんでした"];
}

export function fileCard(att, ctx) {
  const [state, label, detail] = describe(att, ctx.zone);
  const card = h("div", { class: `file-card file-${state}`, dataset: { file: att.id } });
  const head = h("div", { class: "file-head" },
    h("span", { class: "file-icon", "aria-hidden": "true" }, extension(att.name)),
    h("span", { class: "file-name" }, att.name),
    h("span", { class: "file-size" }, size(att.size)));
  card.append(head);
  if (label) {
    card.append(h("p", { class: `file-state state-${state}` },
      state === "pending" ? h("span", { class: "spinner", "aria-hidden": "true" }) : null,
      h("strong", {}, label), detail ? ` ${detail}` : ""));
  }
  // Outside LGWAN a file waiting for (or refused) its approval has no bytes to show.
  const held = ctx.zone === "internet" && att.approval && att.approval !== "approved";
  if (ctx.zone === "lgwan" && att.approval === "refused" && att.approval_reason === undefined) {
    get(`/api/v1/files/${att.id}`).then((v) => { if (v.approval_reason) ctx.talk.updateAttachment(v); }).catch(() => {});
  }
  if (!held && att.status === "ready" && isImage(att)) {
    card.append(h("img", { class: "preview", src: `/api/v1/files/${att.id}/content`,
      alt: `${att.name} のプレビュー`, loading: "lazy", decoding: "async" }));
  }
  const actions = h("div", { class: "file-actions" });
  if (!held && (att.status === "ready" || (att.status === "pending" && att.origin_zone === ctx.zone))) {
    actions.append(h("button", { type: "button", class: "btn small", onclick: () => download(att, ctx) },
      "ダウンロード"));
  }
  if (ctx.zone === "lgwan" && att.origin_zone === "internet" && att.status !== "pending") {
    const released = ctx.originals.get(att.id);
    if (released && released.status === "approved") {
      actions.append(h("a", { class: "btn small", href: `/api/v1/files/${att.id}/original`, download: "" },
        "原本をダウンロード"));
    } else if (released && released.status === "pending") {
      actions.append(h("span", { class: "muted" }, "原本を申請中"));
    } else {
      if (released && released.status === "denied") {
        actions.append(h("span", { class: "muted" }, `原本の申請は却下されました${released.note ? `（${released.note}）` : ""}`));
      }
      actions.append(h("button", { type: "button", class: "btn small secondary",
        onclick: () => requestOriginal(att, ctx) }, "原本を申請"));
    }
  }
  if (actions.childNodes.length) card.append(actions);
  return card;
}

async function download(att, ctx) {
  try {
    const view = await get(`/api/v1/files/${att.id}`);
    if (!view.content) {
      ctx.toast("このファイルはこの端末からはダウンロードできません。");
      return;
    }
    const a = h("a", { href: `/api/v1/files/${att.id}/content`, download: view.content.name });
    document.body.append(a);
    a.click();
    a.remove();
  } catch (err) {
    ctx.toast(err.message);
  }
}

function requestOriginal(att, ctx) {
  const reason = h("textarea", { id: "orig-reason", rows: 3, maxlength: 1000, required: true });
  const error = h("p", { class: "error", role: "alert" });
  const form = h("form", { class: "form" },
    h("p", {}, "無害化する前の原本を取り寄せます。管理者が承認すると、あなただけがダウンロードできます。"),
    h("label", { for: "orig-reason" }, "申請の理由"), reason, error,
    h("div", { class: "form-actions" }, h("button", { type: "submit", class: "btn" }, "申請する")));
  const d = dialog(`原本の申請: ${att.name}`, form);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const made = await post(`/api/v1/files/${att.id}/original-requests`, { reason: reason.value });
      ctx.originals.set(att.id, made);
      d.close();
      announce("原本を申請しました");
      ctx.refreshFile(att.id);
    } catch (err) {
      error.textContent = err.message;
    }
  });
}
