"""Reliability: a training run in one session while others type leaves their views correct.

One server, two browser sessions (two browser contexts). Session A starts a MiniFormer run on the Train page and
keeps it running; session B types "capybara" on Explore with the shipped ``miniformer``, one key at a time, and after
each key checks what it sees against numbers computed here, in the test process, from the shipped checkpoint: the
next-token bars (their title, their top-k labels and the percentages printed on them) and the BertViz frame. Then A's
run is stopped and saved (to the server's temporary user folder), and B checks that the shipped model did not change:
a fresh forward pass on the server agrees with the numbers from before, and so do the checkpoint file and its capture.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import time

import torch

from models.capture import capture
from models.checkpoint import load_checkpoint, resolve_path
from models.data import load_words, next_char_counts
from models.vocab import EOS
from viz.metrics import next_token_probs

WORD = "capybara"
EXTRA = "s"  # typed after the run has ended: a text no earlier rerun has cached on the server
EPOCHS = 500  # the most the page allows, far more than the test needs: the run is stopped with the
# Stop button at the end. The original recipe has no early stopping, so the run can't
# end on its own while B types (the fast recipe's early stopping once did, at epoch 92)
SEED_RECIPE = "Original recipe (seed)"
TOP_K, TEMPERATURE = 8, 1.0  # the Explore sliders' defaults
NAME = f"e2e-conc-{int(time.time()) % 100000}"
BARS_PREFIX = "Next token after"
PROGRESS = re.compile(r"Epoch (\d+) of (\d+)\b")
SAVED = "is saved and is now in every page's model picker"
STOPPED = re.compile(r"Stopped after epoch \d+ because you pressed Stop")

# One read of the next-token chart, in the browser in one go, so a rerun can't swap the chart between reading its
# title and its bars. Plotly draws the bars bottom-up: y tick i labels bar i, and bar i carries its percentage.
READ_BARS = """(prefix) => {
    for (const c of document.querySelectorAll('[data-testid="stPlotlyChart"]')) {
        const t = c.querySelector('.gtitle');
        if (!t || !t.textContent.startsWith(prefix)) continue;
        return {title: t.textContent,
                labels: [...c.querySelectorAll('g.ytick text')].map(e => e.textContent),
                values: [...c.querySelectorAll('g.trace.bars text')].map(e => e.textContent)};
    }
    return null;
}"""


def read_bars(app) -> dict | None:
    return app.page.evaluate(READ_BARS, BARS_PREFIX)


def expected_bars(bundle, words, text: str) -> dict:
    """What Explore must draw for ``text`` at the default sliders: top-down labels and percentages of the top-k
    tokens, plus the one extra (orange) bar the page adds at the bottom when the shipped word list's most common
    continuation is not among them. Computed here, independently of viz/figures.py."""
    probs = next_token_probs(capture(bundle, text).next_token_logits(), TEMPERATURE, TOP_K)
    top = torch.topk(probs, TOP_K)
    label = lambda i: "end of word" if bundle.vocab.itos[i] == EOS else bundle.vocab.itos[i]
    labels = [label(i) for i in top.indices.tolist()]
    values = [f"{v:.1%}" for v in top.values.tolist()]
    hint = next(iter(next_char_counts(text, words)), None)  # the orange bar
    if hint is not None and bundle.vocab.stoi[hint] not in top.indices.tolist():
        labels.append(label(bundle.vocab.stoi[hint]))
        values.append(f"{float(probs[bundle.vocab.stoi[hint]]):.1%}")
    return {"labels": labels, "values": values}


def shipped_model_state() -> tuple[bytes, object, dict]:
    """The shipped checkpoint's bytes digest, the loaded bundle, and the expected bars of every prefix of the
    typed text (one torch thread, like the server, so the floating-point sums run in the same order)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        digest = hashlib.sha256(resolve_path("miniformer").read_bytes()).digest()
        bundle = load_checkpoint("miniformer")
        words = load_words().words
        texts = [WORD[:n] for n in range(1, len(WORD) + 1)] + [WORD + EXTRA]
        return digest, bundle, {t: expected_bars(bundle, words, t) for t in texts}
    finally:
        torch.set_num_threads(threads)


def progress(a) -> tuple[int, int] | None:
    """(epoch, of how many epochs) from A's live panel, or None when it is not showing a running epoch."""
    m = PROGRESS.search(a.main_text())
    return (int(m.group(1)), int(m.group(2))) if m else None


def training_epoch(a) -> int | None:
    """The epoch A's live panel reports, or None when the panel is not showing a running epoch."""
    p = progress(a)
    if p is None:
        return None
    assert p[1] == EPOCHS, f"A's run is training {p[1]} epochs, not the {EPOCHS} the test set"
    return p[0]


def stop_if_running(a) -> None:
    """Press A's Stop button if the live panel shows one (the run ends after its current epoch, best one saved)."""
    stop = a.page.get_by_role("button", name=re.compile(r"^\W*Stop$"))
    if stop.count():
        stop.click(timeout=15_000)


def check_view(b, text: str, want: dict) -> dict:
    """Wait until B's bars speak of the last typed character and BertViz shows <BOS> + ``text``; then the bars must
    be exactly the expected ones."""
    title = f"{BARS_PREFIX} “{text[-1]}”"
    got = b.wait_until(
        lambda: (r := read_bars(b)) and r["title"] == title and r,
        f"the next-token bars after typing {text!r} ({title})",
    )
    tokens = ["<BOS>", *text]
    b.wait_until(lambda: b.bertviz_tokens() == tokens + tokens, f"BertViz to draw {tokens} after typing {text!r}")
    # Read the bars again after BertViz: the page is at ``text`` now, and a late rerun must not have redrawn them.
    again = read_bars(b)
    assert again == got, f"the bars changed while BertViz caught up on {text!r}: {got} -> {again}"
    shown = {"labels": got["labels"][::-1], "values": got["values"][::-1]}  # top-down, like ``want``
    assert shown == want, (
        f"Explore's bars for {text!r} differ from the shipped model's:\n  shown {shown}\n  want  {want}"
    )
    return got


