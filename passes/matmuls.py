"""Matmul rewrites that need the program's use counts: `rewrite_matmuls(program) ->
(program, changed)`, the pass "matmuls".

1. A slice of a matmul computes only the rows and columns it keeps:

    slice(matmul(a, b), begin=[r, c], size=[m, n])  ->  matmul(slice(a), slice(b))

   when the matmul (rank 2) has no other consumer and the slice has unit strides. An
   unrolled RNN's backward pass multiplies the gate gradient by the whole kernel,
   `dg @ kernel^T`, then keeps only the columns of h (`[:, depth:]`); the columns of x are
   never read (x is fed), so a third of W4's and 18 % of W8's input-gradient matmul work
   was thrown away — and W8's 156 columns (28 + 128) ran far slower than 128 do.

2. A sum of matmuls becomes one matmul over concatenated operands:

    add(add(matmul(a0, b0), matmul(a1, b1)), matmul(a2, b2))
        -> matmul(concat([a0, a1, a2], axis=K), concat([b0, b1, b2], axis=K))

   This is the weight gradient of an unrolled RNN: `tf.gradients` sums one `h_t^T @ g_t`
   per time step, each with K = batch (small); one matmul with K = steps * batch does
   the same arithmetic in one kernel instead of 2T - 1. A transposed operand is
   transposed inside its concat (fusion stores a concat that a matmul reads: a copy
   either way), so the merged matmul reads both operands untransposed.

   It fires on an add tree (a root `add` and the `add`s under it that have no other
   consumer) whose leaves are all rank-2 float32/float64 matmuls with no other consumer,
   the same `transpose_a`/`transpose_b`, and operands of the same types (the same shapes,
   symbolic dims included), at least two of them, each of the root's type (no
   broadcasting add). Anything else — a leaf that is not such a matmul, operands that
   differ in shape, a partial sum or a matmul read elsewhere — leaves the tree as it is.

Numerics (DESIGN.md "Numerics"): elementwise ops are exact-order IEEE, but inside a
matmul FMA and reassociation of the K summation are allowed. (1) computes every kept
element as the same dot product. (2): the tree is one contraction written out in pieces:
element (i, j) of the sum is sum over t of sum over k of a_t[i, k] * b_t[k, j], which is
exactly the K summation of the merged matmul over K = sum of the K_t. Each piece's
inner sum is already in an unspecified (reassociated) order; the rewrite extends that
freedom to the split points between the pieces, so the result is a matmul's result with
a matmul's error bound (per-dtype tolerances, as every matmul is tested with). float16
(rounded to float16 after each matmul) and integer matmuls are left alone, as are trees
with any other addend (their exact-order adds stay exact).

The pass never changes a node in a region (loop and branch bodies) and gives the
replacement the provenance of the node it replaces.
"""

from __future__ import annotations

from collections import Counter
from typing import Optional

from compiler.ir.nodes import Node, Program

from .rewrite import Changes, Rebuilder, copy_provenance

MERGED_DTYPES = ("float32", "float64")
# Pieces are merged when each one's K is a static extent of at most this. Measured with one
# thread (sum of 32 matmuls [K, 384]^T @ [K, 1024], process CPU time, AVX-512 Xeon): K = 8
# 14.2 -> 3.1 ms, 16 15.0 -> 6.0, 32 19.1 -> 11.7, 64 26.0 -> 26.1 (even), and W8's
# K = 128 lost 3.6 ms of 25 (the operand copies, which grow with K, outweigh the saving).
# A symbolic K (a batch of None) is not merged: the run-time extent is unknown.
MERGE_MAX_K = 32


def rewrite_matmuls(program: Program) -> tuple:
    uses = _uses(program)
    groups = _groups(program, uses)
    narrowed = {id(n) for n in program.topo() if _narrowable(n, uses)}
    if not groups and not narrowed:
        return program, False
    rb = Rebuilder(program)
    new: dict = {}
    replaced: set = set()
    for old in program.topo():
        node = rb.copy(old, [new[id(i)] for i in old.inputs])
        out = None
        if id(old) in groups:
            out = _merged(node, [new[id(leaf)] for leaf in groups[id(old)]], rb)
        elif id(old) in narrowed:
            out = _narrowed(node, rb)
        if out is not None:
            copy_provenance(node, out)
            node = out
            replaced.add(id(old))
        new[id(old)] = node
    if not replaced:
        return program, False
    result = rb.result(new)
    return result, _changes(program, result, new, replaced, rb)


def _changes(program: Program, result: Program, new: dict, replaced: set,
             rb: Rebuilder) -> Changes:
    """The `Changes` record of the rebuild (counted as passes/rewrite.py counts them), so
    the pass manager need not compare the programs structurally."""
    reachable = {id(n) for n in result.topo()}
    kept = [id(node) for old_id, node in new.items()
            if old_id not in replaced and id(node) in reachable]
    distinct = len(set(kept))
    return Changes(removed=len(program.topo()) - len(kept) + rb.inner.removed,
                   added=len(reachable) - distinct + rb.inner.added,
                   merged=len(kept) - distinct + rb.inner.merged,
                   retokened=rb.retokened + rb.inner.retokened)


