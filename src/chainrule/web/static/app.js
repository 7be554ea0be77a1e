// The draw-a-digit page: draw on #pad, send the pixels to POST /api/predict while drawing,
// show the answer; when a stroke ends, send them to POST /api/explain and show the chain rule
// for them. Plain JS, no libraries; everything comes from this server.
"use strict";

const SEND_SIDE = 140; // the pad is sent downscaled to 140x140 gray levels (about 60 kB)
const INK_WIDTH = 20; // stroke width on the 280x280 pad

const state = {
  drawing: false,
  pointer: null, // the pointer drawing: a second finger (or a palm) meanwhile is ignored
  last: null,
  hasInk: false,
  inFlight: false,
  pending: false,
  generation: 0, // bumped by Clear, so an answer to an older drawing is dropped
  model: null,
};

// POST /api/explain, sent when a stroke ends or the label changes: one request at a time, as
// for predict; `wanted` counts the requests asked for, so an answer is shown only if no newer
// one was asked for meanwhile (and none after Clear, through state.generation).
const explainState = {
  inFlight: false,
  pending: false,
  wanted: 0,
};

const $ = (id) => document.getElementById(id);

// ---- drawing ---------------------------------------------------------------------------

function setupPad() {
  const pad = $("pad");
  const ctx = pad.getContext("2d");
  clearPad();

  const point = (event) => {
    const rect = pad.getBoundingClientRect();
    return {
      x: ((event.clientX - rect.left) * pad.width) / rect.width,
      y: ((event.clientY - rect.top) * pad.height) / rect.height,
    };
  };
  const dot = (p) => {
    ctx.fillStyle = "#fff";
    ctx.beginPath();
    ctx.arc(p.x, p.y, INK_WIDTH / 2, 0, 2 * Math.PI);
    ctx.fill();
    state.hasInk = true;
  };
  const stroke = (from, to) => {
    ctx.strokeStyle = "#fff";
    ctx.lineWidth = INK_WIDTH;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.beginPath();
    ctx.moveTo(from.x, from.y);
    ctx.lineTo(to.x, to.y);
    ctx.stroke();
    state.hasInk = true;
  };

  // pointer events cover a mouse, a finger and a pen alike
  pad.addEventListener("pointerdown", (event) => {
    event.preventDefault();
    if (state.drawing) return;
    pad.setPointerCapture(event.pointerId);
    state.drawing = true;
    state.pointer = event.pointerId;
    state.last = point(event);
    dot(state.last); // a zero-length line would draw nothing
    requestPrediction();
  });
  pad.addEventListener("pointermove", (event) => {
    if (!state.drawing || event.pointerId !== state.pointer) return;
    event.preventDefault();
    const p = point(event);
    stroke(state.last, p);
    state.last = p;
    requestPrediction();
  });
  const end = (event) => {
    if (!state.drawing || event.pointerId !== state.pointer) return;
    state.drawing = false;
    state.last = null;
    requestPrediction();
    requestExplanation(); // once per stroke, not on every move: it costs a backward pass
  };
  pad.addEventListener("pointerup", end);
  pad.addEventListener("pointercancel", end);
  pad.addEventListener("lostpointercapture", end);

  $("clear").addEventListener("click", () => {
    clearPad();
    state.generation += 1;
    state.pending = false;
    explainState.pending = false;
    explainState.wanted += 1;
    $("explain-label").value = ""; // a new drawing: explained for its prediction again
    showEmpty();
    showExplainEmpty();
  });
  $("explain-label").addEventListener("change", requestExplanation);
}

function clearPad() {
  const pad = $("pad");
  const ctx = pad.getContext("2d");
  ctx.fillStyle = "#000";
  ctx.fillRect(0, 0, pad.width, pad.height);
  state.hasInk = false;
}

let smallPad = null; // one scratch canvas, read back at every request

