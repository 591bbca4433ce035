// Attention Lab's live views in the browser: a Streamlit components-v2 module (no iframe). ui/live_views.py puts
// forward.js in front of this file; the page gives `data` (the weights file's URL, the word Python knows, the
// sampling knobs, and every word and size the views show, already translated). On every keystroke this module
// runs the forward pass (forward.js) and redraws, for each model on the page (one on Explore, two on Compare), the
// next-token bars, the entropy heatmap and the attention heatmap with its highlighted query row as SVG, and
// BertViz's own head view from a template Python made once per model. Python hears only the word (and the picked
// layer, head and query) when the user pauses: one rerun per pause instead of one per key.
//
// User text never becomes markup: tokens and notes are set with textContent, and BertViz gets them inside escaped
// JSON strings and draws them with d3's .text(). Nothing is fetched but the weights file and d3 / jQuery, from the
// app's own server.
const F = globalThis.AttentionLabForward;
const SVG = "http://www.w3.org/2000/svg";
const PAUSE_MS = 400;          // the word goes to Python this long after the last key (for ?text= and other pages)
const MODELS = new Map();      // weights URL -> Promise of a loaded model: fetched once per page view
const VIEWS = new WeakMap();   // parentElement -> its view (this module is loaded once; its render runs per rerun)
// The Lesson puts its word box and its views in two places (the views only once a guess is locked): two instances of
// this component, data.mode "box" and "views", joined by data.group. The box publishes every keystroke here.
const WORDS = new Map();       // group -> the word its box holds now
const WORD_EVENT = "attention-lab-word";
const ALL_VIEWS = ["bars", "entropy", "bertviz", "heat"];   // and "grid": data.grid_patterns' heads (the Lesson)

