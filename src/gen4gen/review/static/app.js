// gen4gen review: the grid, the sample view and the cut-out view. Plain JavaScript, no build step, no network
// beyond the server that serves it. Every decision is sent at once; the server's manifest is the only state.
"use strict";

const $ = (id) => document.getElementById(id);
const enc = encodeURIComponent;
const CELL_W = 196;
const CELL_H = 230;
const PAGE = 200;
const PALETTE = ["#ff6347", "#4169e1", "#32cd32", "#ffd700", "#da70d6", "#00ced1", "#ff8c00", "#c71585"];
const STATUS_TEXT = {
  reject: "rejected", flag: "flagged", accept: "accepted", pass: "passed the checks", none: "no verdict",
};

const state = {
  summary: null,
  query: loadQuery(),
  grid: { total: null, pages: new Map(), stale: new Map(), pending: new Set(), selected: 0, cols: 1, version: 0 },
  sample: null,
  photo: null,
  changedPhotos: new Set(),
  editing: false,
  toggles: { masks: false, boxes: true, composite: false },
  hints: { box: null, strokes: [] },
  tool: "box",
  drawing: null,
  chain: Promise.resolve(),
  pending: 0,
};

// ------------------------------------------------------------------------------------------------- helpers
function loadQuery() {
  try {
    return JSON.parse(sessionStorage.getItem("gen4gen-review-query") || "{}");
  } catch (err) {
    return {};
  }
}

function queryParams() {
  const params = {};
  for (const [name, value] of Object.entries(state.query)) {
    if (value !== "" && value !== null && value !== undefined && value !== false) {
      params[name] = value === true ? "1" : String(value);
    }
  }
  return params;
}

async function api(path, params) {
  const url = params ? `${path}?${new URLSearchParams(params)}` : path;
  const reply = await fetch(url, { headers: { Accept: "application/json" } });
  const data = await reply.json().catch(() => ({ error: reply.statusText }));
  if (!reply.ok) throw new Error(data.error || reply.statusText);
  return data;
}

async function post(path, body) {
  const reply = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify(body),
  });
  const data = await reply.json().catch(() => ({ error: reply.statusText }));
  if (!reply.ok) throw new Error(data.error || reply.statusText);
  return data;
}

// Actions run one after another (fast key presses are never lost nor applied to the wrong sample).
function act(action) {
  state.pending += 1;
  document.body.dataset.busy = "1";
  state.chain = state.chain
    .then(action)
    .catch((err) => toast(err.message || String(err), true))
    .finally(() => {
      state.pending -= 1;
      if (state.pending === 0) delete document.body.dataset.busy;
    });
  return state.chain;
}

let toastTimer = 0;
function toast(message, error = false) {
  const box = $("toast");
  box.textContent = message;
  box.classList.toggle("error", error);
  box.classList.add("show");
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => box.classList.remove("show"), error ? 6000 : 1800);
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function svg(tag, attrs = {}) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  return node;
}

function show(view) {
  for (const name of ["grid", "photos", "sample", "photo"]) $(`${name}-view`).hidden = name !== view;
  document.body.dataset.view = view;
}

function go(hash) {
  if (location.hash !== hash) history.pushState(null, "", hash);
}

function score(value) {
  return value === null || value === undefined ? "–" : Number(value).toFixed(3);
}

// ----------------------------------------------------------------------------------------------- summary
async function loadSummary() {
  const summary = await api("/api/summary");
  state.summary = summary;
  const counts = [`${summary.reviewed}/${summary.samples} reviewed`];
  for (const name of ["reject", "flag", "accept"]) {
    if (summary.status[name]) counts.push(`${summary.status[name]} ${STATUS_TEXT[name]}`);
  }
  if (summary.unfinished_count) counts.push(`${summary.unfinished_count} not finished`);
  $("counts").textContent = counts.join(" · ");
  $("counts").title = summary.unfinished.join("\n");
  fillSelect($("f-composition"), summary.compositions, "all compositions");
  fillSelect($("f-check"), summary.checks, "any check");
  const sort = $("f-sort");
  for (const check of summary.checks) {
    const value = `score:${check}`;
    if (![...sort.options].some((o) => o.value === value)) sort.append(el("option", { value, text: `${check} score` }));
  }
  syncFilters();
}

