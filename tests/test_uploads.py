"""Uploads: Streamlit's limit is the largest file the app accepts, and a session keeps only a few files."""

from __future__ import annotations

import math
import tomllib

from lab_fixtures import REPO
from streamlit.runtime.memory_uploaded_file_manager import MemoryUploadedFileManager
from streamlit.runtime.uploaded_file_manager import UploadedFileRec

from models.capture_upload import MAX_JSON_BYTES
from models.data import MAX_BYTES
from ui import uploads


def test_max_upload_size_is_what_the_app_accepts():
    cfg = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    mb = cfg["server"]["maxUploadSize"]  # Streamlit counts 1024 * 1024 bytes per MB
    assert mb == math.ceil(max(MAX_JSON_BYTES, MAX_BYTES) / 2**20) == 5  # not Streamlit's 200


def rec(i: int, size: int = 1000) -> UploadedFileRec:
    return UploadedFileRec(file_id=f"f{i}", name=f"{i}.json", type="application/json", data=bytes(size))


def test_a_session_keeps_at_most_a_few_uploads():
    mgr = MemoryUploadedFileManager("/_stcore/upload_file")
    uploads.bound_per_session(mgr)
    uploads.bound_per_session(mgr)  # idempotent: installed once
    for i in range(12):  # the issue: 12 files in one session, all kept
        mgr.add_file("s1", rec(i))
    mgr.add_file("s2", rec(0))
    assert list(mgr.file_storage["s1"]) == ["f8", "f9", "f10", "f11"]  # the newest four
    assert [f.file_id for f in mgr.get_files("s1", ["f0", "f11"])] == ["f11"]
    assert list(mgr.file_storage["s2"]) == ["f0"]  # another session is its own
    assert mgr._total_bytes == 5 * 1000 and mgr._file_count == 5  # Streamlit's own accounting holds
    mgr.add_file("s1", rec(9, 10))  # a replaced file is not a new one
    assert list(mgr.file_storage["s1"]) == ["f8", "f9", "f10", "f11"]


def test_without_a_runtime_nothing_happens():
    uploads.bound_per_session()  # no Streamlit server in this process: a no-op
