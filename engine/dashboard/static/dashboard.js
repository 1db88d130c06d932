// segevo dashboard: one page over the read-only JSON API.
//
// The page downloads the committed rows once (/api/rows pages, column format), then
// follows /api/events: each event carries only the new rows and the new summary, so the
// archive is never downloaded twice. Everything derived from rows (front, hypervolume
// history, predictor quality) is updated incrementally here as rows arrive; plots are
// redrawn at most a few times a second and draw downsampled points.
"use strict";

const PAGE = 20000; // rows per /api/rows request while catching up
const REDRAW_MS = 500; // at most two redraws a second
const TAU_WINDOW = 16; // predicted results per point of the predictor-quality plot
const GRID = [240, 160]; // dominated points drawn: at most one per cell of this grid
const TICKS = 4000; // result ticks drawn on the evaluator timeline
const TABLE_PAGE = 25;
const FIELDS = ["index", "task_id", "x", "acc", "lat_ms", "lat_pred_ms", "acc_pred",
  "predictor_version", "feasible", "evaluator", "t_submit", "t_done"];

const R = { n: 0 }; // the rows, one array per field
for (const f of FIELDS) R[f] = [];
let summary = null;
let t0 = null; // wall-clock origin of the run (seconds)

// -- incremental derived state ---------------------------------------------------------
const front = []; // row indices, latency ascending (so accuracy ascending too)
let frontFlags = new Uint8Array(0); // 1 for rows on the front
const hvHist = { n: [], t: [], v: [] };
let hvRef = null;
let hvNow = 0;
const quality = { n: [], tau: [], accErr: [], latErr: [] };
const pendingWindow = [];

function dominatedBy(i, j) { // row i is dominated by (or equal to) row j
  return R.lat_ms[j] <= R.lat_ms[i] && R.acc[j] >= R.acc[i];
}

function insertFront(i) {
  // The front is sorted by latency; equal points share it (as on the server).
  const a = R.acc[i], t = R.lat_ms[i];
  if (a === null || t === null) return false;
  if (R.feasible[i] === 0) return false; // outside the run's bounds: never on the front
  let lo = 0, hi = front.length; // lo: the first front point at least as slow as i
  while (lo < hi) { const m = (lo + hi) >> 1; if (R.lat_ms[front[m]] < t) lo = m + 1; else hi = m; }
  if (lo > 0 && R.acc[front[lo - 1]] >= a) return false; // a faster point is as accurate
  if (lo < front.length && R.lat_ms[front[lo]] === t && R.acc[front[lo]] > a) return false;
  let at = lo;
  while (at < front.length && R.lat_ms[front[at]] === t && R.acc[front[at]] === a) at++;
  let end = at; // i removes the slower points that are not more accurate
  while (end < front.length && R.acc[front[end]] <= a) { frontFlags[front[end]] = 0; end++; }
  front.splice(at, end - at, i);
  frontFlags[i] = 1;
  return true;
}

function hypervolume() {
  if (!hvRef) return 0;
  const [accRef, latRef] = hvRef;
  let hv = 0;
  const pts = front.filter((i) => R.acc[i] > accRef && R.lat_ms[i] < latRef);
  for (let k = 0; k < pts.length; k++) {
    const next = k + 1 < pts.length ? R.lat_ms[pts[k + 1]] : latRef;
    hv += (next - R.lat_ms[pts[k]]) * (R.acc[pts[k]] - accRef);
  }
  return hv;
}

function kendallTau(a, b) {
  let c = 0, d = 0, ta = 0, tb = 0;
  for (let i = 0; i < a.length; i++) for (let j = i + 1; j < a.length; j++) {
    const x = Math.sign(a[i] - a[j]), y = Math.sign(b[i] - b[j]);
    if (x === 0 && y === 0) continue;
    if (x === 0) ta++; else if (y === 0) tb++; else if (x === y) c++; else d++;
  }
  const den = Math.sqrt((c + d + ta) * (c + d + tb));
  return den > 0 ? (c - d) / den : null;
}

