// The Lesson's step 2 (attention, step by step) and step 5 (positional encoding) drawn in the browser, on every
// keystroke of the step's box once the guess is locked. ui/live_views.py puts this file after live.js in one module,
// so it uses live.js's helpers (el, svg, fmt, colour, dark, textWidth, sizes, chartTitle) and live.js calls
// drawLessonSteps from its redraw. The numbers come from forward.js: attention_steps (models/attention_steps.py's
// AttentionSteps, held equal to it by tests/test_browser_forward.py) and capture with its positions option
// (positions_counterfactual, with the server's own permutation from data.perms). The server figures these mirror:
// viz/lesson.py's steps_rows, steps_weights_bars, value_mix, pe_table and next_char_variants.
//
// Every word arrives translated in data.labels; tokens are set with textContent (never markup).

function drawLessonSteps(sd, cap, shown) {
  if (shown.includes("steps")) drawAttentionSteps(sd, cap);
  if (shown.includes("pe") || shown.includes("positions")) drawPositions(sd, cap, shown);
  if (shown.includes("grid") && sd.data.grid_cols) drawGridWrapped(sd, cap);
}

// ---- the Lesson's head grid, data.grid_cols heads a row (the server's head_grid(cols=2)) --------------------------
// live.js's drawGrid puts every head of a layer in one row at 1:1, which on a projector's half-screen column ran out
// of the column (it scrolled sideways). Here drawGrid draws each group of grid_cols heads, stacked, its head labels
// numbered from the group's first head: drawGrid itself is left as it is.
function drawGridWrapped(sd, cap) {
  const cols = sd.data.grid_cols, names = sd.data.grid_patterns, L = sd.data.labels;
  const H = Math.max(...names.map((n) => cap.patterns[n].length));
  if (H <= cols) return;
  const MARK = "\u0001";                                 // drawGrid writes "head {h}" with h counted in the group
  const parts = [];
  for (let h0 = 0; h0 < H; h0 += cols) {
    const patterns = Object.assign({}, cap.patterns);
    names.forEach((n) => { patterns[n] = cap.patterns[n].slice(h0, h0 + cols); });
    const labels = Object.assign({}, L, {head_n: MARK + "{h}" + MARK});
    const local = Object.assign({}, sd, {data: Object.assign({}, sd.data, {labels})});
    const part = el("div", {"data-heads": h0 + "-" + (Math.min(H, h0 + cols) - 1)});
    drawGrid(local, Object.assign({}, cap, {patterns}), part, names, h0 === 0 ? L.headgrid_title : "");
    const renumber = (t) => t.replace(new RegExp(MARK + "(\\d+)" + MARK, "g"), (m, h) => fmt(L.head_n, {h: h0 + Number(h)}));
    part.querySelectorAll("text, title").forEach((e) => { if (e.textContent.includes(MARK)) e.textContent = renumber(e.textContent); });
    parts.push(part);
  }
  sd.grid.replaceChildren(...parts);
}

// Python's str.format specs the catalog's sentences use: {x}, {x:.2f}, {x:.0%}, {x:.1e}
function pyfmt(template, values) {
  return template.replace(/\{(\w+)(?::\.(\d+)([fe%]))?\}/g, (m, k, digits, kind) => {
    if (!(k in values)) return m;
    const x = values[k];
    if (!kind) return String(x);
    const n = Number(digits);
    if (kind === "f") return x.toFixed(n);
    if (kind === "%") return (100 * x).toFixed(n) + "%";
    return x.toExponential(n).replace(/e([+-])(\d)$/, "e$10$2");    // 1.2e-7 -> 1.2e-07, as Python writes it
  });
}

function stepBox(sd, name, style) {              // this side's box for one of these views, made once
  sd.lessonBoxes = sd.lessonBoxes || {};
  if (!sd.lessonBoxes[name]) {
    const box = el("div", {class: "al-chart", "data-testid": "al-live-" + name});
    if (style) box.setAttribute("style", style);
    sd.el.append(box);
    sd.lessonBoxes[name] = box;
  }
  return sd.lessonBoxes[name];
}

