"""Graphs for the viewer tests: `inception_like()` builds an Inception-sized user graph
(40 blocks x 10 units x 4 towers, 40,401 ops) with nested name scopes, the shape of
graph the seed says TensorBoard collapses by scope."""

import compiler as fc


def inception_like(blocks=40, units=10, towers=4, steps=5):
    """(graph, output): each unit has `towers` parallel chains of `steps` x (scale,
    shift, tanh) -- 5 ops a step -- summed by add_n; units and blocks are chained."""
    g = fc.Graph()
    with g.as_default():
        h = fc.placeholder(fc.float32, [None, 8], name="images")
        for b in range(blocks):
            with fc.name_scope(f"block{b}"):
                for u in range(units):
                    with fc.name_scope(f"mixed{u}"):
                        outs = []
                        for t in range(towers):
                            with fc.name_scope(f"tower{t}"):
                                a = h
                                for _ in range(steps):
                                    a = fc.tanh(a * 0.5 + 0.1)
                                outs.append(a)
                        h = fc.add_n(outs, name="concat")
    return g, h
