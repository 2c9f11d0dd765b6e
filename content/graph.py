"""Pure functions on the prerequisite graph. Used by the admin, the course-pack importer and the
API alike, so a cycle is rejected the same way wherever an edge comes from."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable, Sequence
from typing import TypeVar

Node = TypeVar("Node", bound=Hashable)


def find_cycle(edges: Iterable[tuple[Node, Node]]) -> list[Node] | None:
    """Return one cycle as ``[a, b, ..., a]`` if the directed edges (prerequisite, dependent) contain
    one, else ``None``. Iterative depth-first search, so a 10,000-node chain does not overflow."""
    graph: dict[Node, list[Node]] = defaultdict(list)
    nodes: dict[Node, None] = {}
    for src, dst in edges:
        graph[src].append(dst)
        nodes.setdefault(src)
        nodes.setdefault(dst)
    white, grey, black = 0, 1, 2
    colour: dict[Node, int] = dict.fromkeys(nodes, white)
    parent: dict[Node, Node] = {}
    for root in nodes:
        if colour[root] != white:
            continue
        colour[root] = grey
        stack: list[tuple[Node, int]] = [(root, 0)]
        while stack:
            node, index = stack[-1]
            children = graph.get(node, [])
            if index < len(children):
                stack[-1] = (node, index + 1)
                child = children[index]
                if colour[child] == white:
                    colour[child] = grey
                    parent[child] = node
                    stack.append((child, 0))
                elif colour[child] == grey:
                    cycle = [child]
                    walk = node
                    while walk != child:
                        cycle.append(walk)
                        walk = parent[walk]
                    cycle.append(child)
                    cycle.reverse()
                    return cycle
            else:
                colour[node] = black
                stack.pop()
    return None


def add_edges_acyclic(
    nodes: Iterable[Node], edges: Sequence[tuple[Node, Node]]
) -> tuple[list[tuple[Node, Node]], list[tuple[tuple[Node, Node], str]]]:
    """Keep edges in order, skipping any that names an unknown node, is a self-loop, repeats, or
    would close a cycle with the edges kept so far. Returns (kept, [(edge, reason), ...])."""
    known = set(nodes)
    kept: list[tuple[Node, Node]] = []
    seen: set[tuple[Node, Node]] = set()
    skipped: list[tuple[tuple[Node, Node], str]] = []
    successors: dict[Node, set[Node]] = defaultdict(set)
    for edge in edges:
        src, dst = edge
        if src not in known or dst not in known:
            missing = src if src not in known else dst
            skipped.append((edge, f"unknown node {missing!r}"))
            continue
        if src == dst:
            skipped.append((edge, "self-loop"))
            continue
        if edge in seen:
            skipped.append((edge, "duplicate"))
            continue
        path = _path(successors, dst, src)
        if path is not None:
            skipped.append((edge, "would close the cycle " + " → ".join(map(str, [src, *path]))))
            continue
        successors[src].add(dst)
        seen.add(edge)
        kept.append(edge)
    return kept, skipped


def _path(successors: dict[Node, set[Node]], start: Node, goal: Node) -> list[Node] | None:
    """A path start → ... → goal, if any (breadth-first)."""
    previous: dict[Node, Node | None] = {start: None}
    frontier = [start]
    while frontier:
        nxt: list[Node] = []
        for node in frontier:
            if node == goal:
                path = [node]
                back = previous[node]
                while back is not None:
                    path.append(back)
                    back = previous[back]
                return list(reversed(path))
            for child in successors.get(node, ()):
                if child not in previous:
                    previous[child] = node
                    nxt.append(child)
        frontier = nxt
    return None


def topological_layers(nodes: Iterable[Node], edges: Iterable[tuple[Node, Node]]) -> list[list[Node]]:
    """Group nodes by depth: layer 0 has no prerequisites, layer k needs something in layer k-1.
    Assumes a DAG (check with ``find_cycle`` first)."""
    node_list = list(dict.fromkeys(nodes))
    preds: dict[Node, set[Node]] = {n: set() for n in node_list}
    succs: dict[Node, set[Node]] = {n: set() for n in node_list}
    for src, dst in edges:
        if src in preds and dst in preds:
            preds[dst].add(src)
            succs[src].add(dst)
    depth: dict[Node, int] = {}
    remaining = {n: len(preds[n]) for n in node_list}
    frontier = [n for n in node_list if remaining[n] == 0]
    for n in frontier:
        depth[n] = 0
    while frontier:
        nxt = []
        for n in frontier:
            for m in succs[n]:
                depth[m] = max(depth.get(m, 0), depth[n] + 1)
                remaining[m] -= 1
                if remaining[m] == 0:
                    nxt.append(m)
        frontier = nxt
    layers: dict[int, list[Node]] = defaultdict(list)
    for n in node_list:
        layers[depth.get(n, 0)].append(n)
    return [layers[k] for k in sorted(layers)]
