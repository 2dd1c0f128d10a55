// shapekit serve: the page. Plain JavaScript, no build step, nothing loaded from elsewhere.
"use strict";

const $ = (sel) => document.querySelector(sel);
const PALETTE = ["#2e5aac", "#d9480f", "#2b8a3e", "#862e9c", "#c2255c", "#e67700", "#0b7285", "#5f3dc4"];
const PAIR_COLORS = { "sublevel 0": "#1c7ed6", "sublevel 1": "#15aabf", "superlevel 0": "#e03131", "superlevel 1": "#f08c00" };
const state = { models: null, results: [] };

// ---------------------------------------------------------------- helpers
function el(tag, attrs = {}, ...children) {
  const ns = ["svg", "rect", "circle", "g", "title"].includes(tag) ? "http://www.w3.org/2000/svg" : null;
  const node = ns ? document.createElementNS(ns, tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "text") node.textContent = v;
    else if (k === "class") node.setAttribute("class", v);
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}
const fmt = (v, d = 3) => (v === null || v === undefined || Number.isNaN(v)) ? "n/a"
  : (typeof v === "number" ? (Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(2) : +v.toPrecision(d)) : String(v));
const ci = (c) => Array.isArray(c) ? `[${fmt(c[0])}, ${fmt(c[1])}]` : "";

function showError(id, msg) {
  const box = $(id);
  box.textContent = msg || "";
  box.hidden = !msg;
}

async function api(path, options = {}) {
  const r = await fetch(path, options);
  const type = r.headers.get("content-type") || "";
  if (!r.ok) {
    let msg = `${r.status} ${r.statusText}`;
    if (type.includes("json")) msg = (await r.json()).error || msg;
    throw new Error(msg);
  }
  return type.includes("json") ? r.json() : r;
}

function download(name, blob) {
  const a = el("a", { href: URL.createObjectURL(blob), download: name });
  document.body.append(a);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
}

// A job: start it (202), follow its progress by server-sent events (polling if they fail), fetch its result.
async function runJob(path, body, progressId) {
  const box = $(progressId);
  const bar = box.querySelector("progress");
  const stage = box.querySelector(".stage");
  box.hidden = false; bar.removeAttribute("value"); stage.textContent = "uploading...";
  try { return await followJob(path, body, bar, stage); } finally { box.hidden = true; }  // refused or failed: no bar left
}

async function followJob(path, body, bar, stage) {
  const job = await api(path + "?wait=false", { method: "POST", body });
  const show = (j) => {
    const p = j.progress || {};
    if (p.total) { bar.max = p.total; bar.value = p.done; } else bar.removeAttribute("value");
    stage.textContent = p.stage || j.state;
  };
  const final = await new Promise((resolve) => {
    let es = null, timer = null;
    const poll = async () => {
      try {
        const j = await api(job.urls.self);
        show(j);
        if (j.state === "done" || j.state === "error") return resolve(j);
      } catch (e) { return resolve({ state: "error", error: String(e.message || e) }); }
      timer = setTimeout(poll, 400);
    };
    try {
      es = new EventSource(job.urls.events);
      es.addEventListener("progress", (ev) => show(JSON.parse(ev.data)));
      let ended = false;
      const end = () => { if (ended) return; ended = true; es.close(); poll(); };
      es.addEventListener("done", end);
      es.addEventListener("error", (ev) => { if (ev.data) { show(JSON.parse(ev.data)); } end(); });
    } catch (e) { poll(); }
  });
  if (final.state === "error") throw new Error(final.error);
  return final.result;
}

// ---------------------------------------------------------------- tabs, server
function selectTab(name) {
  for (const b of document.querySelectorAll("nav button")) b.setAttribute("aria-selected", String(b.dataset.tab === name));
  for (const s of document.querySelectorAll(".tab")) s.hidden = s.id !== "tab-" + name;
  history.replaceState(null, "", "#" + name);
  if (name === "score" && state.models) scorePlan();   // the Generate tab's sliders may have moved
}