function ingestQuality(i) {
  if (R.acc_pred[i] === null || R.acc[i] === null) return;
  pendingWindow.push(i);
  if (pendingWindow.length < TAU_WINDOW) return;
  const rows = pendingWindow.splice(0);
  const pred = rows.map((k) => R.acc_pred[k]), meas = rows.map((k) => R.acc[k]);
  const lat = rows.filter((k) => R.lat_pred_ms[k] !== null && R.lat_ms[k] !== null && R.lat_ms[k] > 0);
  quality.n.push(rows[rows.length - 1] + 1);
  quality.tau.push(kendallTau(pred, meas));
  quality.accErr.push(rows.reduce((s, k) => s + Math.abs(R.acc_pred[k] - R.acc[k]), 0) / rows.length);
  quality.latErr.push(lat.length ? lat.reduce((s, k) => s + Math.abs(R.lat_pred_ms[k] - R.lat_ms[k]) / R.lat_ms[k], 0) / lat.length : null);
}

function appendColumns(cols) {
  const k = cols.index.length;
  if (k === 0) return;
  if (cols.index[0] !== R.n) { // a gap or an overlap: keep only what follows our rows
    const skip = R.n - cols.index[0];
    if (skip < 0 || skip >= k) return;
    for (const f of Object.keys(cols)) cols[f] = cols[f].slice(skip);
  }
  for (const f of FIELDS) {
    const src = cols[f] || new Array(cols.index.length).fill(null);
    const dst = R[f];
    for (let j = 0; j < src.length; j++) dst.push(src[j]);
  }
  const start = R.n;
  R.n = R.index.length;
  if (frontFlags.length < R.n) {
    const grown = new Uint8Array(Math.max(R.n, 2 * frontFlags.length, 1024));
    grown.set(frontFlags); frontFlags = grown;
  }
  if (t0 === null && R.n) t0 = Math.min(...R.t_submit.slice(0, Math.min(R.n, 1000)).filter((v) => v !== null));
  for (let i = start; i < R.n; i++) {
    if (insertFront(i)) {
      hvNow = hypervolume();
      hvHist.n.push(i + 1); hvHist.t.push(R.t_done[i] - t0); hvHist.v.push(hvNow);
    }
    ingestQuality(i);
  }
  tableDirty = true;
}

function setReference(ref) {
  // The first reference is kept, so that the history stays one series; the header shows
  // the server's own value.
  if (!ref || hvRef) return;
  hvRef = ref;
  hvHist.n.length = hvHist.t.length = hvHist.v.length = 0;
  front.length = 0; frontFlags.fill(0);
  for (let i = 0; i < R.n; i++) if (insertFront(i)) {
    hvNow = hypervolume(); hvHist.n.push(i + 1); hvHist.t.push(R.t_done[i] - t0); hvHist.v.push(hvNow);
  }
}

// -- network -----------------------------------------------------------------------------
async function getJSON(url) {
  const r = await fetch(url, { credentials: "same-origin" });
  if (!r.ok) throw new Error(`${url}: ${r.status}`);
  return r.json();
}

async function catchUp() {
  for (;;) {
    const page = await getJSON(`/api/rows?after=${R.n}&limit=${PAGE}&format=columns`);
    appendColumns(page.columns);
    if (page.next >= page.total || page.columns.index.length === 0) return;
  }
}

function follow() {
  const es = new EventSource(`/api/events?after=${R.n}&format=columns`);
  es.addEventListener("rows", (e) => {
    const data = JSON.parse(e.data);
    appendColumns(data.columns);
    setSummary(data.summary);
  });
  es.addEventListener("summary", (e) => setSummary(JSON.parse(e.data)));
  es.onerror = () => { text("state", "reconnecting"); };
}

function setSummary(s) {
  summary = s;
  if (s.t_start && t0 === null) t0 = s.t_start;
  setReference(s.hv_reference);
  scheduleDraw();
}

// -- drawing -----------------------------------------------------------------------------
function text(id, value) { const el = document.getElementById(id); if (el) el.textContent = value; }
function fmt(v, d = 4) { return v === null || v === undefined ? "–" : Number(v).toFixed(d).replace(/\.?0+$/, "") || "0"; }