// two columns where there is room for both (px, not rem: a projector's larger root font would stack them)
const TWO_COLUMNS = "display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,340px),1fr));gap:1.2rem;" +
                    "align-items:start;margin-top:0.4rem";
function signedNum(x) { return (x < 0 ? "-" : "+") + Math.abs(x).toFixed(3); }        // viz.lesson._num: f"{x:+.3f}"
function middleQuery(n) { return Math.max(0, Math.floor((n - 1) / 2)); }              // viz.lesson.middle_query

// ---- step 2: softmax(q·K / √d_k)·V for the question's query row ---------------------------------------------------
function drawAttentionSteps(sd, cap) {
  const L = sd.data.labels, S = L.steps, s = sizes(sd), px = sd.data.projector ? 20 : 14;
  const name = sd.pattern, head = sd.data.head || 0;
  const Q = cap.qkv[name.replace(/\.hook_pattern$/, ".hook_q")][head].length;
  // The question's row; a shorter word than the question's: its middle row, as the step's slider goes back to
  let query = sd.data.query == null ? middleQuery(Q) : sd.data.query;
  if (query > Q - 1) query = middleQuery(Q);
  const st = F.attention_steps(cap, name, head, query);
  const box = stepBox(sd, "steps");
  const caption = el("p", {class: "al-caption", "data-testid": "al-live-steps-caption"},
                     pyfmt(S.caption, {q: st.query, tok: fmt(L.quoted, {token: st.query_token}), head, dk: st.d_k,
                                       sq: Math.sqrt(st.d_k)}));
  caption.style.fontSize = px + "px";
  const top = el("div", {style: TWO_COLUMNS});
  top.append(stepsTable(sd, st, S.table, sd.data.projector ? 17 : 14), stepsBars(sd, st, S.bars, s));
  // The check: this page's step-by-step row against PyTorch's on the server (data.check_row, for the question's word
  // and row; the views show no other word). Against this page's own forward pass it would be exactly 0 (the same
  // float64 sums in the same order): a check that can't fail.
  const ref = sd.data.check_row;
  const check = el("p", {class: "al-caption", "data-testid": "al-live-steps-check"});
  if (ref && ref.length === st.weights.length && st.query === sd.data.query) {
    check.textContent = pyfmt(S.check, {gap: Math.max(...Array.from(st.weights, (w, k) => Math.abs(w - ref[k])))});
  }
  check.style.fontSize = px + "px";
  box.replaceChildren(caption, top, valueMix(sd, st, S.mix, s), check);
  box.setAttribute("data-row", String(st.query));
}

function stepsTable(sd, st, T, px) {            // viz.lesson.steps_rows: one row per key, numbers as text
  const wrap = el("div");
  wrap.append(el("div", {class: "al-title", style: `font-weight:600;font-size:${sizes(sd).font + 2}px;margin-bottom:0.3rem`}, T.title));
  const table = el("table", {"data-testid": "al-live-steps-table",
                             style: `border-collapse:collapse;font-size:${px}px;width:100%;` +
                                    "font-variant-numeric:tabular-nums"});
  const head = el("tr");
  [T.key, T.score, T.scaled, T.mask, T.weight].forEach((h, i) => {
    head.append(el("th", {style: "text-align:" + (i === 0 || i === 3 ? "left" : "right") +
                                 ";padding:0.2rem 0.4rem;border-bottom:2px solid #c9ced6"}, h));
  });
  table.append(head);
  st.key_tokens.forEach((tok, k) => {
    const ok = st.visible[k], tr = el("tr", {style: ok ? "" : "color:#6b7280"});
    [k + ": " + tok, signedNum(st.scores[k]), signedNum(st.scaled[k]), ok ? T.visible : T.hidden,
     ok ? st.weights[k].toFixed(4) : "0"].forEach((cell, i) => {
      tr.append(el("td", {style: "text-align:" + (i === 0 || i === 3 ? "left" : "right") +
                                 ";padding:0.15rem 0.4rem;border-bottom:1px solid #e5e7eb;white-space:nowrap"}, cell));
    });
    table.append(tr);
  });
  const scroll = el("div", {style: "overflow-x:auto"});
  scroll.append(table);
  wrap.append(scroll);
  return wrap;
}