function padPixels() {
  if (smallPad === null) {
    smallPad = document.createElement("canvas");
    smallPad.width = SEND_SIDE;
    smallPad.height = SEND_SIDE;
  }
  const ctx = smallPad.getContext("2d", { willReadFrequently: true });
  ctx.clearRect(0, 0, SEND_SIDE, SEND_SIDE);
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = "high";
  ctx.drawImage($("pad"), 0, 0, SEND_SIDE, SEND_SIDE);
  const rgba = ctx.getImageData(0, 0, SEND_SIDE, SEND_SIDE).data;
  const gray = new Array(SEND_SIDE * SEND_SIDE);
  for (let i = 0; i < gray.length; i++) gray[i] = rgba[4 * i];
  return gray;
}

// ---- talking to the server ---------------------------------------------------------------

// At most one request at a time; strokes made meanwhile are sent when it returns.
function requestPrediction() {
  if (!state.hasInk) return;
  if (state.inFlight) {
    state.pending = true;
    return;
  }
  send();
}

async function send() {
  state.inFlight = true;
  state.pending = false;
  const generation = state.generation;
  // the pad is a light digit on black: said, so that ink along its edges is never taken for paper
  const body = JSON.stringify({
    width: SEND_SIDE,
    height: SEND_SIDE,
    pixels: padPixels(),
    background: "dark",
  });
  try {
    const answer = await fetchAnswer("/api/predict", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body,
    });
    if (generation !== state.generation) return;
    showPrediction(answer);
    setStatus("");
  } catch (error) {
    if (generation !== state.generation) return;
    showEmpty(); // no answer to this drawing: the last one is not shown beside the error
    setStatus(error.message, true);
  } finally {
    state.inFlight = false;
    if (state.pending && state.hasInk) send();
  }
}

// At most one explanation at a time; a stroke ended or a label chosen meanwhile is sent when it
// returns, and the answer in flight then is not shown (it is older than what was asked for).
function requestExplanation() {
  if (!state.hasInk) return;
  explainState.wanted += 1;
  if (explainState.inFlight) {
    explainState.pending = true;
    return;
  }
  sendExplanation();
}

async function sendExplanation() {
  explainState.inFlight = true;
  explainState.pending = false;
  const generation = state.generation;
  const wanted = explainState.wanted;
  const stale = () => generation !== state.generation || wanted !== explainState.wanted;
  const request = { width: SEND_SIDE, height: SEND_SIDE, pixels: padPixels(), background: "dark" };
  const label = $("explain-label").value;
  if (label !== "") request.label = Number(label);
  $("explain-body").setAttribute("aria-busy", "true");
  try {
    const answer = await fetchAnswer("/api/explain", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(request),
    });
    if (stale()) return;
    showExplanation(answer);
  } catch (error) {
    if (stale()) return;
    showExplainEmpty(); // never leave an older drawing's explanation beside the error
    setExplainStatus(error.message, true);
  } finally {
    explainState.inFlight = false;
    $("explain-body").removeAttribute("aria-busy");
    if (explainState.pending && state.hasInk) sendExplanation();
  }
}

const NO_ANSWER = "no answer from the server: is chainrule serve still running?";

// The JSON of a good answer; otherwise an Error whose message is for the user: the server's
// `detail`, or its status when the answer is not the API's JSON (a proxy's error page, say).
async function readAnswer(response) {
  let answer = null;
  try {
    answer = await response.json();
  } catch {
    // not JSON: said below
  }
  if (response.ok && answer) return answer;
  if (answer && typeof answer.detail === "string") throw new Error(answer.detail);
  const status = `${response.status} ${response.statusText}`.trim();
  throw new Error(`the server answered ${status}, not the API's JSON`);
}

// fetch() itself fails (TypeError) only when no answer came: the server is down or unreachable
async function fetchAnswer(url, options) {
  let response;
  try {
    response = await fetch(url, options);
  } catch {
    throw new Error(NO_ANSWER);
  }
  return readAnswer(response);
}

