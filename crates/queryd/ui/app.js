// logagg web UI: plain JavaScript against the query API of the same origin.
// The page's state lives in its URL (view, query, time range, pickers, tail),
// so a link to a view shows the same view.
"use strict";

const LEVELS = ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"];
const PRESETS = { "15m": 15 * 60e3, "1h": 3600e3, "6h": 6 * 3600e3, "24h": 86400e3, "7d": 7 * 86400e3, "30d": 30 * 86400e3 };
const PAGE = 100;
const TAIL_KEEP = 1000;

const $ = (id) => document.getElementById(id);
const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
};
const svg = (tag, attrs = {}) => {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
};

// ---- state and URL -------------------------------------------------------

const state = { view: "logs", q: "", range: "1h", start: "", end: "", level: "", service: "", source: "", tail: false };
const KEYS = Object.keys(state);

function readUrl() {
  const p = new URLSearchParams(location.search);
  state.view = p.get("view") === "patterns" ? "patterns" : "logs";
  state.q = p.get("q") || "";
  state.range = p.get("range") || (p.get("start") ? "custom" : "1h");
  if (!(state.range in PRESETS) && state.range !== "custom") state.range = "1h";
  state.start = p.get("start") || "";
  state.end = p.get("end") || "";
  state.level = p.get("level") || "";
  state.service = p.get("service") || "";
  state.source = p.get("source") || "";
  state.tail = p.get("tail") === "1";
}

function writeUrl(push) {
  const p = new URLSearchParams();
  for (const k of KEYS) {
    const v = state[k];
    if (k === "view" && v === "logs") continue;
    if (k === "range" && v === "1h") continue;
    if ((k === "start" || k === "end") && state.range !== "custom") continue;
    if (k === "tail") { if (v) p.set("tail", "1"); continue; }
    if (v) p.set(k, v);
  }
  const url = location.pathname + (p.toString() ? "?" + p : "");
  if (url !== location.pathname + location.search) history[push ? "pushState" : "replaceState"](null, "", url);
}

// datetime-local values are read and written as UTC.
const toLocalInput = (iso) => (iso ? new Date(iso).toISOString().slice(0, 19) : "");
const fromLocalInput = (v) => (v ? new Date(v + "Z").toISOString() : "");

function formsToState() {
  state.q = $("q").value.trim();
  state.range = $("range").value;
  if (state.range === "custom") {
    state.start = fromLocalInput($("start").value);
    state.end = fromLocalInput($("end").value);
  }
  state.level = $("level").value;
  state.service = $("service").value;
  state.source = $("source").value;
  state.tail = $("tail").checked;
}

function stateToForms() {
  $("q").value = state.q;
  $("range").value = state.range;
  $("absolute").hidden = state.range !== "custom";
  $("start").value = toLocalInput(state.start);
  $("end").value = toLocalInput(state.end);
  for (const k of ["level", "service", "source"]) setPicker(k, state[k]);
  $("tail").checked = state.tail;
  $("tab-logs").setAttribute("aria-pressed", String(state.view === "logs"));
  $("tab-patterns").setAttribute("aria-pressed", String(state.view === "patterns"));
  $("logs-view").hidden = state.view !== "logs";
  $("patterns-view").hidden = state.view !== "patterns";
}

/// The absolute range of the current state, fixed when a search runs so
/// that the histogram, the pages and the facets agree.
function resolveRange() {
  if (state.range === "custom") {
    const end = state.end || new Date().toISOString();
    const start = state.start || new Date(Date.parse(end) - 3600e3).toISOString();
    return { start, end };
  }
  const end = Date.now();
  return { start: new Date(end - PRESETS[state.range]).toISOString(), end: new Date(end).toISOString() };
}

function filterParams(range, { withTime = true, skip = "" } = {}) {
  const p = new URLSearchParams();
  if (state.q) p.set("query", state.q);
  for (const k of ["level", "service", "source"]) if (state[k] && k !== skip) p.set(k, state[k]);
  if (withTime) {
    p.set("start_time", range.start);
    p.set("end_time", range.end);
  }
  return p;
}

// ---- API -----------------------------------------------------------------

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.detail) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }
}

