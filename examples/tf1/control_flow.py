"""Control flow in the graph, as TF1 programs write it: `tf.while_loop` summing a series
(with `maximum_iterations`), `tf.cond` choosing a branch on a fed flag, `tf.case`, and a
gradient through both (`tf.gradients` of a loop that squares a variable three times).

Changed: `import compiler as tf`. Expects the loop's sum 4950, the branches' values, and
d/dw of w**8 at w = 1.1.
"""

import numpy as np

import compiler as tf

i0 = tf.constant(0)
s0 = tf.constant(0)
i_final, total = tf.while_loop(lambda i, s: i < 100, lambda i, s: (i + 1, s + i), [i0, s0],
                               maximum_iterations=1000)

flag = tf.placeholder(tf.bool, [])
x = tf.placeholder(tf.float32, [])
branch = tf.cond(flag, lambda: x * 2.0, lambda: x - 1.0)
case = tf.case([(x > 10.0, lambda: tf.constant(1.0)), (x > 0.0, lambda: tf.constant(2.0))],
               default=lambda: tf.constant(3.0))

w = tf.Variable(1.1)
_, p = tf.while_loop(lambda k, v: k < 3, lambda k, v: (k + 1, v * v), [tf.constant(0), w])
(dw,) = tf.gradients(p, [w])

with tf.Session() as sess:
    sess.run(tf.global_variables_initializer())
    s = sess.run(total)
    b1 = sess.run(branch, {flag: True, x: 3.0})
    b2 = sess.run(branch, {flag: False, x: 3.0})
    c = sess.run(case, {x: 5.0})
    g = sess.run(dw)

ok = s == 4950 and b1 == 6.0 and b2 == 2.0 and c == 2.0 and np.isclose(g, 8 * 1.1 ** 7)
print(f"result: sum {s}, cond {b1} {b2}, case {c}, gradient {g:.4f} (expected 4950, 6 2, "
      f"2, {8 * 1.1 ** 7:.4f})")
raise SystemExit(0 if ok else 1)
