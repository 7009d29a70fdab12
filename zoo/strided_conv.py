"""The decoder's last transposed convolution, written as one matrix product at inference.

A Bernoulli (or other one-parameter) grey-image decoder ends in a 4x4 stride-2
transposed convolution to a single channel. oneDNN runs such a thin layer far below
the CPU's matmul rate: for 2,000 vae_mnist decodes it took ~45-50 ms (0.4 GFLOP) on a
2-core EPYC, as long as the 16x larger transposed convolution before it, i.e. ~40% of
every importance-sampling call (`benchmarks/is_throughput.md`).

`strided_conv.Conv2DTranspose` computes the same function with the same weights. It is
a subclass that keeps Keras' class name on purpose: Keras 3 files a layer's weights
under its snake-cased class name (`conv2d_transpose`), so another name would stop
every shipped checkpoint from loading. A 4x4 stride-2 'same' transposed
convolution gives output row 2m+p (p = 0, 1, the phase) from input rows m+d through
kernel row k = p + 1 - 2d: phase 0 from (d=0, k=1) and (d=-1, k=3), phase 1 from
(d=0, k=2) and (d=+1, k=0); columns likewise. So one product input [B*H*W, C] @
kernel [C, 16] gives every tap's contribution, each output phase is the sum of four
shifted tap planes, and a transpose interleaves the phases into the 2H x 2W image.

Where it is used, measured here (2-core EPYC, TF 2.21): 2,000 decodes of vae_mnist's
last layer 18 ms instead of 49; but its gradient (through slices and pads) is ~2x
slower than Keras', and with 30 or 100 output channels even the forward pass is 4-5x
slower. So the product form runs at inference (`training` false) with one output
channel; training and wider outputs use Keras' own call. Every op is a TFLite builtin
of rank <= 5, so exports convert as before.
"""

from __future__ import annotations

import functools

import keras
import tensorflow as tf
from keras import layers

# Output phase -> ((input offset d, kernel tap k), ...) of a 4x4 stride-2 'same' transposed
# convolution: output 2m + p sums input m + d through kernel row (column) k = p + 1 - 2d.
PHASE_TAPS = {0: ((0, 1), (-1, 3)), 1: ((0, 2), (1, 0))}


@keras.saving.register_keras_serializable(package="zoo")
class Conv2DTranspose(layers.Conv2DTranspose):
    """`keras.layers.Conv2DTranspose` whose inference pass, for a 4x4 stride-2 'same'
    layer with one output channel, is input @ kernel followed by the sum of shifted tap
    planes per output phase. Same arguments, weights and function as `Conv2DTranspose`.
    """

    def uses_product_form(self, training=None) -> bool:
        """Whether a call with this `training` flag takes the matrix-product path."""
        return (not training and self.filters == 1 and tuple(self.kernel_size) == (4, 4)
                and tuple(self.strides) == (2, 2) and self.padding == "same" and self.output_padding is None
                and tuple(self.dilation_rate) == (1, 1) and self.data_format == "channels_last")

    def call(self, inputs, training=None):
        if not self.uses_product_form(training):
            return super().call(inputs)
        batch = tf.shape(inputs)[0]
        height, width, channels = inputs.shape[1], inputs.shape[2], inputs.shape[3]
        # Keras' transposed kernel is [ki, kj, 1, channels]: columns (ki, kj).
        kernel = tf.transpose(tf.reshape(tf.cast(self.kernel, inputs.dtype), [16, channels]))
        taps = tf.matmul(tf.reshape(inputs, [-1, channels]), kernel)  # [B*H*W, 16]
        # Tap planes [(ki, kj), B, H+2, W+2]: the outer axis is the cheap one to slice.
        taps = tf.transpose(tf.reshape(taps, [batch, height, width, 16]), [3, 0, 1, 2])
        taps = tf.pad(taps, [[0, 0], [0, 0], [1, 1], [1, 1]])
        # Pairwise adds, not add_n: TFLite quantizes ADD to int8 but not ADD_N.
        phases = [functools.reduce(tf.add, [taps[4 * ki + kj, :, 1 + di:1 + di + height, 1 + dj:1 + dj + width]
                                            for di, ki in PHASE_TAPS[p] for dj, kj in PHASE_TAPS[q]])
                  for p in (0, 1) for q in (0, 1)]
        # [(p, q), B, H, W] -> [B, H, p, W, q]: row 2m + p, column 2n + q.
        outputs = tf.transpose(tf.reshape(tf.stack(phases), [2, 2, batch, height, width]), [2, 3, 0, 4, 1])
        outputs = tf.reshape(outputs, [batch, 2 * height, 2 * width, 1])
        if self.use_bias:
            outputs = outputs + tf.cast(self.bias, outputs.dtype)
        return self.activation(outputs) if self.activation is not None else outputs