function stepsBars(sd, st, B, s) {               // viz.lesson.steps_weights_bars: the attention row, hidden keys grey
  const C = sd.data.colors, K = st.key_tokens.length;
  const labels = st.key_tokens.map((t, k) => k + ": " + t);
  // key labels run down-left at -45°, so a bar needs room for its value ("0.46", "hidden") across, not its label
  const bw = Math.max(s.tick * 2.4, textWidth(B.hidden, s.tick) + 6);
  const left = Math.max(s.tick * 3 + 8, textWidth(labels[0], s.tick) * 0.72 - bw / 2 + 8), top = s.tick + 8;
  const plotH = s.row * 6, labelH = Math.max(...labels.map((t) => textWidth(t, s.tick))) * 0.75 + s.tick + 8;
  const W = left + K * bw + 10, H = top + plotH + labelH + s.tick + 8;
  const g = svg("svg", {viewBox: `0 0 ${W} ${H}`, width: "100%", role: "img", "data-testid": "al-live-steps-bars",
                        style: `max-width:${W * (sd.data.projector ? 1 : 1.25)}px`});   // projector sizes: 1:1
  const y = (w) => top + plotH * (1 - w / 1.15);                        // the server figure's range [0, 1.15]
  [0, 0.5, 1].forEach((w) => {
    g.append(svg("line", {x1: left, x2: left + K * bw, y1: y(w), y2: y(w), stroke: "#e5e7eb"}),
             svg("text", {x: left - 4, y: y(w) + s.tick * 0.35, "text-anchor": "end", "font-size": s.tick}, w.toFixed(1)));
  });
  for (let k = 0; k < K; k++) {
    const x = left + k * bw, ok = st.visible[k], w = st.weights[k];
    const bar = svg("rect", ok ? {x: x + bw * 0.15, y: y(w), width: bw * 0.7, height: Math.max(0.5, y(0) - y(w)), fill: C.lesson_blue}
                              : {x: x + bw * 0.15, y: y(0.04), width: bw * 0.7, height: y(0) - y(0.04), fill: "none",
                                 stroke: C.lesson_grey, "stroke-width": 1.5});
    bar.append(svg("title", {}, labels[k] + ": " + (ok ? w.toFixed(4) : B.hidden)));
    g.append(bar, svg("text", {x: x + bw / 2, y: (ok ? y(w) : y(0.04)) - 4, "text-anchor": "middle", "font-size": s.tick},
                      ok ? w.toFixed(2) : B.hidden));
    const ty = y(0) + 6;
    g.append(svg("text", {x: x + bw / 2, y: ty, "text-anchor": "end", "font-size": s.tick, "dominant-baseline": "hanging",
                          transform: `rotate(-45 ${x + bw / 2} ${ty})`}, labels[k]));
  }
  g.append(svg("text", {x: left + K * bw / 2, y: H - 4, "text-anchor": "middle", "font-size": s.tick}, B.key));
  g.append(svg("text", {x: s.tick, y: top + plotH / 2, "font-size": s.tick, "text-anchor": "middle",
                        transform: `rotate(-90 ${s.tick} ${top + plotH / 2})`}, B.weight));
  // the title as text above the chart: it wraps in a narrow column (inside the SVG it widened the chart, so every
  // label in it came out smaller on a projector)
  const wrap = el("div");
  wrap.append(el("div", {class: "al-title", style: `font-weight:600;font-size:${s.font + 2}px;margin-bottom:0.3rem`}, B.title), g);
  return wrap;
}

