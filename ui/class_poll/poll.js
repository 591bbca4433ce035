// The class poller (ui/class_session.py): long-polls the light route
// GET /class/counters?code=…&watch=<watch>&seen=<n> (services/class_counters.py), which answers as soon as the class's
// counter `watch` ("stage" for a student, "version" for the teacher's live count) is past `n`, or after 10 s as it
// is. It sends Streamlit one trigger, `changed` (the new counter), only when the counter differs from the one Python
// last drew (`seen`), then asks again at once: the teacher's move reaches a student's page within a tenth of a second
// of the server seeing it, and an idle tab costs the server one request per 10 s and no script rerun. Served by
// `streamlit run app.py` without the route, the answer is not JSON: then it triggers every `fallback_ms` and Python
// checks the store. After a network error (the server restarting, the Wi-Fi dropped) it tries again every
// `every_ms`. It also keeps the class cookie (`cookie`), so a reload finds the student or the teacher again.
export default function (component) {
  const { parentElement, data, setTriggerValue } = component;
  const host = parentElement;
  host.__classPoll = host.__classPoll || { run: 0, seen: null, last: 0, abort: null };
  const poll = host.__classPoll;
  poll.data = data;
  poll.trigger = setTriggerValue;
  poll.seen = data.seen;                          // what Python drew last: a new value after each rerun
  if (data.cookie && document.cookie.indexOf(data.cookie) < 0) document.cookie = data.cookie;
  if (poll.abort) poll.abort.abort();             // a newer loop (after a rerun) replaces the one asking now
  const run = ++poll.run;
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  async function loop() {
    while (run === poll.run) {
      const d = poll.data;
      if (!d || !d.url) return;
      const controller = new AbortController();
      poll.abort = controller;
      let counters = null;
      try {
        const url = d.url + "&watch=" + encodeURIComponent(d.watch) + "&seen=" + Number(poll.seen);
        const response = await fetch(url, { cache: "no-store", credentials: "same-origin",
                                             signal: controller.signal });
        const json = (response.headers.get("content-type") || "").includes("application/json");
        if (json) counters = await response.json();
        if (json && !response.ok) { await sleep(d.every_ms); continue; }   // no such class, store down: later
      } catch (e) {
        if (run !== poll.run) return;             // replaced or unmounted: the abort is ours
        await sleep(d.every_ms);
        continue;
      }
      if (run !== poll.run) return;
      if (counters === null) {                    // no route here: let Python look, now and then
        await sleep(d.fallback_ms);
        if (run !== poll.run) return;
        poll.trigger("changed", -Date.now());
        continue;
      }
      const value = counters[d.watch];
      if (value === undefined) { await sleep(d.every_ms); continue; }
      if (value !== poll.seen) {
        poll.seen = value;                        // one trigger per change, not one per answer
        poll.trigger("changed", value);
      }
    }
  }

  loop();
  return () => {
    if (run === poll.run) { poll.run += 1; if (poll.abort) poll.abort.abort(); }
  };
}