let drawTimer = null, lastDraw = 0, tableDirty = true;
function scheduleDraw() {
  if (drawTimer !== null) return;
  const wait = Math.max(0, REDRAW_MS - (performance.now() - lastDraw));
  drawTimer = setTimeout(() => { drawTimer = null; lastDraw = performance.now(); draw(); }, wait);
}

const LAYOUT = { margin: { l: 56, r: 48, t: 8, b: 40 }, font: { size: 11 }, hovermode: "closest",
  legend: { orientation: "h", y: -0.28 }, paper_bgcolor: "rgba(0,0,0,0)" };
// No mode bar: it covers the plots; drag zooms, a double click resets.
const CONFIG = { displaylogo: false, responsive: true, displayModeBar: false };

function plot(id, traces, layout) {
  if (typeof Plotly === "undefined") return;
  Plotly.react(id, traces, { ...LAYOUT, ...layout, datarevision: R.n }, CONFIG);
}

function dominatedSample() {
  // One dominated row per grid cell: the plot stays light at 100,000 rows.
  let amin = Infinity, amax = -Infinity, tmin = Infinity, tmax = -Infinity;
  for (let i = 0; i < R.n; i++) {
    const a = R.acc[i], t = R.lat_ms[i];
    if (a === null || t === null) continue;
    if (a < amin) amin = a; if (a > amax) amax = a; if (t < tmin) tmin = t; if (t > tmax) tmax = t;
  }
  const seen = new Set(), xs = [], ys = [], ids = [];
  const sa = (GRID[1] - 1) / Math.max(1e-12, amax - amin), st = (GRID[0] - 1) / Math.max(1e-12, tmax - tmin);
  for (let i = 0; i < R.n; i++) {
    if (frontFlags[i]) continue;
    const a = R.acc[i], t = R.lat_ms[i];
    if (a === null || t === null) continue;
    const cell = Math.floor((t - tmin) * st) * GRID[1] + Math.floor((a - amin) * sa);
    if (seen.has(cell)) continue;
    seen.add(cell); xs.push(t); ys.push(a); ids.push(i);
  }
  return { xs, ys, ids };
}

function drawFront() {
  const dom = dominatedSample();
  const picks = (summary && summary.picks) || [];
  const traces = [
    { name: `dominated (${R.n - front.length})`, x: dom.xs, y: dom.ys, customdata: dom.ids, mode: "markers", type: "scatter",
      marker: { size: 5, color: "#8a93a6", opacity: 0.25 }, hovertemplate: "row %{customdata}<br>%{y:.4f} @ %{x:.3f} ms<extra></extra>" },
    { name: `front (${front.length})`, x: front.map((i) => R.lat_ms[i]), y: front.map((i) => R.acc[i]), customdata: front.slice(),
      mode: "lines+markers", type: "scatter", line: { shape: "hv", color: "#1f6feb" }, marker: { size: 7, color: "#1f6feb" },
      hovertemplate: "row %{customdata}<br>%{y:.4f} @ %{x:.3f} ms<extra></extra>" },
    { name: "picked", x: picks.map((i) => R.lat_ms[i]), y: picks.map((i) => R.acc[i]), customdata: picks,
      mode: "markers", type: "scatter", marker: { size: 15, symbol: "star", color: "#f5a623", line: { width: 1, color: "#7a4d00" } },
      hovertemplate: "picked row %{customdata}<extra></extra>" },
  ];
  const prop = summary && summary.proposal;
  if (prop && prop.points.length) {
    const pts = prop.points.filter((p) => p.lat_pred_ms !== null);
    const pf = pts.filter((p) => p.predicted_front).sort((p, q) => p.lat_pred_ms - q.lat_pred_ms);
    traces.push({ name: `latest proposal, predicted (v${prop.predictor_version})`, x: pts.map((p) => p.lat_pred_ms), y: pts.map((p) => p.acc_pred),
      customdata: pts.map((p) => p.task_id), mode: "markers", type: "scatter", marker: { size: 8, symbol: "diamond-open", color: "#d62976" },
      hovertemplate: "task %{customdata} predicted<br>%{y:.4f} @ %{x:.3f} ms<extra></extra>" });
    traces.push({ name: "predicted front", x: pf.map((p) => p.lat_pred_ms), y: pf.map((p) => p.acc_pred), mode: "lines", type: "scatter",
      line: { shape: "hv", dash: "dot", color: "#d62976" }, hoverinfo: "skip" });
  }
  plot("front-plot", traces, { xaxis: { title: { text: "latency (ms)" } }, yaxis: { title: { text: "accuracy" } } });
}

