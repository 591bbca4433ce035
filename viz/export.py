"""Offline exports of figures: PNG through kaleido (which drives the local Chromium), SVG the same way,
and a standalone HTML fallback that needs no browser on the server."""
from __future__ import annotations

import os
import shutil

import plotly.graph_objects as go
import plotly.io as pio


class ExportUnavailableError(RuntimeError):
    pass


def figure_image(fig: go.Figure, fmt: str = "png", scale: float = 2.0) -> bytes:
    try:
        return pio.to_image(fig, format=fmt, scale=scale)
    except Exception as e:  # kaleido without Chromium raises a variety of errors; all mean the same to a user
        raise ExportUnavailableError(f"{fmt.upper()} export needs Chromium on the server ({type(e).__name__}). "
                                     "Use the camera icon on the chart, or the HTML download.") from e


def figure_png(fig: go.Figure) -> bytes:
    return figure_image(fig, "png")


def figure_html(fig: go.Figure) -> str:
    """A standalone interactive HTML file with plotly.js inlined (works offline)."""
    return fig.to_html(include_plotlyjs=True, full_html=True)


def png_available() -> bool:
    """kaleido renders with a Chromium it finds on the machine; without one, PNG export cannot work offline."""
    return bool(os.environ.get("BROWSER_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")
                or shutil.which("google-chrome"))
