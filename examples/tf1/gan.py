"""Generative adversarial network, after TensorFlow-Examples gan.py: generator and
discriminator as dicts of glorot-initialised variables, two Adam optimizers with
`var_list`, `-tf.reduce_mean(tf.log(...))` losses.

Changed: `import compiler as tf`; local MNIST-shaped data; 600 steps instead of
100000. Expects finite losses and the generator's mean image to correlate with the
data's (above 0.1; an untrained generator is near 0).
"""

import local_data as input_data
import numpy as np

import compiler as tf

mnist = input_data.read_data_sets("/tmp/data/", one_hot=True)

num_steps = 600
batch_size = 128
learning_rate = 0.0002

image_dim = 784
gen_hidden_dim = 256
disc_hidden_dim = 256
noise_dim = 100


def glorot_init(shape):
    return tf.random_normal(shape=shape, stddev=1. / tf.sqrt(shape[0] / 2.))


weights = {
    'gen_hidden1': tf.Variable(glorot_init([noise_dim, gen_hidden_dim])),
    'gen_out': tf.Variable(glorot_init([gen_hidden_dim, image_dim])),
    'disc_hidden1': tf.Variable(glorot_init([image_dim, disc_hidden_dim])),
    'disc_out': tf.Variable(glorot_init([disc_hidden_dim, 1])),
}
biases = {
    'gen_hidden1': tf.Variable(tf.zeros([gen_hidden_dim])),
    'gen_out': tf.Variable(tf.zeros([image_dim])),
    'disc_hidden1': tf.Variable(tf.zeros([disc_hidden_dim])),
    'disc_out': tf.Variable(tf.zeros([1])),
}


def generator(x):
    hidden_layer = tf.matmul(x, weights['gen_hidden1'])
    hidden_layer = tf.add(hidden_layer, biases['gen_hidden1'])
    hidden_layer = tf.nn.relu(hidden_layer)
    out_layer = tf.matmul(hidden_layer, weights['gen_out'])
    out_layer = tf.add(out_layer, biases['gen_out'])
    out_layer = tf.nn.sigmoid(out_layer)
    return out_layer


def discriminator(x):
    hidden_layer = tf.matmul(x, weights['disc_hidden1'])
    hidden_layer = tf.add(hidden_layer, biases['disc_hidden1'])
    hidden_layer = tf.nn.relu(hidden_layer)
    out_layer = tf.matmul(hidden_layer, weights['disc_out'])
    out_layer = tf.add(out_layer, biases['disc_out'])
    out_layer = tf.nn.sigmoid(out_layer)
    return out_layer


gen_input = tf.placeholder(tf.float32, shape=[None, noise_dim], name='input_noise')
disc_input = tf.placeholder(tf.float32, shape=[None, image_dim], name='disc_input')

gen_sample = generator(gen_input)

disc_real = discriminator(disc_input)
disc_fake = discriminator(gen_sample)

gen_loss = -tf.reduce_mean(tf.log(disc_fake))
disc_loss = -tf.reduce_mean(tf.log(disc_real) + tf.log(1. - disc_fake))

optimizer_gen = tf.train.AdamOptimizer(learning_rate=learning_rate)
optimizer_disc = tf.train.AdamOptimizer(learning_rate=learning_rate)

gen_vars = [weights['gen_hidden1'], weights['gen_out'],
            biases['gen_hidden1'], biases['gen_out']]
disc_vars = [weights['disc_hidden1'], weights['disc_out'],
             biases['disc_hidden1'], biases['disc_out']]

train_gen = optimizer_gen.minimize(gen_loss, var_list=gen_vars)
train_disc = optimizer_disc.minimize(disc_loss, var_list=disc_vars)

init = tf.global_variables_initializer()

with tf.Session() as sess:
    sess.run(init)
    z = np.random.uniform(-1., 1., size=[500, noise_dim])
    data_mean = mnist.test.images.mean(axis=0)
    start = np.corrcoef(sess.run(gen_sample, feed_dict={gen_input: z}).mean(axis=0),
                        data_mean)[0, 1]
    for i in range(1, num_steps + 1):
        batch_x, _ = mnist.train.next_batch(batch_size)
        z = np.random.uniform(-1., 1., size=[batch_size, noise_dim])
        feed_dict = {disc_input: batch_x, gen_input: z}
        _, _, gl, dl = sess.run([train_gen, train_disc, gen_loss, disc_loss],
                                feed_dict=feed_dict)
        if i % 200 == 0 or i == 1:
            print('Step %i: Generator Loss: %f, Discriminator Loss: %f' % (i, gl, dl))
    z = np.random.uniform(-1., 1., size=[500, noise_dim])
    g, d = sess.run([gen_sample, disc_fake], feed_dict={gen_input: z})

corr = np.corrcoef(g.mean(axis=0), data_mean)[0, 1]
ok = np.isfinite(gl) and np.isfinite(dl) and corr > 0.1
print(f"result: correlation of the generated and the data's mean image {corr:.3f}, "
      f"untrained {start:.3f} (expected > 0.1, finite losses)")
raise SystemExit(0 if ok else 1)