function loadModel(url) {
  if (!MODELS.has(url)) {
    MODELS.set(url, fetch(new URL(url, document.baseURI), {credentials: "same-origin"})
      .then((r) => { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then((file) => F.load_model(file)));
  }
  return MODELS.get(url);
}

function el(tag, attrs, text) {
  const e = document.createElement(tag);
  Object.entries(attrs || {}).forEach(([k, v]) => e.setAttribute(k, v));
  if (text != null) e.textContent = text;
  return e;
}
function svg(tag, attrs, text) {
  const e = document.createElementNS(SVG, tag);
  Object.entries(attrs || {}).forEach(([k, v]) => e.setAttribute(k, v));
  if (text != null) e.textContent = text;
  return e;
}
// The charts are drawn as a light description (vnode: tag, attributes, text, children, an optional key) that `draw`
// lays over the chart's current DOM: a node with the same key is kept and only its changed attributes and text
// are written; new keys are inserted, gone ones removed. A new character then adds one row and one column of
// cells instead of rebuilding every element: new elements are what costs a frame (style for every one of them,
// under the page's many CSS rules). The result equals a fresh drawing of the same word
// (tests/e2e/test_e2e_live_paint.py). svg() and el() still build DOM nodes at once, for what is not redrawn per key.
class VNode {
  constructor(ns, tag, attrs, text) {
    this.ns = ns; this.tag = tag; this.attrs = attrs || {}; this.text = text == null ? null : String(text);
    this.kids = []; this.key = null;
  }
  append(...kids) { this.kids.push(...kids); return this; }
  setAttribute(name, value) { this.attrs[name] = value; }
  keyed(key) { this.key = key; return this; }
}
function vsvg(tag, attrs, text) { return new VNode(SVG, tag, attrs, text); }   // as svg() and el(), as a vnode
function vhtml(tag, attrs, text) { return new VNode(null, tag, attrs, text); }
function draw(target, vnode) { patch(target, [vnode]); }
function withKeys(vkids) {                       // unkeyed children: keyed by tag and their rank among that tag
  const seen = new Map();
  vkids.forEach((v) => {
    if (v.key != null) return;
    const rank = seen.get(v.tag) || 0;
    seen.set(v.tag, rank + 1);
    v.key = v.tag + "#" + rank;
  });
  return vkids;
}
function createNode(v) {                         // attributes set before it joins the page (no invalidation each)
  const node = v.ns ? document.createElementNS(v.ns, v.tag) : document.createElement(v.tag);
  for (const name in v.attrs) node.setAttribute(name, v.attrs[name]);
  if (v.text != null) node.textContent = v.text;
  else for (const kid of withKeys(v.kids)) node.appendChild(createNode(kid));
  node.alKey = v.key;
  node.alAttrs = v.attrs;                        // what it was drawn from: the next key compares against this
  node.alText = v.text;
  return node;
}
// A node drawn from a vnode keeps that vnode's attributes and text (alAttrs, alText; only draw writes these nodes):
// the next key compares the new drawing with them in JavaScript, and touches the DOM only where a value changed
// (reading every attribute back from the DOM cost more than the writes).
function updateNode(node, v) {
  const was = node.alAttrs;
  for (const name in v.attrs) {
    const value = v.attrs[name], before = was[name];
    if (before !== value && (before === undefined || String(before) !== String(value))) node.setAttribute(name, value);
  }
  for (const name in was) if (!(name in v.attrs)) node.removeAttribute(name);   // one the fresh drawing would not have
  node.alAttrs = v.attrs;
  if (v.text != null) {                          // a new text goes into the text node there: no new node to lay out
    if (node.alText !== v.text) {
      const t = node.firstChild;
      if (t && t.nodeType === Node.TEXT_NODE && !t.nextSibling) t.data = v.text;
      else node.textContent = v.text;
    }
  } else patch(node, v.kids);
  node.alText = v.text;
}
function patch(parent, vkids) {                  // parent's children made equal to vkids, reusing nodes by key
  withKeys(vkids);
  let child = parent.firstChild, i = 0;         // the common case: the same keys in the same order, more at the end
  while (child && i < vkids.length && child.alKey === vkids[i].key && child.localName === vkids[i].tag) {
    updateNode(child, vkids[i]);
    child = child.nextSibling;
    i += 1;
  }
  if (!child && i === vkids.length) return;
  const old = new Map();
  for (let c = child; c; c = c.nextSibling) if (c.alKey != null && !old.has(c.alKey)) old.set(c.alKey, c);
  const nodes = vkids.slice(i).map((v) => {
    const node = old.get(v.key);
    if (node && node.localName === v.tag && (node.namespaceURI === SVG) === !!v.ns) {
      old.delete(v.key);
      updateNode(node, v);
      return node;
    }
    return createNode(v);
  });
  const kept = new Set(nodes);
  for (let c = child; c;) {                      // what the new drawing no longer has
    const next = c.nextSibling;
    if (!kept.has(c)) c.remove();
    c = next;
  }
  let cursor = parent.childNodes[i] || null;     // after the common prefix: the rest in the drawing's order
  for (const node of nodes) {
    if (node === cursor) cursor = cursor.nextSibling;
    else parent.insertBefore(node, cursor);
  }
}
const FMT_PARTS = new Map();             // template -> [text, name, text, name, ..., text], split once
function fmt(template, values) {               // "{name}" placeholders, as Python's str.format after _()
  let parts = FMT_PARTS.get(template);
  if (!parts) FMT_PARTS.set(template, parts = template.split(/\{(\w+)\}/));
  let out = parts[0];
  for (let i = 1; i < parts.length; i += 2) {
    out += (parts[i] in values ? String(values[parts[i]]) : "{" + parts[i] + "}") + parts[i + 1];
  }
  return out;
}
const RGB = new WeakMap();                     // a colour scale -> its stops' [r, g, b], parsed once
function colour(stops, v) {                    // a plotly colour scale [[0, "#rrggbb"], ..., [1, ...]] at v in [0, 1]
  v = Math.min(1, Math.max(0, v));
  let rgb = RGB.get(stops);
  if (!rgb) RGB.set(stops, rgb = stops.map(([, c]) => [1, 3, 5].map((j) => parseInt(c.slice(j, j + 2), 16))));
  for (let i = 1; i < stops.length; i++) {
    if (v <= stops[i][0]) {
      const a = stops[i - 1][0], b = stops[i][0], f = (v - a) / (b - a || 1), x = rgb[i - 1], y = rgb[i];
      return "rgb(" + Math.round(x[0] + (y[0] - x[0]) * f) + "," + Math.round(x[1] + (y[1] - x[1]) * f) + ","
        + Math.round(x[2] + (y[2] - x[2]) * f) + ")";
    }
  }
  return stops[stops.length - 1][1];
}
function textWidth(text, size) {                // a text's width in px, roughly: CJK characters are ~1 em, others ~0.6
  let w = 0;
  for (const ch of String(text)) w += ch >= "\u2e80" ? 1.0 : 0.62;
  return w * size;
}
function dark(stops, v) {                      // text colour readable on colour(stops, v)
  const m = colour(stops, v).match(/\d+/g).map(Number);
  return 0.299 * m[0] + 0.587 * m[1] + 0.114 * m[2] > 140 ? "#262730" : "#ffffff";
}

function is_masked_causal(name, model) {                        // AttentionCapture.is_masked_causal
  if (name.startsWith("decoder.") && !name.includes(".cross_attn.")) return true;
  return !model.cfg.peeking;
}

// ---- the view ----------------------------------------------------------------------------------------------------
// One text box drives one or more sides (Explore: one model; Compare: two). A side holds one model and its views;
// the drawing functions below take a side, whose `data` is the page's data with that side's own entries on top.
function mount(root, mode) {
  const v = {root, data: null, text: "", lastDataText: null, composing: false, timer: 0, sides: [], layout: "",
             reported: new Set(), mode: mode || "page"};      // reported: words sent to Python (their echoes come back as data.text)
  const wrap = el("div", {class: "al-live", "data-testid": "al-live"});
  v.box = wrap;
  v.input = el("input", {type: "text", class: "al-input", autocomplete: "off", spellcheck: "false",
                         "data-testid": "al-live-input"});
  v.label = el("label", {class: "al-label"});
  v.label.append(el("span", {class: "al-label-text"}), v.input);
  v.status = el("div", {class: "al-status", role: "status"});
  v.notes = el("div", {class: "al-notes", "data-testid": "al-live-notes"});
  v.sidesBox = el("div", {class: "al-sides"});
  // The Lesson's views: the line that stands in for them while the box holds another word than the question's
  v.hiddenLine = el("div", {class: "al-caption", "data-testid": "al-live-hidden", style: "display:none"});
  wrap.append(...(v.mode === "views" ? [v.hiddenLine] : [v.label]), v.status, v.notes, v.sidesBox);
  if (v.mode === "server") v.label.style.display = "none";   // the page's box, unless the light route is served
  root.append(wrap);
  if (v.mode === "views") {                   // no box of its own: it follows the box of its group
    window.addEventListener(WORD_EVENT, (ev) => {
      if (!v.data || ev.detail.group !== v.data.group || !v.root.isConnected) return;
      v.text = ev.detail.text;
      redraw(v, ev.detail.keyTime);
    });
  }

  v.input.addEventListener("compositionstart", () => { v.composing = true; });
  v.input.addEventListener("compositionend", () => { v.composing = false; onInput(v, performance.now()); });
  v.input.addEventListener("input", (ev) => {
    if (ev.isComposing || v.composing) return;           // a half-composed word (an input method): wait for it
    onInput(v, ev.timeStamp);
  });
  return v;
}

function makeSide(v, i, n) {
  const sd = {page: v, index: i, model: null, url: null, data: null, pattern: null, head: 0, query: null,
              followLast: true};
  sd.el = el("div", {class: "al-side", "data-testid": "al-live-side"});
  sd.title = el("div", {class: "al-side-title"});
  sd.bars = el("div", {class: "al-chart", "data-testid": "al-live-bars"});
  sd.entropy = el("div", {class: "al-chart", "data-testid": "al-live-entropy"});
  const controls = el("div", {class: "al-controls"});
  sd.layerSel = el("select", {"data-testid": "al-live-layer"});
  sd.headSel = el("select", {"data-testid": "al-live-head"});
  sd.querySl = el("input", {type: "range", min: "0", max: "0", value: "0", "data-testid": "al-live-query"});
  sd.queryOut = el("span", {class: "al-query-out"});
  sd.ctlLabels = [el("span"), el("span"), el("span")];
  controls.append(wrapLabel(sd.ctlLabels[0], sd.layerSel), wrapLabel(sd.ctlLabels[1], sd.headSel),
                  wrapLabel(sd.ctlLabels[2], sd.querySl, sd.queryOut));
  sd.heat = el("div", {class: "al-chart", "data-testid": "al-live-heatmap"});
  sd.grid = el("div", {class: "al-chart", "data-testid": "al-live-headgrid"});
  sd.heatCaption = el("div", {class: "al-caption"});
  sd.bertviz = el("div", {class: "al-bertviz", "data-testid": "al-live-bertviz"});
  sd.bertvizCaption = el("div", {class: "al-caption"});
  // Head view or model view (a side with a model-view template: Explore), as the server path's segmented control
  sd.bvView = null;
  sd.bvToggle = el("div", {class: "al-bvtoggle", role: "group", "data-testid": "al-live-bertviz-view"});
  sd.bvButtons = ["head", "model"].map((view) => {
    const b = el("button", {type: "button", "data-view": view});
    b.addEventListener("click", () => {
      if (sd.bvView === view) return;
      sd.bvView = view;
      redraw(v); report(v);
    });
    return b;
  });
  sd.bvToggle.append(...sd.bvButtons);
  if (v.mode === "server") serverLayout(sd);      // the Real model: the page's own pickers set its views
  else if (n === 1) {     // Explore: bars and entropy beside BertViz, then the heatmap with its pickers
    const top = el("div", {class: "al-grid"}), leftCol = el("div"), rightCol = el("div");
    leftCol.append(sd.bars, sd.entropy);
    rightCol.append(sd.bvToggle, sd.bertvizCaption, sd.bertviz);
    top.append(leftCol, rightCol);
    sd.el.append(top, controls, sd.heat, sd.heatCaption, sd.grid);
  } else {                // Compare: one column per model, the same views in the same order, to read across
    sd.el.append(sd.title, sd.bars, sd.bvToggle, sd.bertvizCaption, sd.bertviz, controls, sd.heat, sd.entropy, sd.grid);
  }
  const shown = v.data.views || ALL_VIEWS;
  if (!shown.includes("bars")) sd.bars.style.display = "none";
  if (!shown.includes("entropy")) sd.entropy.style.display = "none";
  if (!shown.includes("bertviz")) [sd.bvToggle, sd.bertvizCaption, sd.bertviz].forEach((e) => { e.style.display = "none"; });
  if (!shown.includes("heat")) [sd.heat, sd.heatCaption].forEach((e) => { e.style.display = "none"; });
  if (!shown.includes("grid")) sd.grid.style.display = "none";
  if (!shown.includes("heat") || v.data.query != null || v.data.heat_pick) controls.style.display = "none";   // the Lesson's question fixes them
  sd.layerSel.addEventListener("change", () => { sd.pattern = sd.layerSel.value; sd.head = 0; redraw(v); report(v); });
  sd.headSel.addEventListener("change", () => { sd.head = Number(sd.headSel.value); redraw(v); report(v); });
  sd.querySl.addEventListener("input", () => {
    sd.query = Number(sd.querySl.value);
    sd.followLast = sd.query === Number(sd.querySl.max);
    redraw(v); report(v);
  });
  return sd;
}

function wrapLabel(span, ...controls) {
  const l = el("label", {class: "al-ctl"});
  l.append(span, ...controls);
  return l;
}

function onInput(v, keyTime) {
  v.text = v.input.value;
  if (v.mode === "server") { askRoute(v); report(v); return; }   // the Real model: its views come from the route
  publish(v, keyTime);
  redraw(v, keyTime);
  report(v);
}

function publish(v, keyTime) {                 // a box with a group: its views elsewhere on the page follow it
  if (v.mode !== "box" || !v.data) return;
  WORDS.set(v.data.group, v.text);
  window.dispatchEvent(new CustomEvent(WORD_EVENT, {detail: {group: v.data.group, text: v.text, keyTime}}));
}

function report(v) {                                        // tell Python once the user pauses
  if (v.mode === "views") return;                           // its box reports the word
  clearTimeout(v.timer);
  v.timer = setTimeout(() => {
    if (v.reported.size > 50) v.reported.clear();
    v.reported.add(v.text);
    const sides = v.sides.map((sd) => ({pattern: sd.pattern, head: sd.head, query: sd.followLast ? null : sd.query,
                                        bertviz_view: sd.bvView}));
    v.setStateValue("view", Object.assign({text: v.text, sides}, sides[0]));
  }, PAUSE_MS);
}

function update(v, data, fromRoute) {
  const L = data.labels;
  if (v.mode === "server" && data.route && !fromRoute) {
    v.label.style.display = "";
    v.input.maxLength = data.route.max_chars;
    v.input.title = L.input_help || "";
    // Python's run answers the text of the last pause (or the knobs' change): when the box holds another text by
    // now, that text's views come from the route, not this older data (its words and knobs are kept)
    if (v.data && data.text !== v.text && (v.reported.has(data.text) || data.text === v.lastDataText)) {
      v.data = data;
      v.lastDataText = data.text;
      askRoute(v);
      return;
    }
  }
  v.data = data;
  v.label.firstChild.textContent = L.input;
  v.input.placeholder = L.placeholder;
  v.box.classList.toggle("al-projector", !!data.projector);
  const px = data.projector ? 20 : 14;
  [v.label.firstChild, v.status].forEach((e) => { e.style.fontSize = px + "px"; });
  v.input.style.fontSize = (data.projector ? 24 : 17) + "px";
  if (data.text !== v.lastDataText) {
    v.lastDataText = data.text;
    // A word from Python (a ?text= link, the word typed on another page) replaces the box's; the echo of a word
    // this box reported itself does not: the student may have typed on since.
    if (!v.reported.has(data.text) && data.text !== v.text) { v.text = data.text; v.input.value = data.text; }
  }
  if (v.mode === "views" && WORDS.has(data.group)) v.text = WORDS.get(data.group);   // the box may be ahead of Python
  if (v.mode === "box") {
    v.input.title = L.input_help || "";
    if (data.max_chars) v.input.maxLength = data.max_chars;     // as the server path's box
    publish(v);
    redraw(v);
    return;
  }
  if (v.sides.length !== data.sides.length) {
    v.sides = data.sides.map((_, i) => makeSide(v, i, data.sides.length));
    v.sidesBox.replaceChildren(...v.sides.map((sd) => sd.el));
    v.sidesBox.className = data.sides.length > 1 ? "al-sides al-grid" : "al-sides";
  }
  let pending = 0;
  v.sides.forEach((sd, i) => {
    const side = data.sides[i];
    sd.data = Object.assign({}, data, side);
    sd.title.textContent = side.title || "";
    sd.ctlLabels[0].textContent = L.layer;
    sd.ctlLabels[1].textContent = L.head;
    sd.ctlLabels[2].textContent = L.query;
    sd.heatCaption.textContent = L.heat_caption;
    if (sd.bvView == null) sd.bvView = side.bertviz_model && side.bertviz_view === "model" ? "model" : "head";
    if (!side.bertviz_model) sd.bvView = "head";
    sd.bvToggle.style.display = side.bertviz && side.bertviz_model ? "" : "none";
    sd.bvToggle.setAttribute("aria-label", L.bertviz_views);
    sd.bvButtons.forEach((b) => { b.textContent = b.dataset.view === "model" ? L.model_view : L.head_view; });
    [...sd.ctlLabels, sd.layerSel, sd.headSel, sd.queryOut, sd.heatCaption, sd.bertvizCaption, sd.title, ...sd.bvButtons]
      .forEach((e) => { e.style.fontSize = px + "px"; });
    if (side.capture) { serverSide(sd, side, px); return; }   // the Real model: Python sends its capture (below)
    if (side.weights === sd.url) return;
    sd.url = side.weights;
    sd.model = null;
    pending += 1;
    loadModel(side.weights).then((model) => {
      if (sd.url !== side.weights) return;
      sd.model = model;
      const names = Object.keys(side.pattern_titles);
      if (!names.includes(sd.pattern)) sd.pattern = side.pattern || names[0];
      sd.layerSel.replaceChildren(...names.map((n) => el("option", {value: n}, side.pattern_titles[n])));
      sd.layerSel.value = sd.pattern;
      if (v.sides.every((s) => s.model)) v.status.textContent = "";
      redraw(v);
    }).catch((e) => {
      v.status.textContent = fmt(L.load_failed, {why: String(e && e.message || e)});
      v.box.setAttribute("data-failed", "1");
      v.setStateValue("failed", String(e && e.message || e));       // Python then draws the server path
    });
  });
  if (pending) v.status.textContent = L.loading;
  else redraw(v);
}

// One forward pass per side and every view drawn from it. `keyTime`: the key event's time, for bench.latency.
function redraw(v, keyTime) {
  if (v.mode === "box") {                 // the Lesson's box: its views are another instance (they follow `publish`)
    const server = F.needs_server(v.text);
    v.box.toggleAttribute("data-server", server);
    v.notes.replaceChildren(...(server ? [el("p", {}, v.data.labels.server_word)] : []));
    return;
  }
  if (v.mode === "server") { redrawServer(v); return; }
  // The Lesson's views answer the question asked about data.question_text: from the first key that makes the box's
  // word another, they hide (the question on the page is not about that word; Python asks a new one at the pause)
  const other = v.mode === "views" && v.data.question_text != null && v.text !== v.data.question_text;
  if (v.mode === "views") {
    v.hiddenLine.textContent = v.data.labels.question_hidden || "";
    v.hiddenLine.style.display = other ? "" : "none";
    v.hiddenLine.style.fontSize = (v.data.projector ? 20 : 14) + "px";
    v.box.toggleAttribute("data-hidden", other);
    if (other) {
      v.sidesBox.style.display = "none";
      v.box.setAttribute("data-drawn", "");
      return;
    }
  }
  if (!v.sides.length || !v.sides.every((sd) => sd.model)) return;
  const L = v.data.labels;
  // Kana or kanji: the server writes them in romaji (pykakasi's dictionaries), so this word is handed to the server
  // path. Nothing is computed here; the word goes to Python after the pause as every word does, and Python then
  // draws the server's views (ui/live_views.py, browser_path_unavailable).
  const server = F.needs_server(v.text);
  v.box.toggleAttribute("data-server", server);
  v.sidesBox.style.display = server ? "none" : "";           // no views of an older word beside this one
  if (server) {
    v.notes.replaceChildren(el("p", {}, L.server_word));
    v.box.setAttribute("data-drawn", "");
    return;
  }
  const caps = [], t0 = performance.now();
  for (const sd of v.sides) {
    try {
      let c = F.capture(sd.model, v.mode === "views" && !v.text.trim() ? v.data.fallback : v.text, !!v.data.add_eos);
      // The Lesson asks about its suggested word when the box is empty or holds a character the models can't
      // write (ui/lesson's word_and_capture): its views show that word too
      if (v.mode === "views" && c.unknown.length) c = F.capture(sd.model, v.data.fallback, !!v.data.add_eos);
      caps.push(c);
    } catch (e) {                                            // never a blank view or a console error
      v.notes.replaceChildren(el("p", {class: "al-error"}, fmt(L.failed, {why: String(e.message || e)})));
      return;
    }
  }
  const t1 = performance.now();
  // What happened to the text on the way in, in the student's language (the same for every side: one alphabet)
  const cap = caps[0], model = v.sides[0].model, notes = [];
  if (v.mode === "views") {}                                // the notes are under the box (Python's, on the pause)
  else if (!v.text) notes.push(L.empty);
  if (v.mode !== "views" && cap.unknown.length) notes.push(fmt(L.unknown, {chars: cap.unknown.slice(0, 12).map((c) => JSON.stringify(c)).join(" ")
                                                       + (cap.unknown.length > 12 ? " …" : "")}));
  if (v.mode !== "views" && cap.lowercased) notes.push(L.lowercased);
  if (v.mode !== "views" && cap.truncated) notes.push(fmt(L.truncated, {n: model.cfg.block_size - 1, shown: cap.ids.length - 1 - (v.data.add_eos ? 1 : 0)}));
  patch(v.notes, notes.map((n) => vhtml("p", {}, n)));          // in place: the same note is not laid out again

  let t_bv = 0;
  v.sides.forEach((sd, i) => {
    const shown = v.data.views || ALL_VIEWS;
    if (shown.includes("bars")) drawBars(sd, caps[i]);
    if (shown.includes("entropy")) drawEntropy(sd, caps[i]);
    if (shown.includes("heat")) drawHeat(sd, caps[i]);
    if (shown.includes("grid")) drawGrid(sd, caps[i], sd.grid, sd.data.grid_patterns, sd.data.labels.headgrid_title);
    drawLessonSteps(sd, caps[i], shown);                     // steps.js: the Lesson's steps 2 and 5
    const tb = performance.now();
    if (shown.includes("bertviz")) drawBertviz(sd, caps[i]);
    t_bv += performance.now() - tb;
    sd.el.setAttribute("data-drawn", caps[i].tokens.join(" "));
  });
  const t2 = performance.now();
  v.box.setAttribute("data-drawn", cap.tokens.join(" "));
  if (keyTime != null) {                                     // paint = the frame after this one has been produced
    requestAnimationFrame(() => setTimeout(() => {
      (window.__attentionLabPaints = window.__attentionLabPaints || []).push(
        {key: keyTime, painted: performance.now(), text: v.text, forward: t1 - t0, bertviz: t_bv,
         views: t2 - t1 - t_bv, drawn: t2});
    }, 0));
  }
}

function sizes(v) { return v.data.projector ? {font: 20, tick: 18, row: 34, cell: 40} : {font: 14, tick: 12, row: 24, cell: 34}; }

function chartTitle(s, text, x) { return createNode(vChartTitle(s, text, x)); }
function vChartTitle(s, text, x) { return vsvg("text", {x: x || 0, y: s.font + 2, "font-size": s.font + 2, "font-weight": "600", class: "al-title"}, text); }

function drawBars(v, cap) {
  const L = v.data.labels, s = sizes(v), model = v.model;
  const logits = cap.logits ? cap.logits[cap.logits.length - 1] : null;
  if (v.data.add_eos) {                 // after <EOS> nothing is left to predict (the server path says the same)
    draw(v.bars, vhtml("p", {class: "al-caption"}, L.after_eos));
    return;
  }
  const server = cap.bars;            // the Real model: the server's top-k, most likely first, and its title
  const probs = server ? server.values : F.next_token_probs(logits, v.data.temperature, v.data.top_k);
  const order = server ? server.values.map((p, i) => i)
    : probs.map((p, i) => i).filter((i) => probs[i] > 0).sort((a, b) => probs[b] - probs[a]).slice(0, v.data.bars);
  const last = server ? "" : cap.tokens.length === 1 ? L.bos_start : fmt(L.quoted, {token: cap.tokens[cap.tokens.length - 1]});
  const label = server ? (i) => server.labels[i] : (i) => (model.vocab[i] === "<EOS>" ? L.end_of_word : model.vocab[i]);
  const title = server ? server.title : fmt(L.bars_title, {last});
  const left = Math.max(s.tick * 3, ...order.map((i) => textWidth(label(i), s.tick + 2) + 12)), top = s.font * 2 + 10;
  const W = Math.max(460, left + 300, textWidth(title, s.font + 2) + 10);
  const H = top + order.length * s.row + 34;
  const g = vsvg("svg", {viewBox: `0 0 ${W} ${H}`, width: "100%", role: "img", style: `max-width:${W * (v.data.projector ? 1.7 : 1.25)}px`});
  g.append(vChartTitle(s, title));
  const max = Math.max(0.01, ...order.map((i) => probs[i])) * 1.25, span = W - left - 10;
  order.forEach((i, r) => {
    const y = top + r * s.row, w = span * probs[i] / max, name = label(i);
    g.append(vsvg("text", {x: left - 6, y: y + s.row * 0.65, "text-anchor": "end", "font-size": s.tick + 2}, name));
    const bar = vsvg("rect", {x: left, y: y + 3, width: Math.max(1, w), height: s.row - 6, fill: v.data.colors.blue});
    bar.append(vsvg("title", {}, name + ": " + (100 * probs[i]).toFixed(2) + "%"));
    g.append(bar, vsvg("text", {x: left + w + 4, y: y + s.row * 0.65, "font-size": s.tick, class: "al-bar-value"},
                      (100 * probs[i]).toFixed(1) + "%"));
  });
  g.append(vsvg("text", {x: left + span / 2, y: H - 8, "text-anchor": "middle", "font-size": s.tick}, L.probability));
  draw(v.bars, g);
}

function drawEntropy(v, cap) {
  const L = v.data.labels, s = sizes(v), names = Object.keys(v.data.row_labels);   // by kind, as the server figure
  const rows = cap.entropy || names.map((n) => {          // (the Real model's come from the server) mean over the queries that can see more than one key
    const causal = is_masked_causal(n, v.model), ent = F.attention_entropy(cap.patterns[n], causal);
    return ent.map((h) => {
      const keep = h.filter((_, q) => (causal ? Math.min(q + 1, cap.patterns[n][0][0].length) : cap.patterns[n][0][0].length) > 1);
      return keep.length ? keep.reduce((a, b) => a + b, 0) / keep.length : 0;
    });
  });
  const H = rows[0].length, top = s.font * 2 + 10, ch = s.row + 10;
  const left = Math.max(...names.map((n) => textWidth(v.data.row_labels[n], s.tick))) + 12;
  const cw = Math.max(s.cell * 1.8, textWidth(fmt(L.head_n, {h: 0}), s.tick) + 10);
  const Wd = left + H * cw + 10, Ht = top + rows.length * ch + s.tick + 12;
  const Wv = Math.max(Wd, 420, textWidth(L.entropy_title, s.font + 2) + 10);
  const g = vsvg("svg", {viewBox: `0 0 ${Wv} ${Ht}`, width: "100%", role: "img",
                        style: `max-width:${Wv * (v.data.projector ? 1.2 : 1.25)}px`});
  g.append(vChartTitle(s, L.entropy_title));
  rows.forEach((row, r) => {
    g.append(vsvg("text", {x: left - 6, y: top + r * ch + ch * 0.6, "text-anchor": "end", "font-size": s.tick}, v.data.row_labels[names[r]]));
    row.forEach((val, h) => {
      const rect = vsvg("rect", {x: left + h * cw + 1, y: top + r * ch + 1, width: cw - 2, height: ch - 2, fill: colour(v.data.colors.viridis, val)});
      rect.append(vsvg("title", {}, fmt(L.entropy_hover, {row: v.data.row_labels[names[r]], head: h, value: val.toFixed(3)})));
      g.append(rect, vsvg("text", {x: left + h * cw + cw / 2, y: top + r * ch + ch * 0.62, "text-anchor": "middle", "font-size": s.tick,
                                  fill: dark(v.data.colors.viridis, val)}, val.toFixed(2)));
    });
  });
  for (let h = 0; h < H; h++) g.append(vsvg("text", {x: left + h * cw + cw / 2, y: Ht - 4, "text-anchor": "middle", "font-size": s.tick}, fmt(L.head_n, {h})));
  draw(v.entropy, g);
}

// The Lesson's leak step (7): the cross-attention layer whose heads put the most weight on key t+1 on average, and
// in it the head with the most weight on the cells (t, t+1): viz.metrics.leak_summary and the step's own pick.
function leakPick(cap) {
  const nextKey = (p) => p.map((rows) => {                  // (H,) mean weight on key t+1 from query t
    const n = Math.min(rows.length, rows[0].length - 1);
    let sum = 0;
    for (let t = 0; t < n; t++) sum += rows[t][t + 1];
    return n < 1 ? 0 : sum / n;
  });
  const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
  let best = null, bestW = -1;
  for (const name of Object.keys(cap.patterns).filter((n) => n.includes(".cross_attn."))) {
    const m = mean(nextKey(cap.patterns[name]));
    if (m > bestW) { best = name; bestW = m; }               // the first of equals, as Python's max
  }
  if (best == null) return null;
  const sums = cap.patterns[best].map((rows) => rows.reduce((a, row, t) => a + (t + 1 < row.length ? row[t + 1] : 0), 0));
  return {pattern: best, head: sums.indexOf(Math.max(...sums))};
}

function drawHeat(v, cap) {
  if (v.data.heat_pick === "leak") {
    const pick = leakPick(cap);
    if (pick) { v.pattern = pick.pattern; v.head = pick.head; }
  }
  const L = v.data.labels, s = sizes(v), name = v.pattern, pattern = cap.patterns[name];
  if (!pattern) return;
  const n_head = pattern.length;
  if (v.headSel.options.length !== n_head) {
    v.headSel.replaceChildren(...Array.from({length: n_head}, (_, h) => el("option", {value: String(h)}, String(h))));
  }
  v.head = Math.min(v.head, n_head - 1);
  v.headSel.value = String(v.head);
  v.headSel.disabled = n_head === 1;
  const p = pattern[v.head], Q = p.length, K = p[0].length;
  const cross = name.includes(".cross_attn."), enc = name.startsWith("encoder.");
  const q_tok = enc ? cap.src_tokens : cap.tokens, k_tok = cross || enc ? cap.src_tokens : cap.tokens;
  v.querySl.max = String(Q - 1);
  if (v.data.query != null) v.query = Math.min(v.data.query, Q - 1);      // the Lesson's question fixes the row
  else if (v.followLast || v.query == null || v.query > Q - 1) v.query = Q - 1;
  v.querySl.value = String(v.query);
  v.queryOut.textContent = v.query + ": " + q_tok[v.query];
  const masked = is_masked_causal(name, v.model);
  const title = fmt(L.heat_title, {layer: v.data.pattern_titles[name], head: v.head});
  // cells wide enough for every key's label at the tick size ("<BOS>" too): a projector's 18 px labels stay 18 px
  // The Real model's sub-word tokens (data.mode "server"): cells one label high, key labels read upwards below them
  const upright = v.data.mode !== "server";
  const c = upright ? Math.max(s.cell, ...k_tok.map((tok) => textWidth(tok, s.tick) + 6)) : s.tick + 10;
  const keysH = upright ? 0 : Math.max(...k_tok.map((tok) => textWidth(tok, s.tick))) + 8 - s.tick * 2;
  const left = Math.max(s.tick * 3, ...q_tok.map((tok) => textWidth(tok, s.tick) + 8)) + 18, top = s.font * 2 + 10;
  const Ht = top + Q * c + s.tick * 3 + 14 + Math.max(0, keysH);
  const Wd = Math.max(left + K * c + 70, textWidth(title, s.font + 2) + 10);
  // The Lesson on a projector: the question and its view share one screen, so a long word's heatmap stays in it
  const tall = v.data.mode === "views" && v.data.projector ? ";max-height:78vh" : "";
  const g = vsvg("svg", {viewBox: `0 0 ${Wd} ${Ht}`, width: "100%", role: "img", style: `max-width:${Wd * (v.data.projector ? 1.2 : 1.3)}px${tall}`});
  g.append(vChartTitle(s, title));
  const cell = (q, k) => {
    const hidden = masked && k > q;
    const rect = vsvg("rect", {x: left + k * c + 0.5, y: top + q * c + 0.5, width: c - 1, height: c - 1,
                              fill: hidden ? v.data.colors.grey : colour(v.data.colors.blues, p[q][k])});
    const where = fmt(L.cell, {q, q_token: q_tok[q], k, k_token: k_tok[k]});
    rect.append(vsvg("title", {}, where + "\n" + (hidden ? L.masked : fmt(L.weight_is, {value: p[q][k].toFixed(4)}))));
    g.append(rect.keyed(q + "," + k));
  };
  // Cells in shells, n = max(q, k): row n up to the diagonal, then column n above it. A new character is shell T,
  // so the cells of the word before it keep their order and the new ones follow them: the redraw walks the cells
  // in order instead of matching a reordered row by key. Cells don't overlap: the order changes no pixel.
  for (let n = 0; n < Math.max(Q, K); n++) {
    if (n < Q) {
      g.append(vsvg("text", {x: left - 5, y: top + n * c + c * 0.65, "text-anchor": "end", "font-size": s.tick}, q_tok[n]).keyed("q" + n));
      for (let k = 0; k <= Math.min(n, K - 1); k++) cell(n, k);
    }
    if (n < K) for (let q = 0; q < Math.min(n, Q); q++) cell(q, n);
  }
  for (let k = 0; k < K; k++) {
    if (upright) g.append(vsvg("text", {x: left + k * c + c / 2, y: top + Q * c + s.tick + 4, "text-anchor": "middle", "font-size": s.tick}, k_tok[k]).keyed("k" + k));
    else {
      const x = left + k * c + c * 0.7, y = top + Q * c + 4;
      g.append(vsvg("text", {x, y, "text-anchor": "end", "font-size": s.tick, transform: `rotate(-90 ${x} ${y})`}, k_tok[k]).keyed("k" + k));
    }
  }
  if (v.data.heat_pick === "leak") {            // the cells (t, t+1): where the answer sits (with_next_key_outline)
    for (let t = 0; t < Math.min(Q, K - 1); t++) {
      g.append(vsvg("rect", {x: left + (t + 1) * c, y: top + t * c, width: c, height: c, fill: "none",
                            stroke: v.data.colors.orange, "stroke-width": 2, "data-testid": "al-live-next-key"}).keyed("n" + t));
    }
  } else {
    g.append(vsvg("rect", {x: left - 1, y: top + v.query * c - 1, width: K * c + 2, height: c + 2, fill: "none",
                          stroke: v.data.colors.orange, "stroke-width": 3, "data-testid": "al-live-row"}));
  }
  g.append(vsvg("text", {x: left + K * c / 2, y: Ht - 4, "text-anchor": "middle", "font-size": s.tick}, L.key_axis));
  g.append(vsvg("text", {x: 12, y: top + Q * c / 2, "font-size": s.tick, transform: `rotate(-90 12 ${top + Q * c / 2})`, "text-anchor": "middle"}, L.query_axis));
  draw(v.heat, g);
}

// ---- BertViz's head view (ui/bertviz_live/main.js does the same inside its frame, with params from the server) ----
let VENDOR = null;                       // d3 and jQuery from the app's static/vendor/, loaded once per page view
function loadVendor(urls) {
  if (!VENDOR) {
    VENDOR = urls.reduce((prev, url) => prev.then(() => new Promise((ok, fail) => {   // jQuery first, as BertViz
      const s = document.createElement("script");
      s.src = new URL(url, document.baseURI).href;
      s.onload = ok;
      s.onerror = () => fail(new Error("could not load " + url));
      document.head.appendChild(s);
    })), Promise.resolve());
  }
  return VENDOR;
}
function requireShim(deps, callback) {   // BertViz calls requirejs(['jquery', 'd3'], callback)
  return callback(...deps.map((d) => (d === "jquery" ? window.jQuery : window.d3)));
}
const TEMPLATES = new Map();             // template URL -> {value} once fetched (a static file, like the weights)
function template(url, then, failed) {
  let entry = TEMPLATES.get(url);
  if (!entry) {
    entry = {value: null};
    TEMPLATES.set(url, entry);
    fetch(new URL(url, document.baseURI), {credentials: "same-origin"})
      .then((r) => { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then((doc) => { entry.value = doc; then(); })
      .catch((e) => { TEMPLATES.delete(url); failed(e); });
  }
  return entry.value;
}
function bertvizRestore(root, saved) {    // BertViz's own selectors set as a student would (its change handlers redraw)
  ["filter", "layer"].forEach((id) => {  // the kind first: it rebuilds the layer list
    const s = root.querySelector("select#" + id);
    if (!s || saved[id] == null || s.value === saved[id]) return;
    if (![...s.options].some((o) => o.value === saved[id])) return;
    window.jQuery(s).val(saved[id]).trigger("change");
  });
}
// BertViz's script ends by calling its own renderer: the hook after it hands back the script's `config` (the data
// and what the student picked in its selectors and head squares), that renderer and, in the head view, the helpers
// and sizes its renderVis draws with. A new character is then drawn on the DOM BertViz drew for the last one
// (headViewInPlace) instead of a new template, a new script and a selector restore per key.
const BERTVIZ_HOOK = `;
__alBertvizHook({config: config, render: typeof renderVis === "function" ? renderVis : render,
  head: typeof renderVis === "function" && typeof renderText === "function" && typeof renderAttention === "function"
    ? {headColors: headColors, activeHeads: activeHeads, boxOffsets: boxOffsets, transpose: transpose,
       BOXWIDTH: BOXWIDTH, BOXHEIGHT: BOXHEIGHT, MATRIX_WIDTH: MATRIX_WIDTH, TEXT_TOP: TEXT_TOP, TEXT_SIZE: TEXT_SIZE}
    : null});
`;
function hooked(js) {                     // the hook just before the requirejs callback's closing "});"
  const end = js.lastIndexOf("});");
  return end < 0 ? null : js.slice(0, end) + BERTVIZ_HOOK + js.slice(end);
}

// BertViz's head view (renderVis) for new data, on the SVG it drew before: its own elements, attributes and hover
// handlers, joined by d3 to the new tokens and weights: a new character adds its token, its hover boxes and one row
// and one column of attention lines; the other lines only get their new opacity where it changed. The result is
// what renderVis draws from scratch (tests/e2e/test_e2e_live_paint.py). False when that SVG isn't there.
function headViewInPlace(live) {
  const d3 = window.d3, bv = live.head, config = live.config;
  const node = live.root.querySelector("#vis > svg");
  const parts = node ? [...node.children] : [];
  if (!bv || parts.map((p) => p.id).join(" ") !== "left right attention ") return false;   // + head squares (no id)
  const {BOXWIDTH, BOXHEIGHT, MATRIX_WIDTH, TEXT_TOP, TEXT_SIZE} = bv;
  const attnData = config.attention[config.filter];
  const attention = attnData.attn[config.layer_seq];
  const heads = parts[2].querySelectorAll(".headAttention");
  if (heads.length !== attention.length) return false;        // another layer's head count: BertViz draws it
  const svg = d3.select(node);
  svg.attr("height", Math.max(attnData.left_text.length, attnData.right_text.length) * BOXHEIGHT + TEXT_TOP + "px");
  const texts = (container, text, isLeft, leftPos) => {       // renderText's elements
    const boxes = d3.select(container.children[0]).selectAll("g").data(attention)
      .selectAll("rect").data((d) => (isLeft ? d : bv.transpose(d)));
    boxes.exit().remove();
    boxes.enter().append("rect")
      .attr("x", function () { return leftPos + bv.boxOffsets(+this.parentNode.getAttribute("head-index")); })
      .attr("y", (+1) * BOXHEIGHT)
      .attr("width", BOXWIDTH / bv.activeHeads())
      .attr("height", BOXHEIGHT)
      .attr("fill", function () { return bv.headColors(+this.parentNode.getAttribute("head-index")); })
      .style("opacity", 0.0);
    const tokens = d3.select(container.children[1]).selectAll("g");
    const hover = tokens.on("mouseover");                     // BertViz's own handler, for the new tokens too
    const joined = tokens.data(text);
    joined.exit().remove();
    joined.select("rect");                                    // (select hands each token's datum to its children)
    joined.select("text").each(function (d) { if (this.textContent !== d) this.textContent = d; });
    const added = joined.enter().append("g");
    added.append("rect")
      .classed("background", true)
      .style("opacity", 0.0)
      .attr("fill", "lightgray")
      .attr("x", leftPos)
      .attr("y", (d, i) => TEXT_TOP + i * BOXHEIGHT)
      .attr("width", BOXWIDTH)
      .attr("height", BOXHEIGHT);
    const label = added.append("text")
      .text((d) => d)
      .attr("font-size", TEXT_SIZE + "px")
      .style("cursor", "default")
      .style("-webkit-user-select", "none")
      .attr("x", leftPos)
      .attr("y", (d, i) => TEXT_TOP + i * BOXHEIGHT);
    if (isLeft) label.style("text-anchor", "end").attr("dx", BOXWIDTH - 0.5 * TEXT_SIZE).attr("dy", TEXT_SIZE);
    else label.style("text-anchor", "start").attr("dx", +0.5 * TEXT_SIZE).attr("dy", TEXT_SIZE);
    if (hover) added.on("mouseover", hover);
  };
  texts(parts[0], attnData.left_text, true, 0);
  texts(parts[1], attnData.right_text, false, MATRIX_WIDTH + BOXWIDTH);
  // renderAttention's lines (head groups > one group per left token > one line per right token) with
  // updateAttention's opacities, joined as d3's .data() joins them (each element's __data__ set, the ones past the
  // data removed, the new ones appended) in plain loops: a long word has thousands of lines, and d3's selections
  // per row cost more than the writes. A new line gets its attributes before it joins the page, an old one only its
  // opacity, where that changed.
  const active = bv.activeHeads();
  heads.forEach((group, h) => {
    const matrix = attention[h], head = +group.getAttribute("head-index"), shown = config.headVis[head];
    const stroke = bv.headColors(head), rows = group.children;
    group.__data__ = matrix;
    while (rows.length > matrix.length) rows[rows.length - 1].remove();
    for (let leftTokenIndex = 0; leftTokenIndex < matrix.length; leftTokenIndex++) {
      const row = matrix[leftTokenIndex];
      let rowGroup = rows[leftTokenIndex];
      if (!rowGroup) {
        rowGroup = document.createElementNS(SVG, "g");
        rowGroup.setAttribute("class", "tokenAttention");
        rowGroup.setAttribute("left-token-index", leftTokenIndex);
        group.appendChild(rowGroup);
      }
      rowGroup.__data__ = row;
      const lines = rowGroup.children;
      while (lines.length > row.length) lines[lines.length - 1].remove();
      const n = lines.length;
      for (let rightTokenIndex = 0; rightTokenIndex < n; rightTokenIndex++) {
        const line = lines[rightTokenIndex], d = row[rightTokenIndex], value = String(shown ? d / active : 0.0);
        line.__data__ = d;
        if (line.getAttribute("stroke-opacity") !== value) line.setAttribute("stroke-opacity", value);
      }
      for (let rightTokenIndex = n; rightTokenIndex < row.length; rightTokenIndex++) {
        const line = document.createElementNS(SVG, "line"), d = row[rightTokenIndex];
        line.setAttribute("x1", BOXWIDTH);
        line.setAttribute("y1", TEXT_TOP + leftTokenIndex * BOXHEIGHT + (BOXHEIGHT / 2));
        line.setAttribute("x2", BOXWIDTH + MATRIX_WIDTH);
        line.setAttribute("y2", TEXT_TOP + rightTokenIndex * BOXHEIGHT + (BOXHEIGHT / 2));
        line.setAttribute("stroke-width", 2);
        line.setAttribute("stroke", stroke);
        line.setAttribute("left-token-index", leftTokenIndex);
        line.setAttribute("right-token-index", rightTokenIndex);
        line.setAttribute("stroke-opacity", shown ? d / active : 0.0);
        line.__data__ = d;
        rowGroup.appendChild(line);
      }
    }
  });
  return true;
}
// BertViz's params.attention for this capture, in its families' order. Weights in steps of 1/256: BertViz draws a
// weight w as a line of opacity w / (active heads), and a screen has 255 steps of opacity, so a step of 1/256 is finer
// than any pixel can show, with one head on or all. To 4 decimals (the server path's) nearly every line of an
// unmasked model (the peeking encoder) got a new opacity on every key; in steps of 1/256 only the lines whose
// drawing can change do (a third fewer restyled per key on a 20-character word).
const OPACITY_STEPS = 256;
function bertvizAttention(t, cap) {
  const plain = (layers) => layers.map((head) => head.map((rows) => rows.map((row) => Array.from(row, (x) => Math.round(x * OPACITY_STEPS) / OPACITY_STEPS))));
  const names = Object.keys(cap.patterns);
  const pick = (kind) => names.filter((n) => kind === "cross" ? n.includes(".cross_attn.")
                                       : n.startsWith(kind + ".") && !n.includes(".cross_attn."));
  const byKind = {null: ["blocks", cap.tokens, cap.tokens], Encoder: ["encoder", cap.src_tokens, cap.src_tokens],
                  Decoder: ["decoder", cap.tokens, cap.tokens], Cross: ["cross", cap.tokens, cap.src_tokens]};
  return t.params.names.map((name) => {       // a family's weights rounded when BertViz first reads them: on a key,
    const [kind, left, right] = byKind[name];  // only the family it shows
    let attn = null;
    return {name, get attn() { return attn || (attn = plain(pick(kind).map((n) => cap.patterns[n]))); },
            left_text: left, right_text: right};
  });
}
function drawBertviz(v, cap) {
  const model = v.bvView === "model";
  v.bvButtons.forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.view === v.bvView)));
  const caption = !v.data.bertviz ? "" : model ? v.data.labels.model_caption : v.data.labels.bertviz_caption;
  if (v.bertvizCaption.textContent !== caption) v.bertvizCaption.textContent = caption;
  v.bertviz.style.zoom = v.data.projector && !model ? "1.5" : "";   // BertViz's head view draws at fixed pixel sizes
  if (model && v.data.projector) {                               // BertViz's thumbnails carry ~6 px labels
    v.bvLive = null;
    drawGrid(v, cap, v.bertviz, Object.keys(v.data.row_labels), v.data.labels.grid_title);
    v.bertvizFor = "grid";
    return;
  }
  const ref = model ? v.data.bertviz_model : v.data.bertviz;
  if (!ref) { v.bertviz.replaceChildren(); v.bvLive = null; return; }
  const failed = (e) => {
    v.bvLive = null;
    v.bertviz.replaceChildren(el("p", {class: "al-error"}, fmt(v.data.labels.bertviz_failed, {why: e.message})));
  };
  const t = template(ref.url, () => redraw(v.page), failed);
  if (!t) return;                          // fetching it (once per page view): drawn when it arrives
  if (!window.jQuery || !window.d3) {
    loadVendor(v.data.vendor).then(() => redraw(v.page)).catch(failed);
    return;
  }
  const attention = bertvizAttention(t, cap);
  // BertViz's own selectors follow the heatmap when its pattern changes (its kind and layer), as the server's frame
  // does (viz.bertviz_view.selectors_for); otherwise they keep what the student picked in them
  const follow = v.bertvizFor !== v.bvView + " " + v.pattern;
  v.bertvizFor = v.bvView + " " + v.pattern;
  const parts = v.pattern.split("."), kind = parts[2] === "cross_attn" ? "Cross" : {encoder: "Encoder", decoder: "Decoder"}[parts[0]];
  const saved = {layer: parts[1]};
  if (kind && t.params.names.includes(kind)) saved.filter = String(t.params.names.indexOf(kind));
  const live = v.bvLive;
  try {
    if (live && live.url === ref.url && live.root.parentNode === v.bertviz) {
      live.config.attention = attention;   // BertViz's data, swapped under its own renderer: one redraw per key
      live.config.detail_layer = live.config.detail_head = null;   // the model view's detail panel closes on redraw
      if (model || !headViewInPlace(live)) live.render();
      if (follow) bertvizRestore(live.root, saved);
    } else {
      const root = el("div");
      root.innerHTML = t.markup;           // BertViz's template markup only: no user text in it
      v.bertviz.replaceChildren(root);
      v.bvLive = null;
      const js = hooked(t.js);
      // The params go in as JSON text with < > & / escaped (tokens stay strings; BertViz draws them with d3's .text)
      const params = Object.assign({}, t.params, {attention});
      delete params.names;
      const json = JSON.stringify(params).replace(/[<>&\/]/g, (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"));
      let hook = null;
      new Function("requirejs", "require", "__alBertvizHook", (js || t.js).replace(t.mark, () => json))(
        requireShim, requireShim, (h) => { hook = h; });
      if (hook) v.bvLive = {url: ref.url, root, config: hook.config, render: hook.render, head: hook.head};
      bertvizRestore(root, saved);
    }
    if (model) fitWidth(v.bertviz);
  } catch (e) {
    failed(e);
  }
}

function fitWidth(root) {   // the model view is a fixed 970 px SVG: scale it down to the column (viz.bertviz_view._FIT_WIDTH)
  root.querySelectorAll("#vis > svg:not([viewBox])").forEach((g) => {
    const w = +g.getAttribute("width"), h = +g.getAttribute("height");
    if (!w || !h) return;
    g.setAttribute("viewBox", "0 0 " + w + " " + h);
    g.setAttribute("width", "100%");
    g.removeAttribute("height");
    g.style.maxWidth = w + "px";
  });
}

// ---- the model view on a projector: every layer (row) and head (column) as a labelled grid of small heatmaps, as
// the server path draws it there (viz.figures.layer_head_grid); the cells are drawHeat's, colours and mask alike.
function drawGrid(v, cap, target, names, title) {
  const L = v.data.labels, s = sizes(v);
  const axes = (n) => {
    const cross = n.includes(".cross_attn."), enc = n.startsWith("encoder.");
    return [enc ? cap.src_tokens : cap.tokens, cross || enc ? cap.src_tokens : cap.tokens];
  };
  // Drawn at 1:1 (labels at the projector's tick size, never scaled down): key labels run down under the cells,
  // each row's label stands above it, so a cell is one label high; a longer word scrolls sideways in its box.
  const H = Math.max(...names.map((n) => cap.patterns[n].length));
  const tickW = (toks) => Math.max(...toks.map((t) => textWidth(t, s.tick)));
  const c = s.tick + 6, left = Math.max(...names.map((n) => tickW(axes(n)[0]))) + 10;
  const K = Math.max(...names.map((n) => axes(n)[1].length)), gapX = 14, panelW = K * c;
  const x0 = (h) => left + h * (panelW + gapX);
  const g = vsvg("svg", {role: "img", "data-testid": "al-live-grid"});
  g.append(vChartTitle(s, title));
  let y = s.font * 2 + 10;
  for (let h = 0; h < H; h++) {
    g.append(vsvg("text", {x: x0(h) + panelW / 2, y: y + s.tick, "text-anchor": "middle", "font-size": s.tick}, fmt(L.head_n, {h})));
  }
  y += s.tick + 8;
  names.forEach((n, r) => {
    const [q_tok, k_tok] = axes(n), pattern = cap.patterns[n], masked = is_masked_causal(n, v.model);
    const Q = q_tok.length, next = names[r + 1], lastOfRun = !next || axes(next)[1] !== k_tok;
    g.append(vsvg("text", {x: 0, y: y + s.tick, "font-size": s.tick, "font-weight": "600"}, v.data.row_labels[n]).keyed(r + "r"));
    y += s.tick + 6;
    q_tok.forEach((t, q) => g.append(vsvg("text", {x: left - 5, y: y + q * c + c * 0.72, "text-anchor": "end", "font-size": s.tick}, t).keyed(r + "q" + q)));
    pattern.forEach((p, h) => {
      for (let q = 0; q < Q; q++) {
        for (let k = 0; k < k_tok.length; k++) {
          const hidden = masked && k > q;
          const rect = vsvg("rect", {x: x0(h) + k * c + 0.5, y: y + q * c + 0.5, width: c - 1, height: c - 1,
                                    fill: hidden ? v.data.colors.grey : colour(v.data.colors.blues, p[q][k])});
          rect.append(vsvg("title", {}, v.data.pattern_titles[n] + " · " + fmt(L.head_n, {h}) + "\n"
            + fmt(L.cell, {q, q_token: q_tok[q], k, k_token: k_tok[k]}) + "\n"
            + (hidden ? L.masked : fmt(L.weight_is, {value: p[q][k].toFixed(4)}))));
          g.append(rect.keyed(r + "h" + h + "c" + q + "," + k));
        }
      }
      if (lastOfRun) {
        k_tok.forEach((t, k) => {
          const x = x0(h) + k * c + c * 0.7, ty = y + Q * c + 4;
          g.append(vsvg("text", {x, y: ty, "text-anchor": "end", "font-size": s.tick, transform: `rotate(-90 ${x} ${ty})`}, t).keyed(r + "h" + h + "k" + k));
        });
      }
    });
    y += Q * c + 10 + (lastOfRun ? tickW(k_tok) + 10 : 0);
  });
  const W = Math.max(x0(H) - gapX + 4, textWidth(title, s.font + 2) + 10);
  g.setAttribute("viewBox", `0 0 ${W} ${y}`);
  g.setAttribute("width", String(Math.ceil(W)));
  g.setAttribute("height", String(Math.ceil(y)));
  draw(target, vhtml("div", {class: "al-grid-box"}).append(g));
}

// ---- the Real model (ui/real_model.py, data.mode "server"): the capture comes from Python on every key ------------
// Python runs the forward pass (batched across sessions, cached per text) and sends only what these views draw: the
// tokens, the chosen layer's pattern (H, Q, K) as causal rows (row q holds keys 0..q; the mask makes the rest 0),
// the entropy of every layer and head, and the bars (labels and probabilities after top-k and temperature, as
// viz.metrics.next_token_probs) with their title. Nothing is computed here but the drawing: drawBars, drawEntropy,
// drawHeat and drawBertviz draw it as they draw a tiny model's capture. The page's own Top-k, Temperature, Layer and
// Head widgets set them; a layer picked in BertViz's own selector goes to Python (state "layer"), which sends it.
const SERVER_MODEL = {cfg: {peeking: false}, vocab: []};   // a causal LM: is_masked_causal masks every pattern
function serverLayout(sd) {              // bars beside BertViz, then the entropy beside the heatmap (as the server path)
  sd.bvTitle = el("div", {class: "al-side-title"});
  sd.entropyCaption = el("div", {class: "al-caption"});
  const top = el("div", {class: "al-grid"}), bottom = el("div", {class: "al-grid"});
  const [a, b, c, d] = [el("div"), el("div"), el("div"), el("div")];
  a.append(sd.bars);
  b.append(sd.bvTitle, sd.bertvizCaption, sd.bertviz);
  c.append(sd.entropy, sd.entropyCaption);
  d.append(sd.heat, sd.heatCaption);
  top.append(a, b);
  bottom.append(c, d);
  sd.el.append(top, bottom);
  sd.bertviz.addEventListener("change", (ev) => {   // a student's pick (bertvizRestore's jQuery trigger sends no DOM event)
    if (!ev.target || ev.target.id !== "layer") return;
    const layer = Number(ev.target.value);   // with a time: the same layer picked again (after the page's) is news
    if (Number.isInteger(layer)) sd.page.setStateValue("layer", {layer, at: Date.now()});
  });
}
function serverSide(sd, side, px) {
  const L = sd.data.labels, names = Array.from({length: side.n_layer}, (_, l) => "blocks." + l + ".attn.hook_pattern");
  sd.data.pattern_titles = Object.fromEntries(names.map((n, l) => [n, String(l)]));   // the layer's number
  sd.data.row_labels = Object.fromEntries(names.map((n, l) => [n, side.row_label + l]));   // "self L0", as the server's
  sd.model = SERVER_MODEL;
  sd.url = null;
  sd.pattern = side.pattern;
  sd.head = side.head || 0;
  sd.bvTitle.textContent = L.bertviz_title || "";
  sd.entropyCaption.textContent = L.entropy_caption || "";
  sd.bertvizCaption.style.fontSize = sd.heatCaption.style.fontSize = sd.entropyCaption.style.fontSize = px + "px";
}
function serverCapture(sd, c) {          // the data as a capture; layers received for these tokens are kept
  const Q = c.tokens.length, key = c.tokens.join("\u0000");
  if (!sd.layers || sd.layers.key !== key) sd.layers = {key, got: new Map()};
  sd.layers.got.set(c.layer, c.pattern.map((rows) => rows.map((row) => (row.length >= Q ? row : row.concat(new Array(Q - row.length).fill(0))))));
  let zero = null;                        // a layer not received yet (BertViz's selector): no lines until it comes
  const patterns = {};
  for (const name of Object.keys(sd.data.pattern_titles)) {
    patterns[name] = sd.layers.got.get(name)
      || (zero = zero || Array.from({length: c.pattern.length}, () => Array.from({length: Q}, () => new Array(Q).fill(0))));
  }
  return {tokens: c.tokens, src_tokens: [], patterns, entropy: c.entropy, bars: c.bars};
}
// With the light route (services/lm_views.py, served by serve.py) the box is this component's: a key asks
// GET lm/views for its text's data (the same dict Python's run would send) and draws it in place; Python hears the
// text at the pause (report). One request at a time per page: a key typed while one is out waits for it, then the
// newest text goes (older texts typed meanwhile are skipped), so a busy server gets fewer requests, never a queue,
// and every answer drawn is newer than the one before.
function askRoute(v) {
  const r = v.data && v.data.route;
  if (!r) return;
  if (v.asking) { v.askAgain = true; return; }
  v.asking = true;
  v.askAgain = false;
  const text = v.text;
  const q = new URLSearchParams(Object.assign({}, r.query, {text}));
  fetch(new URL(r.url + "?" + q.toString(), document.baseURI), {cache: "no-store", credentials: "same-origin"})
    .then((resp) => resp.json().then((body) => {
      if (!resp.ok) throw new Error(body && body.error || "HTTP " + resp.status);
      return body;
    }, () => { throw new Error("HTTP " + resp.status); }))
    .then((body) => {         // the newest answer there is (one request at a time): drawn even if a newer text
      update(v, Object.assign({}, v.data, body, {text: v.lastDataText}), true);   // goes next, so a busy
    })                                                                           // server still shows progress
    .catch((e) => {
      v.status.textContent = String(e && e.message || e);   // the route's message, in the student's language
      v.box.setAttribute("data-route-error", "1");
    })
    .finally(() => {
      v.asking = false;
      if (v.askAgain || text !== v.text) askRoute(v);
    });
}
function redrawServer(v) {
  v.box.removeAttribute("data-route-error");
  v.status.textContent = "";
  v.notes.replaceChildren();
  v.sides.forEach((sd) => {
    if (!sd.data.capture) return;
    const cap = serverCapture(sd, sd.data.capture);
    drawBars(sd, cap);
    drawBertviz(sd, cap);
    drawEntropy(sd, cap);
    drawHeat(sd, cap);
    sd.el.setAttribute("data-drawn", cap.tokens.join(" "));
    v.box.setAttribute("data-drawn", cap.tokens.join(" "));
  });
}

export default function (component) {
  const {data, parentElement, setStateValue} = component;
  let v = VIEWS.get(parentElement);
  if (!v) { v = mount(parentElement, data.mode); VIEWS.set(parentElement, v); }
  v.setStateValue = setStateValue;
  try {
    update(v, data);
  } catch (e) {
    v.status.textContent = String(e && e.message || e);
  }
}
