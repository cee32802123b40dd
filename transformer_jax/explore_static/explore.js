// The explorer page: asks /api/info once, /api/translate per sentence, and draws everything as SVG.
// body[data-state] is loading | idle | decoding | done | error, so a test (or a person) can tell where the page is.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const KINDS = [
  // Query and key sides name which sequence each axis indexes: "src" = source pieces, "dec" = decoder positions.
  // Cross-attention first: the alignment is what most people come to see.
  {kind: "cross", title: "Cross-attention (decoder → encoder)", querySide: "dec", keySide: "src",
   queryLabel: "predicts", keyLabel: "source"},
  {kind: "encoder_self", title: "Encoder self-attention", querySide: "src", keySide: "src",
   queryLabel: "source", keyLabel: "source"},
  {kind: "decoder_self", title: "Decoder self-attention", querySide: "dec", keySide: "dec",
   queryLabel: "predicts", keyLabel: "reads"},
];
const METRICS = {
  entropy: "entropy (bits): low = looks at few pieces",
  distance: "mean distance |k − q|: high = looks far",
  previous: "weight on the previous position",
  self: "weight on its own position",
  eos: "weight on </s> (often a no-op)",
  max: "mean largest weight: high = sharp (aligns)",
};
let info = null;
let lastResult = null;

function el(tag, attrs = {}, text = null) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== null) node.textContent = text;
  return node;
}

function svgEl(tag, attrs = {}, text = null) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== null) node.textContent = text;
  return node;
}

function setMessage(text, kind = "") {
  const message = document.getElementById("message");
  message.textContent = text;
  message.className = kind;
}

function setState(state) { document.body.dataset.state = state; }

// White to dark blue: weights are probabilities, one scale for every head so heads can be compared.
function color(w) {
  const t = Math.max(0, Math.min(1, w));
  const r = Math.round(255 - t * (255 - 8)), g = Math.round(255 - t * (255 - 48)), b = Math.round(255 - t * (255 - 107));
  return `rgb(${r},${g},${b})`;
}

async function loadInfo() {
  const response = await fetch("/api/info");
  info = await response.json();
  const runs = info.runs.map(r => `${r.label} @ step ${r.step} (${r.num_layers} layers × ${r.num_heads} heads, ` +
                                  `d_model ${r.d_model}, ${(r.parameters / 1e6).toFixed(2)}M parameters)`);
  document.getElementById("runs-info").textContent = runs.join("   |   compared with   ");
  document.getElementById("beam-size").value = info.defaults.beam_size;
  document.getElementById("beam-size").max = info.limits.max_beam_size;
  document.getElementById("alpha").value = info.defaults.alpha;
  const list = document.getElementById("dev-list");
  info.dev.forEach((pair, i) => list.appendChild(el("option", {value: i}, pair.source)));
  document.getElementById("dev-note").textContent = info.dev_note ||
      `${info.dev.length} dev sentences`;
  list.addEventListener("change", () => {
    document.getElementById("sentence").value = info.dev[list.value].source;
  });
  drawCurves();
  setState("idle");
}

async function translate() {
  const sentence = document.getElementById("sentence").value;
  const beamSize = Number(document.getElementById("beam-size").value);
  const alpha = Number(document.getElementById("alpha").value);
  setState("decoding");
  setMessage("Decoding…");
  let response, payload;
  try {
    response = await fetch("/api/translate", {method: "POST", headers: {"Content-Type": "application/json"},
                                              body: JSON.stringify({sentence, beam_size: beamSize, alpha})});
    payload = await response.json();
  } catch (error) {
    setMessage(`The server did not answer (${error}). Is it still running?`, "error");
    setState("error");
    return;
  }
  if (!response.ok) {
    setMessage(payload.error, response.status === 503 ? "busy" : "error");
    setState("error");
    return;
  }
  lastResult = payload;
  setMessage(`Translated with beam size ${payload.beam_size}, alpha ${payload.alpha}.`);
  drawResults(payload);
  setState("done");
}

