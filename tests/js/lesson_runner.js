// Runs ui/live/forward.js's Lesson parts for tests/test_browser_forward.py (one Node process for them all).
// argv[2]: a JSON file {models: [{weights: path, perms: [perm of T positions, for T = 0 .. block_size],
// positions: [text, ...], steps: [[text, add_eos, pattern name, head, query], ...]}]}; argv[3]: where to write every
// result's numbers as float64. Per model: for each positions text and each mode (normal, none, shuffled) the
// logits (T, V), then the next-token probabilities (V,); then for each steps case q (hs,), k (K, hs), v (K, hs),
// scores (K,), scaled (K,), visible (K,) as 0/1, weights (K,), output (hs,), pattern_row (K,).
// Prints per steps case its query, query token and key tokens as JSON on stdout.
"use strict";
const fs = require("fs");
const path = require("path");
const F = require(path.join(__dirname, "..", "..", "ui", "live", "forward.js"));

const job = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const rows = [];
const meta = [];
for (const m of job.models) {
  const model = F.load_model(JSON.parse(fs.readFileSync(m.weights, "utf8")));
  for (const text of m.positions) {
    for (const mode of F.PE_MODES) {
      const T = F.encode(model, text, false, model.cfg.block_size).ids.length;
      const cap = F.capture(model, text, false, {positions: mode, perm: m.perms[T]});
      rows.push(...cap.logits);
      const last = cap.logits[cap.logits.length - 1];
      rows.push(F.next_token_probs(last, 1.0, 0));
    }
  }
  const steps = [];
  for (const [text, add_eos, name, head, query] of m.steps) {
    const s = F.attention_steps(F.capture(model, text, add_eos), name, head, query);
    rows.push(s.q, ...s.k, ...s.v, s.scores, s.scaled, s.visible.map(Number), s.weights, s.output, s.pattern_row);
    steps.push({query: s.query, query_token: s.query_token, key_tokens: s.key_tokens, d_k: s.d_k});
  }
  meta.push(steps);
}
const numbers = new Float64Array(rows.reduce((a, r) => a + r.length, 0));
let at = 0;
rows.forEach((r) => { numbers.set(r, at); at += r.length; });
fs.writeFileSync(process.argv[3], Buffer.from(numbers.buffer));
process.stdout.write(JSON.stringify(meta));
