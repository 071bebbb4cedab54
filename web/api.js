// Talking to relayd: JSON over fetch with the HttpOnly session cookie (never a token
// the page can read), uploads over XMLHttpRequest for their progress, and errors as
// the Japanese half of relayd's message.

export class ApiError extends Error {
  constructor(status, code, message, details = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

const listeners = new Set();
// Called when relayd says the session is gone (logout elsewhere, disabled, expired).
export function onSessionEnded(fn) { listeners.add(fn); }

function japanese(message) {
  return String(message || "").split(" / ")[0] || "エラーが発生しました";
}

function toError(status, text) {
  try {
    const e = JSON.parse(text).error;
    return new ApiError(status, e.code, japanese(e.message), e.details || {});
  } catch {
    return new ApiError(status, "network", status ? `エラーが発生しました（${status}）` :
      "サーバーに接続できません。ネットワークを確認してください。");
  }
}

function ended(err) {
  if (err.code === "unauthenticated") for (const fn of listeners) fn(err);
  return err;
}

export async function api(method, path, body) {
  const init = { method, credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw toError(0, "");
  }
  if (res.status === 204) return null;
  const text = await res.text();
  if (!res.ok) throw ended(toError(res.status, text));
  return text ? JSON.parse(text) : null;
}

export const get = (path) => api("GET", path);
export const post = (path, body) => api("POST", path, body);
export const put = (path) => api("PUT", path);
export const patch = (path, body) => api("PATCH", path, body);
export const del = (path) => api("DELETE", path);

export function newClientId() {
  const a = new Uint8Array(12);
  crypto.getRandomValues(a);
  return Array.from(a, (b) => b.toString(16).padStart(2, "0")).join("");
}

// Upload a file to a room; onProgress(fraction) as the bytes go out.
export function upload(roomId, file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    const q = new URLSearchParams({ name: file.name || "image.png", client_id: newClientId() });
    xhr.open("POST", `/api/v1/rooms/${roomId}/files?${q}`);
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) onProgress(e.loaded / e.total);
    });
    xhr.addEventListener("load", () => {
      if (xhr.status === 201) resolve(JSON.parse(xhr.responseText));
      else reject(ended(toError(xhr.status, xhr.responseText)));
    });
    xhr.addEventListener("error", () => reject(toError(0, "")));
    xhr.addEventListener("abort", () => reject(new ApiError(0, "aborted", "中止しました")));
    xhr.send(file);
  });
}