// ---- Dev BLEU and loss against training time, one line per distinct workdir, the loaded step marked ----
function drawCurves() {
  const box = document.getElementById("curves");
  box.innerHTML = "";
  const seen = new Set(), curves = [];
  info.runs.forEach((run, i) => {
    if (!seen.has(run.workdir)) { seen.add(run.workdir); curves.push({run, index: i}); }
  });
  if (!curves.some(c => c.run.dev_curve.length)) {
    box.appendChild(el("div", {class: "hint"}, "No dev_curve.jsonl in the workdir: no dev curve to show."));
    return;
  }
  for (const [key, title] of [["dev_bleu", "dev BLEU"], ["dev_loss", "dev loss"]]) {
    if (curves.some(c => c.run.dev_curve.some(row => typeof row[key] === "number"))) {  // no BLEU in a loss-only run
      box.appendChild(chart(curves, key, title));
    }
  }
}

const LINE_COLORS = ["#1f5fa8", "#c0392b"];

function chart(curves, key, title) {
  const width = 380, height = 190, left = 46, right = 12, top = 22, bottom = 34;
  const svg = svgEl("svg", {width, height, class: "curve", "data-metric": key});
  // Rows of a loss-only evaluation (num_dev_bleu_sentences=0) have no dev_bleu: they are left out of its chart.
  const rowsOf = run => run.dev_curve.filter(row => typeof row[key] === "number");
  const points = curves.flatMap(c => rowsOf(c.run).map(row => [row.seconds, row[key]]));
  const xs = points.map(p => p[0]), ys = points.map(p => p[1]);
  const x0 = 0, x1 = Math.max(...xs, 1), y0 = Math.min(...ys, key === "dev_bleu" ? 0 : Infinity),
        y1 = Math.max(...ys);
  const sx = x => left + (x - x0) / (x1 - x0 || 1) * (width - left - right);
  const sy = y => height - bottom - (y - y0) / (y1 - y0 || 1) * (height - top - bottom);
  svg.appendChild(svgEl("text", {x: left, y: 14, class: "title", "font-size": 12, "font-weight": 600},
                        `${title} against training time`));
  svg.appendChild(svgEl("line", {x1: left, y1: height - bottom, x2: width - right, y2: height - bottom, stroke: "#999"}));
  svg.appendChild(svgEl("line", {x1: left, y1: top, x2: left, y2: height - bottom, stroke: "#999"}));
  for (const y of [y0, (y0 + y1) / 2, y1]) {
    svg.appendChild(svgEl("text", {x: left - 4, y: sy(y) + 3, "text-anchor": "end", "font-size": 10}, y.toFixed(1)));
  }
  for (const x of [x0, x1 / 2, x1]) {
    svg.appendChild(svgEl("text", {x: sx(x), y: height - bottom + 14, "text-anchor": "middle", "font-size": 10},
                          Math.round(x)));
  }
  svg.appendChild(svgEl("text", {x: (left + width) / 2, y: height - 4, "text-anchor": "middle", "font-size": 10},
                        "training seconds (summed over resumes)"));
  curves.forEach(({run}, c) => {
    const rows = rowsOf(run);
    const stroke = LINE_COLORS[c % LINE_COLORS.length];
    svg.appendChild(svgEl("polyline", {fill: "none", stroke, "stroke-width": 2,
                                       points: rows.map(r => `${sx(r.seconds)},${sy(r[key])}`).join(" ")}));
    svg.appendChild(svgEl("text", {x: left + 6, y: top + 12 * c + 4, fill: stroke, "font-size": 10}, run.label));
  });
  // Each loaded checkpoint: a dot at the evaluation of its step, when there was one.
  info.runs.forEach(run => {
    const row = run.dev_curve.find(r => r.step === run.step);
    if (row) {
      svg.appendChild(svgEl("circle", {cx: sx(row.seconds), cy: sy(row[key]), r: 4, fill: "#ff6d00"}));
      const onRight = sx(row.seconds) > width / 2;  // the label goes on the side with room
      svg.appendChild(svgEl("text", {x: sx(row.seconds) + (onRight ? -6 : 6), y: sy(row[key]) + (sy(row[key]) < top + 20 ? 14 : -6),
                                     "text-anchor": onRight ? "end" : "start", "font-size": 10},
                            `step ${run.step}: ${row[key].toFixed(2)}`));
    }
  });
  return svg;
}

// ---- One column per run: translation, n-best list, pieces, head summary, heatmaps ----
function drawResults(result) {
  const box = document.getElementById("results");
  box.innerHTML = "";
  result.runs.forEach((run, r) => box.appendChild(drawRun(run, r, result.reference)));
}