async function api(path, params) {
  const url = params ? `${path}?${params}` : path;
  let res = await fetch(url, { headers: { Accept: "application/json" } });
  // Expensive reads take a slot: busy, the service answers 429 with
  // Retry-After. Wait as told, a few times, before giving up.
  for (let tries = 0; res.status === 429 && tries < 4; tries++) {
    const wait = Math.min(Number(res.headers.get("Retry-After")) || 1, 5);
    await new Promise((done) => setTimeout(done, wait * 1000));
    res = await fetch(url, { headers: { Accept: "application/json" } });
  }
  let body = null;
  try { body = await res.json(); } catch (_) { body = null; }
  if (!res.ok) throw new ApiError(res.status, body);
  return body;
}

function showError(e) {
  const box = $("error");
  box.replaceChildren();
  if (!e) { box.hidden = true; $("q").removeAttribute("aria-invalid"); return; }
  const detail = e.body && e.body.detail ? e.body.detail : String(e.message || e);
  box.append(el("strong", { text: e.body && e.body.error === "invalid_query" ? "The query cannot be read" : "The request failed" }), ": ", detail);
  const m = /column (\d+)/.exec(detail);
  if (e.body && e.body.error === "invalid_query" && e.body.field === "query" && m) {
    const col = Number(m[1]);
    box.append(el("pre", { class: "caret", "aria-hidden": "true" }, state.q + "\n" + " ".repeat(Math.max(0, col - 1)) + "^"));
    const input = $("q");
    input.setAttribute("aria-invalid", "true");
    const at = Math.min(col - 1, input.value.length);
    input.focus();
    input.setSelectionRange(at, at);
  }
  box.hidden = false;
}

// ---- pickers fed by facets ---------------------------------------------------

function setPicker(name, value, values) {
  const select = $(name);
  const label = name === "level" ? "All levels" : `All ${name}s`;
  if (values) {
    select.replaceChildren(el("option", { value: "" }, label));
    const listed = name === "level"
      ? LEVELS.map((l) => ({ value: l, count: (values.find((v) => v.value === l) || {}).count || 0 }))
      : values;
    for (const v of listed) select.append(el("option", { value: v.value }, `${v.value} (${v.count})`));
  } else if (select.options.length === 0) {
    select.append(el("option", { value: "" }, label));
    if (name === "level") for (const l of LEVELS) select.append(el("option", { value: l }, l));
  }
  if (value && ![...select.options].some((o) => o.value === value)) select.append(el("option", { value }, value));
  select.value = value || "";
}

async function loadFacets(range) {
  const answer = await api("/logs/facets", filterParams(range, { skip: "" }));
  for (const name of ["level", "service", "source"]) setPicker(name, state[name], answer.facets[name] || []);
}

// ---- histogram -----------------------------------------------------------------

const histo = { start: 0, end: 0, buckets: [], drag: null };

function renderLegend() {
  $("histo-legend").replaceChildren(...LEVELS.map((l) => el("span", {}, el("i", { class: "sw " + l }), l)));
}

function renderHistogram(answer) {
  histo.start = Date.parse(answer.start_time);
  histo.end = Date.parse(answer.end_time);
  histo.buckets = answer.buckets;
  const box = $("histogram");
  const W = 1000, H = 110, top = 6, bottom = 2;
  const max = Math.max(1, ...answer.buckets.map((b) => b.count));
  const s = svg("svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", "aria-hidden": "true" });
  const span = Math.max(1, histo.end - histo.start);
  const x = (t) => ((t - histo.start) / span) * W;
  const width = Math.max(1, (answer.interval_ms / span) * W - 1);
  for (const b of answer.buckets) {
    if (!b.count) continue;
    let y = H - bottom;
    const t = Date.parse(b.time);
    for (const l of LEVELS) {
      const n = b.levels[l] || 0;
      if (!n) continue;
      const h = (n / max) * (H - top - bottom);
      y -= h;
      const r = svg("rect", { x: x(t).toFixed(2), y: y.toFixed(2), width: width.toFixed(2), height: h.toFixed(2), class: "bar " + l });
      r.append(svg("title"));
      r.firstChild.textContent = `${b.time}: ${n} ${l}`;
      s.append(r);
    }
  }
  const sel = svg("rect", { class: "sel", x: 0, y: 0, width: 0, height: H - bottom, visibility: "hidden" });
  s.append(sel);
  // Time labels as HTML under the bars (SVG text would stretch with the
  // bars on a narrow window).
  const axis = el("div", { class: "axis", "aria-hidden": "true" });
  for (let i = 0; i <= 4; i++) axis.append(el("span", {}, shortTime(new Date(histo.start + (span * i) / 4), span)));
  box.replaceChildren(s, axis);
  box.setAttribute("aria-label", `${answer.total_count} logs from ${answer.start_time} to ${answer.end_time}, ${answer.interval} per bar`);
  box.dataset.total = answer.total_count;
  box.dataset.buckets = answer.buckets.length;
}

