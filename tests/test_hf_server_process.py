"""A model folder against a real server process (the harm is to the process, not to a function): a shard index that
names a FIFO used to freeze ``streamlit run`` itself — every session, ``/_stcore/health`` and SIGTERM stopped
answering. Now the page says why, and the process keeps serving. And a folder over the size limit is refused before
a byte of it loads, while the process's memory stays where it was.

One Streamlit process per test module, driven over its WebSocket by bench.classroom's ``Tab`` (no browser)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest
from hf_fixtures import save_tiny
from lab_fixtures import run_async
from test_hf_lm import fifo_index_folder

from services.server_process import ServerProcess, healthy

HEALTH_S = 90


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``streamlit run app.py`` whose Real model page opens a FIFO-index folder by default (ATTENTION_LAB_HF_MODEL,
    not a classroom: any path may be typed). Stopped by its own process group only; the FIFO is given a writer
    first, so that even a frozen process (the old behaviour) can be ended."""
    base = tmp_path_factory.mktemp("hf-server")
    fifo_folder = fifo_index_folder(base / "fifo-model")
    env = {
        **os.environ,
        "ATTENTION_LAB_HF_MODEL": str(fifo_folder),
        "ATTENTION_LAB_CLASSROOM": "0",
        "ATTENTION_LAB_USER_CKPT_DIR": str(base / "ckpt"),
        "PYTHONUNBUFFERED": "1",
    }
    srv = ServerProcess(None, base / "server.log", env, address="127.0.0.1")
    try:
        srv.wait_healthy(HEALTH_S)
        yield {"port": srv.port, "proc": srv.proc, "base": base, "fifo": fifo_folder}
    finally:
        opener = subprocess.Popen(["sh", "-c", f"exec 3>'{fifo_folder}/model-00001-of-00001.safetensors'"])
        srv.stop(timeout=20)
        opener.kill()
        opener.wait()


def open_real_model(port: int, path: str | None = None, timeout: float = 60) -> list[str]:
    """One session on the Real model page (optionally typing ``path`` into the folder field); the texts it showed.
    Raises TimeoutError when the run does not finish within ``timeout`` seconds."""
    from bench.classroom import Record, Tab

    async def go():
        tab = Tab(f"http://127.0.0.1:{port}", Record("t", "fault"), "real_model", time.perf_counter)
        try:
            await tab.open(timeout=timeout)
            if path is not None:
                tab.set_value("Model folder on the server", "string_value", path)
                await tab.rerun()
                await tab.wait_finished(timeout)
            return list(tab.texts)
        finally:
            await tab.close()

    return run_async(go())


def test_a_fifo_in_the_shard_index_gets_a_message_and_the_process_keeps_serving(server):
    t0 = time.perf_counter()
    texts = open_real_model(server["port"])  # old code: this run never finished
    took = time.perf_counter() - t0
    assert any("is not a plain file inside the folder" in t for t in texts), texts
    assert healthy(server["port"], timeout=3), "the process must keep answering /_stcore/health"
    again = open_real_model(server["port"])  # a second session: served, same message
    assert any("is not a plain file inside the folder" in t for t in again)
    print(f"FIFO folder refused; the page answered in {took:.1f} s (first run, cold imports included)")


def test_a_folder_over_the_limit_is_refused_quickly_and_memory_stays(server, tmp_path):
    """A 'model' whose safetensors header declares 100 G numbers (400 GB as float32) in a 200-byte file: refused
    from the header, in well under a second once the page is warm, and the process does not grow."""
    import json

    folder = save_tiny("gpt2", tmp_path / "huge")
    body = json.dumps({"w": {"dtype": "F32", "shape": [100_000, 1_000_000], "data_offsets": [0, 0]}}).encode()
    (folder / "model.safetensors").write_bytes(len(body).to_bytes(8, "little") + body)
    ps = psutil.Process(server["proc"].pid)
    open_real_model(server["port"], str(folder))  # warm: imports done
    before = ps.memory_info().rss
    t0 = time.perf_counter()
    texts = open_real_model(server["port"], str(folder))
    took = time.perf_counter() - t0
    after = ps.memory_info().rss
    assert any("this server loads models of up to" in t for t in texts), texts
    assert after - before < 50e6, (before, after)
    assert healthy(server["port"], timeout=3)
    print(
        f"refused in {took:.2f} s (a whole session: connect, run, close); RSS {before / 1e6:.0f} -> "
        f"{after / 1e6:.0f} MB"
    )


def test_the_server_refuses_an_upload_larger_than_the_app_accepts(server):
    """server.maxUploadSize (5 MB) is what the process enforces: 6 MB gets 413 from its Content-Length alone, before
    a byte of it is read; 1 MB is taken."""
    import http.client

    from bench.classroom import Record, Tab

    boundary = "attentionlab"

    with urllib.request.urlopen(f"http://127.0.0.1:{server['port']}/_stcore/health", timeout=10) as r:
        xsrf = next(
            c.split(";", 1)[0].split("=", 1)[1]
            for c in r.headers.get_all("Set-Cookie")
            if c.startswith("_streamlit_xsrf=")
        )  # the cookie a browser gets, and its token

    def put(tab, size: int, send_body: bool) -> int:
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.json"\r\n'
            f"Content-Type: application/json\r\n\r\n"
        ).encode()
        tail = f"\r\n--{boundary}--\r\n".encode()
        conn = http.client.HTTPConnection("127.0.0.1", server["port"], timeout=30)
        try:
            conn.putrequest("PUT", f"/_stcore/upload_file/{tab.session_id}/f{size}")
            for k, v in {
                "Content-Type": f"multipart/form-data; boundary={boundary}",
                "Cookie": f"_streamlit_xsrf={xsrf}",
                "X-Xsrftoken": xsrf,
                "Content-Length": str(len(head) + size + len(tail)),
            }.items():
                conn.putheader(k, v)
            conn.endheaders()
            if send_body:
                conn.send(head + b"x" * size + tail)
            return conn.getresponse().status
        finally:
            conn.close()

    async def session():
        tab = Tab(f"http://127.0.0.1:{server['port']}", Record("u", "fault"), "explore", time.perf_counter)
        await tab.open(timeout=60)  # a live session id and the XSRF cookie, as a browser has them
        try:
            big = await asyncio.to_thread(put, tab, 6 * 2**20, False)
            small = await asyncio.to_thread(put, tab, 2**20, True)
        finally:
            await tab.close()
        return big, small

    big, small = run_async(session())
    assert big == 413 and small in (200, 204), (big, small)


