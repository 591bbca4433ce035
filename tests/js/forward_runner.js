// Runs ui/live/forward.js on a batch of inputs for tests/test_browser_forward.py (one Node process for them all).
// argv[2]: a JSON file {models: [{weights: path of a services/browser_weights.py file, inputs: [[text, add_eos],
// ...]}]}; argv[3]: where to write every result's numbers as float64 (per model, per input: logits (T, V), then
// each pattern (H, Q, K) in sorted name order). Prints per input its ids, tokens, unknown characters, lowercased,
// truncated and pattern names as JSON on stdout.
"use strict";
const fs = require("fs");
const path = require("path");
const F = require(path.join(__dirname, "..", "..", "ui", "live", "forward.js"));

const job = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const chunks = [];
const meta = [];
for (const m of job.models) {
  const model = F.load_model(JSON.parse(fs.readFileSync(m.weights, "utf8")));
  const rows = [];
  for (const [text, add_eos] of m.inputs) {
    const cap = F.capture(model, text, add_eos);
    const names = Object.keys(cap.patterns).sort();
    const rowsOut = cap.logits.slice();
    names.forEach((n) => cap.patterns[n].forEach((head) => rowsOut.push(...head)));
    // what the views read off the capture: the bars' distribution (temperature 0.7, top-k 5) and each pattern's
    // per-query entropy (H, Q), masked rows counted as the server's views count them
    rowsOut.push(F.next_token_probs(cap.logits[cap.logits.length - 1], 0.7, 5));
    names.forEach((n) => {
      const causal = (n.startsWith("decoder.") && !n.includes(".cross_attn.")) || !model.cfg.peeking;
      rowsOut.push(...F.attention_entropy(cap.patterns[n], causal));
    });
    const numbers = new Float64Array(rowsOut.reduce((a, r) => a + r.length, 0));
    let at = 0;
    rowsOut.forEach((r) => { numbers.set(r, at); at += r.length; });
    chunks.push(Buffer.from(numbers.buffer));
    rows.push({ids: cap.ids, tokens: cap.tokens, unknown: cap.unknown, lowercased: cap.lowercased,
               truncated: cap.truncated, names: names});
  }
  meta.push(rows);
}
fs.writeFileSync(process.argv[3], Buffer.concat(chunks));
process.stdout.write(JSON.stringify(meta));