function fillSelect(select, values, anyText) {
  const current = select.value;
  select.replaceChildren(el("option", { value: "", text: anyText }), ...values.map((v) => el("option", { value: v, text: v })));
  select.value = values.includes(current) ? current : "";
}

const FILTERS = {
  composition: "f-composition", status: "f-status", rating: "f-rating", unreviewed: "f-unreviewed",
  check: "f-check", min_score: "f-min", max_score: "f-max", sort: "f-sort", order: "f-order",
};

function syncFilters() {
  for (const [name, id] of Object.entries(FILTERS)) {
    const input = $(id);
    const value = state.query[name];
    if (input.type === "checkbox") input.checked = Boolean(value);
    else if (value !== undefined) input.value = value;
  }
}

function readFilters() {
  const query = {};
  for (const [name, id] of Object.entries(FILTERS)) {
    const input = $(id);
    query[name] = input.type === "checkbox" ? input.checked : input.value;
  }
  state.query = query;
  sessionStorage.setItem("gen4gen-review-query", JSON.stringify(query));
  resetGrid(true);
}

// -------------------------------------------------------------------------------------------------- grid
function resetGrid(toTop) {
  const grid = state.grid;
  grid.version += 1;
  grid.stale = toTop ? new Map() : grid.pages; // shown until the fresh rows arrive: no flicker
  grid.pages = new Map();
  grid.pending.clear();
  if (toTop) {
    grid.total = null;
    grid.selected = 0;
    $("grid-scroll").scrollTop = 0;
    $("grid").replaceChildren();
  }
  loadPage(0);
  renderGrid();
}

async function loadPage(number) {
  const grid = state.grid;
  if (grid.pages.has(number) || grid.pending.has(number)) return;
  grid.pending.add(number);
  const version = grid.version;
  try {
    const data = await api("/api/samples", { ...queryParams(), offset: number * PAGE, limit: PAGE });
    if (version !== grid.version) return;
    grid.total = data.total;
    grid.pages.set(number, data.rows);
  } catch (err) {
    toast(err.message, true);
  } finally {
    if (version === grid.version) grid.pending.delete(number);
  }
  if (version === grid.version) renderGrid();
}

function rowAt(index, fresh = false) {
  const number = Math.floor(index / PAGE);
  const page = state.grid.pages.get(number) || (fresh ? undefined : state.grid.stale.get(number));
  return page ? page[index % PAGE] : undefined;
}

function renderGrid() {
  if ($("grid-view").hidden) return;
  const grid = state.grid;
  const scroll = $("grid-scroll");
  grid.cols = Math.max(1, Math.floor(scroll.clientWidth / CELL_W));
  const total = grid.total || 0;
  const rows = Math.ceil(total / grid.cols);
  $("grid-space").style.height = `${rows * CELL_H}px`;
  $("grid-empty").hidden = grid.total !== 0;
  const first = Math.max(0, Math.floor(scroll.scrollTop / CELL_H) - 2);
  const last = Math.min(rows, Math.ceil((scroll.scrollTop + scroll.clientHeight) / CELL_H) + 2);
  const wanted = new Set();
  for (let r = first; r < last; r += 1) {
    for (let c = 0; c < grid.cols; c += 1) {
      const index = r * grid.cols + c;
      if (index < total) wanted.add(index);
    }
  }
  const container = $("grid");
  const existing = new Map();
  for (const cell of [...container.children]) {
    const index = Number(cell.dataset.index);
    if (wanted.has(index)) existing.set(index, cell);
    else cell.remove();
  }
  for (const index of wanted) {
    if (!rowAt(index, true)) loadPage(Math.floor(index / PAGE));
    const row = rowAt(index);
    let cell = existing.get(index);
    if (!cell) {
      cell = el("div", { class: "cell" });
      cell.dataset.index = String(index);
      cell.addEventListener("click", () => openIndex(index));
      container.append(cell);
    }
    cell.style.left = `${(index % grid.cols) * CELL_W + 4}px`;
    cell.style.top = `${Math.floor(index / grid.cols) * CELL_H + 4}px`;
    cell.classList.toggle("selected", index === grid.selected);
    fillCell(cell, row);
  }
}