function setStatus(text, isError = false) {
  const el = $("status");
  el.textContent = text;
  el.style.color = isError ? "#c92a2a" : "";
}

function setExplainStatus(text, isError = false) {
  const el = $("explain-status");
  el.textContent = text;
  el.style.color = isError ? "#c92a2a" : "";
  el.hidden = text === "";
}

// ---- showing the answer ------------------------------------------------------------------

// outputs that lie in [0, 1] get bars of that length; others are scaled between their extremes
const UNIT_INTERVAL = new Set(["sigmoid", "softmax"]);

// What the bars show: class probabilities (a softmax output, or one sigmoid output), or the
// network's raw outputs, which are not normalized (several sigmoid outputs, each in [0, 1];
// an identity output, any real number). Returns [aria-label, caption].
function describeBars(model) {
  if (model.normalized === true) {
    return ["class probabilities", "Class probabilities (they sum to 1)."];
  }
  const what = `${model.output} outputs`;
  if (UNIT_INTERVAL.has(model.output)) {
    return [
      `${what}, not normalized`,
      `Output (not normalized): the network's ${model.output} output per class, each in ` +
        "[0, 1]; not probabilities, they need not sum to 1. The largest one wins.",
    ];
  }
  return [
    `${what}, not normalized`,
    `Output (not normalized): the network's raw ${model.output} output per class, any ` +
      "number; bars span the lowest to the highest. The largest one wins.",
  ];
}

function setupBars(classes) {
  const bars = $("bars");
  bars.replaceChildren();
  const [ariaLabel, caption] = describeBars(state.model);
  bars.setAttribute("aria-label", ariaLabel);
  $("bars-caption").textContent = caption;
  classes.forEach((name, k) => {
    const label = document.createElement("span");
    label.className = "bar-label";
    label.textContent = name;
    const track = document.createElement("div");
    track.className = "bar-track";
    const fill = document.createElement("div");
    fill.className = "bar-fill";
    fill.id = `bar-${k}`;
    track.append(fill);
    const value = document.createElement("span");
    value.className = "bar-value";
    value.id = `bar-value-${k}`;
    value.textContent = "–";
    bars.append(label, track, value);
  });
}

function showEmpty() {
  $("prediction").textContent = "–";
  setStatus("Draw a digit.");
  const classes = state.model ? state.model.classes : [];
  classes.forEach((_, k) => {
    $(`bar-${k}`).style.width = "0";
    $(`bar-${k}`).classList.remove("top");
    $(`bar-value-${k}`).textContent = "–";
  });
  const seen = $("seen").getContext("2d");
  seen.fillStyle = "#000";
  seen.fillRect(0, 0, 28, 28);
  $("strips").innerHTML = '<p class="muted small">Activations appear when you draw.</p>';
}

function showPrediction(answer) {
  const scores = answer.scores || answer.probabilities;
  const probabilities = answer.normalized === true;
  const top = answer.prediction;
  const el = $("prediction");
  // only a probability is a confidence; a raw output is shown as what it is
  const sure = probabilities
    ? `(${percent(scores[top])} sure)`
    : `(output ${formatOutput(scores[top])})`;
  // written only when it changes: a screen reader announces every change of this live region
  if (el.textContent !== `${answer.label} ${sure}`) {
    el.textContent = `${answer.label} `;
    const confidence = document.createElement("span");
    confidence.className = "confidence";
    confidence.textContent = sure;
    el.append(confidence);
  }

  const unit = probabilities || UNIT_INTERVAL.has(answer.output);
  const lo = unit ? 0 : Math.min(...scores);
  const span = unit ? 1 : Math.max(...scores) - lo || 1;
  scores.forEach((v, k) => {
    const fill = $(`bar-${k}`);
    if (!fill) return;
    const length = Math.min(1, Math.max(0, (v - lo) / span));
    fill.style.width = `${(100 * length).toFixed(1)}%`;
    fill.classList.toggle("top", k === top);
    $(`bar-value-${k}`).textContent = probabilities ? percent(v) : formatOutput(v);
  });

  drawSeen(answer.input);
  drawStrips(answer.activations);
}