function fillSelect(sel, items, empty) {
  sel.replaceChildren(...(items.length ? items.map((v) => el("option", { value: v, text: v }))
    : [el("option", { value: "", text: empty || "(none)" })]));
}

async function loadServer() {
  try {
    const h = await api("/api/health");
    $("#server-status").textContent = `shapekit ${h.version} · ${h.workers} worker(s)`;
    state.models = await api("/api/models");
  } catch (e) {
    $("#server-status").textContent = "server unreachable: " + e.message;
    return;
  }
  const m = state.models;
  fillSelect($("#classify-model"), m.classifiers.map((c) => c.name), "no classifier on this server");
  fillSelect($("#gen-model"), m.generators.map((g) => g.name), "no generator on this server");
  fillSelect($("#score-generator"), m.generators.map((g) => g.name), "no generator");
  fillSelect($("#score-real-set"), m.real_sets.map((s) => `${s.name}`), "no real set on this server");
  setupGenerator();
  setupScoreLabels();
}

// ---------------------------------------------------------------- classify
function labelColor(labels, name) {
  const i = labels.indexOf(name);
  return i < 0 ? "#868e96" : PALETTE[i % PALETTE.length];
}

function overlay(res, labels) {
  const [h, w] = res.scan.shape;
  const svg = el("svg", { viewBox: `0 0 ${w} ${h}`, preserveAspectRatio: "none", class: "overlay" });
  const tiles = el("g", { class: "tile-map" });
  const [th, tw] = res.tile_map.tile_size;
  for (const t of res.tile_map.tiles) {
    const conf = Math.max(...t.p);
    const r = el("rect", { x: t.col + 2, y: t.row + 2, width: tw - 4, height: th - 4, fill: labelColor(labels, t.temper),
      "fill-opacity": (0.1 + 0.25 * conf).toFixed(2), stroke: labelColor(labels, t.temper), "stroke-width": 3, class: "tile" });
    r.append(el("title", { text: `${t.temper} ${(100 * conf).toFixed(0)}% (tile at ${t.row}, ${t.col})` }));
    tiles.append(r);
  }
  svg.append(tiles);
  if (res.explain && res.explain.pairs.length) {
    const g = el("g", { class: "pairs" });
    const smax = res.explain.pairs[0].score || 1;
    for (const p of res.explain.pairs) {
      g.append(el("circle", { cx: p.col, cy: p.row, r: (2 + 9 * Math.sqrt(p.score / smax)).toFixed(1), fill: "none",
        stroke: PAIR_COLORS[`${p.filtration} ${p.dim}`] || "#000", "stroke-width": 1.6, class: "pair" }));
    }
    svg.append(g);
  }
  return svg;
}