function fillCell(cell, row) {
  const signature = row ? `${row.key}|${row.rating}|${row.status}|${row.caption}` : "pending";
  if (cell.dataset.signature === signature) return;
  cell.dataset.signature = signature;
  cell.className = `cell ${row ? row.status : "pending"}${cell.classList.contains("selected") ? " selected" : ""}`;
  if (!row) {
    cell.replaceChildren(el("img", { alt: "" }));
    return;
  }
  cell.dataset.key = row.key;
  cell.title = row.caption;
  const stars = row.rating ? "★".repeat(row.rating) : "";
  const badge = row.status === "reject" || row.status === "flag" || row.status === "accept"
    ? el("span", { class: `badge ${row.status}`, text: STATUS_TEXT[row.status] }) : el("span");
  cell.replaceChildren(
    el("img", { loading: "lazy", alt: row.id, src: `/api/sample/file?key=${enc(row.key)}&kind=thumb` }),
    el("div", { class: "line" }, el("span", { class: "id", text: row.id }), el("span", { text: stars })),
    el("div", { class: "line" }, el("span", { class: "id", text: row.composition }), badge),
  );
}

function openIndex(index) {
  const row = rowAt(index);
  if (!row) return;
  state.grid.selected = index;
  go(`#/sample/${enc(row.key)}`);
  act(() => openSample(row.key));
}

function moveSelection(delta) {
  const grid = state.grid;
  const total = grid.total || 0;
  if (!total) return;
  grid.selected = Math.min(total - 1, Math.max(0, grid.selected + delta));
  const top = Math.floor(grid.selected / grid.cols) * CELL_H;
  const scroll = $("grid-scroll");
  if (top < scroll.scrollTop) scroll.scrollTop = top;
  else if (top + CELL_H > scroll.scrollTop + scroll.clientHeight) scroll.scrollTop = top + CELL_H - scroll.clientHeight;
  renderGrid();
}

async function showGrid() {
  show("grid");
  delete document.body.dataset.key;
  resetGrid(state.grid.total === null);
  await loadSummary().catch((err) => toast(err.message, true));
}

async function openNextUnreviewed(from) {
  const next = await api("/api/step", { ...queryParams(), next_unreviewed: "1", ...(from ? { key: from } : {}) });
  if (!next.key) {
    toast("every sample here is reviewed");
    return false;
  }
  go(`#/sample/${enc(next.key)}`);
  await openSample(next.key);
  return true;
}

// ------------------------------------------------------------------------------------------------ sample
async function openSample(key) {
  const sample = await api("/api/sample", { key });
  state.sample = sample;
  state.editing = false;
  show("sample");
  document.body.dataset.key = key;
  renderSample();
}

