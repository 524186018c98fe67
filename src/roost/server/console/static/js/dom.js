// Elements built from data: text goes in as text nodes, never as HTML.
import { lang } from "./i18n.js";

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  add(el, children);
  return el;
}

function add(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) add(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

export function when(ts) {
  if (ts === null || ts === undefined) return "";
  return new Date(ts * 1000).toLocaleString(lang === "zh" ? "zh-CN" : undefined);
}

export function json(value) {
  return JSON.stringify(value, null, 2);
}

export function statusBadge(status) {
  return h("span", { class: `status ${status}` }, status);
}