function withNow(xs, now) { return xs.length ? [...xs, now] : xs; }

function drawHV() {
  const ys = withNow(hvHist.v, hvNow);
  plot("hv-evals-plot", [{ x: withNow(hvHist.n, R.n), y: ys, type: "scatter", mode: "lines", line: { shape: "hv" }, name: "HV" }],
    { xaxis: { title: { text: "evaluations" } }, yaxis: { title: { text: "hypervolume" } }, showlegend: false });
  const tNow = R.n ? R.t_done[R.n - 1] - t0 : 0;
  plot("hv-time-plot", [{ x: withNow(hvHist.t, tNow), y: ys, type: "scatter", mode: "lines", line: { shape: "hv" }, name: "HV" }],
    { xaxis: { title: { text: "wall time (s)" } }, yaxis: { title: { text: "hypervolume" } }, showlegend: false });
}

function drawQuality() {
  text("tau-window", TAU_WINDOW);
  plot("predictor-plot", [
    { name: "Kendall τ (accuracy)", x: quality.n, y: quality.tau, type: "scatter", mode: "lines+markers", marker: { size: 4 } },
    { name: "MAE accuracy", x: quality.n, y: quality.accErr, type: "scatter", mode: "lines", yaxis: "y2" },
    { name: "mean rel. error latency", x: quality.n, y: quality.latErr, type: "scatter", mode: "lines", yaxis: "y2", line: { dash: "dot" } },
  ], { xaxis: { title: { text: "evaluations" } }, yaxis: { title: { text: "τ" }, range: [-1, 1] },
    yaxis2: { title: { text: "error" }, overlaying: "y", side: "right", rangemode: "tozero" } });
}

function drawEvaluators() {
  const s = summary || {};
  const body = document.querySelector("#evaluators tbody");
  body.replaceChildren(...(s.evaluators || []).map((e) => {
    const tr = document.createElement("tr");
    const u = e.utilisation === undefined || e.utilisation === null ? null : e.utilisation;
    const cells = [e.name, e.attached ? "yes" : "no", e.busy ? "busy" : (e.attached ? "idle" : "–"), e.leased ?? "–", e.completed ?? 0];
    for (const c of cells) { const td = document.createElement("td"); td.textContent = c; tr.appendChild(td); }
    const td = document.createElement("td");
    if (u !== null) {
      const bar = document.createElement("div"); bar.className = "bar"; bar.title = `${(100 * u).toFixed(0)}%`;
      const fill = document.createElement("i"); fill.style.width = `${(100 * u).toFixed(1)}%`; bar.appendChild(fill);
      td.append(bar, ` ${(100 * u).toFixed(0)}%`);
    } else td.textContent = "–";
    tr.appendChild(td);
    return tr;
  }));
  const l = s.leases || {};
  const box = document.getElementById("leases");
  box.replaceChildren(...[["re-queued", l.requeued], ["expired", l.expired], ["failed", l.failed], ["abandoned", l.abandoned],
    ["queued", s.queued], ["leased", s.leased]].map(([k, v]) => {
    const span = document.createElement("span"); const b = document.createElement("b");
    b.textContent = v ?? 0; span.append(b, ` ${k}`); return span;
  }));
  // Timeline: busy intervals (sampled by the server) and one tick per result.
  const traces = [];
  const names = (s.evaluators || []).map((e) => e.name);
  for (const [name, spans] of Object.entries(s.timeline || {})) {
    if (!names.includes(name)) names.push(name);
    traces.push({ type: "bar", orientation: "h", name: `${name} busy`, showlegend: false, y: spans.map(() => name),
      base: spans.map((p) => p[0] - t0), x: spans.map((p) => (p[1] ?? s.now) - p[0]), marker: { color: "rgba(31,111,235,0.55)" },
      hovertemplate: "%{y} busy %{x:.2f} s<extra></extra>" });
  }
  const from = Math.max(0, R.n - TICKS);
  traces.push({ type: "scatter", mode: "markers", name: "results", showlegend: false,
    x: R.t_done.slice(from).map((t) => t - t0), y: R.evaluator.slice(from),
    marker: { symbol: "line-ns-open", size: 10, color: "#1d2330" }, hovertemplate: "%{y}: result at %{x:.2f} s<extra></extra>" });
  plot("timeline-plot", traces, { barmode: "overlay", xaxis: { title: { text: "wall time (s)" } },
    yaxis: { type: "category", categoryorder: "array", categoryarray: names.sort() }, margin: { ...LAYOUT.margin, l: 90 } });
}