function renderSample() {
  const s = state.sample;
  const [width, height] = s.size;
  $("s-title").textContent = s.id;
  $("s-meta").textContent = `${s.composition} · ${width}×${height} · ${s.scene || "no scene"}`;
  const kind = state.toggles.composite ? "composite" : "image";
  const source = `/api/sample/file?key=${enc(s.key)}&kind=${kind}`;
  if ($("s-image").getAttribute("src") !== source) $("s-image").src = source;
  const overlay = $("s-overlay");
  overlay.hidden = !state.toggles.masks;
  if (state.toggles.masks) overlay.src = `/api/sample/file?key=${enc(s.key)}&kind=overlay`;
  const boxes = $("s-boxes");
  boxes.setAttribute("viewBox", `0 0 ${width} ${height}`);
  boxes.replaceChildren();
  if (state.toggles.boxes) {
    s.objects.forEach((o, i) => {
      const [x0, y0, x1, y1] = o.bbox;
      const colour = PALETTE[i % PALETTE.length];
      boxes.append(svg("rect", { x: x0, y: y0, width: x1 - x0, height: y1 - y0, stroke: colour }));
      const label = svg("text", { x: x0 + 4, y: y0 + 16, fill: colour });
      label.textContent = o.concept_id;
      boxes.append(label);
    });
  }
  $("t-masks").checked = state.toggles.masks;
  $("t-boxes").checked = state.toggles.boxes;
  $("t-composite").checked = state.toggles.composite;
  const stars = $("s-rating");
  stars.replaceChildren(
    ...[1, 2, 3, 4, 5].map((n) =>
      el("span", { class: s.rating >= n ? "on" : "", title: `rate ${n}`, text: "★", onclick: () => act(() => decide("rating", n, true)) }),
    ),
  );
  stars.dataset.rating = s.rating === null ? "" : String(s.rating);
  for (const button of document.querySelectorAll("#s-verdict button")) {
    button.classList.toggle("on", s.verdict === button.dataset.verdict);
  }
  const who = s.verdict ? " by a person" : s.status === "reject" || s.status === "flag" ? " by the checks" : "";
  $("s-status").textContent = `${STATUS_TEXT[s.status]}${who}`;
  $("s-status").dataset.status = s.status;
  if (!state.editing) {
    $("s-caption").value = s.caption;
    $("s-caption").readOnly = true;
    $("s-caption-actions").hidden = true;
  }
  $("s-generated").textContent = s.edited ? `generated: ${s.generated_caption}` : "";
  const checks = $("s-checks").tBodies[0];
  checks.replaceChildren(
    ...(s.verdicts.length
      ? s.verdicts.map((v) =>
          el("tr", {}, el("td", { text: v.name }), el("td", { class: `badge ${v.status}`, text: v.status }),
            el("td", { text: score(v.score) }), el("td", { text: v.reason || "" })))
      : [el("tr", {}, el("td", { text: "no automatic checks recorded" }))]),
  );
  $("s-objects").replaceChildren(
    ...s.objects.map((o) =>
      el("li", {}, `${o.name} (${o.concept_id}) `,
        el("a", { href: `#/photo/${enc(o.photo)}`, text: "cut-out", title: o.photo }),
        ` ${Math.round(o.visible * 100)}% visible`)),
  );  fit($("s-image"), $("s-stage"), $("s-stage").clientHeight - 24);
}

async function decide(kind, value, advance) {
  if (!state.sample) return;
  const key = state.sample.key;
  const reply = await post("/api/decide", { target: `sample:${key}`, kind, value });
  if (state.sample && state.sample.key === key) {
    state.sample = reply.sample;
    renderSample();
  }
  const shown = kind === "rating" ? `rated ${value}` : kind === "verdict" ? (value ? STATUS_TEXT[value] : "verdict cleared") : "caption saved";
  toast(`${reply.sample.id}: ${shown}`);
  if (advance) await openNextUnreviewed(key);
}

function step(direction) {
  if (!state.sample) return;
  const key = state.sample.key;
  act(async () => {
    const next = await api("/api/step", { ...queryParams(), key, direction: String(direction) });
    if (!next.key) {
      toast(direction > 0 ? "this is the last sample" : "this is the first sample");
      return;
    }
    go(`#/sample/${enc(next.key)}`);
    await openSample(next.key);
  });
}

function editCaption() {
  state.editing = true;
  const box = $("s-caption");
  box.readOnly = false;
  $("s-caption-actions").hidden = false;
  box.focus();
  box.setSelectionRange(box.value.length, box.value.length);
}

function stopEditing(save) {
  const text = $("s-caption").value;
  state.editing = false;
  $("s-caption").readOnly = true;
  $("s-caption").blur();
  if (save && state.sample && text.trim() !== state.sample.caption) act(() => decide("caption", text, false));
  else renderSample();
}

// ------------------------------------------------------------------------------------------------ photos
async function showPhotos() {
  const { photos } = await api("/api/photos");
  show("photos");
  delete document.body.dataset.key;
  const failed = photos.filter((p) => p.status !== "done").length;
  const fixed = photos.filter((p) => p.decided).length;
  $("photos-note").textContent = `${photos.length} photos · ${failed} failed to segment · ${fixed} with a person's round or hints`;
  $("photos").replaceChildren(
    ...photos.map((p) => {
      const done = p.status === "done";
      const kind = done ? "cutout" : "photo";
      const what = done ? `${p.method} · round ${p.chosen_round}/${p.rounds} · ${score(p.score)}` : `${p.status}: ${p.message || ""}`;
      const card = el("div", { class: `photo-card${done ? "" : " failed"}`, title: p.message || p.key },
        el("img", { loading: "lazy", alt: p.key, src: `/api/photo/file?key=${enc(p.key)}&kind=${kind}&v=${enc(p.fingerprint)}` }),
        el("div", { class: "key", text: p.key }),
        el("div", { class: "dim", text: what }),
        el("div", { class: "dim", text: `used by ${p.used_by} sample(s)${p.decided ? " · decided" : ""}` }));
      card.dataset.key = p.key;
      card.addEventListener("click", () => (location.hash = `#/photo/${enc(p.key)}`));
      return card;
    }),
  );
}