// a probability to one decimal, never shown as a certainty: a softmax or sigmoid gives
// neither 0 nor 1 (the API's 6 decimals may round to them), so ">99.9%" and "<0.1%"
function percent(p) {
  const shown = (100 * p).toFixed(1);
  if (shown === "100.0") return ">99.9%";
  if (shown === "0.0") return "<0.1%";
  return `${shown}%`;
}

function formatOutput(v) {
  return Math.abs(v) >= 1000 ? v.toExponential(2) : v.toFixed(3);
}

function drawSeen(rows) {
  const ctx = $("seen").getContext("2d");
  const image = ctx.createImageData(28, 28);
  rows.forEach((row, r) =>
    row.forEach((v, c) => {
      const i = 4 * (28 * r + c);
      const g = Math.round(255 * Math.min(1, Math.max(0, v)));
      image.data[i] = image.data[i + 1] = image.data[i + 2] = g;
      image.data[i + 3] = 255;
    }),
  );
  ctx.putImageData(image, 0, 0);
}

// a dark-to-bright heat colour for t in [0, 1] (black, purple, orange, yellow)
function heat(t) {
  const stops = [
    [0, [12, 10, 30]],
    [0.35, [110, 30, 120]],
    [0.7, [235, 100, 40]],
    [1, [252, 240, 120]],
  ];
  for (let i = 1; i < stops.length; i++) {
    const [t1, c1] = stops[i];
    const [t0, c0] = stops[i - 1];
    if (t <= t1) {
      const u = (t - t0) / (t1 - t0);
      return c0.map((v, j) => Math.round(v + u * (c1[j] - v)));
    }
  }
  return stops[stops.length - 1][1];
}

// blue (negative), white (0), red (positive) for t in [-1, 1]
function diverging(t) {
  const a = Math.min(1, Math.abs(t));
  const far = t < 0 ? [33, 102, 172] : [178, 24, 43];
  return far.map((v) => Math.round(247 + a * (v - 247)));
}

const NONNEGATIVE = new Set(["relu", "sigmoid", "softmax"]);

function drawStrips(layers) {
  const box = $("strips");
  box.replaceChildren();
  if (!layers.length) {
    box.innerHTML = '<p class="muted small">This network has no hidden layer.</p>';
    return;
  }
  layers.forEach((layer, i) => {
    const values = layer.values;
    const n = values.length;
    const cols = Math.min(n, 64);
    const rows = Math.ceil(n / cols);
    const signed = !NONNEGATIVE.has(layer.activation);
    const scale = Math.max(1e-6, ...values.map(Math.abs));
    const active = values.filter((v) => v > 1e-6).length;
    const max = Math.max(...values);
    // a signed layer's colours span -scale..scale; its caption gives both ends
    const range = signed
      ? `min ${Math.min(...values).toPrecision(3)}, max ${max.toPrecision(3)}`
      : `max ${max.toPrecision(3)}`;

    const wrap = document.createElement("div");
    wrap.className = "strip";
    const caption = document.createElement("div");
    caption.className = "caption";
    caption.textContent =
      `hidden layer ${i + 1}: ${n} ${layer.activation} units, ` +
      `${active} above zero, ${range}`;
    const canvas = document.createElement("canvas");
    canvas.width = cols;
    canvas.height = rows;
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", `hidden layer ${i + 1}'s activations as colours`);
    canvas.style.width = "100%";
    canvas.style.height = `${rows * 12}px`;
    const ctx = canvas.getContext("2d");
    const image = ctx.createImageData(cols, rows);
    for (let k = 0; k < cols * rows; k++) {
      const colour = k < n ? (signed ? diverging(values[k] / scale) : heat(values[k] / scale)) : [255, 255, 255];
      image.data.set([...colour, 255], 4 * k);
    }
    ctx.putImageData(image, 0, 0);
    wrap.append(caption, canvas);
    box.append(wrap);
  });
}

