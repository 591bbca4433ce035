// Attention Lab's BertViz frame: one iframe that stays on the page while the user types. Each Streamlit rerun
// sends BertViz's own output for the new text (its markup and its drawing script, made by viz/bertviz_view.py);
// this file swaps them in and runs the script against the d3 / jQuery loaded once by index.html. Re-creating an
// iframe per keystroke instead re-parsed ~320 KB of libraries each time (bench/RESULTS.md).
//
// Streamlit's component protocol (components v1), written out so nothing needs npm:
//   frame -> app: {isStreamlitMessage: true, type: "streamlit:componentReady", apiVersion: 1}
//   app -> frame: {type: "streamlit:render", args: {...}}
//   frame -> app: {isStreamlitMessage: true, type: "streamlit:setFrameHeight", height: px}
(function () {
  "use strict";
  var shown = null;          // key of what is drawn now: the same args again -> nothing to do
  var opened = null;         // the page's wish for BertViz's selectors (args.select), as last applied
  var lastHeight = -1;
  var fit = "";              // args.fit: the script that sizes BertViz's SVG to the frame, rerun on every redraw

  function send(type, extra) {
    var msg = {isStreamlitMessage: true, type: type};
    for (var k in extra) msg[k] = extra[k];
    window.parent.postMessage(msg, "*");
  }

  function reportHeight() {
    var root = document.getElementById("bertviz-root");
    var h = Math.ceil(root.getBoundingClientRect().height) + 14;     // + body padding
    if (h !== lastHeight) { lastHeight = h; send("streamlit:setFrameHeight", {height: h}); }
  }

  // BertViz calls requirejs(['jquery', 'd3'], callback): hand it the page globals.
  function require(deps, callback) {
    var mods = {jquery: window.jQuery, d3: window.d3};
    var missing = deps.filter(function (n) { return !mods[n]; });
    if (missing.length) { showError("BertViz could not load " + missing.join(" and ") + " from /app/static/vendor/. " +
                                    "Run `python scripts/fetch_vendor.py` and reload the page."); return; }
    return callback.apply(window, deps.map(function (n) { return mods[n]; }));
  }
  require.config = function () {};
  window.require = window.requirejs = require;

  function showError(text) {
    var p = document.createElement("p");
    p.id = "bertviz-error";
    p.textContent = text;
    document.getElementById("bertviz-root").appendChild(p);
  }

  // Keep what the user picked in BertViz's own selectors (layer, encoder/decoder/cross) across keystrokes, unless
  // the page asks for other ones (args.select, e.g. Compare: the kind and layer of the heatmap beside the frame).
  function selections() {
    var out = {};
    document.querySelectorAll("#bertviz-root select").forEach(function (s) { if (s.id) out[s.id] = s.value; });
    return out;
  }
  function restore(saved) {
    ["filter", "layer"].forEach(function (id) {     // the attention kind first: it rebuilds the layer list
      var s = document.querySelector("#bertviz-root select#" + id);
      if (!s || saved[id] == null || s.value === saved[id]) return;
      if (!Array.prototype.some.call(s.options, function (o) { return o.value === saved[id]; })) return;
      window.jQuery(s).val(saved[id]).trigger("change");
    });
  }

  function draw(args) {
    var wish = JSON.stringify(args.select || {});
    if (args.draw_key === shown && wish === opened) { reportHeight(); return; }
    var saved = wish !== opened ? (args.select || {}) : selections();
    opened = wish;
    var root = document.getElementById("bertviz-root");
    root.innerHTML = args.markup;                 // BertViz's template markup only: no user text in it
    try {
      new Function(args.js)();                    // BertViz's drawing script; tokens are in escaped JSON strings
      restore(saved);                             // redraws synchronously when a selection changes
      fit = args.fit || "";
      if (fit) new Function(fit)();               // model view: scale the 970 px SVG down; projector: fill the frame
    } catch (e) {
      showError("BertViz failed to draw: " + e);
    }
    shown = args.draw_key;
    document.body.setAttribute("data-drawn", args.draw_key);   // for tests and benchmarks: what is on screen now
    reportHeight();
  }

  window.addEventListener("message", function (event) {
    if (event.source !== window.parent) return;
    var data = event.data || {};
    if (data.type === "streamlit:render") draw(data.args || {});
  });
  // Clicking a head in the model view or a layer with more rows changes the height: follow it.
  new ResizeObserver(reportHeight).observe(document.getElementById("bertviz-root"));
  // BertViz redraws its SVG from scratch when the user picks another layer or kind: size the new one too.
  new MutationObserver(function () { if (fit) new Function(fit)(); })
    .observe(document.getElementById("bertviz-root"), {childList: true, subtree: true});
  send("streamlit:componentReady", {apiVersion: 1});
})();
