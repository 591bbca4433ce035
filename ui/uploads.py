"""What one session may keep of its uploads.

Streamlit keeps every file a session uploads in memory until the widget drops it or the session ends, and the upload
endpoint takes any file id a client makes up: one session could hold any number of files. The app reads at most one
file per uploader (an attention JSON on Explore and on the Head lab, a word list on Train), each at most
``server.maxUploadSize`` (.streamlit/config.toml: 5 MB, the largest file the app accepts), so a session keeps at
most :data:`MAX_FILES_PER_SESSION` files; a newer one pushes out its oldest.
"""

from __future__ import annotations

MAX_FILES_PER_SESSION = 4  # three uploaders, and one file in flight while a widget replaces its file


def bound_per_session(manager=None, max_files: int = MAX_FILES_PER_SESSION) -> None:
    """Make the process's uploaded-file manager (or ``manager``) keep at most ``max_files`` files per session.
    Idempotent: every script run may call it; the first one installs the bound on the one shared manager."""
    if manager is None:
        from streamlit.runtime import Runtime

        if not Runtime.exists():
            return
        manager = Runtime.instance().uploaded_file_mgr
    if getattr(manager, "_attention_lab_max_files", None) is not None or not hasattr(manager, "file_storage"):
        return
    add = manager.add_file

    def add_file(session_id, file) -> None:
        add(session_id, file)
        with manager._lock:
            held = list(manager.file_storage.get(session_id, {}))
        for file_id in held[: max(0, len(held) - max_files)]:  # oldest first (insertion order)
            manager.remove_file(session_id, file_id)

    manager.add_file = add_file
    manager._attention_lab_max_files = max_files