// ---- the chain rule for the drawing --------------------------------------------------------

function setupExplainLabels(classes) {
  const select = $("explain-label");
  classes.forEach((name, k) => {
    const option = document.createElement("option");
    option.value = String(k);
    option.textContent = name;
    select.append(option);
  });
}

function showExplainEmpty() {
  $("explain-body").hidden = true;
  $("explain-panel").removeAttribute("data-label");
  $("explain-label").options[0].textContent = "the prediction";
  setExplainStatus("Draw a digit to see the chain rule for it.");
}

// a number in a few characters: 4 significant digits, exponents for the very small and the
// very large
function num(v) {
  if (v === 0) return "0";
  const a = Math.abs(v);
  return a < 1e-3 || a >= 1e4 ? v.toExponential(2) : String(Number(v.toPrecision(4)));
}

const shape = (dims) => `(${dims.join(", ")}${dims.length === 1 ? "," : ""})`;
const count = (n) => n.toLocaleString("en-US");

// "20 of 4,000: rel. error 1.5e-10 ok", as explain says it; the verdict in its own element
function fdCell(check, kink) {
  const cell = document.createElement("td");
  const total = count(check.size);
  const sample = check.checked < check.size ? `${check.checked} of ${total}` : `all ${total}`;
  cell.append(`${sample}: rel. error ${check.rel_error.toExponential(1)} `);
  const verdict = document.createElement("strong");
  verdict.className = check.ok ? "ok" : "fail";
  verdict.textContent = check.ok ? (check.within_noise ? "ok (rounding noise)" : "ok") : "FAIL";
  cell.append(verdict);
  if (!check.ok && kink) {
    cell.append(" (a ReLU unit sits at its kink net = 0, where E has no slope)");
  }
  return cell;
}

// every value of a small layer; a summary of a large one
function deltaText(delta) {
  if (delta.values) return `[${delta.values.map(num).join(", ")}]`;
  const top = delta.top.map((u) => `${u.unit}: ${num(u.value)}`).join(", ");
  return (
    `norm ${num(delta.norm)}, min ${num(delta.min)}, max ${num(delta.max)}; ` +
    `largest |delta| at units ${top}`
  );
}

// what a layer takes: the layer below's output, or the input (standardized by the network's
// Standardize layer, if it has one)
function inputSource(x, layerCount, standardized) {
  if (x < layerCount) return `out_${x + 1}`;
  return standardized ? "(x - mean) / std, the standardized input" : "x, the input";
}

