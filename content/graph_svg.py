"""Draw a prerequisite graph as SVG, laid out in layers by depth so a teacher can read 50+ KCs:
prerequisites on the left, what they unlock to the right, edges as curves. Pure Python."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from content.graph import topological_layers

NODE_W, NODE_H, COL_GAP, ROW_GAP, MARGIN = 190, 34, 90, 14, 20


def _order_layers(layers: list[list[str]], edges: Sequence[tuple[str, str]]) -> list[list[str]]:
    """Barycentre ordering: place each node near the mean row of its prerequisites, which keeps
    edges short and crossing less (a few sweeps are enough for curricula)."""
    preds: dict[str, list[str]] = {}
    for src, dst in edges:
        preds.setdefault(dst, []).append(src)
    row = {n: i for layer in layers for i, n in enumerate(layer)}
    ordered = [list(layers[0])]
    for layer in layers[1:]:
        def key(n: str) -> float:
            ps = [row[p] for p in preds.get(n, []) if p in row]
            return sum(ps) / len(ps) if ps else float(row[n])

        new = sorted(layer, key=key)
        for i, n in enumerate(new):
            row[n] = i
        ordered.append(new)
    return ordered


def graph_svg(nodes: Sequence[tuple[str, str]], edges: Sequence[tuple[str, str]]) -> str:
    """``nodes`` are (id, label); ``edges`` are (prerequisite id, dependent id)."""
    labels = dict(nodes)
    if not labels:
        return ('<svg xmlns="http://www.w3.org/2000/svg" width="320" height="60" role="img">'
                '<text x="10" y="35">No knowledge components yet.</text></svg>')
    layers = _order_layers(topological_layers(labels, edges), edges)
    pos: dict[str, tuple[int, int]] = {}
    for col, layer in enumerate(layers):
        for r, n in enumerate(layer):
            pos[n] = (MARGIN + col * (NODE_W + COL_GAP), MARGIN + r * (NODE_H + ROW_GAP))
    width = MARGIN * 2 + len(layers) * (NODE_W + COL_GAP) - COL_GAP
    height = MARGIN * 2 + max(len(layer) for layer in layers) * (NODE_H + ROW_GAP) - ROW_GAP
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="Prerequisite graph" '
        'font-family="system-ui, sans-serif" font-size="12">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#5b6b7f"/></marker></defs>',
    ]
    for src, dst in edges:
        if src not in pos or dst not in pos:
            continue
        x1, y1 = pos[src][0] + NODE_W, pos[src][1] + NODE_H // 2
        x2, y2 = pos[dst][0], pos[dst][1] + NODE_H // 2
        mid = (x1 + x2) / 2
        out.append(
            f'<path d="M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}" fill="none" stroke="#8a99ab" '
            'stroke-width="1.3" marker-end="url(#arrow)"><title>'
            f"{escape(labels[src])} → {escape(labels[dst])}</title></path>"
        )
    for n, (x, y) in pos.items():
        label = labels[n]
        short = label if len(label) <= 28 else label[:26] + "…"
        out.append(
            f'<g><title>{escape(label)}</title><rect x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" '
            'rx="6" fill="#eef4fb" stroke="#2f5d8a"/>'
            f'<text x="{x + 8}" y="{y + NODE_H // 2 + 4}" fill="#10243a">{escape(short)}</text></g>'
        )
    out.append("</svg>")
    return "".join(out)
