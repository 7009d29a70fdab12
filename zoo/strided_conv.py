"""The decoder's last transposed convolution, written as matrix products.

A Bernoulli (or other one-parameter) grey-image decoder ends in a 4x4 stride-2
transposed convolution to a single channel. oneDNN runs such a thin layer far below
the CPU's matmul rate: for 2,000 vae_mnist decodes it took ~45-50 ms (0.4 GFLOP) on a
2-core EPYC, as long as the 16x larger transposed convolution before it, i.e. ~40% of
every importance-sampling call (`benchmarks/is_throughput.md`).

`strided_conv.Conv2DTranspose` computes the same function with the same weights. It is
a subclass that keeps Keras' class name on purpose: Keras 3 files a layer's weights
under its snake-cased class name (`conv2d_transpose`), so another name would stop
every shipped checkpoint from loading. A 4x4 stride-2 'same' transposed convolution
gives output row 2m+p (p = 0, 1, the phase) from input rows m+d through kernel row
k = p + 1 - 2d: phase 0 from (d=0, k=1) and (d=-1, k=3), phase 1 from (d=0, k=2) and
(d=+1, k=0); equivalently, tap k takes input row m to output row 2m + k - 1. So one
product input [B*H*W, C] @ kernel [C, 16] gives every tap's contribution, each output
phase is the sum of four shifted tap planes, and a transpose interleaves the phases
into the 2H x 2W image (`spread_taps`). In training the gradient is written as
products too (`transposed_product_for_training`): the 4x4 stride-2 windows of the
padded output gradient (`window_columns`) are each input pixel's 16 tap gradients;
autodiff through the slices would be ~2x slower than Keras' layer.

Training-pass timings against Keras' layer: `benchmarks/training_parts.md`. With 30 or
100 output channels even the forward pass was 4-5x slower than Keras', so wider
layers use Keras' own call. Every op of the inference path is a TFLite builtin of
rank <= 5, so exports convert as before.
"""

from __future__ import annotations

import functools

import keras
import tensorflow as tf
from keras import layers

# Output phase -> ((input offset d, kernel tap k), ...) of a 4x4 stride-2 'same' transposed
# convolution: output 2m + p sums input m + d through kernel row (column) k = p + 1 - 2d.
PHASE_TAPS = {0: ((0, 1), (-1, 3)), 1: ((0, 2), (1, 0))}


def window_columns(padded):
    """The 4x4 stride-2 windows of a one-channel image, one row per window.

    Args:
        padded: [B, 2H+2, 2W+2], the image with its 'same' padding.

    Returns:
        [B*H*W, 16]: row (b, m, n), column 4*ki + kj holds padded[b, 2m+ki, 2n+kj].
    """
    height, width = padded.shape[1] // 2 - 1, padded.shape[2] // 2 - 1
    # Row 2m + ki with ki = 2*di + p is row m + di of phase p: four shifted views of the
    # phase grid hold every window, with no gather and no 16-way interleave.
    grid = tf.reshape(padded, [-1, height + 1, 2, width + 1, 2])
    views = tf.stack([grid[:, di:di + height, :, dj:dj + width, :] for di in (0, 1) for dj in (0, 1)])
    views = tf.reshape(views, [2, 2, -1, height, 2, width, 2])  # [di, dj, B, m, p, n, q]
    return tf.reshape(tf.transpose(views, [2, 3, 5, 0, 4, 1, 6]), [-1, 16])  # [(B, m, n), (di, p, dj, q)]