function layerTable(layer, answer) {
  const x = layer.number;
  const layerCount = answer.layers.length;
  const where = x === 1 ? "output layer" : "hidden layer";
  const f = layer.formulas;
  const s = layer.shapes;
  const rows = [
    [`in_${x}`, inputSource(x, layerCount, answer.standardized), shape(s.in), "", null],
    [`dE/ds_${x}`, f.dE_ds, shape(s.out), "", null],
    [`ds_${x}/dnet_${x}`, f.ds_dnet, shape(s.ds_dnet), "", null],
    [`delta_${x}`, f.delta, shape(s.out), deltaText(layer.delta), null],
    [
      `dE/dw_${x}`,
      f.dE_dw,
      `${shape(s.in)} x ${shape(s.out)} → ${shape(s.weights)}, ${count(layer.dE_dw.size)}`,
      `norm ${num(layer.dE_dw.norm)}, max |.| ${num(layer.dE_dw.max_abs)}`,
      layer.dE_dw,
    ],
    [
      `dE/db_${x}`,
      f.dE_db,
      `${shape(s.biases)}, ${count(layer.dE_db.size)}`,
      `norm ${num(layer.dE_db.norm)}, max |.| ${num(layer.dE_db.max_abs)}`,
      layer.dE_db,
    ],
  ];
  const wrap = document.createElement("div");
  wrap.className = "table-scroll";
  const table = document.createElement("table");
  table.className = "explain-table";
  table.dataset.layer = String(x);
  const caption = document.createElement("caption");
  caption.textContent =
    `layer ${x}: ${where}, ${layer.n_in} → ${layer.n_out} ${layer.activation} ` +
    `(net.layers[${layer.index}])`;
  const columns = ["term", "formula", "shape", "numbers", "finite differences"];
  const head = document.createElement("tr");
  for (const name of columns) {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = name;
    head.append(th);
  }
  const thead = document.createElement("thead");
  thead.append(head);
  const body = document.createElement("tbody");
  for (const [term, formula, dims, numbers, check] of rows) {
    const tr = document.createElement("tr");
    const th = document.createElement("th");
    th.scope = "row";
    th.textContent = term;
    tr.append(th);
    const cells = [formula, dims, numbers].map((text) => {
      const td = document.createElement("td");
      td.textContent = text;
      return td;
    });
    cells.push(check ? fdCell(check, answer.kink) : document.createElement("td"));
    // a narrow screen stacks each row's cells, each named by its column (style.css)
    cells.forEach((td, k) => (td.dataset.column = columns[k + 1]));
    tr.append(...cells);
    body.append(tr);
  }
  table.append(caption, thead, body);
  wrap.append(table);
  return wrap;
}

function showExplanation(answer) {
  const predicted = state.model ? state.model.classes[answer.prediction] : answer.prediction;
  const which =
    answer.label === answer.prediction ? "the prediction" : `the prediction is ${predicted}`;
  $("explain-label").options[0].textContent = `the prediction (${predicted})`;
  $("explain-panel").dataset.label = String(answer.label);
  $("explain-loss").textContent =
    `${answer.loss_formula} = ${num(answer.loss_value)} for label ${answer.label_name} ` +
    `(${which}; loss ${answer.loss}).`;
  $("explain-layers").replaceChildren(...answer.layers.map((layer) => layerTable(layer, answer)));
  drawInputGradient(answer.input_gradient, answer.input_gradient_max_abs);
  const scale = num(answer.input_gradient_max_abs);
  const through = answer.standardized ? ", through the network's standardization of the pixels" : "";
  $("explain-map-caption").textContent =
    `dE/dx, the loss's gradient for each pixel of the 28x28 input (dE/dx = ` +
    `${answer.input_gradient_formula} of the bottom layer${through}): ` +
    `red where more ink would raise the loss (away from ${answer.label_name}), ` +
    `blue where more ink would lower it (towards ${answer.label_name}), white where it would ` +
    `change nothing. Colours span ±${scale}.`;
  const summary = $("explain-summary");
  summary.replaceChildren(
    `The dE/dw and dE/db above, against what Network.gradients computes (max |difference| ` +
      `${answer.network_max_diff.toExponential(1)}, in the network's own precision) and ` +
      `against finite differences (h = ${answer.fd_eps.toExponential()}, at most ` +
      `${answer.fd_max_entries} sampled entries per array): ` +
      (answer.fd_ok ? "they agree, " : "they do not all agree, "),
  );
  const verdict = document.createElement("strong");
  verdict.className = answer.fd_ok ? "ok" : "fail";
  verdict.textContent = answer.fd_ok ? "ok" : "FAIL";
  summary.append(verdict);
  if (!answer.fd_ok && answer.kink) {
    summary.append(
      " (a ReLU unit sits at its kink net = 0, where E has no slope: finite differences " +
        "step across it)",
    );
  }
  setExplainStatus("");
  $("explain-body").hidden = false;
}