function resultCard(res, model) {
  const labels = Object.keys(res.probabilities);
  const img = el("img", { src: res.preview, alt: res.image });
  const svg = overlay(res, labels);
  const bars = labels.map((k) => {
    const p = res.probabilities[k];
    return el("div", { class: "bar" }, el("span", { text: k }),
      el("div", { class: "track" }, el("div", { class: "fill", style: `width:${(100 * p).toFixed(1)}%;background:${labelColor(labels, k)}` })),
      el("span", { text: (100 * p).toFixed(1) + "%" }));
  });
  const sc = res.scan;
  const px = sc.um_per_px ? `${fmt(sc.um_per_px, 4)} um/px (${sc.um_per_px_source || "?"})` : "unknown";
  const rows = [["file", res.image], ["size", `${sc.source_shape[1]} x ${sc.source_shape[0]} px, ${sc.bit_depth}-bit ${sc.format}`],
    ["info bar", sc.info_bar_rows ? `${sc.info_bar_rows} rows detected and cropped` : "none detected"],
    ["pixel size", px], ["classified at", `${sc.shape[1]} x ${sc.shape[0]} px` + (sc.classified_um_per_px ? `, ${fmt(sc.classified_um_per_px, 4)} um/px` : "")],
    ["tiles", `${res.tiles}`], ["model", model]];
  const bar = sc.scale_bar;
  if (bar && bar.um_per_px) rows.splice(4, 0, ["scale bar", `"${bar.label}" = ${fmt(bar.length_px, 4)} px -> ${fmt(bar.um_per_px, 4)} um/px`]);
  else if (bar && bar.note) rows.splice(4, 0, ["scale bar", `not read (${bar.note})`]);
  if (res.ood_score !== null) rows.push(["OOD score", fmt(res.ood_score)]);
  // an empty set is an answer too: no temper at the model's stated coverage (not a blank cell)
  if (res.prediction_set) rows.push(["prediction set", res.prediction_set.length ? res.prediction_set.join(", ")
    : `none${res.in_distribution === false ? " (outside the training data)" : " (no temper plausible enough)"}`]);
  const table = el("table", {}, ...rows.map(([k, v]) => el("tr", {}, el("th", { text: k }), el("td", { text: v }))));
  const ood = res.in_distribution === false || res.temper === "unknown"
    ? el("div", { class: "ood", text: "Outside the training data: this scan does not look like what the classifier was trained on; treat the verdict with caution." }) : null;
  const toggles = el("div", { class: "controls" },
    el("label", {}, el("input", { type: "checkbox", checked: true, onchange: (e) => { svg.querySelector(".tile-map").style.display = e.target.checked ? "" : "none"; } }), "tile verdicts"),
    res.explain ? el("label", {}, el("input", { type: "checkbox", checked: true, onchange: (e) => { svg.querySelector(".pairs").style.display = e.target.checked ? "" : "none"; } }), "persistence pairs") : null);
  const legend = el("div", { class: "legend" }, ...labels.map((k) => el("span", {}, el("span", { class: "swatch", style: `background:${labelColor(labels, k)}` }), k)),
    ...(res.explain ? Object.entries(PAIR_COLORS).map(([k, c]) => el("span", {}, el("span", { class: "swatch", style: `border:2px solid ${c};border-radius:50%` }), k.replace(" ", " H"))) : []));
  const notes = (res.notes || []).map((n) => el("p", { class: "muted", text: n }));
  return el("div", { class: "card", "data-temper": res.temper, "data-image": res.image },
    el("div", {}, el("div", { class: "scan" }, img, svg), toggles, legend),
    el("div", { class: "facts" }, el("h3", { class: "temper", text: res.temper }, el("small", { text: "  temper" })), ood, ...bars, table, ...notes));
}

async function classifyFiles(files) {
  showError("#classify-error", "");
  const model = $("#classify-model").value;
  const errors = [];   // one line per refused file, not only the last
  for (const f of files) {
    const fd = new FormData();
    fd.append("files", f, f.name);
    if (model) fd.append("model", model);
    fd.append("explain", $("#classify-explain").checked ? "true" : "false");
    fd.append("preview", "true");
    if ($("#classify-um").value) fd.append("um_per_px", $("#classify-um").value);
    try {
      const out = await runJob("/api/classify", fd, "#classify-progress");
      for (const res of out.results) {
        state.results.push({ model: out.model, ...res });
        $("#classify-results").prepend(resultCard(res, out.model));
      }
    } catch (e) {
      errors.push(e.message.startsWith(f.name + ":") ? e.message : `${f.name}: ${e.message}`);
      showError("#classify-error", errors.join("\n"));
    }
  }
  for (const id of ["#download-csv", "#download-json", "#classify-clear"]) $(id).disabled = !state.results.length;
}