def random_gpt2(folder: Path, seed: int) -> Path:
    """A GPT-2 of 25 M parameters (100 MB as float32): big enough to see in the process's RSS."""
    import torch
    from hf_fixtures import tiny_tokenizer
    from transformers import GPT2Config, GPT2LMHeadModel

    tok = tiny_tokenizer()
    torch.manual_seed(seed)
    GPT2LMHeadModel(
        GPT2Config(
            vocab_size=len(tok),
            n_embd=512,
            n_layer=8,
            n_head=8,
            n_positions=64,
            bos_token_id=tok.eos_token_id,
            eos_token_id=tok.eos_token_id,
        )
    ).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def test_one_folder_model_per_process_whatever_the_sessions_keep(server, tmp_path):
    """Three sessions open three 100 MB folders one after the other; their tabs are closed but their sessions live
    on for minutes (and their page globals with them). The process holds one model, not three: it grew ~340 MB per
    folder before (a 340 MB GPT-2: 849 -> 1194 -> 1536 MB)."""
    folders = [random_gpt2(tmp_path / f"m{i}", i) for i in range(3)]
    ps = psutil.Process(server["proc"].pid)
    rss = []
    for folder in folders:
        texts = open_real_model(server["port"], str(folder), timeout=120)
        assert not any("can't be loaded" in t for t in texts), texts
        rss.append(ps.memory_info().rss)
    print("RSS after each folder: " + ", ".join(f"{r / 1e6:.0f} MB" for r in rss))
    assert rss[2] - rss[0] < 60e6, rss  # a second and third model would add 200 MB


def test_a_keystroke_reruns_only_the_pages_live_fragment_and_sends_data_not_charts(server, tmp_path):
    """The Real model page's per-key part is an st.fragment: a key in its text box (sent as the browser sends it,
    with the fragment's id) reruns that fragment only — no sidebar, no title, no model card — and sends the live
    views' data naming the new last token (the browser draws the bars, BertViz and the heatmaps from it): no plotly
    chart and no BertViz frame for the per-key views (the page drew both on every key before)."""
    import json

    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    from bench.classroom import LIVE_COMPONENT, Record, Tab, live_bars_title
    from models import hf_lm

    folder = save_tiny("llama", tmp_path / "tiny-llama")
    text = "The animal didn't cross the str"
    want = hf_lm.capture_lm(hf_lm.load_folder(folder), text).tgt_tokens[-1]

    async def go():
        tab = Tab(f"http://127.0.0.1:{server['port']}", Record("t", "real_model"), "real_model", time.perf_counter)
        seen: list[tuple] = []
        handle = tab.handle
        sizes: list[int] = []

        def spy(msg):
            kind = msg.WhichOneof("type")
            if kind == "new_session":
                seen.append(("run", tuple(msg.metadata.run.fragment_ids)))
            elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
                el = msg.delta.new_element
                e = getattr(el, el.WhichOneof("type"))
                title = ""
                if el.WhichOneof("type") == "plotly_chart":
                    title = ((json.loads(e.spec).get("layout") or {}).get("title") or {}).get("text", "")
                elif el.WhichOneof("type") == "bidi_component" and e.component_name == LIVE_COMPONENT:
                    title = live_bars_title(e)
                    sizes.append(len(e.json.encode()))
                seen.append((el.WhichOneof("type"), getattr(e, "label", "") or title))
            handle(msg)

        tab.handle = spy
        try:
            await tab.open(timeout=120)
            tab.set_value("Model folder on the server", "string_value", str(folder))
            await tab.rerun()
            await tab.wait_finished(120)
            box = tab.widgets["Type a sentence"][1]
            fragment = tab.widget_fragment.get(box, "")
            assert fragment, "the text box is not drawn inside an st.fragment"
            seen.clear()
            tab.set_value("Type a sentence", "string_value", text)
            await tab.rerun(fragment=fragment, auto=False)
            await tab.wait_finished(120)
            return seen, fragment, tab.last_status, sizes
        finally:
            await tab.close()

    seen, fragment, status, sizes = run_async(go())
    assert seen[0] == ("run", (fragment,)) and status == ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY, seen[:3]
    labels = [label for _, label in seen]
    assert "Language model" not in labels and "Model folder on the server" not in labels  # the sidebar stays
    assert ("title", "Real model") not in seen and not any(kind == "title" for kind, _ in seen)
    assert ("bidi_component", f"Next token after “{want}”") in seen, seen  # the views' data, for the new text
    assert not any(kind in ("plotly_chart", "component_instance") for kind, _ in seen), seen
    print(f"the views' data for one key: {sizes} bytes")
