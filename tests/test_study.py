"""The prefix-tree plan and the expansion of node evaluations into the tidy conditions."""

import math

import pandas as pd
import pytest

from harness.schema import CSV_COLUMNS, METRICS
from harness.study import Node, children, conditions, node_sequence, orders, plan

ACTORS = ["A", "B", "C"]


def test_plan_trains_the_prefix_tree_once():
    nodes = plan(ACTORS, [0, 1])
    per_seed = [n for n in nodes if n.seed == 0]
    assert len(per_seed) == 1 + 3 + 6 + 6  # untrained, fresh, depth 2, full orders
    assert sum(1 for n in per_seed if n.path) == 15  # instead of 18 naive + 3 fresh
    assert len(plan(["A", "B", "C", "D"], [0])) == 1 + 4 + 12 + 24 + 24
    assert len(set(nodes)) == len(nodes)


def test_parents_come_before_children():
    nodes = plan(ACTORS, [0, 1])
    seen = set()
    for node in nodes:
        assert node.parent is None or node.parent in seen
        seen.add(node)


@pytest.mark.parametrize("k", [3, 4])
def test_every_order_without_one_actor_is_a_node(k):
    actors = list("ABCD"[:k])
    nodes = {n.path for n in plan(actors, [0])}
    for order in orders(actors):
        for removed in order:
            assert tuple(a for a in order if a != removed) in nodes


def test_children_extend_the_path_with_unseen_actors():
    assert children(Node(0, ("A",)), ACTORS) == [Node(0, ("A", "B")), Node(0, ("A", "C"))]
    assert children(Node(0, ("A", "B", "C")), ACTORS) == []


def test_node_streams_depend_on_seed_and_path_only():
    a, b = node_sequence(Node(0, ("A", "B"))), node_sequence(Node(0, ("A", "B")))
    assert a.generate_state(4).tolist() == b.generate_state(4).tolist()
    assert node_sequence(Node(1, ("A", "B"))).generate_state(1) != a.generate_state(1)
    assert node_sequence(Node(0, ("B", "A"))).generate_state(1) != a.generate_state(1)


def node_evaluations(seeds):
    """One evaluation row per (seed, node, eval actor), accuracy encoding the node."""
    rows = []
    for node in plan(ACTORS, seeds):
        for j, actor in enumerate(ACTORS):
            metrics = {m: 0.0 for m in METRICS} | {"accuracy": len(node.path) / 10 + j / 100, "n_test": 90}
            rows.append({"seed": node.seed, "path": node.name, "eval_actor": actor, **metrics})
    return pd.DataFrame(rows)


def test_conditions_row_counts_and_columns():
    tidy = conditions(node_evaluations([0, 1]), ACTORS)
    assert tuple(tidy.columns) == CSV_COLUMNS
    counts = tidy["condition"].value_counts().to_dict()
    assert counts == {"untrained": 2 * 3, "fresh": 2 * 3 * 3, "shared": 2 * math.factorial(3) * 3 * 3}


def test_conditions_fields():
    tidy = conditions(node_evaluations([0]), ACTORS)
    untrained = tidy.query("condition == 'untrained'")
    assert (untrained["order"] == "").all() and (untrained["stage"] == 0).all()
    assert untrained["position"].isna().all()
    fresh = tidy.query("condition == 'fresh' and order == 'B'")
    assert fresh.set_index("eval_actor")["position"].isna().to_dict() == {"A": True, "B": False, "C": True}
    row = tidy.query("condition == 'shared' and order == 'C>A>B' and stage == 2 and eval_actor == 'B'").iloc[0]
    assert row["trained_actor"] == "A" and row["position"] == 3 and row["accuracy"] == pytest.approx(0.2 + 0.01)


def test_shared_prefix_rows_repeat_across_orders():
    tidy = conditions(node_evaluations([0]), ACTORS).query("condition == 'shared' and stage == 1")
    first = tidy[tidy["order"] == "A>B>C"]["accuracy"].to_numpy()
    assert (tidy[tidy["order"] == "A>C>B"]["accuracy"].to_numpy() == first).all()