function drawInputGradient(rows, maxAbs) {
  const ctx = $("explain-map").getContext("2d");
  const image = ctx.createImageData(28, 28);
  const scale = maxAbs > 0 ? maxAbs : 1;
  rows.forEach((row, r) =>
    row.forEach((v, c) => image.data.set([...diverging(v / scale), 255], 4 * (28 * r + c))),
  );
  ctx.putImageData(image, 0, 0);
}

// ---- the model card ------------------------------------------------------------------------

function fact(list, term, value) {
  const dt = document.createElement("dt");
  dt.textContent = term;
  const dd = document.createElement("dd");
  dd.textContent = value;
  list.append(dt, dd);
}

function showModel(model) {
  const list = $("model");
  list.replaceChildren();
  if (model.name) fact(list, "model", model.name);
  const dense = model.layers.filter((l) => l.type === "dense");
  const arch = [String(model.sizes[0])].concat(dense.map((l) => `${l.n_out} ${l.activation}`));
  fact(list, "architecture", arch.join(" → "));
  if (model.standardized) {
    fact(list, "inputs", "standardized: each pixel becomes (x - mean) / std (training images)");
  }
  const dropouts = model.layers.filter((l) => l.type === "dropout");
  if (dropouts.length) fact(list, "dropout", dropouts.map((l) => l.rate).join(", "));
  fact(list, "parameters", model.n_parameters.toLocaleString("en-US"));
  fact(list, "loss", model.loss);
  fact(
    list,
    "test accuracy",
    model.test_accuracy == null ? "unknown" : `${(100 * model.test_accuracy).toFixed(2)}%`,
  );
  const config = model.training_config;
  if (config) {
    // chainrule train saves the learning rate as `lr`
    const parts = ["optimizer", "learning_rate", "lr", "epochs", "batch_size"]
      .filter((k) => config[k] != null)
      .map((k) => `${k === "lr" ? "learning rate" : k.replace("_", " ")} ${config[k]}`);
    if (parts.length) fact(list, "training", parts.join(", "));
  }

  const curves = $("curves");
  curves.replaceChildren();
  const epochs = model.curves.filter((r) => r.epoch != null);
  if (!epochs.length) {
    curves.innerHTML =
      '<p class="muted small">No training curves: the model\'s run directory has no ' +
      "metrics.jsonl (it is written by <code>chainrule train</code>).</p>";
    return;
  }
  const series = (key) => epochs.filter((r) => r[key] != null).map((r) => [r.epoch, r[key]]);
  curves.append(
    chart(
      "loss",
      [
        { name: "train", cls: "train", points: series("loss") },
        { name: "validation", cls: "val", points: series("val_loss") },
      ],
      [0, Infinity],
    ),
    chart(
      "accuracy",
      [
        { name: "train", cls: "train", points: series("accuracy") },
        { name: "validation", cls: "val", points: series("val_accuracy") },
      ],
      [0, 1],
    ),
  );
}