function resultsCsv() {
  const labels = [...new Set(state.results.flatMap((r) => Object.keys(r.probabilities)))];
  const head = ["image", "model", "temper", ...labels.map((l) => "p_" + l), "tiles", "in_distribution", "ood_score",
    "info_bar_rows", "um_per_px", "um_per_px_source"];
  const q = (v) => { const s = v === null || v === undefined ? "" : String(v); return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s; };
  const rows = state.results.map((r) => [r.image, r.model, r.temper, ...labels.map((l) => r.probabilities[l]), r.tiles,
    r.in_distribution, r.ood_score, r.scan.info_bar_rows, r.scan.um_per_px, r.scan.um_per_px_source].map(q).join(","));
  return [head.join(","), ...rows].join("\n") + "\n";
}

// ---------------------------------------------------------------- generate
const gen = { timer: null, abort: null, lastUrl: null, seq: 0 };

function currentGenerator() {
  return (state.models?.generators || []).find((g) => g.name === $("#gen-model").value);
}

function sliderValue(c, pos) {
  const t = pos / 1000;
  const v = c.log && c.min > 0 ? c.min * Math.pow(c.max / c.min, t) : c.min + (c.max - c.min) * t;
  return Math.min(c.max, Math.max(c.min, v));
}
function sliderPos(c, v) {
  if (c.max === c.min) return 0;
  const t = c.log && c.min > 0 ? Math.log(v / c.min) / Math.log(c.max / c.min) : (v - c.min) / (c.max - c.min);
  return Math.round(1000 * Math.min(1, Math.max(0, t)));
}

function setupGenerator() {
  const g = currentGenerator();
  const box = $("#gen-sliders");
  box.replaceChildren();
  if (!g) { $("#gen-info").textContent = "This server has no generator (start it with --generator NAME=RUN)."; return; }
  fillSelect($("#gen-label"), g.labels);
  // a generator trained on `shapekit synth` data: no label -> the temper the simulator makes there
  if (g.simulator_labelled) { $("#gen-label").prepend(el("option", { value: "", text: "(the simulator's temper)" })); $("#gen-label").value = ""; }
  for (const c of g.conditions) {
    const out = el("span", { class: "value", text: fmt(c.default) });
    const input = el("input", { type: "range", min: 0, max: 1000, step: 1, value: sliderPos(c, c.default), "data-name": c.name,
      "aria-label": c.name, oninput: (e) => { out.textContent = fmt(sliderValue(c, +e.target.value)); scheduleGenerate(); } });
    box.append(el("div", { class: "slider" }, el("div", { class: "head" }, el("span", { text: c.name + (c.log ? " (log scale)" : "") }), out),
      input, el("div", { class: "range" }, el("span", { text: fmt(c.min) }), el("span", { text: fmt(c.max) }))));
  }
  fillSelect($("#sweep-name"), g.conditions.map((c) => c.name), "(class-conditioned: nothing to sweep)");
  $("#sweep-run").disabled = !g.conditions.length;
  $("#gen-info").textContent = (g.summary ? g.summary + " · " : "") + `${g.mode} mode · ${g.image_size} px` + (g.um_per_px ? ` · ${fmt(g.um_per_px)} um/px` : "") +
    (g.iterations ? ` · ${g.iterations} training iterations` : "") + " · ranges are the training data's";
  scheduleGenerate(0);
}

function generateRequest(format = "png", sweep = null) {
  const g = currentGenerator();
  const conditions = {};
  for (const c of g.conditions) {
    const input = document.querySelector(`#gen-sliders input[data-name="${CSS.escape(c.name)}"]`);
    conditions[c.name] = sliderValue(c, +input.value);
  }
  const body = { generator: g.name, label: $("#gen-label").value || null, conditions, seed: Math.max(0, +$("#gen-seed").value || 0), format };
  if (sweep) body.sweep = sweep;
  return body;
}

function scheduleGenerate(delay = 150) {
  clearTimeout(gen.timer);
  gen.timer = setTimeout(generateNow, delay);
}

