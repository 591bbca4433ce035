"""bench/browser_path.trace_split: a Chromium trace of typed keys split into each key's ms per phase (script, style,
layout, pre-paint, paint, layerize + commit) on the renderer's main thread, nested events counted once."""

from bench.browser_path import PHASE_NAMES, trace_split

PID, MAIN, OTHER = 7, 1, 2


def x(name, ts, dur, tid=MAIN, **data):
    e = {"ph": "X", "name": name, "pid": PID, "tid": tid, "ts": ts, "dur": dur}
    if data:
        e["args"] = {"data": data}
    return e


def trace(*events):
    meta = [
        {"ph": "M", "name": "thread_name", "pid": PID, "tid": MAIN, "args": {"name": "CrRendererMain"}},
        {"ph": "M", "name": "thread_name", "pid": PID, "tid": OTHER, "args": {"name": "Compositor"}},
    ]
    return meta + list(events)


def test_each_key_gets_its_own_window_and_nested_time_counts_once():
    # key 1 at t=1,000 us: its input handler (script 10 ms) forces style (2 ms) and layout (3 ms) inside it, then
    # the frame: pre-paint 1 ms, paint 4 ms (with a nested paint of 1 ms), layerize 0.5 ms, commit 0.5 ms.
    # key 2 at t=251,000 us: script 6 ms, paint 2 ms. Work on another thread and before the first key is not counted.
    events = trace(
        x("FunctionCall", 0, 5_000),  # before any key
        x("EventDispatch", 1_000, 10_000, type="input"),
        x("FunctionCall", 1_000, 10_000),
        x("UpdateLayoutTree", 6_000, 2_000),
        x("Layout", 8_000, 3_000),
        x("PrePaint", 20_000, 1_000),
        x("Paint", 21_000, 4_000),
        x("Paint", 22_000, 1_000),
        x("Layerize", 25_000, 500),
        x("Commit", 25_500, 500),
        x("Paint", 21_000, 9_000, tid=OTHER),  # the compositor's thread: not the main thread
        x("EventDispatch", 251_000, 6_000, type="input"),
        x("FunctionCall", 251_000, 6_000),
        x("Paint", 270_000, 2_000),
    )
    one, two = trace_split(events)
    assert one == {
        "script": 5.0,
        "style": 2.0,
        "layout": 3.0,
        "pre-paint": 1.0,
        "paint": 4.0,
        "layerize + commit": 1.0,
    }
    assert two == {**dict.fromkeys(PHASE_NAMES, 0.0), "script": 6.0, "paint": 2.0}


def test_a_window_ends_at_the_next_key_or_after_its_limit():
    events = trace(
        x("EventDispatch", 0, 1_000, type="input"),
        x("FunctionCall", 0, 1_000),
        x("Paint", 300_000, 2_000),  # past the 240 ms window and before the next key: nobody's
        x("EventDispatch", 500_000, 1_000, type="input"),
        x("FunctionCall", 500_000, 1_000),
    )
    one, two = trace_split(events)
    assert (one["script"], one["paint"], two["script"]) == (1.0, 0.0, 1.0)
    assert trace_split(trace(x("FunctionCall", 0, 1_000))) == []  # no key typed: nothing to split
