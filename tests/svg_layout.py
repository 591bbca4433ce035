"""Where plotly put each tick label and axis title in an SVG rendered by kaleido: text boxes (each glyph as wide as
Helvetica's, which Chromium's Arial / Liberation Sans match; a line 0.9 em tall), turned and moved by each element's
transform, in the SVG's viewBox units. Enough to tell a label inside the picture from one cut off at its edge, or
one drawn over the cells."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

_SVG = "{http://www.w3.org/2000/svg}"
_NUM = r"(-?[\d.]+(?:e-?\d+)?)"


# Helvetica's advance widths (Adobe AFM, in em) for what tick labels hold; anything else counts as 0.72 em (wide).
_EM = {
    **dict.fromkeys("ijl'|", 0.222),
    **dict.fromkeys(" ft!.,:;/()[]-", 0.278),
    "r": 0.333,
    **dict.fromkeys("ckszvxy_", 0.5),
    **dict.fromkeys("abdeghnopqu0123456789L?", 0.556),
    **dict.fromkeys("<>=+", 0.584),
    "w": 0.722,
    "m": 0.833,
}


def text_width(text: str, font: float) -> float:
    return font * sum(_EM.get(ch, 0.72) for ch in text)


@dataclass(frozen=True)
class Box:
    text: str
    kind: str  # 'xtick', 'ytick', 'xtitle', 'ytitle'
    x0: float
    y0: float
    x1: float
    y1: float
    font: float

    def inside(self, w: float, h: float, slack: float = 0.5) -> bool:
        return self.x0 >= -slack and self.y0 >= -slack and self.x1 <= w + slack and self.y1 <= h + slack

    def overlaps(self, x0: float, y0: float, x1: float, y1: float, slack: float = 1.0) -> bool:
        return self.x0 < x1 - slack and self.x1 > x0 + slack and self.y0 < y1 - slack and self.y1 > y0 + slack


def _transform(el) -> list:
    ops = []
    for name, args in re.findall(r"(translate|rotate)\(([^)]*)\)", el.get("transform", "")):
        ops.append((name, [float(a) for a in re.split(r"[ ,]+", args.strip()) if a]))
    return ops


def _apply(ops, x: float, y: float) -> tuple[float, float]:
    for name, a in reversed(ops):  # SVG applies the rightmost transform first
        if name == "translate":
            x, y = x + a[0], y + (a[1] if len(a) > 1 else 0.0)
        else:
            ang = math.radians(a[0])
            cx, cy = (a[1], a[2]) if len(a) == 3 else (0.0, 0.0)
            dx, dy = x - cx, y - cy
            x, y = cx + dx * math.cos(ang) - dy * math.sin(ang), cy + dx * math.sin(ang) + dy * math.cos(ang)
    return x, y


def _box(el, kind: str, ops) -> Box:
    text = "".join(el.itertext())
    font = float(re.search(r"font-size:\s*" + _NUM + "px", el.get("style", "")).group(1))
    x, y = float(el.get("x", 0)), float(el.get("y", 0))
    w, h = text_width(text, font), 0.9 * font
    anchor = el.get("text-anchor", "start")
    left = {"start": x, "middle": x - w / 2, "end": x - w}[anchor]
    corners = [_apply(ops, cx, cy) for cx in (left, left + w) for cy in (y - 0.72 * h, y + 0.28 * h)]
    xs, ys = [c[0] for c in corners], [c[1] for c in corners]
    return Box(text, kind, min(xs), min(ys), max(xs), max(ys), font)


def _kind(el, parent_class: str) -> str | None:
    """'xtick' / 'ytick' (axis tick labels), 'cbtick' (colour-bar labels), 'xtitle' / 'ytitle' / 'cbtitle'."""
    cls = el.get("class", "")
    if cls in ("xtitle", "ytitle"):
        return cls
    if parent_class in ("xtick", "ytick"):
        return parent_class
    if re.fullmatch(r"ycb\w*tick", parent_class):
        return "cbtick"
    if cls == "ycbtitle" or parent_class.startswith("cbtitle"):
        return "cbtitle"
    return None


def layout_boxes(svg: str) -> dict:
    """{"size": (w, h) of the viewBox, "plot": (x0, y0, x1, y1) of the first subplot, "boxes": [Box, ...]} for every
    axis tick label and title and every colour-bar label and title, with all enclosing transforms applied."""
    root = ET.fromstring(svg)
    w, h = (float(v) for v in root.get("viewBox").split()[2:])
    clips = {c.get("id"): c.find(_SVG + "rect") for c in root.iter(_SVG + "clipPath")}
    boxes, plots = [], []

    def walk(el, ops, parent_class):
        ops = ops + _transform(el)
        tag = el.tag.removeprefix(_SVG)
        if tag == "text":
            kind = _kind(el, parent_class)
            if kind and "".join(el.itertext()).strip():
                boxes.append(_box(el, kind, ops))
            return
        m = re.match(r"url\(#(.*xyplot)\)", el.get("clip-path", ""))
        if tag == "g" and m and el.get("transform"):
            x0, y0 = _apply(ops, 0.0, 0.0)
            r = clips[m.group(1)]
            plots.append((x0, y0, x0 + float(r.get("width")), y0 + float(r.get("height"))))
        for child in el:
            walk(child, ops, el.get("class", "") if tag == "g" else parent_class)

    walk(root, [], "")
    return {"size": (w, h), "plot": plots[0] if plots else None, "boxes": boxes}