function shortTime(d, span) {
  const iso = d.toISOString();
  return span > 2 * 86400e3 ? iso.slice(5, 16).replace("T", " ") : iso.slice(11, 19);
}

function histogramDrag() {
  const box = $("histogram");
  const timeAt = (clientX) => {
    const r = box.getBoundingClientRect();
    const f = Math.min(1, Math.max(0, (clientX - r.left) / r.width));
    return histo.start + f * (histo.end - histo.start);
  };
  box.addEventListener("pointerdown", (ev) => {
    if (!histo.end) return;
    box.setPointerCapture(ev.pointerId);
    histo.drag = { from: ev.clientX };
  });
  box.addEventListener("pointermove", (ev) => {
    if (!histo.drag) return;
    const r = box.getBoundingClientRect();
    const sel = box.querySelector(".sel");
    const a = Math.min(histo.drag.from, ev.clientX) - r.left, b = Math.max(histo.drag.from, ev.clientX) - r.left;
    sel.setAttribute("x", (a / r.width) * 1000);
    sel.setAttribute("width", ((b - a) / r.width) * 1000);
    sel.setAttribute("visibility", "visible");
  });
  box.addEventListener("pointerup", (ev) => {
    if (!histo.drag) return;
    const from = histo.drag.from;
    histo.drag = null;
    if (Math.abs(ev.clientX - from) < 4) { box.querySelector(".sel").setAttribute("visibility", "hidden"); return; }
    const a = timeAt(Math.min(from, ev.clientX)), b = timeAt(Math.max(from, ev.clientX));
    setRange(new Date(Math.floor(a / 1000) * 1000).toISOString(), new Date(Math.ceil(b / 1000) * 1000).toISOString());
  });
}

function setRange(start, end) {
  state.range = "custom";
  state.start = start;
  state.end = end;
  stateToForms();
  run(true);
}

// ---- results -------------------------------------------------------------------

const list = { cursor: null, loading: false, range: null, generation: 0, shown: 0, total: 0, relation: "eq" };

/// `2026-11-29 01:15:58.497` (UTC, to the millisecond).
const showTime = (iso) => {
  const d = new Date(iso);
  return isNaN(d) ? iso : d.toISOString().replace("T", " ").replace("Z", "");
};

/// A log's time and level badge, as every list shows them.
const timeAndLevel = (log) => [
  el("span", { class: "time mono", title: log.timestamp }, showTime(log.timestamp)),
  el("span", {}, el("span", { class: "lvl " + log.level }, log.level)),
];

function logHead(log) {
  return [
    ...timeAndLevel(log),
    el("span", { class: "svc", title: `${log.service || "-"} / ${log.source}` }, log.service || log.source),
    el("span", { class: "msg" }, log.message),
  ];
}

function logItem(log, fresh) {
  const li = el("li", { class: "log" + (fresh ? " fresh" : ""), "data-id": log.id });
  const head = el("div", { class: "head", tabindex: "0", role: "button", "aria-expanded": "false" }, logHead(log));
  const toggle = () => toggleDetail(li, head, log);
  head.addEventListener("click", toggle);
  head.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); toggle(); }
    if (ev.key === "Escape" && li.classList.contains("open")) { ev.preventDefault(); toggle(); }
    if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
      ev.preventDefault();
      const sib = ev.key === "ArrowDown" ? li.nextElementSibling : li.previousElementSibling;
      if (sib) sib.querySelector(".head").focus();
    }
  });
  li.append(head);
  return li;
}