def press_train(a, name: str, epochs: int = EPOCHS) -> None:
    """On session ``a``'s Train page: the original recipe, ``epochs`` epochs, result name ``name``; press Train on a
    settled form (the page's live panel is what the caller waits for)."""
    a.goto("train")
    a.page.get_by_role("radio", name=SEED_RECIPE, exact=True).click()  # resets the knobs: choose it first
    a.wait_until(lambda: "Original recipe:" in a.main_text(), "the original recipe to be chosen")
    # Let that rerun finish before typing: its callback sets the knobs to the recipe's defaults, and the caption
    # above is drawn before the number inputs, so a value typed now could be overwritten by the rerun's 100 epochs.
    a.wait_idle()
    epochs_box = a.page.get_by_label("Epochs", exact=True)
    epochs_box.fill(str(epochs))
    epochs_box.press("Enter")
    a.wait_until(lambda: epochs_box.input_value() == str(epochs), "the epoch count to take")
    box = a.page.get_by_role("textbox", name="Name for the result", exact=True)
    box.fill(name)
    box.press("Enter")
    a.wait_until(lambda: f"Will be saved as {name}" in a.main_text(), "the name to be accepted")
    a.wait_idle()  # the rerun the name started is over: press Train on a settled form
    assert epochs_box.input_value() == str(epochs), f"the Epochs box reads {epochs_box.input_value()!r} after settling"
    a.page.get_by_role("button", name=re.compile(r"^\W*Train$")).click()


def test_training_in_one_session_leaves_typing_in_another_correct(open_app):
    t_start = time.monotonic()
    digest, bundle, want = shipped_model_state()
    before = capture(bundle, WORD)

    # ---- A: start a long MiniFormer run and see it running -----------------------------------------------------
    a = open_app()
    press_train(a, NAME)
    # Two steps, so a failure says which one: the page switched to the live panel, then the panel moved on.
    a.wait_until(lambda: f"Training {NAME}" in a.main_text(), "A's page to switch to the live panel of the run")
    first_epoch, total = a.wait_until(
        lambda: (p := progress(a)) and p[0] >= 1 and p,
        "A's live panel to show a finished epoch of the run",
        timeout_s=90,
    )
    assert total == EPOCHS, f"A's run is training {total} epochs, not the {EPOCHS} the test set"
    t_running = time.monotonic()

    # ---- B: Explore with the shipped MiniFormer, typed one key at a time while A trains ----------------------------
    try:
        b = open_app()
        b.goto("", model="miniformer")
        assert b.page.get_by_role("combobox", name="Model", exact=True).input_value() == "MiniFormer"
        b.wait_until(lambda: (r := read_bars(b)) and "start of a word" in r["title"], "the bars of the empty text")
        box = b.textbox()
        box.click()
        seen_epochs = [first_epoch]
        key_seconds = []
        for n, ch in enumerate(WORD, 1):
            t0 = time.monotonic()
            box.press(ch)
            check_view(b, WORD[:n], want[WORD[:n]])
            key_seconds.append(time.monotonic() - t0)
            seen_epochs.append(training_epoch(a))
    except BaseException:
        with contextlib.suppress(Exception):
            stop_if_running(a)  # don't leave the run loading the machine for the tests that follow
        raise
    assert all(e is not None for e in seen_epochs), (
        f"A's run was not running during all of B's typing (epochs seen after each key: {seen_epochs})"
    )
    assert seen_epochs[-1] > seen_epochs[0], f"A's run made no progress while B typed: epochs {seen_epochs}"
    b.screenshot("concurrency-explore-while-training")
    a.screenshot("concurrency-train-while-typing")

    # ---- A: stop the run; it ends cleanly and is saved in the server's temporary user folder -------------------
    stop_if_running(a)
    # The result panel streams in element by element: wait for the saved line *and* the reason line below it.
    a.wait_until(
        lambda: (t := a.main_text()) and SAVED in t and STOPPED.search(t),
        "A's run to stop, be saved and say it was stopped with Stop",
        timeout_s=120,
    )
    assert (a.server.user_ckpt_dir / f"{NAME}.pt").is_file()
    t_stopped = time.monotonic()

    # ---- B: the shipped model is unchanged ----------------------------------------------------------------------
    # In the browser: one more key, a text the server has not computed yet, so a fresh forward pass of the cached
    # shipped model after A's run (and with A's model now in the picker); it must still be B's model and agree.
    box.press(EXTRA)
    check_view(b, WORD + EXTRA, want[WORD + EXTRA])
    assert b.page.get_by_role("combobox", name="Model", exact=True).input_value() == "MiniFormer"
    # On disk: the same file, and the same capture as before the typing began.
    assert hashlib.sha256(resolve_path("miniformer").read_bytes()).digest() == digest, (
        "checkpoints/miniformer.pt changed"
    )
    after = capture(load_checkpoint("miniformer"), WORD)
    assert torch.equal(after.logits, before.logits)
    assert after.names() == before.names()
    assert all(torch.equal(after.patterns[k], before.patterns[k]) for k in before.names())

    a.assert_clean()
    b.assert_clean()
    print(
        f"\nA's epochs after each of B's keys: {seen_epochs}; B's seconds per key: "
        f"{', '.join(f'{s:.1f}' for s in key_seconds)}; run going after {t_running - t_start:.0f} s, "
        f"stopped and saved after {t_stopped - t_start:.0f} s, test {time.monotonic() - t_start:.0f} s"
    )