function drawHeader() {
  const s = summary || {};
  text("run", s.run ? `${s.run} · ${s.problem || ""} · ${s.strategy || ""}` : "");
  text("rows", R.n);
  text("budget", s.budget ?? "–");
  text("front-size", front.length);
  text("hv", fmt(s.hypervolume ?? hvNow, 5));
  text("predictor", s.predictor_version ?? "–");
  text("evaluator-count", (s.evaluators || []).filter((e) => e.attached).length);
  text("pending", s.pending ?? "–");
  text("state", s.running ? "running" : (s.finished ? "finished" : "stopped"));
  text("state-detail", s.reason || (s.rate_per_s ? `${fmt(s.rate_per_s, 2)} rows/s` : "state"));
  text("source", s.run_dir || s.source || "");
  document.body.dataset.rows = R.n;
  document.body.dataset.front = front.length;
}

// -- the table ---------------------------------------------------------------------------
let sortKey = "index", sortDir = -1, tablePage = 0, view = [];

function parseFilter(q) {
  const tests = [];
  for (const tok of q.trim().split(/\s+/).filter(Boolean)) {
    const m = tok.match(/^(acc|lat|lat_ms|acc_pred|lat_pred_ms|task|task_id|index|v|predictor_version|t|t_done|evaluator)(<=|>=|<|>|=)(.+)$/);
    if (tok === "front") tests.push((i) => frontFlags[i] === 1);
    else if (m) {
      const alias = { lat: "lat_ms", task: "task_id", v: "predictor_version", t: "t_done" };
      const key = alias[m[1]] || m[1], op = m[2], raw = m[3], num = Number(raw);
      if (key === "evaluator") tests.push((i) => (op === "=" ? R.evaluator[i] === raw : String(R.evaluator[i]).includes(raw)));
      else tests.push((i) => {
        let v = R[key][i]; if (v === null) return false; if (key === "t_done") v -= t0;
        return op === "<" ? v < num : op === ">" ? v > num : op === "<=" ? v <= num : op === ">=" ? v >= num : v === num;
      });
    } else {
      const low = tok.toLowerCase();
      tests.push((i) => String(R.evaluator[i]).toLowerCase().includes(low) || R.x[i].join(",").includes(low));
    }
  }
  return tests;
}

function buildView() {
  const tests = parseFilter(document.getElementById("filter").value);
  const out = [];
  for (let i = 0; i < R.n; i++) if (tests.every((t) => t(i))) out.push(i);
  if (sortKey !== "index") {
    const col = sortKey === "x" ? R.x.map((x) => x.join(",")) : R[sortKey];
    out.sort((a, b) => {
      const va = col[a], vb = col[b];
      if (va === vb) return a - b;
      if (va === null) return 1; if (vb === null) return -1;
      return (va < vb ? -1 : 1) * sortDir;
    });
  } else if (sortDir < 0) out.reverse();
  view = out;
  tableDirty = false;
}

