"""The class's guesses as a figure: one bar per option, the model's answer outlined once revealed, and as a one-file
handout. Pure plotly (no Streamlit); like every builder in viz/, each takes ``tr`` (the page passes ``ui.i18n._``)
and translates its own words."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from viz.labels import N_, Translate, identity
from viz.style import house_layout

BAR = "#4C6EF5"
RIGHT = "#2B8A3E"
FONT_SIZE = 18


def guesses_histogram(
    counts: Sequence[int],
    labels: Sequence[str],
    right_index: int | None,
    *,
    tr: Translate = identity,
    font_size: int = FONT_SIZE,
) -> go.Figure:
    """counts[i] students chose option i (labelled labels[i]); ``right_index`` is the model's answer, or None before
    the reveal (then no bar is marked)."""
    counts = [int(c) for c in counts]
    total = sum(counts)
    colors = [RIGHT if i == right_index else BAR for i in range(len(counts))]
    text = [f"{c} ({c / total:.0%})" if total else "0" for c in counts]
    fig = go.Figure(
        go.Bar(
            x=list(range(len(counts))),
            y=counts,
            marker_color=colors,
            text=text,
            textposition="outside",
            cliponaxis=False,
            marker_line_width=[4 if i == right_index else 0 for i in range(len(counts))],
            marker_line_color="#1F2430",
            hovertemplate="%{customdata}: %{y}<extra></extra>",
            customdata=list(labels),
        )
    )
    ticks = [(("✓ " if i == right_index else "") + str(label)) for i, label in enumerate(labels)]
    title = tr(N_("The class's guesses"))
    if right_index is not None:
        title += " — ✓ " + tr(N_("the model's answer"))
    # The projector's own look, not the house's: a centred title, Streamlit's background, wider margins.
    return house_layout(
        fig,
        title,
        360,
        title=dict(text=title),
        xaxis=dict(tickvals=list(range(len(counts))), ticktext=ticks, tickfont=dict(size=font_size)),
        yaxis=dict(title=tr(N_("students")), rangemode="tozero", dtick=max(1, (max(counts + [1]) + 4) // 5)),
        font=dict(size=font_size),
        margin=dict(t=60, b=40, l=60, r=20),
        paper_bgcolor=None,
        plot_bgcolor=None,
        showlegend=False,
    )


def summary_html(title: str, rows: Sequence[dict], *, tr: Translate = identity) -> str:
    """A one-file class summary for a handout, offline (no script, no external file): per question its text, the
    class's guesses as bars drawn with CSS, and the model's answer. ``rows``: {"question", "labels", "counts",
    "right"} with plain text (escaped here); ``title`` plain text."""
    import html

    e = html.escape
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{e(title)}</title><style>"
        "body{font-family:system-ui,sans-serif;max-width:900px;margin:2em auto;color:#1F2430}"
        "h2{font-size:1.15em;margin-top:1.6em}.row{display:flex;align-items:center;gap:.6em;margin:.2em 0}"
        ".lab{width:14em;text-align:right;font-family:monospace}.bar{height:1.1em;background:#4C6EF5}"
        ".right .bar{background:#2B8A3E}.right .lab{font-weight:700}"
        "</style></head><body>",
        f"<h1>{e(title)}</h1>",
    ]
    for r in rows:
        counts = [int(c) for c in r["counts"]]
        total, top = sum(counts), max(counts + [1])
        parts.append(f"<h2>{e(r['question'])}</h2><p>{e(tr(N_('{a} answered')).format(a=total))}</p>")
        for i, (label, c) in enumerate(zip(r["labels"], counts)):
            cls = "row right" if i == r.get("right") else "row"
            mark = "✓ " if i == r.get("right") else ""
            parts.append(
                f"<div class='{cls}'><span class='lab'>{e(mark + str(label))}</span>"
                f"<span class='bar' style='width:{300 * c // top}px'></span><span>{c}</span></div>"
            )
        right = r.get("right")
        parts.append(
            "<p><b>"
            + e(tr(N_("The model's answer")))
            + ":</b> "
            + (
                e(str(r["labels"][right]))
                if right is not None and right < len(r["labels"])
                else e(tr(N_("not revealed")))
            )
            + "</p>"
        )
    parts.append("</body></html>")
    return "".join(parts)
