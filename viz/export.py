"""Offline exports of figures: PNG through kaleido (which drives the local Chromium), SVG the same way,
and a standalone HTML fallback that needs no browser on the server.

Exports are slide-sized copies (:func:`viz.display.for_slide`): every tick label, legible fonts, margins that fit.
Rendering: kaleido's one-shot mode starts a Chromium per image (~3 s here); once one image has rendered, kaleido's
persistent "sync server" is started and later images take ~0.4 s. The server is one process-wide Chromium whose
request queue is not safe for two callers at once (a caller could receive another's image), so renders are
serialised by a lock; it is started only after a one-shot render has shown that Chromium works here (a server whose
browser fails to start would leave every later call waiting forever).
"""

from __future__ import annotations

import shutil
import threading
import warnings

import plotly.graph_objects as go
import plotly.io as pio

import settings
from viz.display import SLIDE_SCALE, for_slide

# A lock, not state: it only orders renders that would otherwise interleave on kaleido's single queue.
_RENDER_LOCK = threading.Lock()


class ExportUnavailableError(RuntimeError):
    pass


def figure_image(fig: go.Figure, fmt: str = "png", scale: float = SLIDE_SCALE) -> bytes:
    """``fig`` rendered as it is (no slide layout); see :func:`figure_png` for the export."""
    try:
        with _RENDER_LOCK, warnings.catch_warnings():
            warnings.filterwarnings("ignore", "The kopts argument is ignored", UserWarning)
            image = pio.to_image(fig, format=fmt, scale=scale)
            _start_server_once()
        return image
    except Exception as e:  # kaleido without Chromium raises a variety of errors; all mean the same to a user
        raise ExportUnavailableError(
            f"{fmt.upper()} export needs Chromium on the server ({type(e).__name__}). "
            "Use the camera icon on the chart, or the HTML download."
        ) from e


def _start_server_once() -> None:
    """Start kaleido's persistent renderer after a first successful render (call with _RENDER_LOCK held), and warm
    it in the background: its own Chromium takes as long to start as a one-shot render, which the user who just
    got an image doesn't wait for (the next export waits on the lock if it comes sooner)."""
    import kaleido

    if not kaleido._global_server.is_running():  # kaleido's own singleton; no public "is running"
        kaleido.start_sync_server(silence_warnings=True)
        threading.Thread(target=_warm_server, name="kaleido-warm-up", daemon=True).start()


def _warm_server() -> None:
    try:
        with _RENDER_LOCK, warnings.catch_warnings():
            warnings.filterwarnings("ignore", "The kopts argument is ignored", UserWarning)
            pio.to_image(go.Figure(), format="png", width=16, height=16)
    except Exception:  # the next real export reports any problem to its user
        pass


def figure_png(fig: go.Figure, *, subtitle: str | None = None) -> bytes:
    """A slide-sized PNG (2560 x 1440 pixels) of ``fig`` with every axis label; ``subtitle`` is plain text."""
    return figure_image(for_slide(fig, subtitle=subtitle), "png")


def figure_html(fig: go.Figure, *, subtitle: str | None = None) -> str:
    """A standalone interactive HTML file with plotly.js inlined (works offline), slide-sized like the PNG."""
    return for_slide(fig, subtitle=subtitle).to_html(include_plotlyjs=True, full_html=True)


def png_available() -> bool:
    """kaleido renders with a Chromium it finds on the machine; without one, PNG export cannot work offline."""
    return bool(
        settings.kaleido_browser()
        or shutil.which("chromium")
        or shutil.which("chromium-browser")
        or shutil.which("google-chrome")
    )