function drawTable() {
  if (tableDirty) buildView();
  const pages = Math.max(1, Math.ceil(view.length / TABLE_PAGE));
  tablePage = Math.min(tablePage, pages - 1);
  text("table-count", `${view.length} of ${R.n} rows`);
  text("page", `page ${tablePage + 1} / ${pages}`);
  const body = document.querySelector("#rows-table tbody");
  const rows = view.slice(tablePage * TABLE_PAGE, (tablePage + 1) * TABLE_PAGE).map((i) => {
    const tr = document.createElement("tr");
    tr.dataset.index = i;
    if (frontFlags[i]) tr.className = "front";
    const cells = [i, R.task_id[i], fmt(R.acc[i]), fmt(R.lat_ms[i], 3), fmt(R.acc_pred[i]), fmt(R.lat_pred_ms[i], 3),
      R.predictor_version[i], R.evaluator[i], fmt(R.t_done[i] - t0, 2), R.x[i].join(",")];
    cells.forEach((c, k) => { const td = document.createElement("td"); td.textContent = c; if (k === 9) td.className = "x"; tr.appendChild(td); });
    return tr;
  });
  body.replaceChildren(...rows);
  for (const th of document.querySelectorAll("#rows-table th")) {
    th.classList.toggle("asc", th.dataset.key === sortKey && sortDir > 0);
    th.classList.toggle("desc", th.dataset.key === sortKey && sortDir < 0);
  }
}

async function showDetail(i) {
  const box = document.getElementById("detail");
  box.hidden = false;
  box.textContent = `row ${i}…`;
  try {
    const row = await getJSON(`/api/row/${i}`);
    box.replaceChildren();
    const h = document.createElement("h2"); h.textContent = `row ${row.index} · task ${row.task_id} · ${row.evaluator}`;
    const p = document.createElement("p");
    p.append("export: ");
    const code = document.createElement("code"); code.textContent = row.export; code.id = "export-command";
    const copy = document.createElement("button"); copy.type = "button"; copy.textContent = "copy";
    copy.onclick = () => navigator.clipboard && navigator.clipboard.writeText(row.export);
    p.append(code, " ", copy);
    if (!row.exportable) p.append(" (export needs a mosegnas run; this run's problem has no networks)");
    const x = document.createElement("p"); x.append("x: "); const xc = document.createElement("code"); xc.textContent = row.x.join(","); x.append(xc);
    const pre = document.createElement("pre");
    pre.textContent = row.arch ? describeArch(row.arch) : "no decoded architecture: the problem has no search space to decode with";
    box.append(h, p, x, pre);
  } catch (err) { box.textContent = String(err); }
}

function describeArch(a) {
  if (a.error) return a.error;
  const lines = [`space ${a.space ?? "?"} · input ${a.input} · params ${a.params_m ?? "?"} M · MACs ${a.macs_m ?? "?"} M`];
  if (a.stem) lines.push(`stem: mid ${a.stem.mid_ch}, out ${a.stem.out_ch}${a.stem.residual ? ", residual" : ""}`);
  for (const s of a.stages || []) {
    lines.push(`stage ${s.stage}: depth ${s.depth}, width ×${s.width_mult}, out ${s.out_ch}`);
    for (const l of s.layers) lines.push(`    ${l.in} → ${l.mid} → ${l.out}, stride ${l.stride}`);
  }
  if (a.decoder) lines.push(`decoder: ${JSON.stringify(a.decoder)}`);
  return lines.join("\n");
}

function draw() {
  drawHeader();
  drawFront();
  drawHV();
  drawQuality();
  drawEvaluators();
  drawTable();
}

function setupTable() {
  let timer = null;
  document.getElementById("filter").addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => { tableDirty = true; tablePage = 0; drawTable(); }, 200);
  });
  for (const th of document.querySelectorAll("#rows-table th")) th.addEventListener("click", () => {
    if (sortKey === th.dataset.key) sortDir = -sortDir; else { sortKey = th.dataset.key; sortDir = 1; }
    tableDirty = true; drawTable();
  });
  document.getElementById("prev").onclick = () => { tablePage = Math.max(0, tablePage - 1); drawTable(); };
  document.getElementById("next").onclick = () => { tablePage++; drawTable(); };
  document.querySelector("#rows-table tbody").addEventListener("click", (e) => {
    const tr = e.target.closest("tr"); if (tr) showDetail(Number(tr.dataset.index));
  });
}

async function start() {
  setupTable();
  try {
    setSummary(await getJSON("/api/summary"));
    await catchUp();
  } catch (err) { text("state", "error"); text("state-detail", String(err)); return; }
  draw();
  document.body.dataset.ready = "1";
  follow();
}

start();