function valueMix(sd, st, M, s) {                // viz.lesson.value_mix: the visible keys' values, then their mix
  const C = sd.data.colors, hs = st.d_k;
  const keep = st.key_tokens.map((_, k) => k).filter((k) => st.visible[k]);
  const rows = keep.map((k) => st.v[k]).concat([st.output]);
  const names = keep.map((k) => pyfmt(M.row, {key: k + ": " + st.key_tokens[k], weight: st.weights[k].toFixed(2)}))
    .concat([M.output]);
  let lim = 1e-6;
  rows.forEach((r) => r.forEach((x) => { lim = Math.max(lim, Math.abs(x)); }));
  const left = Math.max(...names.map((n) => textWidth(n, s.tick))) + 12, top = s.font * 2 + 10;
  const ch = s.tick + 8, cw = Math.max(10, s.tick * 0.9), n = rows.length;
  const barX = left + hs * cw + 16, W = Math.max(barX + 70, textWidth(M.title, s.font + 2) + 10);
  const H = top + n * ch + s.tick * 2 + 14;
  const g = svg("svg", {viewBox: `0 0 ${W} ${H}`, width: "100%", role: "img", "data-testid": "al-live-steps-mix",
                        style: `max-width:${W * (sd.data.projector ? 1.2 : 1.25)}px`});
  g.append(chartTitle(s, M.title));
  rows.forEach((r, i) => {
    const yy = top + i * ch;
    g.append(svg("text", {x: left - 6, y: yy + ch * 0.7, "text-anchor": "end", "font-size": s.tick,
                          "font-weight": i === n - 1 ? "600" : "400"}, names[i]));
    for (let d = 0; d < hs; d++) {
      const rect = svg("rect", {x: left + d * cw + 0.5, y: yy + 0.5, width: cw - 1, height: ch - 1,
                                fill: colour(C.signed, (r[d] / lim + 1) / 2)});
      rect.append(svg("title", {}, names[i] + "\n" + M.dim + " " + d + ": " + r[d].toFixed(3)));
      g.append(rect);
    }
  });
  g.append(svg("rect", {x: left - 1, y: top + (n - 1) * ch - 1, width: hs * cw + 2, height: ch + 2, fill: "none",
                        stroke: C.lesson_orange, "stroke-width": 3}));
  for (let d = 0; d < hs; d += Math.max(1, Math.ceil(hs / 8))) {
    g.append(svg("text", {x: left + d * cw + cw / 2, y: top + n * ch + s.tick + 2, "text-anchor": "middle", "font-size": s.tick}, String(d)));
  }
  g.append(svg("text", {x: left + hs * cw / 2, y: H - 4, "text-anchor": "middle", "font-size": s.tick}, M.dim));
  colourBar(g, C.signed, barX, top, n * ch, [-lim, 0, lim].map((x) => x.toFixed(2)), s);
  return g;
}

function colourBar(g, stops, x, y, h, ticks, s) {   // a vertical colour scale, top = its maximum
  const steps = 24;
  for (let i = 0; i < steps; i++) {
    g.append(svg("rect", {x, y: y + (h * i) / steps, width: 12, height: h / steps + 0.5, fill: colour(stops, 1 - i / (steps - 1))}));
  }
  ticks.slice().reverse().forEach((t, i) => {
    g.append(svg("text", {x: x + 16, y: y + (h * i) / (ticks.length - 1) + s.tick * 0.35, "font-size": s.tick}, t));
  });
}