/// A query-language term for a field and value.
function termFor(field, value) {
  const v = String(value);
  const plain = /^[A-Za-z0-9_.\-]+$/.test(v) && !["AND", "OR", "NOT"].includes(v);
  const quoted = plain ? v : `"${v.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
  return `${field}:${quoted}`;
}

function addFilter(field, value) {
  const term = termFor(field, value);
  state.q = state.q ? `${state.q} ${term}` : term;
  state.view = "logs";
  stateToForms();
  run(true);
}

function valueButton(field, value) {
  return el("button", { type: "button", class: "value", title: `Add ${termFor(field, value)} to the query`, "data-field": field, onclick: () => addFilter(field, value) }, String(value));
}

function metadataTree(obj, path) {
  const ul = el("ul", { class: "tree" });
  for (const [k, v] of Object.entries(obj)) {
    const p = path ? `${path}.${k}` : k;
    if (v && typeof v === "object" && !Array.isArray(v)) {
      ul.append(el("li", {}, el("details", { open: true }, el("summary", { class: "k" }, k), metadataTree(v, p))));
    } else if (Array.isArray(v)) {
      ul.append(el("li", {}, el("span", { class: "k" }, k + ": "), el("code", {}, JSON.stringify(v))));
    } else {
      ul.append(el("li", {}, el("span", { class: "k" }, k + ": "), v === null ? el("code", {}, "null") : valueButton("metadata." + p, v)));
    }
  }
  return ul;
}

function toggleDetail(li, head, log) {
  const open = li.querySelector(".detail");
  if (open) {
    open.remove();
    li.classList.remove("open");
    head.setAttribute("aria-expanded", "false");
    return;
  }
  li.classList.add("open");
  head.setAttribute("aria-expanded", "true");
  const dl = el("dl");
  const row = (name, value, field) => {
    if (value === undefined || value === null || value === "") return;
    dl.append(el("dt", {}, name), el("dd", {}, field ? valueButton(field, value) : el("code", {}, String(value))));
  };
  row("id", log.id, "id");
  row("timestamp", log.timestamp);
  row("received_at", log.received_at);
  row("level", log.level, "level");
  row("service", log.service, "service");
  row("source", log.source, "source");
  row("trace_id", log.trace_id, "trace_id");
  row("span_id", log.span_id);
  row("pattern_id", log.pattern_id, "pattern_id");
  dl.append(el("dt", {}, "message"), el("dd", {}, el("span", { class: "msg" }, log.message)));
  const detail = el("div", { class: "detail" }, dl);
  if (log.metadata && Object.keys(log.metadata).length) {
    detail.append(el("div", { class: "k" }, "metadata"), metadataTree(log.metadata, ""));
  }
  const status = el("span", { class: "hint", "aria-live": "polite" });
  const copy = el("button", { type: "button", class: "copy" }, "Copy JSON");
  copy.addEventListener("click", async () => {
    const text = JSON.stringify(log, null, 2);
    try {
      await navigator.clipboard.writeText(text);
    } catch (_) {
      const area = el("textarea", { "aria-hidden": "true" });
      area.value = text;
      document.body.append(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
    status.textContent = "Copied";
  });
  const ctx = el("button", { type: "button", class: "show-context" }, "Show context");
  ctx.addEventListener("click", () => showContext(detail, log, ctx));
  detail.append(el("div", { class: "actions" }, copy, ctx, status));
  li.append(detail);
}

async function showContext(detail, log, button) {
  const old = detail.querySelector(".context");
  if (old) { old.remove(); button.textContent = "Show context"; return; }
  button.disabled = true;
  try {
    const answer = await api(`/logs/${encodeURIComponent(log.id)}/context`, new URLSearchParams({ before: "10", after: "10" }));
    const line = (l, self) => el("li", { class: self ? "self" : "", "data-id": l.id },
      timeAndLevel(l),
      el("span", { class: "msg" }, l.message));
    const box = el("div", { class: "context" },
      el("h3", {}, `Context: ${answer.before.length} before, ${answer.after.length} after, same service and source`),
      el("ol", {}, answer.before.map((l) => line(l)), line(answer.log, true), answer.after.map((l) => line(l))));
    detail.append(box);
    button.textContent = "Hide context";
  } catch (e) {
    showError(e);
  } finally {
    button.disabled = false;
  }
}

function summary() {
  const total = list.relation === "gte" ? `more than ${list.total.toLocaleString("en")}` : list.total.toLocaleString("en");
  $("summary").textContent = `${total} logs; ${list.shown.toLocaleString("en")} shown, newest first (times in UTC)${state.tail ? "; live tail on" : ""}`;
}

async function loadPage() {
  if (list.loading || !list.cursor) return;
  list.loading = true;
  const generation = list.generation;
  const params = filterParams(list.range);
  params.set("limit", String(PAGE));
  params.set("cursor", list.cursor);
  params.set("track_total", "false");
  $("more").textContent = "Loading…";
  try {
    const answer = await api("/logs/search", params);
    if (generation !== list.generation) return;
    appendLogs(answer);
  } catch (e) {
    showError(e);
  } finally {
    list.loading = false;
  }
}

function appendLogs(answer) {
  const ol = $("results");
  for (const log of answer.logs) ol.append(logItem(log));
  list.shown += answer.logs.length;
  list.cursor = answer.next_cursor;
  const more = $("more");
  more.replaceChildren();
  if (list.cursor) {
    more.append(el("button", { type: "button", id: "load-more", onclick: loadPage }, "Load more"));
  } else {
    more.append(el("span", { id: "end-of-results" }, list.shown ? "End of results" : "No logs match"));
  }
  summary();
  // A short first page leaves the sentinel in view: keep loading.
  requestAnimationFrame(() => { if (sentinelVisible()) loadPage(); });
}

function sentinelVisible() {
  const r = $("more").getBoundingClientRect();
  return r.top < window.innerHeight + 200 && !$("logs-view").hidden;
}

// ---- live tail ---------------------------------------------------------------------

let tail = null;

function stopTail() {
  if (tail) { tail.close(); tail = null; }
}

function startTail() {
  stopTail();
  const source = new EventSource("/logs/tail?" + filterParams(null, { withTime: false }));
  source.addEventListener("log", (ev) => {
    const log = JSON.parse(ev.data);
    const ol = $("results");
    if (ol.querySelector(`[data-id="${CSS.escape(log.id)}"]`)) return;
    ol.prepend(logItem(log, true));
    list.shown += 1;
    list.total += 1;
    while (ol.children.length > TAIL_KEEP + PAGE) ol.lastElementChild.remove();
    summary();
  });
  source.addEventListener("error", () => {
    if (source.readyState === EventSource.CLOSED) $("summary").textContent += " (live tail stopped)";
  });
  tail = source;
}

// ---- patterns ----------------------------------------------------------------------

function sparkline(trend) {
  const W = 120, H = 28;
  const max = Math.max(1, ...trend);
  const step = trend.length > 1 ? W / (trend.length - 1) : W;
  const pts = trend.map((n, i) => `${(i * step).toFixed(1)},${(H - 2 - (n / max) * (H - 4)).toFixed(1)}`).join(" ");
  const s = svg("svg", { class: "spark", viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": `trend: ${trend.join(", ")}` });
  s.append(svg("polyline", { points: pts }));
  return s;
}

function patternText(pattern) {
  const out = [];
  pattern.split(/(<\*>)/).forEach((part) => {
    if (part === "<*>") out.push(el("span", { class: "var" }, part));
    else if (part) out.push(part);
  });
  return out;
}

function patternQuery(p) {
  const ids = (p.pattern_ids && p.pattern_ids.length ? p.pattern_ids : [p.pattern_id]).slice(0, 60);
  return ids.length === 1 ? `pattern_id:${ids[0]}` : `pattern_id:(${ids.join(" OR ")})`;
}

async function loadPatterns(range) {
  const params = filterParams(range);
  params.set("limit", "100");
  params.set("new_since", range.start);
  $("patterns-summary").textContent = "Loading…";
  const answer = await api("/logs/patterns", params);
  const body = $("patterns").querySelector("tbody");
  body.replaceChildren();
  for (const p of answer.patterns) {
    const link = el("button", { type: "button", class: "pattern-link", title: "Search this pattern's logs", "data-pattern-id": p.pattern_id }, patternText(p.pattern));
    link.addEventListener("click", () => {
      state.view = "logs";
      state.q = patternQuery(p);
      stateToForms();
      run(true);
    });
    const samples = el("details", { class: "samples" }, el("summary", {}, `${p.samples.length} samples`), el("ul", {}, p.samples.map((m) => el("li", {}, m))));
    body.append(el("tr", { class: "pattern" },
      el("td", { class: "count" }, p.count.toLocaleString("en")),
      el("td", {}, sparkline(p.trend)),
      el("td", {}, link, p.is_new ? el("span", { class: "badge", title: "Not seen before this range" }, "NEW") : null, samples),
      el("td", { class: "chips" }, Object.entries(p.levels).map(([l, n]) => el("span", {}, el("span", { class: "lvl " + l }, l), " ", n))),
      el("td", { class: "chips" }, Object.entries(p.services).map(([s, n]) => el("span", {}, `${s} (${n})`)))));
  }
  $("patterns-summary").textContent = `${answer.patterns.length} patterns over ${answer.total_logs.toLocaleString("en")} ERROR and CRITICAL logs, ${range.start} to ${range.end}`;
}

// ---- running a search -----------------------------------------------------------------

async function run(push) {
  writeUrl(push);
  showError(null);
  stopTail();
  list.generation += 1;
  const range = resolveRange();
  list.range = range;
  list.cursor = null;
  list.shown = 0;
  $("results").replaceChildren();
  $("more").replaceChildren();
  document.title = state.q ? `${state.q} - logagg` : "logagg";
  try {
    if (state.view === "patterns") {
      await Promise.all([loadPatterns(range), loadFacets(range)]);
      return;
    }
    const params = filterParams(range);
    params.set("limit", String(PAGE));
    const generation = list.generation;
    const [page, histogram] = await Promise.all([
      api("/logs/search", params),
      api("/logs/histogram", filterParams(range)),
      loadFacets(range),
    ]);
    if (generation !== list.generation) return;
    list.total = page.total_count;
    list.relation = page.total_relation;
    renderHistogram(histogram);
    appendLogs(page);
    if (state.tail) startTail();
  } catch (e) {
    showError(e);
    $("summary").textContent = "";
  }
}

function init() {
  readUrl();
  setPicker("level", "");
  setPicker("service", "");
  setPicker("source", "");
  stateToForms();
  renderLegend();
  histogramDrag();
  $("search").addEventListener("submit", (ev) => {
    ev.preventDefault();
    formsToState();
    run(true);
  });
  $("range").addEventListener("change", () => {
    const custom = $("range").value === "custom";
    $("absolute").hidden = !custom;
    if (custom) {
      const r = list.range || resolveRange();
      $("start").value = toLocalInput(r.start);
      $("end").value = toLocalInput(r.end);
      $("start").focus();
      return;
    }
    formsToState();
    run(true);
  });
  for (const id of ["start", "end"]) $(id).addEventListener("change", () => { formsToState(); if (state.start && state.end) run(true); });
  for (const id of ["level", "service", "source"]) $(id).addEventListener("change", () => { formsToState(); run(true); });
  $("tail").addEventListener("change", () => {
    formsToState();
    writeUrl(false);
    if (state.tail && state.view === "logs") startTail(); else stopTail();
    summary();
  });
  $("help-toggle").addEventListener("click", () => {
    const help = $("help");
    help.hidden = !help.hidden;
    $("help-toggle").setAttribute("aria-expanded", String(!help.hidden));
  });
  $("zoom-out").addEventListener("click", () => {
    const r = list.range || resolveRange();
    const a = Date.parse(r.start), b = Date.parse(r.end), half = (b - a) / 2;
    setRange(new Date(a - half).toISOString(), new Date(Math.min(Date.now(), b + half)).toISOString());
  });
  for (const [id, view] of [["tab-logs", "logs"], ["tab-patterns", "patterns"]]) {
    $(id).addEventListener("click", () => {
      if (state.view === view) return;
      formsToState();
      state.view = view;
      stateToForms();
      run(true);
    });
  }
  document.addEventListener("keydown", (ev) => {
    const typing = ev.target instanceof HTMLInputElement || ev.target instanceof HTMLSelectElement || ev.target instanceof HTMLTextAreaElement;
    if (ev.key === "/" && !typing) { ev.preventDefault(); $("q").focus(); $("q").select(); }
  });
  new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting)) loadPage();
  }, { rootMargin: "200px" }).observe($("more"));
  window.addEventListener("popstate", () => { readUrl(); stateToForms(); run(false); });
  run(false);
}

document.addEventListener("DOMContentLoaded", init);
