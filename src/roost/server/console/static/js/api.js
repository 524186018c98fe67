// Calls to the Roost API with the console's cookie (sent only with X-Roost-Console).
const BASE = { "x-roost-console": "1" };

export class ApiError extends Error {
  constructor(status, error) {
    super((error && error.message) || `HTTP ${status}`);
    this.status = status;
    this.code = error && error.code;
    this.hint = error && error.hint;
  }
}

function init(method, body, headers, signal) {
  const all = { ...BASE, ...headers };
  const out = { method, headers: all, signal, credentials: "same-origin" };
  if (body !== undefined) {
    out.body = JSON.stringify(body);
    all["content-type"] = "application/json";
  }
  return out;
}

async function failure(r) {
  let body = {};
  try { body = await r.json(); } catch { /* not JSON */ }
  if (r.status === 401) window.dispatchEvent(new CustomEvent("roost:signedout"));
  return new ApiError(r.status, body.error || { message: r.statusText });
}

export async function api(path, { method = "GET", body, headers = {}, signal } = {}) {
  const r = await fetch(path, init(method, body, headers, signal));
  if (!r.ok) throw await failure(r);
  if (r.status === 204) return null;
  const type = r.headers.get("content-type") || "";
  return type.includes("json") ? r.json() : r.text();
}

// A response body as a Blob (exports): the same cookie and header as api(), so a
// download is authorised like any other call (a plain <a href> would not send the header).
export async function blob(path, { signal } = {}) {
  const r = await fetch(path, init("GET", undefined, {}, signal));
  if (!r.ok) throw await failure(r);
  return r.blob();
}

// An SSE request read with fetch (headers, cookie and Last-Event-ID under our control);
// onEvent(type, data, id) for each frame; resolves with the response headers when it ends.
export async function stream(path, { method = "GET", body, lastEventId, signal, onOpen, onEvent }) {
  const headers = { accept: "text/event-stream" };
  if (lastEventId) headers["last-event-id"] = String(lastEventId);
  const r = await fetch(path, init(method, body, headers, signal));
  if (!r.ok) throw await failure(r);
  if (onOpen) onOpen(r.headers);
  const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let id = null, type = "message", data = "";
      for (const line of frame.split("\n")) {
        if (line.startsWith("id: ")) id = Number(line.slice(4));
        else if (line.startsWith("event: ")) type = line.slice(7);
        else if (line.startsWith("data: ")) data += line.slice(6);
      }
      if (data) onEvent(type, JSON.parse(data), id);
    }
  }
  return r.headers;
}