// ------------------------------------------------------------------------------------------------- photo
async function openPhoto(key) {
  const photo = await api("/api/photo", { key });
  state.photo = photo;
  loadHints(photo);
  show("photo");
  document.body.dataset.key = key;
  renderPhoto();
}

function loadHints(photo) {
  const hints = photo.hints;
  state.hints = {
    box: hints && hints.box ? [...hints.box] : null,
    strokes: hints ? hints.strokes.map((s) => ({ label: s.label, width: s.width, points: s.points.map((p) => [...p]) })) : [],
  };
}

function renderPhoto() {
  const p = state.photo;
  const version = enc(p.fingerprint || "");
  $("p-title").textContent = p.key;
  document.body.dataset.chosenRound = p.chosen_round ? String(p.chosen_round) : "";
  document.body.dataset.method = p.method || "";
  if (p.status !== "done") {
    $("p-meta").textContent = `segmentation ${p.status}: ${p.message || ""}`;
  } else {
    const [w, h] = p.size;
    const how = p.method === "hints"
      ? `segmented from hints (${p.hints_source === "review" ? "given here" : p.hints_source || "no longer given"})`
      : `${p.method} · round ${p.chosen_round} of ${p.rounds.length}${p.round_decision ? " (picked by a person)" : ""}`;
    $("p-meta").textContent = `${p.concept} · ${w}×${h} · ${how} · ${(p.area * 100).toFixed(1)}% of the photo`;
  }
  const used = p.used_by.length;
  const note = $("p-note");
  const changed = state.changedPhotos.has(p.key);
  note.classList.toggle("warn", changed && used > 0);
  note.textContent = changed && used > 0
    ? `cut-out changed: ${used} sample(s) use it; run \`gen4gen run\` on this run folder to remake exactly those.`
    : `used by ${used} sample(s).` + (p.problems.length ? ` ${p.problems.join(" ")}` : "");
  const rounds = $("p-rounds");
  rounds.replaceChildren(
    ...(p.rounds || []).map((r) => {
      const chosen = r.round === p.chosen_round;
      return el("div", { class: `round${chosen ? " chosen" : ""}` },
        el("img", { alt: `round ${r.round}`, src: `/api/photo/file?key=${enc(p.key)}&kind=round&round=${r.round}&v=${version}` }),
        el("div", { text: `${p.method === "hints" ? "hints" : `round ${r.round}`} · ${score(r.score)}` }),
        chosen ? el("span", { text: "in use" }) : el("button", { type: "button", text: `use ${r.round}`, onclick: () => act(() => pickRound(r.round)) }));
    }),
  );
  if (p.hints_source === "review") rounds.append(el("p", { text: "Remove the hints to pick an automatic round." }));
  const photo = $("p-photo");
  const source = `/api/photo/file?key=${enc(p.key)}&kind=photo`;
  if (photo.getAttribute("src") !== source) photo.src = source;
  const tint = $("p-tint");
  tint.hidden = p.status !== "done";
  if (p.status === "done") tint.src = `/api/photo/file?key=${enc(p.key)}&kind=tint&v=${version}`;
  $("p-drop").disabled = p.hints_source !== "review";
  for (const button of document.querySelectorAll("#p-tools [data-tool]")) {
    button.classList.toggle("on", button.dataset.tool === state.tool);
  }
  sizeCanvas();
}