// a line chart per epoch; the y axis stays within `bounds` (a loss is never below 0, an
// accuracy never above 1), even around a single epoch's point
function chart(title, allSeries, bounds) {
  const series = allSeries.filter((s) => s.points.length);
  const W = 360;
  const H = 210;
  const pad = { left: 52, right: 12, top: 24, bottom: 32 };
  const wrap = document.createElement("div");
  wrap.className = "curve";
  const canvas = document.createElement("canvas");
  const dpr = window.devicePixelRatio || 1;
  canvas.width = W * dpr;
  canvas.height = H * dpr;
  canvas.style.width = `${W}px`; // the height follows (CSS height: auto keeps the ratio)
  canvas.setAttribute("role", "img"); // a label without a role is dropped from the a11y tree
  canvas.setAttribute("aria-label", `${title} per epoch`);
  const ctx = canvas.getContext("2d");
  ctx.scale(dpr, dpr);
  const css = getComputedStyle(document.documentElement);
  const colour = { train: css.getPropertyValue("--train"), val: css.getPropertyValue("--val") };

  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => s.points.map((p) => p[1]));
  let [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const [lo, hi] = [Math.min(...ys), Math.max(...ys)];
  let [y0, y1] = [lo, hi];
  if (x0 === x1) [x0, x1] = [x0 - 1, x1 + 1];
  if (y0 === y1) [y0, y1] = [y0 - 0.5, y1 + 0.5];
  const margin = 0.08 * (y1 - y0);
  y0 = Math.max(Math.min(bounds[0], lo), y0 - margin);
  y1 = Math.min(Math.max(bounds[1], hi), y1 + margin);
  canvas.dataset.yMin = y0; // the axis, for tests
  canvas.dataset.yMax = y1;
  const px = (x) => pad.left + ((x - x0) / (x1 - x0)) * (W - pad.left - pad.right);
  const py = (y) => H - pad.bottom - ((y - y0) / (y1 - y0)) * (H - pad.top - pad.bottom);

  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, W, H);
  ctx.font = "12px system-ui, sans-serif";
  ctx.fillStyle = "#1d1d1f";
  ctx.fillText(title, pad.left, 15);
  ctx.strokeStyle = "#e2e2dd";
  ctx.fillStyle = "#6b6b70";
  ctx.lineWidth = 1;
  for (let i = 0; i <= 4; i++) {
    const y = y0 + ((y1 - y0) * i) / 4;
    ctx.beginPath();
    ctx.moveTo(pad.left, py(y));
    ctx.lineTo(W - pad.right, py(y));
    ctx.stroke();
    ctx.fillText(y.toPrecision(3), 4, py(y) + 4);
  }
  const step = Math.max(1, Math.ceil((x1 - x0) / 8));
  for (let x = Math.ceil(x0); x <= x1; x += step) ctx.fillText(String(x), px(x) - 3, H - 16);
  ctx.fillText("epoch", W - pad.right - 34, H - 3);

  for (const s of series) {
    ctx.strokeStyle = colour[s.cls];
    ctx.fillStyle = colour[s.cls];
    ctx.lineWidth = 2;
    ctx.beginPath();
    s.points.forEach(([x, y], i) => (i ? ctx.lineTo(px(x), py(y)) : ctx.moveTo(px(x), py(y))));
    ctx.stroke();
    for (const [x, y] of s.points) {
      ctx.beginPath();
      ctx.arc(px(x), py(y), 2.5, 0, 2 * Math.PI);
      ctx.fill();
    }
  }
  const legend = document.createElement("div");
  legend.className = "legend";
  series.forEach((s, i) => {
    const span = document.createElement("span");
    span.className = s.cls;
    span.textContent = `${i ? "   " : ""}— ${s.name}`;
    legend.append(span);
  });
  wrap.append(canvas, legend);
  return wrap;
}

// ---- start ---------------------------------------------------------------------------------

// The page's first line names what to draw: digits, or the model's own classes.
function showIntro(classes) {
  if (classes.join(",") === "0,1,2,3,4,5,6,7,8,9") return; // the page's text as it is
  const names = classes.length > 4 ? `${classes.slice(0, 4).join(", ")}, ...` : classes.join(", ");
  $("intro").textContent =
    `Draw one of the model's ${classes.length} classes (${names}) in the box. ` +
    "The network classifies it as you draw.";
}

async function start() {
  setupPad();
  try {
    state.model = await fetchAnswer("/api/model");
    setupBars(state.model.classes);
    setupExplainLabels(state.model.classes);
    showIntro(state.model.classes);
    showModel(state.model);
    showEmpty();
    document.body.dataset.ready = "true";
  } catch (error) {
    setStatus(`could not read the model from the server: ${error.message}`, true);
  }
}

document.addEventListener("DOMContentLoaded", start);