def _uses(program: Program) -> Counter:
    uses = Counter(id(n) for n in program.roots())
    for node in program.topo():
        uses.update(id(i) for i in node.inputs)
    return uses


# slice(matmul) -> matmul(slice, slice) ---------------------------------------------------
def _narrowable(node: Node, uses: Counter) -> bool:
    if node.op != "slice" or any(s != 1 for s in node.attr["stride"]):
        return False
    m = node.inputs[0]
    return (m.op == "matmul" and uses[id(m)] == 1 and len(m.type.shape or ()) == 2
            and all(len(i.type.shape or ()) == 2 for i in m.inputs))


def _narrowed(node: Node, rb: Rebuilder) -> Optional[Node]:
    """matmul(a', b') computing only the rows and columns that the slice `node` keeps;
    None when the slice keeps everything or the op table refuses a node."""
    m = node.inputs[0]
    a, b = m.inputs
    ta, tb = m.attr["transpose_a"], m.attr["transpose_b"]
    (r0, c0), (rows, cols) = node.attr["begin"], node.attr["size"]
    a2 = _part(a, 1 if ta else 0, r0, rows, rb)
    b2 = _part(b, 0 if tb else 1, c0, cols, rb)
    if a2 is None or b2 is None or (a2 is a and b2 is b):
        return None
    out = rb.derive(node, "matmul", [a2, b2], **m.attr)
    if out is not None:
        copy_provenance(m, out)   # named after the matmul first, then the slice
    return out


def _part(x: Node, axis: int, begin, size, rb: Rebuilder) -> Optional[Node]:
    """x restricted to `size` elements from `begin` along `axis` (x itself when that is
    all of it), or None when the op table refuses the slice."""
    if begin == 0 and size == x.type.shape[axis]:
        return x
    begins, sizes = [0, 0], list(x.type.shape)
    begins[axis], sizes[axis] = begin, size
    return rb.build("slice", [x], begin=tuple(begins), size=tuple(sizes), stride=(1, 1))


# sum of matmuls -> one matmul --------------------------------------------------------------
def _groups(program: Program, uses: Counter) -> dict:
    """id(root add) -> its matmul leaves (input-program nodes, left to right), for every
    add tree that the pass merges."""
    groups = {}
    absorbed: set = set()
    for node in reversed(program.topo()):   # consumers first: a root before its subtrees
        if node.op != "add" or id(node) in absorbed:
            continue
        inner, leaves = _tree(node, uses)
        if len(leaves) >= 2 and all(_mergeable(leaf, leaves[0], node, uses)
                                    for leaf in leaves):
            groups[id(node)] = leaves
            absorbed.update(id(n) for n in inner)
    return groups


def _tree(root: Node, uses: Counter) -> tuple:
    """(the adds under `root` that only it reads, the addends below them left to right)."""
    inner, leaves = [], []
    pending = list(reversed(root.inputs))
    while pending:
        node = pending.pop()
        if node.op == "add" and uses[id(node)] == 1:
            inner.append(node)
            pending.extend(reversed(node.inputs))
        else:
            leaves.append(node)
    return inner, leaves


def _mergeable(leaf: Node, first: Node, root: Node, uses: Counter) -> bool:
    if leaf.op != "matmul" or uses[id(leaf)] != 1 or leaf.type != root.type:
        return False
    if leaf.dtype.name not in MERGED_DTYPES or len(leaf.type.shape or ()) != 2:
        return False
    if leaf.attr != first.attr or [i.type for i in leaf.inputs] != [i.type for i in first.inputs]:
        return False
    a = leaf.inputs[0].type.shape
    k = a[0] if leaf.attr["transpose_a"] else a[1]
    return isinstance(k, int) and k <= MERGE_MAX_K


def _merged(root: Node, leaves: list, rb: Rebuilder) -> Optional[Node]:
    """matmul(concat(a_t), concat(b_t)) of the rebuilt leaves, of exactly `root`'s type,
    or None when the op table refuses it. A transposed operand is transposed inside its
    concat, so the merged matmul reads both operands untransposed."""
    attrs = leaves[0].attr
    a = _concat([leaf.inputs[0] for leaf in leaves], attrs["transpose_a"], 1, rb)
    b = _concat([leaf.inputs[1] for leaf in leaves], attrs["transpose_b"], 0, rb)
    if a is None or b is None:
        return None
    return rb.derive(root, "matmul", [a, b], transpose_a=False, transpose_b=False)


def _concat(parts: list, transposed: bool, axis: int, rb: Rebuilder) -> Optional[Node]:
    """concat(parts) along `axis` (the contracted axis), each part transposed first when
    `transposed`; None when the op table refuses a node."""
    if transposed:
        parts = [rb.build("transpose", [p], perm=(1, 0)) for p in parts]
        if any(p is None for p in parts):
            return None
    return rb.build("concat", parts, axis=axis)