// Shows ``image`` as large as ``area`` allows (small photos grow, so drawing on them is easy).
function fit(image, area, maxHeight) {
  if (!image.naturalWidth) return;
  const width = Math.max(50, area.clientWidth - 32);
  const height = Math.max(50, maxHeight);
  const scale = Math.min(width / image.naturalWidth, height / image.naturalHeight);
  image.style.width = `${Math.floor(image.naturalWidth * scale)}px`;
  image.style.height = `${Math.floor(image.naturalHeight * scale)}px`;
}

function sizeCanvas() {
  const photo = $("p-photo");
  const canvas = $("p-canvas");
  if (!photo.naturalWidth) return;
  const top = $("p-work").getBoundingClientRect().top;
  fit(photo, $("p-fix"), Math.max(240, window.innerHeight - top - 56));
  if (canvas.width !== photo.naturalWidth || canvas.height !== photo.naturalHeight) {
    canvas.width = photo.naturalWidth;
    canvas.height = photo.naturalHeight;
  }
  drawHints();
}

// photo pixels (as hints are given) per canvas pixel
function hintScale() {
  const p = state.photo;
  const canvas = $("p-canvas");
  if (!p || !p.original || !canvas.width) return 1;
  return p.original[0] / canvas.width;
}

function canvasPoint(event) {
  const canvas = $("p-canvas");
  const rect = canvas.getBoundingClientRect();
  const x = ((event.clientX - rect.left) * canvas.width) / rect.width;
  const y = ((event.clientY - rect.top) * canvas.height) / rect.height;
  return [Math.min(canvas.width, Math.max(0, x)), Math.min(canvas.height, Math.max(0, y))];
}

function drawHints() {
  const canvas = $("p-canvas");
  const ctx = canvas.getContext("2d");
  const f = hintScale();
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const box = state.drawing && state.drawing.kind === "box" ? state.drawing.box : state.hints.box;
  if (box) {
    const [x0, y0, x1, y1] = box.map((v) => v / f);
    ctx.fillStyle = "rgba(0, 0, 0, 0.45)";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.clearRect(x0, y0, x1 - x0, y1 - y0);
    ctx.setLineDash([8, 6]);
    ctx.strokeStyle = "#ffd54f";
    ctx.lineWidth = 2;
    ctx.strokeRect(x0, y0, x1 - x0, y1 - y0);
    ctx.setLineDash([]);
  }
  const strokes = [...state.hints.strokes];
  if (state.drawing && state.drawing.kind === "stroke") strokes.push(state.drawing.stroke);
  for (const stroke of strokes) {
    ctx.strokeStyle = stroke.label === "fg" ? "rgba(80, 230, 120, 0.75)" : "rgba(255, 80, 80, 0.75)";
    ctx.fillStyle = ctx.strokeStyle;
    ctx.lineWidth = Math.max(1, stroke.width / f);
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.beginPath();
    stroke.points.forEach(([x, y], i) => (i ? ctx.lineTo(x / f, y / f) : ctx.moveTo(x / f, y / f)));
    if (stroke.points.length === 1) {
      const [x, y] = stroke.points[0];
      ctx.arc(x / f, y / f, ctx.lineWidth / 2, 0, 2 * Math.PI);
      ctx.fill();
    } else {
      ctx.stroke();
    }
  }
}

function startDrawing(event) {
  if (!state.photo || event.button !== 0) return;
  const canvas = $("p-canvas");
  canvas.setPointerCapture(event.pointerId);
  const f = hintScale();
  const [x, y] = canvasPoint(event);
  if (state.tool === "box") {
    state.drawing = { kind: "box", start: [x * f, y * f], box: [x * f, y * f, x * f, y * f] };
  } else {
    const width = Math.max(1, Math.round(Number($("p-brush").value) * f));
    state.drawing = { kind: "stroke", last: [x, y], stroke: { label: state.tool, width, points: [[Math.round(x * f), Math.round(y * f)]] } };
  }
  drawHints();
}

function moveDrawing(event) {
  const drawing = state.drawing;
  if (!drawing) return;
  const f = hintScale();
  const [x, y] = canvasPoint(event);
  if (drawing.kind === "box") {
    const [sx, sy] = drawing.start;
    drawing.box = [Math.min(sx, x * f), Math.min(sy, y * f), Math.max(sx, x * f), Math.max(sy, y * f)];
  } else if (Math.hypot(x - drawing.last[0], y - drawing.last[1]) >= 2) {
    drawing.last = [x, y];
    drawing.stroke.points.push([Math.round(x * f), Math.round(y * f)]);
  }
  drawHints();
}

