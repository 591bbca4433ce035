"""The class's guesses as a figure: one bar per option, the model's answer outlined once revealed. Pure plotly (no
Streamlit); the page passes translated labels."""
from __future__ import annotations

from typing import Sequence

import plotly.graph_objects as go

BAR = "#4C6EF5"
RIGHT = "#2B8A3E"
FONT_SIZE = 18


def guesses_histogram(counts: Sequence[int], labels: Sequence[str], right_index: int | None, lab: dict,
                      *, font_size: int = FONT_SIZE) -> go.Figure:
    """counts[i] students chose option i (labelled labels[i]); ``right_index`` is the model's answer, or None before
    the reveal (then no bar is marked). ``lab``: title, count, right."""
    counts = [int(c) for c in counts]
    total = sum(counts)
    colors = [RIGHT if i == right_index else BAR for i in range(len(counts))]
    text = [f"{c} ({c / total:.0%})" if total else "0" for c in counts]
    fig = go.Figure(go.Bar(x=list(range(len(counts))), y=counts, marker_color=colors, text=text,
                           textposition="outside", cliponaxis=False,
                           marker_line_width=[4 if i == right_index else 0 for i in range(len(counts))],
                           marker_line_color="#1F2430", hovertemplate="%{customdata}: %{y}<extra></extra>",
                           customdata=list(labels)))
    ticks = [(("✓ " if i == right_index else "") + str(label)) for i, label in enumerate(labels)]
    fig.update_layout(title=dict(text=lab["title"] + (f" — ✓ {lab['right']}" if right_index is not None else "")),
                      xaxis=dict(tickvals=list(range(len(counts))), ticktext=ticks, tickfont=dict(size=font_size)),
                      yaxis=dict(title=lab["count"], rangemode="tozero", dtick=max(1, (max(counts + [1]) + 4) // 5)),
                      font=dict(size=font_size), height=360, margin=dict(t=60, b=40, l=60, r=20), showlegend=False)
    return fig