def spread_taps(taps, height: int, width: int):
    """Sums per-tap contributions into the transposed convolution's output image.

    Args:
        taps: [B, H, W, 16], column 4*ki + kj = what input pixel (m, n) sends through tap (ki, kj).
        height, width: H and W.

    Returns:
        [B, 2H, 2W, 1].
    """
    # Tap planes [(ki, kj), B, H+2, W+2]: the outer axis is the cheap one to slice.
    planes = tf.pad(tf.transpose(taps, [3, 0, 1, 2]), [[0, 0], [0, 0], [1, 1], [1, 1]])
    # Pairwise adds, not add_n: TFLite quantizes ADD to int8 but not ADD_N.
    phases = [functools.reduce(tf.add, [planes[4 * ki + kj, :, 1 + di:1 + di + height, 1 + dj:1 + dj + width]
                                        for di, ki in PHASE_TAPS[p] for dj, kj in PHASE_TAPS[q]])
              for p in (0, 1) for q in (0, 1)]
    # [(p, q), B, H, W] -> [B, H, p, W, q]: row 2m + p, column 2n + q.
    image = tf.transpose(tf.reshape(tf.stack(phases), [2, 2, -1, height, width]), [2, 3, 0, 4, 1])
    return tf.reshape(image, [-1, 2 * height, 2 * width, 1])


def transposed_product(inputs, kernel):
    """The 4x4 stride-2 'same' transposed convolution to one channel, no bias.

    Args:
        inputs: [B, H, W, C].
        kernel: [C, 16], column 4*ki + kj = Keras' kernel[ki, kj, 0, :].

    Returns:
        [B, 2H, 2W, 1].
    """
    height, width, channels = inputs.shape[1], inputs.shape[2], inputs.shape[3]
    taps = tf.matmul(tf.reshape(inputs, [-1, channels]), kernel)
    return spread_taps(tf.reshape(taps, [-1, height, width, 16]), height, width)


@tf.custom_gradient
def transposed_product_for_training(inputs, kernel):
    """`transposed_product` with its gradient written as products: tap (ki, kj) takes input
    (m, n) to output (2m + ki - 1, 2n + kj - 1), so the windows of the padded output
    gradient are each input pixel's 16 tap gradients (autodiff through the slices of
    `spread_taps` is ~2x slower than Keras' layer; this is faster than it)."""
    height, width, channels = inputs.shape[1], inputs.shape[2], inputs.shape[3]

    def gradient(upstream):
        windows = window_columns(tf.pad(upstream[..., 0], [[0, 0], [1, 1], [1, 1]]))  # [B*H*W, 16]
        d_inputs = tf.reshape(tf.matmul(windows, kernel, transpose_b=True), [-1, height, width, channels])
        d_kernel = tf.matmul(tf.reshape(inputs, [-1, channels]), windows, transpose_a=True)
        return d_inputs, d_kernel

    return transposed_product(inputs, kernel), gradient


@keras.saving.register_keras_serializable(package="zoo")
class Conv2DTranspose(layers.Conv2DTranspose):
    """`keras.layers.Conv2DTranspose` that, for a 4x4 stride-2 'same' layer with one output
    channel, is input @ kernel followed by the sum of shifted tap planes per output phase
    (`transposed_product`; in training with its product-form gradient). Same arguments,
    weights and function as `Conv2DTranspose`.
    """

    def uses_product_form(self) -> bool:
        """Whether calls take the matrix-product path."""
        return (self.filters == 1 and tuple(self.kernel_size) == (4, 4) and tuple(self.strides) == (2, 2)
                and self.padding == "same" and self.output_padding is None and tuple(self.dilation_rate) == (1, 1)
                and self.data_format == "channels_last")

    def call(self, inputs, training=None):
        if not self.uses_product_form():
            return super().call(inputs)
        # Keras' transposed kernel is [ki, kj, 1, channels]: columns (ki, kj).
        kernel = tf.transpose(tf.reshape(tf.cast(self.kernel, inputs.dtype), [16, inputs.shape[3]]))
        # The plain function at inference keeps exported graphs free of gradient plumbing.
        product = transposed_product_for_training if training else transposed_product
        outputs = product(inputs, kernel)
        if self.use_bias:
            outputs = outputs + tf.cast(self.bias, outputs.dtype)
        return self.activation(outputs) if self.activation is not None else outputs