async function generateNow() {
  if (!currentGenerator()) return;
  if (gen.abort) gen.abort.abort();
  gen.abort = new AbortController();
  const seq = ++gen.seq;
  const t0 = performance.now();
  const body = generateRequest();
  const own = !body.label && currentGenerator().simulator_labelled ? " (the simulator's temper)" : "";
  genBusy(`generating ${body.generator}...`);
  try {
    const r = await api("/api/generate", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body), signal: gen.abort.signal });
    const blob = await r.blob();
    if (seq !== gen.seq) return;
    const meta = JSON.parse(r.headers.get("X-Shapekit-Metadata") || "{}");
    if (gen.lastUrl) URL.revokeObjectURL(gen.lastUrl);
    gen.lastUrl = URL.createObjectURL(blob);
    const img = $("#gen-image");
    img.src = gen.lastUrl;
    img.dataset.seq = String(seq);
    const cond = Object.entries(meta.conditions || {}).map(([k, v]) => `${k}=${fmt(v)}`).join(", ");
    $("#gen-caption").textContent = `${meta.label || "random temper"}${own}${cond ? " · " + cond : ""} · seed ${meta.seed} · ${Math.round(performance.now() - t0)} ms`;
    showError("#gen-error", (meta.warnings || []).map((w) => "warning: " + w).join(" "));
  } catch (e) {
    if (e.name !== "AbortError") showError("#gen-error", e.message);
  } finally {
    if (seq === gen.seq) genBusy("");   // the latest request answered: nothing is pending
  }
}

// While an image is on its way: say so and dim the one shown (it is no longer what the controls say).
function genBusy(text) {
  $("#gen-busy").textContent = text;
  $("#gen-busy").hidden = !text;
  $("#gen-image").classList.toggle("stale", !!text);
}

async function generateDownload(format) {
  try {
    const r = await api("/api/generate", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(generateRequest(format)) });
    const name = (r.headers.get("Content-Disposition") || "").match(/filename="([^"]+)"/)?.[1] || `shapekit.${format === "tiff" ? "tif" : "png"}`;
    download(name, await r.blob());
  } catch (e) { showError("#gen-error", e.message); }
}

async function renderSweep() {
  const name = $("#sweep-name").value;
  if (!name) return;
  const k = Math.min(12, Math.max(2, +$("#sweep-k").value || 5));
  const button = $("#sweep-run");
  button.disabled = true;
  button.textContent = `Rendering ${k} images...`;
  try {
    const r = await api("/api/generate", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify(generateRequest("png", { name, k })) });
    const img = $("#sweep-image");
    img.src = URL.createObjectURL(await r.blob());
    img.alt = `${name} sweep`;
    img.hidden = false;
    showError("#gen-error", "");
  } catch (e) { showError("#gen-error", e.message); } finally {
    button.textContent = "Render sweep";
    button.disabled = !(currentGenerator()?.conditions.length);
  }
}

// ---------------------------------------------------------------- score
const condText = (c) => Object.entries(c).map(([k, v]) => `${k}=${fmt(v)}`).join(", ");

function setupScoreLabels() {
  const g = (state.models?.generators || []).find((x) => x.name === $("#score-generator").value);
  const keep = $("#score-label").value;
  fillSelect($("#score-label"), g ? ["", ...g.labels] : [""]);
  if (g && g.labels.includes(keep)) $("#score-label").value = keep;
  scorePlan();
}