function endDrawing(event) {
  const drawing = state.drawing;
  if (!drawing) return;
  moveDrawing(event);
  state.drawing = null;
  if (drawing.kind === "box") {
    const [x0, y0, x1, y1] = drawing.box.map((v) => Math.round(v));
    if (x1 - x0 >= 4 && y1 - y0 >= 4) state.hints.box = [x0, y0, x1, y1];
  } else {
    state.hints.strokes.push(drawing.stroke);
  }
  drawHints();
}

function undoHint() {
  if (state.hints.strokes.length) state.hints.strokes.pop();
  else state.hints.box = null;
  drawHints();
}

async function photoDecision(kind, value, done) {
  const p = state.photo;
  $("p-busy").textContent = kind === "hints" && value ? "segmenting with the hints…" : "segmenting…";
  try {
    const reply = await post("/api/decide", { target: `photo:${p.key}`, kind, value });
    state.changedPhotos.add(p.key);
    if (state.photo && state.photo.key === p.key) {
      state.photo = reply.photo;
      loadHints(reply.photo);
      renderPhoto();
    }
    const run = reply.run;
    if (run.failed) toast(`segmentation failed: ${run.warnings.join(" ")}`, true);
    else toast(`${done} (${run.seconds.toFixed(1)} s)`);
  } finally {
    $("p-busy").textContent = "";
  }
}

function pickRound(number) {
  const p = state.photo;
  if (!p || !p.rounds || number > p.rounds.length || p.hints_source === "review") return Promise.resolve();
  return photoDecision("round", number, `round ${number} in use`);
}

function runHints() {
  const hints = state.hints;
  if (!hints.box && !hints.strokes.length) {
    toast("draw a box around the object or paint on it first", true);
    return Promise.resolve();
  }
  const value = { version: 1, box: hints.box, strokes: hints.strokes };
  return photoDecision("hints", value, "segmented with the hints");
}

function setTool(tool) {
  state.tool = tool;
  for (const button of document.querySelectorAll("#p-tools [data-tool]")) {
    button.classList.toggle("on", button.dataset.tool === tool);
  }
}

function back() {
  if (history.length > 1) history.back();
  else location.hash = "#/";
}

// ------------------------------------------------------------------------------------------------ wiring
function route() {
  const hash = location.hash.slice(1) || "/";
  if (hash.startsWith("/sample/")) return openSample(decodeURIComponent(hash.slice("/sample/".length)));
  if (hash.startsWith("/photo/")) return openPhoto(decodeURIComponent(hash.slice("/photo/".length)));
  if (hash === "/photos") return showPhotos();
  return showGrid();
}

function typing(target) {
  if (target.tagName === "TEXTAREA" && !target.readOnly) return true;
  if (target.tagName === "SELECT") return true;
  return target.tagName === "INPUT" && !["checkbox", "range", "button"].includes(target.type);
}

function onKey(event) {
  if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
  const view = document.body.dataset.view;
  const key = event.key;
  if (key === "?") {
    $("help").hidden = !$("help").hidden;
    return;
  }
  if (!$("help").hidden && key === "Escape") {
    $("help").hidden = true;
    return;
  }
  let handled = true;
  if (view === "grid") {
    if (key === "ArrowRight") moveSelection(1);
    else if (key === "ArrowLeft") moveSelection(-1);
    else if (key === "ArrowDown") moveSelection(state.grid.cols);
    else if (key === "ArrowUp") moveSelection(-state.grid.cols);
    else if (key === "Enter") openIndex(state.grid.selected);
    else if (key === "n") act(() => openNextUnreviewed(null));
    else if (key === "p") location.hash = "#/photos";
    else handled = false;
  } else if (view === "photos") {
    if (key === "Escape") location.hash = "#/";
    else handled = false;
  } else if (view === "sample") {
    if (/^[1-5]$/.test(key)) act(() => decide("rating", Number(key), true));
    else if (key === "a") act(() => decide("verdict", "accept", true));
    else if (key === "r") act(() => decide("verdict", "reject", true));
    else if (key === "ArrowRight") step(1);
    else if (key === "ArrowLeft") step(-1);
    else if (key === "e") editCaption();
    else if (key === "m") toggle("masks");
    else if (key === "b") toggle("boxes");
    else if (key === "c") toggle("composite");
    else if (key === "Escape") location.hash = "#/";
    else handled = false;
  } else if (view === "photo") {
    if (/^[1-9]$/.test(key)) act(() => pickRound(Number(key)));
    else if (key === "x") setTool("box");
    else if (key === "f") setTool("fg");
    else if (key === "g") setTool("bg");
    else if (key === "z") undoHint();
    else if (key === "Enter") act(runHints);
    else if (key === "Escape") back();
    else handled = false;
  } else {
    handled = false;
  }
  if (handled) event.preventDefault();
}