function drawRun(run, r, reference) {
  const column = el("div", {class: "run", "data-run": r});
  column.appendChild(el("h2", {}, `${run.label} @ step ${run.step}`));
  column.appendChild(el("div", {class: "translation"}, run.translation));
  if (reference !== null) column.appendChild(el("div", {class: "reference"}, `reference: ${reference}`));

  const table = el("table", {class: "n-best"});
  table.appendChild(el("tr")).append(el("th", {}, "#"), el("th", {}, "hypothesis"), el("th", {}, "score"));
  run.n_best.forEach((h, i) => {
    table.appendChild(el("tr")).append(el("td", {}, i + 1), el("td", {}, h.text), el("td", {}, h.score.toFixed(4)));
  });
  column.appendChild(el("h3", {}, "Beam search n-best (score = log P / length penalty)"));
  column.appendChild(table);

  column.appendChild(el("h3", {}, "Pieces (hover one: its row and column light up in every heatmap)"));
  column.appendChild(strip("source", "src", run.source_pieces, r));
  column.appendChild(strip("target", "dec", run.target_pieces, r));

  column.appendChild(drawSummary(run, r));
  for (const spec of KINDS) {
    column.appendChild(el("h3", {}, `${spec.title}: rows = queries (${spec.queryLabel}), ` +
                                    `columns = keys (${spec.keyLabel})`));
    const weights = run.attention[spec.kind];
    const queries = spec.querySide === "src" ? run.source_pieces : run.target_pieces;
    const keys = spec.kind === "encoder_self" || spec.kind === "cross" ? run.source_pieces : run.input_pieces;
    weights.forEach((layer, l) => {
      column.appendChild(el("div", {class: "layer-name"}, `layer ${l}`));
      const row = column.appendChild(el("div", {class: "layer-row"}));
      layer.forEach((head, h) => row.appendChild(heatmap(head, queries, keys, spec, r, l, h)));
    });
  }
  return column;
}

function strip(name, side, pieces, r) {
  const line = el("div", {class: "strip"});
  line.appendChild(el("span", {class: "side"}, name));
  pieces.forEach((piece, i) => {
    const span = line.appendChild(el("span", {class: "piece", "data-side": side, "data-i": i, "data-run": r}, piece));
    span.addEventListener("mouseenter", () => highlight(r, side, i));
    span.addEventListener("mouseleave", () => highlight(r, null, -1));
  });
  return line;
}

function heatmap(weights, queries, keys, spec, r, l, h) {
  const longest = Math.max(queries.length, keys.length);
  const cell = Math.max(5, Math.min(14, Math.floor(240 / longest)));
  const labelSpace = 58, top = labelSpace + 14;
  const width = labelSpace + cell * keys.length + 4, height = top + cell * queries.length + 4;
  const svg = svgEl("svg", {width, height, class: "heatmap", "data-kind": spec.kind, "data-layer": l, "data-head": h,
                            "data-run": r, "data-query-side": spec.querySide, "data-key-side": spec.keySide});
  svg.appendChild(svgEl("text", {x: 2, y: 11, class: "title"}, `layer ${l} head ${h}`));
  const grid = svgEl("g", {transform: `translate(${labelSpace},${top})`});
  svg.appendChild(grid);
  weights.forEach((row, q) => row.forEach((w, k) => {
    const rect = svgEl("rect", {x: k * cell, y: q * cell, width: cell, height: cell, fill: color(w), class: "cell",
                                "data-q": q, "data-k": k, "data-w": w});
    rect.appendChild(svgEl("title", {}, `${queries[q]} → ${keys[k]}: ${w.toFixed(3)}`));
    rect.addEventListener("mouseenter", () => highlight(r, spec.querySide, q));
    grid.appendChild(rect);
  }));
  const fontSize = Math.min(9, cell + 1);
  queries.forEach((piece, q) => {
    const label = svgEl("text", {x: -3, y: q * cell + cell * 0.8, "text-anchor": "end", class: "qlabel", "data-i": q,
                                 "font-size": fontSize}, piece);
    label.addEventListener("mouseenter", () => highlight(r, spec.querySide, q));
    grid.appendChild(label);
  });
  keys.forEach((piece, k) => {
    const x = k * cell + cell * 0.75;
    const label = svgEl("text", {x: 0, y: 0, transform: `translate(${x},-3) rotate(-90)`, class: "klabel",
                                 "data-i": k, "font-size": fontSize}, piece);
    label.addEventListener("mouseenter", () => highlight(r, spec.keySide, k));
    grid.appendChild(label);
  });
  grid.appendChild(svgEl("rect", {class: "hl hl-row", x: 0, y: 0, width: cell * keys.length, height: cell}));
  grid.appendChild(svgEl("rect", {class: "hl hl-col", x: 0, y: 0, width: cell, height: cell * queries.length}));
  svg.dataset.cell = cell;
  svg.addEventListener("mouseleave", () => highlight(r, null, -1));
  return svg;
}