// What the generated images are made at, said under the menus before the score runs: a chosen
// temper (or uploaded real images, which record no conditions) at the Generate tab's sliders when
// they are this generator's, else at its defaults; no temper against a set the server knows: at
// its images' own tempers and conditions (the server's report warns where the set records none).
function scorePlan() {
  const note = $("#score-at");
  const g = (state.models?.generators || []).find((x) => x.name === $("#score-generator").value);
  const fromSet = document.querySelector("input[name=real-src]:checked").value === "set";
  const generated = document.querySelector("input[name=fake-src]:checked").value === "generator";
  if (!g) { note.textContent = ""; return { conditions: null }; }
  const own = g.simulator_labelled ? "the simulator's temper" : "mixed tempers";
  $("#score-label").options[0].textContent = fromSet ? "(as the real set's images)" : `(${own})`;
  const label = $("#score-label").value;
  let conditions = null, text;
  if (!label && fromSet) {
    text = "each image at the temper and conditions of one of the real set's images (where the set records them)";
  } else {
    const temper = label || own;
    const slid = currentGenerator();
    if (!g.conditions.length) text = temper;
    else if (slid && slid.name === g.name) {
      conditions = generateRequest().conditions;
      text = `${temper} at the Generate tab's sliders: ${condText(conditions)}`;
    } else {
      text = `${temper} at ${g.name}'s defaults: ${condText(Object.fromEntries(g.conditions.map((c) => [c.name, c.default])))}` +
        ` (the Generate tab's sliders are ${slid ? slid.name + "'s" : "another generator's"})`;
    }
  }
  note.textContent = generated ? "Images: " + text : "";
  return { conditions };
}

function generatedText(gen) {
  if (!gen || gen.uploaded !== undefined) return `${gen ? gen.uploaded : "?"} uploaded`;
  const at = typeof gen.conditions === "string" ? "each at the temper and conditions of one of the real set's images"
    : `${gen.label || "mixed tempers"}` + (Object.keys(gen.conditions || {}).length ? ` at ${condText(gen.conditions)}` : "");
  return `${gen.n} by ${gen.generator}: ${at}`;
}

function scoreTable(rep, generated) {
  const cov = rep.coverage || {};
  const rvr = rep.real_vs_real || {};
  const rows = [
    ["topological distance", `${fmt(rep.topological_distance)}  95% CI ${ci(rep.ci?.topological_distance)}`],
    ["real-vs-real baseline", `${fmt(rvr.mean)}  95% ${ci(rvr.ci)}`],
    ["relative to the baseline", fmt(rep.relative_to_baseline)],
    ["p-value (same distribution)", `${fmt(rep.p_value)}  (${rep.n_perm} permutations)`],
    ["coverage", `${fmt(cov.coverage)} (expected if the same: ${fmt(cov.expected_if_same)})`],
    ["diversity ratio", `${fmt(cov.diversity_ratio)}${cov.collapsed ? "  mode collapse" : ""}`],
    ["two-point distance", fmt(rep.two_point?.distance)],
    ["images real / generated", `${rep.n_real} / ${rep.n_fake}`],
    ["generated images", generatedText(generated)],
    ["pixel size compared at", rep.um_per_px ? `${fmt(rep.um_per_px, 4)} um/px` : "pixels (scale unknown)"],
  ];
  for (const w of rep.warnings || []) rows.push(["warning", w]);
  return rows.map(([k, v]) => el("tr", {}, el("th", { text: k }), el("td", { text: v })));
}

// What is missing from the form, in the page's words (the server's names its form fields).
function scoreMissing(realSrc, fakeSrc) {
  if (realSrc === "set" && !$("#score-real-set").value) return "This server knows no real set (start it with --real-set NAME=MANIFEST): upload real images instead.";
  if (realSrc === "files" && !$("#score-real-files").files.length) return "Choose the real images to upload (at least 2; 4 for the real-vs-real baseline).";
  if (fakeSrc === "generator" && !$("#score-generator").value) return "This server has no generator: upload generated images instead.";
  if (fakeSrc === "files" && !$("#score-fake-files").files.length) return "Choose the generated images to upload (at least 2).";
  return "";
}

