"""Basic operations, after TensorFlow-Examples basic_operations.py and helloworld.py:
constants, placeholders with `feed_dict`, `tf.add`/`tf.multiply`, a matrix product,
a string constant, `tf.InteractiveSession` with `.eval()`.

Changed: `import compiler as tf`. Expects the tutorial's printed values (5, 6, 7, 6, 12,
[[12.]]).
"""

import compiler as tf

hello = tf.constant('Hello, TensorFlow!')
sess = tf.Session()
print(sess.run(hello))

a = tf.constant(2)
b = tf.constant(3)
with tf.Session() as sess:
    print("a=2, b=3")
    print("Addition with constants: %i" % sess.run(a + b))
    print("Multiplication with constants: %i" % sess.run(a * b))
    r1, r2 = sess.run(a + b), sess.run(a * b)

a = tf.placeholder(tf.int16)
b = tf.placeholder(tf.int16)
add = tf.add(a, b)
mul = tf.multiply(a, b)
with tf.Session() as sess:
    r3 = sess.run(add, feed_dict={a: 2, b: 5})
    r4 = sess.run(mul, feed_dict={a: 2, b: 3})
    print("Addition with variables: %i" % r3)
    print("Multiplication with variables: %i" % r4)

matrix1 = tf.constant([[3., 3.]])
matrix2 = tf.constant([[2.], [2.]])
product = tf.matmul(matrix1, matrix2)
with tf.Session() as sess:
    result = sess.run(product)
    print(result)

isess = tf.InteractiveSession()
x = tf.Variable([1.0, 2.0])
x.initializer.run()
r6 = tf.reduce_sum(x * 6.0).eval()
isess.close()

ok = (r1, r2, r3, r4) == (5, 6, 7, 6) and result.tolist() == [[12.0]] and r6 == 18.0
print(f"result: {r1} {r2} {r3} {r4} {result.tolist()} {r6} (expected 5 6 7 6 [[12.0]] 18.0)")
raise SystemExit(0 if ok else 1)
