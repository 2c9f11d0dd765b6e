from content.graph import add_edges_acyclic, find_cycle, topological_layers
from content.graph_svg import graph_svg


def test_find_cycle_none_on_dag():
    assert find_cycle([("a", "b"), ("b", "c"), ("a", "c")]) is None


def test_find_cycle_names_the_cycle():
    cycle = find_cycle([("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")])
    assert cycle is not None
    assert cycle[0] == cycle[-1]
    assert set(cycle) == {"a", "b", "c"}


def test_find_cycle_self_loop():
    assert find_cycle([("a", "a")]) == ["a", "a"]


def test_find_cycle_deep_chain_does_not_overflow():
    edges = [(i, i + 1) for i in range(20000)]
    assert find_cycle(edges) is None
    assert find_cycle([*edges, (20000, 0)]) is not None


def test_add_edges_acyclic_reports_what_it_skips():
    kept, skipped = add_edges_acyclic(
        ["a", "b", "c"], [("a", "b"), ("b", "c"), ("c", "a"), ("a", "zz"), ("a", "b"), ("b", "b")]
    )
    assert kept == [("a", "b"), ("b", "c")]
    reasons = [why for _, why in skipped]
    assert any("cycle" in r for r in reasons)
    assert any("unknown" in r for r in reasons)
    assert "duplicate" in reasons and "self-loop" in reasons


def test_layers_follow_depth():
    layers = topological_layers(["c", "b", "a", "d"], [("a", "b"), ("b", "c"), ("a", "c")])
    assert layers == [["a", "d"], ["b"], ["c"]]


def test_svg_has_every_node_and_edge_escaped():
    nodes = [(f"k{i}", f"Concept <{i}>") for i in range(60)]
    edges = [(f"k{i}", f"k{i + 1}") for i in range(0, 59, 2)]
    svg = graph_svg(nodes, edges)
    assert svg.startswith("<svg")
    assert svg.count("<rect") == 60
    assert svg.count("marker-end=") == len(edges)
    assert "<0>" not in svg and "&lt;0&gt;" in svg