async function runScore() {
  showError("#score-error", "");
  $("#score-result").hidden = true;
  const fd = new FormData();
  const realSrc = document.querySelector("input[name=real-src]:checked").value;
  const fakeSrc = document.querySelector("input[name=fake-src]:checked").value;
  const missing = scoreMissing(realSrc, fakeSrc);
  if (missing) return showError("#score-error", missing);
  if (realSrc === "set") fd.append("real_set", $("#score-real-set").value);
  else for (const f of $("#score-real-files").files) fd.append("real", f, f.name);
  if (fakeSrc === "generator") {
    fd.append("generator", $("#score-generator").value);
    fd.append("n", $("#score-n").value);
    // as scorePlan says under the menus (no label, no conditions: the real set's own)
    const { conditions } = scorePlan();
    if ($("#score-label").value) fd.append("label", $("#score-label").value);
    if (conditions) fd.append("conditions", JSON.stringify(conditions));
  } else for (const f of $("#score-fake-files").files) fd.append("generated", f, f.name);
  const rounds = $("#score-rounds").value || "100";
  fd.append("n_boot", rounds); fd.append("n_perm", rounds); fd.append("seed", $("#score-seed").value || "0");
  $("#score-run").disabled = true;
  try {
    const out = await runJob("/api/score", fd, "#score-progress");
    $("#score-verdict").textContent = out.verdict;
    $("#score-table").replaceChildren(...scoreTable(out.report, out.generated));
    $("#score-figures").replaceChildren(...Object.entries(out.figures).map(([k, url]) => el("figure", {}, el("img", { src: url, alt: k, class: "figure" }))));
    $("#score-json").textContent = JSON.stringify(out, null, 2);
    $("#score-result").hidden = false;
  } catch (e) { showError("#score-error", e.message); }
  $("#score-run").disabled = false;
}

// ---------------------------------------------------------------- wiring
function init() {
  for (const b of document.querySelectorAll("nav button")) b.addEventListener("click", () => selectTab(b.dataset.tab));
  const initial = location.hash.slice(1);
  if (["classify", "generate", "score"].includes(initial)) selectTab(initial);
  const dz = $("#dropzone");
  dz.addEventListener("dragover", (e) => { e.preventDefault(); dz.classList.add("over"); });
  dz.addEventListener("dragleave", () => dz.classList.remove("over"));
  dz.addEventListener("drop", (e) => { e.preventDefault(); dz.classList.remove("over"); classifyFiles([...e.dataTransfer.files]); });
  $("#classify-files").addEventListener("change", (e) => { classifyFiles([...e.target.files]); e.target.value = ""; });
  $("#download-csv").addEventListener("click", () => download("shapekit-classify.csv", new Blob([resultsCsv()], { type: "text/csv" })));
  $("#download-json").addEventListener("click", () => download("shapekit-classify.json",
    new Blob([JSON.stringify(state.results.map(({ preview, ...r }) => r), null, 2)], { type: "application/json" })));
  $("#classify-clear").addEventListener("click", () => { state.results = []; $("#classify-results").replaceChildren();
    for (const id of ["#download-csv", "#download-json", "#classify-clear"]) $(id).disabled = true; });
  $("#gen-model").addEventListener("change", setupGenerator);
  $("#gen-label").addEventListener("change", () => scheduleGenerate(0));
  $("#gen-seed").addEventListener("input", () => scheduleGenerate());
  $("#gen-newseed").addEventListener("click", () => { $("#gen-seed").value = Math.floor(Math.random() * 100000); scheduleGenerate(0); });
  $("#gen-download-png").addEventListener("click", () => generateDownload("png"));
  $("#gen-download-tiff").addEventListener("click", () => generateDownload("tiff"));
  $("#sweep-run").addEventListener("click", renderSweep);
  $("#score-generator").addEventListener("change", setupScoreLabels);
  $("#score-label").addEventListener("change", scorePlan);
  for (const r of document.querySelectorAll("input[name=real-src], input[name=fake-src]")) r.addEventListener("change", scorePlan);
  $("#score-run").addEventListener("click", runScore);
  loadServer();
}
init();