// ---- step 5: the positional-encoding table, and the next character with positions as trained, removed, shuffled --
function drawPositions(sd, cap, shown) {
  const L = sd.data.labels, P = L.positions, s = sizes(sd), px = sd.data.projector ? 20 : 14;
  const outer = stepBox(sd, "positions-pair", TWO_COLUMNS);
  const parts = [];
  if (shown.includes("pe")) {
    const T = cap.tokens.length, rows = Math.max(T, 20);   // enough rows for the waves to show, even for a short word
    const wrap = el("div", {"data-testid": "al-live-pe"});
    const caption = el("p", {class: "al-caption"}, pyfmt(P.pe_caption, {last: T - 1}));
    caption.style.fontSize = px + "px";
    // The table itself changes only with its row count (and the page's sizes and words): made once per such key,
    // only the outline of the word's rows moves per keystroke (640+ cells rebuilt per key were most of this view)
    const key = [rows, sd.data.projector, P.pe_title, sd.url].join("|");
    if (!sd.peTable || sd.peTable.key !== key) {
      sd.peTable = {key, svg: peTable(sd, sd.model.pos_enc.slice(0, rows), P, s)};
    }
    const outline = sd.peTable.svg.querySelector('[data-testid="al-live-pe-rows"]');
    outline.setAttribute("height", String(T * Number(outline.dataset.rowHeight) + 2));
    wrap.append(sd.peTable.svg, caption);
    parts.push(wrap);
  }
  if (shown.includes("positions")) {
    const T = cap.ids.length, perm = sd.data.perms && sd.data.perms[T];
    const probs = {};
    F.PE_MODES.forEach((mode) => {
      const c = mode === "normal" ? cap : F.capture(sd.model, cap.text, false, {positions: mode, perm});
      probs[mode] = F.next_token_probs(c.logits[c.logits.length - 1], 1.0, 0);   // positions_counterfactual
    });
    const wrap = el("div", {"data-testid": "al-live-positions"});
    wrap.append(variantBars(sd, probs, cap.text, P, s));
    parts.push(wrap);
  }
  outer.replaceChildren(...parts);
}

function peTable(sd, pe, P, s) {              // viz.lesson.pe_table: one row per position, one column per dimension
  const C = sd.data.colors, rows = pe.length, dims = pe[0].length;
  // narrow columns on a projector, so the table keeps its 18 px labels beside the bars in half the view's column
  const left = s.tick * 2.6 + 16, top = s.font * 2 + 10, ch = s.tick + 4, cw = sd.data.projector ? 10 : 9;
  const barX = left + dims * cw + 14, W = Math.max(barX + 64, textWidth(pyfmt(P.pe_title, {t: rows}), s.font + 2) + 10);
  const H = top + rows * ch + s.tick * 2 + 16;
  const title = pyfmt(P.pe_title, {t: rows});
  const g = svg("svg", {viewBox: `0 0 ${W} ${H}`, width: "100%", role: "img", "data-testid": "al-live-pe-table",
                        style: `max-width:${W * 1.3}px`});
  g.append(chartTitle(s, title));
  pe.forEach((row, t) => {
    if (t % (rows > 24 ? 2 : 1) === 0) {
      g.append(svg("text", {x: left - 5, y: top + t * ch + ch * 0.75, "text-anchor": "end", "font-size": s.tick}, String(t)));
    }
    row.forEach((x, d) => {
      const rect = svg("rect", {x: left + d * cw, y: top + t * ch, width: cw + 0.3, height: ch + 0.3,
                                fill: colour(C.cividis, (x + 1) / 2)});
      rect.append(svg("title", {}, P.position + " " + t + ", " + P.dim + " " + d + ": " + x.toFixed(3)));
      g.append(rect);
    });
  });
  // the rows this word uses, outlined: they follow the box as the student types
  g.append(svg("rect", {x: left - 1, y: top - 1, width: dims * cw + 2, height: ch + 2, fill: "none",
                        stroke: C.lesson_orange, "stroke-width": 3, "data-testid": "al-live-pe-rows",
                        "data-row-height": String(ch)}));
  for (let d = 0; d < dims; d += 8) {
    g.append(svg("text", {x: left + d * cw + cw / 2, y: top + rows * ch + s.tick + 2, "text-anchor": "middle", "font-size": s.tick}, String(d)));
  }
  g.append(svg("text", {x: left + dims * cw / 2, y: H - 4, "text-anchor": "middle", "font-size": s.tick}, P.dim));
  g.append(svg("text", {x: s.tick * 0.8, y: top + rows * ch / 2, "font-size": s.tick, "text-anchor": "middle",
                        transform: `rotate(-90 ${s.tick * 0.8} ${top + rows * ch / 2})`}, P.position));
  colourBar(g, C.cividis, barX, top, Math.min(rows * ch, 16 * ch), ["-1", "0", "1"], s);
  g.append(svg("text", {x: barX, y: top + Math.min(rows * ch, 16 * ch) + s.tick + 6, "font-size": s.tick}, P.value));
  return g;
}