function toggle(name) {
  state.toggles[name] = !state.toggles[name];
  if (state.sample) renderSample();
}

function wire() {
  document.addEventListener("keydown", onKey);
  window.addEventListener("hashchange", () => act(route));
  window.addEventListener("resize", () => {
    const view = document.body.dataset.view;
    if (view === "grid") renderGrid();
    else if (view === "sample") fit($("s-image"), $("s-stage"), $("s-stage").clientHeight - 24);
    else sizeCanvas();
  });
  $("s-image").addEventListener("load", () => fit($("s-image"), $("s-stage"), $("s-stage").clientHeight - 24));
  $("grid-scroll").addEventListener("scroll", () => requestAnimationFrame(renderGrid), { passive: true });
  $("filters").addEventListener("change", readFilters);
  $("filters").addEventListener("submit", (event) => event.preventDefault());
  $("reload").addEventListener("click", () =>
    act(async () => {
      await post("/api/refresh", {});
      await loadSummary();
      if (document.body.dataset.view === "grid") resetGrid(false);
      toast("run folder read again");
    }),
  );
  $("help-button").addEventListener("click", () => ($("help").hidden = !$("help").hidden));
  $("help-close").addEventListener("click", () => ($("help").hidden = true));
  for (const button of document.querySelectorAll("#s-verdict button")) {
    button.addEventListener("click", () => act(() => decide("verdict", button.dataset.verdict, true)));
  }
  $("t-masks").addEventListener("change", () => toggle("masks"));
  $("t-boxes").addEventListener("change", () => toggle("boxes"));
  $("t-composite").addEventListener("change", () => toggle("composite"));
  const caption = $("s-caption");
  caption.addEventListener("dblclick", editCaption);
  caption.addEventListener("keydown", (event) => {
    if (caption.readOnly) return;
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      stopEditing(true);
    } else if (event.key === "Escape") {
      event.preventDefault();
      stopEditing(false);
    }
    event.stopPropagation();
  });
  $("s-caption-save").addEventListener("click", () => stopEditing(true));
  $("s-caption-cancel").addEventListener("click", () => stopEditing(false));
  $("s-caption-revert").addEventListener("click", () => {
    state.editing = false;
    act(() => decide("caption", null, false));
  });
  $("s-prev").addEventListener("click", () => step(-1));
  $("s-next").addEventListener("click", () => step(1));
  $("s-grid").addEventListener("click", () => (location.hash = "#/"));
  const canvas = $("p-canvas");
  canvas.addEventListener("pointerdown", startDrawing);
  canvas.addEventListener("pointermove", moveDrawing);
  canvas.addEventListener("pointerup", endDrawing);
  canvas.addEventListener("pointercancel", () => {
    state.drawing = null;
    drawHints();
  });
  $("p-photo").addEventListener("load", sizeCanvas);
  for (const button of document.querySelectorAll("#p-tools [data-tool]")) {
    button.addEventListener("click", () => setTool(button.dataset.tool));
  }
  $("p-undo").addEventListener("click", undoHint);
  $("p-clear").addEventListener("click", () => {
    state.hints = { box: null, strokes: [] };
    drawHints();
  });
  $("p-run").addEventListener("click", () => act(runHints));
  $("p-drop").addEventListener("click", () => act(() => photoDecision("hints", null, "hints removed")));
  $("p-back").addEventListener("click", back);
}

wire();
act(route);
