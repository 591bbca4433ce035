// The lab's two architectures, forward pass only, in plain JavaScript: what the browser runs on every keystroke.
//
// It mirrors the PyTorch files a student reads, name for name: models/layers.py (sinusoidal_encoding, causal_mask,
// attention_pattern, MultiHeadAttention, PostLNBlock, FeedForward), models/miniformer.py (MiniFormer.forward),
// models/full_transformer.py (DecoderBlock, FullTransformer.forward) and models/vocab.py (Vocab.encode). Those
// stay the reference; tests/test_browser_forward.py runs this file in Node against them on every shipped
// checkpoint and holds logits and attention patterns equal to 1e-5.
//
// Shapes use STYLE.md's letters: T sequence, S source, Q query positions, K key positions, C = n_embd, H heads,
// hs head size, V vocab. A (T, C) tensor is an array of T Float64Array rows; a (H, Q, K) pattern is an array of H
// such matrices. Weights arrive as float32 (services/browser_weights.py) and the arithmetic runs in float64.
// No dropout: the browser only ever runs a model in eval mode.
(function (root) {
  "use strict";

  var SPECIALS = ["<PAD>", "<BOS>", "<EOS>", "<UNK>"];
  var BOS_ID = 1, EOS_ID = 2, UNK_ID = 3;
  var VISIBLE_SPACE = "\u2423";

  // ---- weights ------------------------------------------------------------------------------------------------
  // The file services/browser_weights.py writes: {architecture, model_args, vocab, tensors: {name: [offset,
  // shape]}, data: base64 of every tensor's float32 values, little-endian, one after another}.
  function decode_base64(b64) {
    var bin = atob(b64);
    var bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return new Float32Array(bytes.buffer);
  }

  function load_model(file) {
    var flat = decode_base64(file.data);
    var W = {};
    Object.keys(file.tensors).forEach(function (name) {
      var offset = file.tensors[name][0], shape = file.tensors[name][1];
      var n = shape.reduce(function (a, b) { return a * b; }, 1);
      var values = Float64Array.from(flat.subarray(offset, offset + n));     // float64 once: faster arithmetic
      // a bias or LayerNorm weight (C,) as it is; a matrix (out, in) as {rows, cols, data} with data row-major
      W[name] = shape.length === 1 ? values : {rows: shape[0], cols: shape[1], data: values};
    });
    var cfg = file.model_args;
    return {architecture: file.architecture, cfg: cfg, vocab: file.vocab, W: W,
            pos_enc: sinusoidal_encoding(cfg.block_size, cfg.n_embd),
            stoi: file.vocab.reduce(function (m, s, i) { m[s] = i; return m; }, {})};
  }

  // ---- models/vocab.py: what romanize() converts --------------------------------------------------------------
  // The server writes kana and kanji (and full-width letters) in romaji before encoding (ねこ, 猫 -> neko, with
  // pykakasi's dictionaries). The browser has no such dictionary: a text holding any of these characters is
  // computed on the server instead. The same characters as vocab._JAPANESE_RUN (held equal by
  // tests/test_browser_forward.py over every code point).
  var JAPANESE = new RegExp("[\u3040-\u309f\u30a0-\u30ff\u31f0-\u31ff\uff66-\uff9f\u3005\u3400-\u4dbf" +
                            "\u4e00-\u9fff\uf900-\ufaff\uff21-\uff3a\uff41-\uff5a]");
  function needs_server(text) { return JAPANESE.test(text); }

  // ---- models/vocab.py: Vocab.encode ----------------------------------------------------------------------------
  // For text without Japanese (needs_server false), which romanize() leaves as it is. Lowercase; every character (a code point, as Python iterates a str) not in the vocabulary becomes <UNK>; text
  // longer than max_len tokens keeps its last characters.
  function encode(model, text, add_eos, max_len) {
    var lowered = text.toLowerCase();
    var chars = Array.from(lowered);                       // code points: an emoji is one character, as in Python
    var unknown = [];
    chars.forEach(function (ch) {
      if ((!(ch in model.stoi) || SPECIALS.indexOf(ch) >= 0) && unknown.indexOf(ch) < 0) unknown.push(ch);
    });
    var truncated = 0;
    var room = max_len - 1 - (add_eos ? 1 : 0);
    if (chars.length > room) { truncated = chars.length - room; chars = chars.slice(truncated); }
    var ids = [BOS_ID];
    chars.forEach(function (ch) {
      ids.push(Object.prototype.hasOwnProperty.call(model.stoi, ch) && SPECIALS.indexOf(ch) < 0 ? model.stoi[ch]
               : UNK_ID);
    });
    if (add_eos) ids.push(EOS_ID);
    var tokens = ids.map(function (i) { var s = model.vocab[i]; return s === " " ? VISIBLE_SPACE : s; });
    return {ids: ids, tokens: tokens, unknown: unknown, lowercased: lowered !== text, truncated: truncated};
  }

  // ---- models/layers.py ---------------------------------------------------------------------------------------
  function sinusoidal_encoding(block_size, n_embd) {      // (T, C): PE[t, 2i] = sin(t / 10000^(2i/C)), PE[t, 2i+1] = cos
    // float32 like torch's table: Math.fround after each step that torch rounds
    var div = [];
    for (var i = 0; i < n_embd; i += 2) div.push(Math.fround(Math.exp(Math.fround(i * Math.fround(-Math.log(10000.0) / n_embd)))));
    var pe = [];
    for (var t = 0; t < block_size; t++) {
      var row = new Float64Array(n_embd);
      for (var j = 0; j < div.length; j++) {
        var angle = Math.fround(t * div[j]);
        row[2 * j] = Math.fround(Math.sin(angle));
        if (2 * j + 1 < n_embd) row[2 * j + 1] = Math.fround(Math.cos(angle));
      }
      pe.push(row);
    }
    return pe;
  }

  function causal_mask(q_len, k_len) {                   // bool (Q, K): query q may read key k iff k <= q
    var mask = [];
    for (var q = 0; q < q_len; q++) {
      var row = [];
      for (var k = 0; k < k_len; k++) row.push(k <= q);
      mask.push(row);
    }
    return mask;
  }

  function linear(x, weight, bias) {                     // x (T, in) @ weight (out, in)^T + bias (out,) -> (T, out)
    var n_out = weight.rows, n_in = weight.cols, w = weight.data, out = [];
    for (var t = 0; t < x.length; t++) {
      var row = x[t], y = new Float64Array(n_out);
      for (var o = 0; o < n_out; o++) {
        var s = bias[o], base = o * n_in;
        for (var i = 0; i < n_in; i++) s += row[i] * w[base + i];
        y[o] = s;
      }
      out.push(y);
    }
    return out;
  }

  function layer_norm(x, weight, bias) {                 // (T, C) -> (T, C), over C, eps 1e-5 (nn.LayerNorm's)
    return x.map(function (row) {
      var C = row.length, mean = 0, vr = 0;
      for (var i = 0; i < C; i++) mean += row[i];
      mean /= C;
      for (i = 0; i < C; i++) vr += (row[i] - mean) * (row[i] - mean);
      var inv = 1 / Math.sqrt(vr / C + 1e-5);
      var y = new Float64Array(C);
      for (i = 0; i < C; i++) y[i] = (row[i] - mean) * inv * weight[i] + bias[i];
      return y;
    });
  }

  function add(a, b) {                                   // (T, C) + (T, C)
    return a.map(function (row, t) { return row.map(function (v, i) { return v + b[t][i]; }); });
  }

  function relu(x) { return x.map(function (row) { return row.map(function (v) { return v > 0 ? v : 0; }); }); }

  function heads(x, n_head) {                            // (T, C) -> (H, T, hs)
    var hs = x[0].length / n_head, out = [];
    for (var h = 0; h < n_head; h++) out.push(x.map(function (row) { return row.subarray(h * hs, (h + 1) * hs); }));
    return out;
  }

  function attention_scores(q, k, mask) {                 // q (H, Q, hs), k (H, K, hs), mask (Q, K) or null -> (H, Q, K)
    var scale = Math.sqrt(q[0][0].length);                // q·k / √hs, -inf where the mask hides a key: hook_attn_scores
    return q.map(function (qh, h) {
      return qh.map(function (qrow, qi) {
        var att = new Float64Array(k[h].length);
        for (var ki = 0; ki < k[h].length; ki++) {
          if (mask && !mask[qi][ki]) { att[ki] = -Infinity; continue; }       // masked: exp(-inf) = 0
          var s = 0, krow = k[h][ki];
          for (var i = 0; i < qrow.length; i++) s += qrow[i] * krow[i];
          att[ki] = s / scale;
        }
        return att;
      });
    });
  }

  function softmax(row) {                                 // (K,) -> (K,), -inf -> 0
    var max = -Infinity, sum = 0, out = new Float64Array(row.length);
    for (var i = 0; i < row.length; i++) if (row[i] > max) max = row[i];
    for (i = 0; i < row.length; i++) { out[i] = Math.exp(row[i] - max); sum += out[i]; }
    for (i = 0; i < row.length; i++) out[i] /= sum;
    return out;
  }

  function attention_pattern(q, k, mask) {                // q (H, Q, hs), k (H, K, hs), mask (Q, K) or null -> (H, Q, K)
    return attention_scores(q, k, mask).map(function (rows) { return rows.map(softmax); });   // softmax over K
  }

  function multi_head_attention(W, prefix, n_head, x, memory, mask) {   // x (Q, C), memory (K, C) -> (Q, C), (H, Q, K)
    memory = memory || x;
    var p = function (n) { return W[prefix + "." + n]; };
    var q = heads(linear(x, p("q_proj.weight"), p("q_proj.bias")), n_head);           // (H, Q, hs)
    var k = heads(linear(memory, p("k_proj.weight"), p("k_proj.bias")), n_head);      // (H, K, hs)
    var v = heads(linear(memory, p("v_proj.weight"), p("v_proj.bias")), n_head);      // (H, K, hs)
    var scores = attention_scores(q, k, mask);                                          // (H, Q, K), hook_attn_scores
    var pattern = scores.map(function (rows) { return rows.map(softmax); });            // (H, Q, K), the captured tensor
    var hs = v[0][0].length;
    var y = x.map(function (_, qi) {                                                    // (Q, C): heads concatenated
      var row = new Float64Array(n_head * hs);
      for (var h = 0; h < n_head; h++) {
        var a = pattern[h][qi];
        for (var ki = 0; ki < a.length; ki++) {
          if (a[ki] === 0) continue;
          var vrow = v[h][ki];
          for (var i = 0; i < hs; i++) row[h * hs + i] += a[ki] * vrow[i];          // pattern @ v
        }
      }
      return row;
    });
    return {y: linear(y, p("out_proj.weight"), p("out_proj.bias")), pattern: pattern,
            q: q, k: k, v: v, scores: scores};                                         // the parts, as AttentionParts
  }

  function keep_parts(qkv, module, a) {                   // AttentionParts.hooks: TL names -> q, k, v, scores
    qkv[module + ".hook_q"] = a.q;                        // (H, Q, hs)
    qkv[module + ".hook_k"] = a.k;                        // (H, K, hs)
    qkv[module + ".hook_v"] = a.v;                        // (H, K, hs)
    qkv[module + ".hook_attn_scores"] = a.scores;         // (H, Q, K)
  }

  function feed_forward(W, prefix, x) {                  // Linear -> ReLU -> (Dropout) -> Linear; nn.Sequential's indices 0 and 3
    var h = relu(linear(x, W[prefix + ".0.weight"], W[prefix + ".0.bias"]));
    return linear(h, W[prefix + ".3.weight"], W[prefix + ".3.bias"]);
  }

  function post_ln_block(W, prefix, n_head, x, mask) {    // x (T, C): x = LN(x + attn(x)); x = LN(x + ffn(x))
    var a = multi_head_attention(W, prefix + ".attn", n_head, x, null, mask);
    x = layer_norm(add(x, a.y), W[prefix + ".ln_1.weight"], W[prefix + ".ln_1.bias"]);
    x = layer_norm(add(x, feed_forward(W, prefix + ".ffn", x)), W[prefix + ".ln_2.weight"], W[prefix + ".ln_2.bias"]);
    return {x: x, pattern: a.pattern, attn: a};
  }

  function embed(model, ids, pos_embed) {                // tok_emb(idx) + (pos_embed or pos_enc)[:T] -> (T, C)
    var pos = pos_embed || model.pos_enc;
    return ids.map(function (id, t) {
      var emb = model.W["tok_emb.weight"], e = emb.data.subarray(id * emb.cols, (id + 1) * emb.cols);
      var pe = pos[t], row = new Float64Array(e.length);
      for (var i = 0; i < e.length; i++) row[i] = e[i] + pe[i];
      return row;
    });
  }

  // ---- models/miniformer.py: MiniFormer.forward ------------------------------------------------------------------
  // pos_embed: (T, C) rows added for position instead of the model's table (the positional-encoding lesson's zeros
  // or shuffled rows: position_rows), as the PyTorch forward's pos_embed argument. qkv: every attention's q, k, v and
  // masked scores by TL name (return_qkv).
  function miniformer_forward(model, idx, pos_embed) {   // idx (T,) -> logits (T, V), patterns {TL name: (H, T, T)}
    var cfg = model.cfg, T = idx.length;
    if (T > cfg.block_size) throw new Error("sequence of " + T + " tokens is longer than block_size=" + cfg.block_size);
    var x = embed(model, idx, pos_embed);                                      // (T, C)
    var mask = causal_mask(T, T);                                              // (T, T)
    var patterns = {}, qkv = {};
    for (var l = 0; l < cfg.n_layer; l++) {
      var out = post_ln_block(model.W, "blocks." + l, cfg.n_head, x, mask);
      x = out.x;
      patterns["blocks." + l + ".attn.hook_pattern"] = out.pattern;
      keep_parts(qkv, "blocks." + l + ".attn", out.attn);
    }
    return {logits: linear(x, model.W["lm_head.weight"], model.W["lm_head.bias"]), patterns: patterns,   // (T, V)
            qkv: qkv};
  }

  // ---- models/full_transformer.py -------------------------------------------------------------------------------
  function decoder_block(W, prefix, n_head, x, memory, self_mask, memory_mask) {   // x (T, C), memory (S, C)
    var a = multi_head_attention(W, prefix + ".attn", n_head, x, null, self_mask);             // (H, T, T)
    x = layer_norm(add(x, a.y), W[prefix + ".ln_1.weight"], W[prefix + ".ln_1.bias"]);
    var c = multi_head_attention(W, prefix + ".cross_attn", n_head, x, memory, memory_mask);   // (H, T, S)
    x = layer_norm(add(x, c.y), W[prefix + ".ln_2.weight"], W[prefix + ".ln_2.bias"]);
    x = layer_norm(add(x, feed_forward(W, prefix + ".ffn", x)), W[prefix + ".ln_3.weight"], W[prefix + ".ln_3.bias"]);
    return {x: x, self_pattern: a.pattern, cross_pattern: c.pattern, self_attn: a, cross_attn: c};
  }

  function full_transformer_forward(model, idx, src, pos_embed) {   // idx (T,) target, src (S,) source, default idx
    var cfg = model.cfg;
    src = src || idx;
    var S = src.length, T = idx.length;
    if (Math.max(S, T) > cfg.block_size) throw new Error("sequence longer than block_size=" + cfg.block_size);
    var enc_mask = cfg.peeking ? null : causal_mask(S, S);          // (S, S) or unmasked: the peeking design
    var mem_mask = cfg.peeking ? null : causal_mask(T, S);          // (T, S) or unmasked: reads the answer at t+1
    var tgt_mask = causal_mask(T, T);                               // (T, T) always causal
    var patterns = {}, qkv = {};
    var memory = embed(model, src, pos_embed);                                               // (S, C)
    for (var l = 0; l < cfg.n_layer; l++) {
      var e = post_ln_block(model.W, "encoder." + l, cfg.n_head, memory, enc_mask);
      memory = e.x;
      patterns["encoder." + l + ".attn.hook_pattern"] = e.pattern;                           // (H, S, S)
      keep_parts(qkv, "encoder." + l + ".attn", e.attn);
    }
    var x = embed(model, idx, pos_embed);                                                    // (T, C): the same rows
    for (l = 0; l < cfg.n_dec_layer; l++) {
      var d = decoder_block(model.W, "decoder." + l, cfg.n_head, x, memory, tgt_mask, mem_mask);
      x = d.x;
      patterns["decoder." + l + ".attn.hook_pattern"] = d.self_pattern;                      // (H, T, T)
      patterns["decoder." + l + ".cross_attn.hook_pattern"] = d.cross_pattern;               // (H, T, S)
      keep_parts(qkv, "decoder." + l + ".attn", d.self_attn);
      keep_parts(qkv, "decoder." + l + ".cross_attn", d.cross_attn);
    }
    return {logits: linear(x, model.W["lm_head.weight"], model.W["lm_head.bias"]), patterns: patterns,   // (T, V)
            qkv: qkv};
  }

  // ---- models/attention_steps.py: position_rows ------------------------------------------------------------------
  // The (T, C) rows added for position: the model's sinusoidal table ("normal"), zeros ("none"), or the table's rows
  // in a shuffled order ("shuffled": token t gets position perm[t]'s encoding). The permutation is the server's
  // (attention_steps.shuffled_order(T), a seeded torch.randperm): Python sends it, this file does not re-derive it.
  var PE_MODES = ["normal", "none", "shuffled"];
  function position_rows(model, T, mode, perm) {
    if (PE_MODES.indexOf(mode) < 0) throw new Error("mode must be one of " + PE_MODES.join(", ") + ", not " + mode);
    var pe = model.pos_enc.slice(0, T);                                      // (T, C)
    if (mode === "none") return pe.map(function (row) { return new Float64Array(row.length); });
    if (mode === "shuffled") {
      if (!perm || perm.length !== T) throw new Error("no permutation of " + T + " positions");
      return perm.map(function (p) { return pe[p]; });
    }
    return pe;
  }

  // ---- models/capture.py: capture(bundle, text) --------------------------------------------------------------
  // One forward pass on the typed text (source = target = the word for the encoder-decoder, the training
  // convention): tokens, logits, every pattern and every attention's q, k, v and scores (capture(..., qkv=True)),
  // and what happened to the text on the way in. options.positions ("normal" / "none" / "shuffled", with
  // options.perm for "shuffled"): the positional-encoding lesson's counterfactual (positions_counterfactual).
  function capture(model, text, add_eos, options) {
    var enc = encode(model, text, add_eos, model.cfg.block_size);
    var mode = (options && options.positions) || "normal";
    var pos = mode === "normal" ? null : position_rows(model, enc.ids.length, mode, options.perm);
    var out = model.architecture === "miniformer" ? miniformer_forward(model, enc.ids, pos)
      : full_transformer_forward(model, enc.ids, enc.ids, pos);
    return {text: text, tokens: enc.tokens, src_tokens: model.architecture === "miniformer" ? [] : enc.tokens,
            ids: enc.ids, logits: out.logits, patterns: out.patterns, qkv: out.qkv, unknown: enc.unknown,
            lowercased: enc.lowercased, truncated: enc.truncated, positions: mode};
  }

  // ---- models/attention_steps.py: attention_steps -------------------------------------------------------------
  // Softmax(q·K / √d_k)·V for one query row of one head of a capture, every intermediate kept (AttentionSteps):
  //   scores  = k @ q                  (K,)   q·k for every key
  //   scaled  = scores / sqrt(d_k)     (K,)
  //   visible = the model's own mask   (K,)   false where its scores are -inf (hook_attn_scores)
  //   weights = softmax(masked scaled) (K,)   the attention row (== the captured pattern row)
  //   output  = weights @ v            (hs,)  this head's output for the query
  function attention_steps(cap, pattern_name, head, query) {
    var module = pattern_name.replace(/\.hook_pattern$/, "");
    var q_all = cap.qkv[module + ".hook_q"], k_all = cap.qkv[module + ".hook_k"], v_all = cap.qkv[module + ".hook_v"];
    if (!q_all) throw new Error("no pattern " + pattern_name);
    var H = q_all.length, Q = q_all[0].length, hs = q_all[0][0].length;
    if (!(head >= 0 && head < H)) throw new Error("head " + head + " out of range: this layer has " + H + " head(s)");
    if (!(query >= -Q && query < Q)) throw new Error("query " + query + " out of range: there are " + Q + " query positions");
    query = (query + Q) % Q;
    var q = q_all[head][query], k = k_all[head], v = v_all[head];               // (hs,), (K, hs), (K, hs)
    var K = k.length, scores = new Float64Array(K), scaled = new Float64Array(K), visible = [];
    var masked_row = cap.qkv[module + ".hook_attn_scores"][head][query];      // (K,)
    for (var j = 0; j < K; j++) {
      var s = 0;
      for (var i = 0; i < hs; i++) s += k[j][i] * q[i];
      scores[j] = s;
      scaled[j] = s / Math.sqrt(hs);
      visible.push(isFinite(masked_row[j]));
    }
    var weights = softmax(scaled.map(function (x, j) { return visible[j] ? x : -Infinity; }));   // (K,)
    var output = new Float64Array(hs);                                        // (hs,)
    for (j = 0; j < K; j++) for (i = 0; i < hs; i++) output[i] += weights[j] * v[j][i];
    var cross = module.endsWith(".cross_attn"), enc = module.startsWith("encoder.");
    var q_tokens = enc ? cap.src_tokens : cap.tokens, k_tokens = cross || enc ? cap.src_tokens : cap.tokens;
    return {pattern_name: pattern_name, head: head, query: query, query_token: q_tokens[query], key_tokens: k_tokens,
            d_k: hs, q: q, k: k, v: v, scores: scores, scaled: scaled, visible: visible, weights: weights,
            output: output, pattern_row: cap.patterns[pattern_name][head][query]};
  }

  // ---- models/generate.py and viz/metrics.py: what the views read off a capture -------------------------------
  function next_token_probs(logits, temperature, top_k) {      // (V,) -> (V,): nanoGPT's generate() logic
    var l = Array.from(logits, function (x) { return x / temperature; });
    if (top_k > 0 && top_k < l.length) {
      var kth = l.slice().sort(function (a, b) { return b - a; })[top_k - 1];
      for (var i = 0; i < l.length; i++) if (l[i] < kth) l[i] = -Infinity;     // below the k-th: never drawn
    }
    var max = Math.max.apply(null, l), sum = 0;
    var e = l.map(function (x) { var y = Math.exp(x - max); sum += y; return y; });
    return e.map(function (x) { return x / sum; });                             // softmax
  }

  function attention_entropy(pattern, causal) {               // (H, Q, K) -> (H, Q): entropy / log(visible keys), in [0, 1]
    return pattern.map(function (head) {
      return head.map(function (row, q) {
        var n_keys = causal ? Math.min(q + 1, row.length) : row.length;          // keys this query can see
        var ent = 0;
        for (var k = 0; k < row.length; k++) if (row[k] > 0) ent -= row[k] * Math.log(row[k]);   // entr(0) = 0
        return Math.min(1, Math.max(0, ent / Math.log(Math.max(n_keys, 2))));   // a row with one key: 0
      });
    });
  }

  var api = {next_token_probs: next_token_probs, attention_entropy: attention_entropy, load_model: load_model, needs_server: needs_server, encode: encode, sinusoidal_encoding: sinusoidal_encoding,
             causal_mask: causal_mask, attention_pattern: attention_pattern,
             attention_scores: attention_scores, position_rows: position_rows, attention_steps: attention_steps,
             PE_MODES: PE_MODES, miniformer_forward: miniformer_forward,
             full_transformer_forward: full_transformer_forward, capture: capture, ARCHITECTURES: ["miniformer", "full"]};
  if (typeof module !== "undefined" && module.exports) module.exports = api;
  else root.AttentionLabForward = api;
})(typeof globalThis !== "undefined" ? globalThis : this);