function variantBars(sd, probs, word, P, s) {   // viz.lesson.next_char_variants: top 5 of each, grouped
  // One group of three bars per character (as trained, removed, shuffled), drawn across so that the characters'
  // labels read in a narrow column too; ordered by the trained model's probability, as the server figure
  const C = sd.data.colors, vocab = sd.model.vocab, modes = F.PE_MODES;
  const top5 = (p) => Array.from(p.keys()).sort((a, b) => p[b] - p[a] || a - b).slice(0, 5);
  const ids = [...new Set(modes.flatMap((m) => top5(probs[m])))].sort((a, b) => probs.normal[b] - probs.normal[a]);
  const label = (i) => (vocab[i] === "<EOS>" ? P.end : vocab[i]);
  const title = pyfmt(P.variants_title, {word: Array.from(word).slice(-30).join("")});
  const max = Math.min(1, Math.max(...modes.flatMap((m) => ids.map((i) => probs[m][i]))) * 1.15 + 0.02);
  const left = Math.max(...ids.map((i) => textWidth(label(i), s.tick + 2))) + 12;
  const bh = Math.round(s.tick * 0.75), gh = 3 * bh + 10, span = sd.data.projector ? 250 : 260;
  const W = Math.max(left + span + 56, textWidth(title, s.font + 2) + 10);
  // the legend under the title, which colour is which variant: its entries wrap within the chart's width (one line
  // of them made a projector's chart wider, so smaller, than the column)
  const entries = [];
  let lx = 0, ly = s.font * 2 + 14;
  modes.forEach((m, r) => {
    const w = textWidth(P.names[m], s.tick) + s.tick + 22;
    if (lx > 0 && lx + w > W) { lx = 0; ly += s.tick + 8; }
    entries.push([m, r, lx, ly]);
    lx += w;
  });
  const top = ly + s.tick + 14;
  const H = top + ids.length * gh + 2 * s.tick + 22;
  const g = svg("svg", {viewBox: `0 0 ${W} ${H}`, width: "100%", role: "img", "data-testid": "al-live-variants",
                        style: `max-width:${W * 1.3}px`});
  g.append(chartTitle(s, title));
  entries.forEach(([m, r, ex, ey]) => {
    g.append(svg("rect", {x: ex, y: ey - s.tick * 0.8, width: s.tick, height: s.tick, fill: C.variants[r]}),
             svg("text", {x: ex + s.tick + 6, y: ey, "font-size": s.tick}, P.names[m]));
  });
  const x = (p) => left + span * p / max;
  const tick = max > 0.5 ? 0.25 : max > 0.2 ? 0.1 : 0.05;
  for (let p = 0; p <= max + 1e-9; p += tick) {
    g.append(svg("line", {x1: x(p), x2: x(p), y1: top - 4, y2: top + ids.length * gh, stroke: "#e5e7eb"}),
             svg("text", {x: x(p), y: top + ids.length * gh + s.tick + 2, "text-anchor": "middle", "font-size": s.tick},
                 Math.round(p * 100) + "%"));
  }
  ids.forEach((i, j) => {
    const y0 = top + j * gh;
    g.append(svg("text", {x: left - 6, y: y0 + gh / 2 + s.tick * 0.3, "text-anchor": "end", "font-size": s.tick + 2}, label(i)));
    modes.forEach((m, r) => {
      const p = probs[m][i], y = y0 + 2 + r * bh;
      const bar = svg("rect", {x: left, y, width: Math.max(0.5, x(p) - left), height: bh - 1, fill: C.variants[r],
                               "data-mode": m});
      bar.append(svg("title", {}, label(i) + " · " + P.names[m] + ": " + (100 * p).toFixed(1) + "%"));
      g.append(bar);
      if (r === 0 || p >= 0.05) {
        g.append(svg("text", {x: x(p) + 3, y: y + bh - 1, "font-size": s.tick * 0.9, class: "al-bar-value"},
                     (100 * p).toFixed(0) + "%"));
      }
    });
  });
  g.append(svg("text", {x: left + span / 2, y: H - 2, "text-anchor": "middle", "font-size": s.tick}, P.probability));
  return g;
}
