// wmproxy-gui inspector page: polls the local API, lists captured requests, shows one, replays it.
// Captured content is only ever put into the page with textContent (never as HTML).
"use strict";

const API = "/api/requests/http";
const $ = (id) => document.getElementById(id);
let rows = [];
let version = -1;
let selected = null;
let current = null;

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function fmtBytes(n) {
  const units = ["B", "KiB", "MiB", "GiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return i === 0 ? `${n} B` : `${n.toFixed(1)} ${units[i]}`;
}

function fmtDuration(ns) {
  const ms = ns / 1e6;
  return ms < 1000 ? `${ms.toFixed(ms < 10 ? 1 : 0)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

function fmtTime(iso) {
  const d = new Date(iso);
  return d.toLocaleTimeString([], { hour12: false }) + "." + String(d.getMilliseconds()).padStart(3, "0");
}

function statusOf(r) { return r.response ? r.response.status_code : 0; }

function matches(r, words) {
  const hay = [r.request.method, r.wm.path, String(statusOf(r)), r.tunnel_name, r.remote_addr].join(" ").toLowerCase();
  return words.every((w) => hay.includes(w));
}

function renderList() {
  const words = $("filter").value.toLowerCase().split(/\s+/).filter(Boolean);
  const body = document.querySelector("#list tbody");
  body.replaceChildren();
  let shown = 0;
  for (const r of rows) {
    if (!matches(r, words)) continue;
    shown++;
    const tr = el("tr");
    tr.dataset.id = r.id;
    if (r.id === selected) tr.classList.add("sel");
    tr.append(el("td", fmtTime(r.start)), el("td", r.tunnel_name), el("td", r.request.method));
    const path = el("td", r.request.uri, "path");
    path.title = r.request.uri;
    if (r.wm.replay_of) path.append(el("span", "replay", "tag"));
    tr.append(path);
    const code = statusOf(r);
    tr.append(el("td", code || (r.wm.error ? "error" : "…"), "s" + String(code).charAt(0)));
    tr.append(el("td", fmtDuration(r.duration)), el("td", fmtBytes(r.wm.response_size)));
    tr.addEventListener("click", () => select(r.id));
    body.append(tr);
  }
  $("empty").hidden = rows.length > 0;
  $("count").textContent = rows.length ? `${shown} of ${rows.length} requests` : "";
}

async function poll() {
  try {
    const res = await fetch(`${API}?limit=1000&raw=0`, { headers: { Accept: "application/json" } });
    if (res.ok) {
      const data = await res.json();
      if (data.wm.version !== version) {
        version = data.wm.version;
        rows = data.requests;
        renderList();
        if (selected && !rows.some((r) => r.id === selected)) hideDetail();
      }
    }
  } catch (e) { /* the client stopped: keep what is shown, try again */ }
  setTimeout(poll, 1000);
}

function hideDetail() { selected = null; current = null; $("detail-pane").hidden = true; }

function kvTable(table, pairs) {
  table.replaceChildren();
  for (const [k, v] of pairs) {
    const tr = el("tr");
    tr.append(el("td", k), el("td", v));
    table.append(tr);
  }
}

function headerPairs(headers) {
  const out = [];
  for (const [k, vs] of Object.entries(headers || {})) for (const v of vs) out.push([k, v]);
  return out;
}

function decode64(s) {
  try {
    const bin = atob(s || "");
    const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
    return new TextDecoder("utf-8", { fatal: false }).decode(bytes);
  } catch (e) { return ""; }
}

function showBody(prefix, b) {
  const info = [];
  if (b.kind !== "empty") info.push(b.kind);
  info.push(fmtBytes(b.size));
  if (b.truncated) info.push("truncated: only the first bytes were kept");
  $(`d-${prefix}-body-info`).textContent = "(" + info.join(", ") + ")";
  $(`d-${prefix}-body-err`).textContent = b.error ? (b.kind === "json" ? "Invalid JSON: " : "Invalid: ") + b.error : "";
  $(`d-${prefix}-body`).textContent = b.kind === "binary" ? "(binary data)" : b.text;
}

async function select(id) {
  selected = id;
  for (const tr of document.querySelectorAll("#list tbody tr")) tr.classList.toggle("sel", tr.dataset.id === id);
  const res = await fetch(`${API}/${encodeURIComponent(id)}`);
  if (!res.ok) { hideDetail(); return; }
  const r = await res.json();
  current = r;
  $("detail-pane").hidden = false;
  $("d-title").textContent = `${r.request.method} ${r.request.uri}`;
  $("d-status").textContent = "";
  const s = $("d-summary");
  s.replaceChildren();
  const summary = [
    ["Status", r.response ? r.response.status : (r.wm.error || "no response")],
    ["Mapping", r.tunnel_name], ["Host", r.wm.host], ["Remote", r.remote_addr], ["Local service", r.wm.target],
    ["Start", new Date(r.start).toLocaleString()], ["Duration", fmtDuration(r.duration)],
    ["First byte", r.wm.ttfb === null ? "–" : fmtDuration(r.wm.ttfb)],
    ["Sizes", `request ${fmtBytes(r.wm.request_size)}, response ${fmtBytes(r.wm.response_size)}`],
  ];
  if (r.wm.replay_of) summary.push(["Replay of", r.wm.replay_of]);
  if (r.wm.error && r.response) summary.push(["Note", r.wm.error]);
  for (const [k, v] of summary) s.append(el("dt", k), el("dd", v));
  kvTable($("d-req-headers"), headerPairs(r.request.headers));
  kvTable($("d-query"), r.wm.query);
  $("d-query-title").hidden = $("d-query").hidden = r.wm.query.length === 0;
  showBody("req", r.wm.request_body);
  kvTable($("d-resp-headers"), headerPairs(r.response ? r.response.headers : {}));
  showBody("resp", r.wm.response_body);
  $("d-req-raw").textContent = decode64(r.request.raw);
  $("d-resp-raw").textContent = r.response ? decode64(r.response.raw) : "";
}

async function replay() {
  if (!current) return;
  $("d-status").textContent = "Replaying…";
  const res = await fetch(API, {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ id: current.id, tunnel_name: current.tunnel_name }),
  });
  if (res.status === 204) {
    $("d-status").textContent = "Replayed: the result is the new row marked “replay”.";
  } else {
    let msg = res.statusText;
    try { msg = (await res.json()).msg; } catch (e) { /* keep statusText */ }
    $("d-status").textContent = "Replay failed: " + msg;
  }
  version = -1;
}

async function copyCurl() {
  if (!current) return;
  try {
    await navigator.clipboard.writeText(current.wm.curl);
    $("d-status").textContent = "curl command copied.";
  } catch (e) {
    $("d-status").textContent = current.wm.curl;
  }
}

async function clearAll() {
  await fetch(API, { method: "DELETE" });
  hideDetail();
  version = -1;
}

document.addEventListener("DOMContentLoaded", () => {
  $("filter").addEventListener("input", renderList);
  $("replay").addEventListener("click", replay);
  $("copy-curl").addEventListener("click", copyCurl);
  $("clear").addEventListener("click", clearAll);
  for (const b of document.querySelectorAll("#tabs button")) {
    b.addEventListener("click", () => {
      for (const o of document.querySelectorAll("#tabs button")) o.classList.toggle("on", o === b);
      for (const t of document.querySelectorAll(".tab")) t.hidden = t.id !== "tab-" + b.dataset.tab;
    });
  }
  poll();
});