// A piece (side, i) of run r: outline its row where it is the query (what it attends to) and its column where it is
// the key (what attends to it), in every heatmap of that run. side null clears.
function highlight(r, side, i) {
  const column = document.querySelector(`.run[data-run="${r}"]`);
  if (!column) return;
  column.querySelectorAll(".piece").forEach(p => p.classList.toggle(
      "hovered", p.dataset.side === side && Number(p.dataset.i) === i));
  column.querySelectorAll("svg.heatmap").forEach(svg => {
    const cell = Number(svg.dataset.cell);
    const row = svg.querySelector(".hl-row"), col = svg.querySelector(".hl-col");
    const onRow = svg.dataset.querySide === side, onCol = svg.dataset.keySide === side;
    row.style.visibility = onRow ? "visible" : "hidden";
    col.style.visibility = onCol ? "visible" : "hidden";
    if (onRow) row.setAttribute("y", i * cell);
    if (onCol) col.setAttribute("x", i * cell);
    svg.querySelectorAll("text.qlabel").forEach(t => t.classList.toggle("hovered", onRow && Number(t.dataset.i) === i));
    svg.querySelectorAll("text.klabel").forEach(t => t.classList.toggle("hovered", onCol && Number(t.dataset.i) === i));
  });
}

// Per kind a layers × heads table of the chosen statistic, shaded from its smallest to its largest value, with the
// heads that stand out tagged.
function drawSummary(run, r) {
  const box = el("div", {class: "summary-box"});
  const header = box.appendChild(el("h3", {}, "Per-head summary (mean over queries) "));
  const select = el("select", {class: "metric", "data-run": r});
  for (const [key, text] of Object.entries(METRICS)) select.appendChild(el("option", {value: key}, text));
  header.appendChild(select);
  const tables = box.appendChild(el("div", {class: "summary-tables"}));
  const render = () => {
    tables.innerHTML = "";
    const metric = select.value;
    for (const spec of KINDS) {
      const stats = run.summary[spec.kind];
      const table = el("table", {class: "summary", "data-kind": spec.kind});
      const head = table.appendChild(el("tr"));
      head.appendChild(el("th", {}, spec.title.split(" (")[0]));
      stats[0].forEach((_, h) => head.appendChild(el("th", {}, `head ${h}`)));
      const values = stats.flat().map(s => s[metric]).filter(v => v !== undefined);
      const lo = Math.min(...values), hi = Math.max(...values);
      stats.forEach((layer, l) => {
        const tr = table.appendChild(el("tr"));
        tr.appendChild(el("th", {}, `layer ${l}`));
        layer.forEach((s, h) => {
          const v = s[metric];
          const td = tr.appendChild(el("td", {"data-layer": l, "data-head": h}, v === undefined ? "–" : v.toFixed(2)));
          if (v !== undefined) td.style.background = color(hi > lo ? 0.75 * (v - lo) / (hi - lo) : 0);
          td.title = Object.entries(s).map(([k, x]) => `${k} ${x.toFixed(3)}`).join(", ");
          for (const tag of tags(s, spec.kind)) td.appendChild(el("span", {class: "tag"}, tag));
        });
      });
      tables.appendChild(table);
    }
  };
  select.addEventListener("change", render);
  render();
  return box;
}

function tags(s, kind) {
  const found = [];
  if (s.previous !== undefined && s.previous > 0.5) found.push("previous");
  if (s.self !== undefined && s.self > 0.5) found.push("itself");
  if (s.eos !== undefined && s.eos > 0.5) found.push("</s>");
  if (kind === "cross" && s.max > 0.6 && !(s.eos > 0.5)) found.push("aligns");
  return found;
}

document.getElementById("translate").addEventListener("click", translate);
document.getElementById("sentence").addEventListener("keydown", event => {
  if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); translate(); }
});
loadInfo().catch(error => { setMessage(`Could not load the model description: ${error}`, "error"); setState("error"); });
