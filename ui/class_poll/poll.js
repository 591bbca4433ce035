// The class poller (ui/class_session.py): asks the light route GET /class/counters?code=… every `every_ms` for the
// class's counters and sends Streamlit one trigger, `changed`, only when the counter it watches (`watch`: "stage" for
// a student, "version" for the teacher's live count) differs from the one Python last drew (`seen`). Idle, it costs
// the server one small store read per tab per interval and no script rerun. Served by `streamlit run app.py`
// without the route, the answer is not JSON: then it triggers every `fallback_ms` and Python checks the store.
// It also keeps the class cookie (`cookie`), so a reload finds the student or the teacher again.
export default function (component) {
  const { parentElement, data, setTriggerValue } = component;
  const host = parentElement;
  host.__classPoll = host.__classPoll || { timer: null, seen: null, last: 0 };
  const poll = host.__classPoll;
  poll.data = data;
  poll.trigger = setTriggerValue;
  poll.seen = data.seen;                          // what Python drew last: a new value after each rerun
  if (data.cookie && document.cookie.indexOf(data.cookie) < 0) document.cookie = data.cookie;

  async function tick() {
    const d = poll.data;
    if (!d || !d.url) return;
    let counters = null;
    try {
      const response = await fetch(d.url, { cache: "no-store", credentials: "same-origin" });
      if ((response.headers.get("content-type") || "").includes("application/json")) counters = await response.json();
    } catch (e) {
      return;                                       // the server is restarting or the Wi-Fi dropped: try again
    }
    if (counters === null) {                        // no route here: let Python look, now and then
      const now = Date.now();
      if (now - poll.last >= d.fallback_ms) { poll.last = now; poll.trigger("changed", -now); }
      return;
    }
    const value = counters[d.watch];
    if (value === undefined || value === poll.seen) return;
    poll.seen = value;                              // one trigger per change, not one per tick
    poll.trigger("changed", value);
  }

  if (poll.timer === null) poll.timer = setInterval(tick, data.every_ms);
  return () => { clearInterval(poll.timer); poll.timer = null; };
}
