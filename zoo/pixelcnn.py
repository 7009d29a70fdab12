"""The gated PixelCNN (van den Oord et al. 2016, "Conditional Image Generation with
PixelCNN Decoders"): a network whose output at grid position (i, j) depends only on
the inputs before it in raster order, so that it parameterizes an autoregressive
distribution p(x) = prod_ij p(x_ij | x_<ij) evaluated in one teacher-forced pass.

Two stacks of convolutions keep that order without the blind spot of plain masked
convolutions. The vertical stack sees whole rows at and above row i (a kernel of
k//2 + 1 rows by k columns padded on top); the horizontal stack sees row i up to
column j (a 1 x (k//2 + 1) kernel padded on the left). The vertical stack reaches the
horizontal one only shifted down by a row, so through it (i, j) sees rows < i; the
first layer shifts the input right by a column, so that (i, j) never sees x_ij
itself. Each layer gates its pre-activation, tanh(a) * sigmoid(b), and the horizontal
stack is residual after the first layer. An optional conditioning map [B, H, W, Cc]
(a class or a latent code broadcast over the grid) adds to every gate.

    net = GatedPixelCNN(num_outputs=K, channels=64, num_layers=5)
    logits = net(one_hot_grid)               # [B, H, W, K]: position ij from x_<ij only
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers


def shift_down(x):
    """x [B, H, W, C] moved down one row (a zero row on top): row i holds row i-1."""
    return tf.pad(x, [[0, 0], [1, 0], [0, 0], [0, 0]])[:, :-1]


def shift_right(x):
    """x [B, H, W, C] moved right one column (a zero column on the left)."""
    return tf.pad(x, [[0, 0], [0, 0], [1, 0], [0, 0]])[:, :, :-1]


def gate(pre_activation):
    """tanh(a) * sigmoid(b) for [..., 2C] = [a, b]."""
    a, b = tf.split(pre_activation, 2, axis=-1)
    return tf.tanh(a) * tf.sigmoid(b)


@keras.saving.register_keras_serializable(package="zoo")
class GatedLayer(keras.layers.Layer):
    """One gated PixelCNN layer: (vertical, horizontal[, condition]) -> (vertical, horizontal).

    Args:
        channels: width of both stacks.
        kernel_size: k, odd; the vertical stack spans k//2 + 1 rows by k columns, the
            horizontal one k//2 + 1 columns.
        first: the layer that reads the grid itself: it shifts the horizontal input
            right (x_ij is not seen) and has no residual connection.
        conditioned: the layer takes a conditioning map (added to both gates).
    """

    def __init__(self, channels: int, kernel_size: int = 3, first: bool = False, conditioned: bool = False,
                 **kwargs):
        super().__init__(**kwargs)
        if kernel_size < 3 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd and at least 3, got {kernel_size}")
        # === Config ===
        self.channels = int(channels)
        self.kernel_size = int(kernel_size)
        self.first = bool(first)
        self.conditioned = bool(conditioned)
        half = self.kernel_size // 2
        # === Layers ===
        self.vertical = layers.Conv2D(2 * self.channels, (half + 1, self.kernel_size), name="vertical")
        self.horizontal = layers.Conv2D(2 * self.channels, (1, half + 1), name="horizontal")
        self.vertical_to_horizontal = layers.Conv2D(2 * self.channels, 1, name="vertical_to_horizontal")
        self.horizontal_out = layers.Conv2D(self.channels, 1, name="horizontal_out")
        if self.conditioned:
            self.condition_vertical = layers.Conv2D(2 * self.channels, 1, use_bias=False, name="condition_vertical")
            self.condition_horizontal = layers.Conv2D(2 * self.channels, 1, use_bias=False,
                                                      name="condition_horizontal")

    def call(self, vertical, horizontal, condition=None):
        half = self.kernel_size // 2
        # Rows i-k//2..i, columns j-k//2..j+k//2: the padding keeps the grid's size.
        v_pre = self.vertical(tf.pad(vertical, [[0, 0], [half, 0], [half, half], [0, 0]]))
        h_in = shift_right(horizontal) if self.first else horizontal
        h_pre = self.horizontal(tf.pad(h_in, [[0, 0], [0, 0], [half, 0], [0, 0]]))
        if (condition is not None) != self.conditioned:
            raise ValueError(f"{self.name}: " + ("a conditioned layer needs the conditioning map" if self.conditioned
                                                 else "got a conditioning map, but conditioned=False"))
        if self.conditioned:
            v_pre = v_pre + self.condition_vertical(condition)
            h_pre = h_pre + self.condition_horizontal(condition)
        # Through the vertical stack the horizontal one sees only the rows above.
        h_pre = h_pre + self.vertical_to_horizontal(shift_down(v_pre))
        h_out = self.horizontal_out(gate(h_pre))
        return gate(v_pre), (h_out if self.first else horizontal + h_out)

    def get_config(self):
        return {**super().get_config(), "channels": self.channels, "kernel_size": self.kernel_size,
                "first": self.first, "conditioned": self.conditioned}


@keras.saving.register_keras_serializable(package="zoo")
class GatedPixelCNN(keras.layers.Layer):
    """A stack of `GatedLayer`s and a 1x1 head: [B, H, W, C_in] -> [B, H, W, num_outputs],
    output ij a function of the inputs before ij in raster order (and of the whole
    conditioning map).

    Args:
        num_outputs: outputs per position (e.g. the logits of K classes).
        channels: width of the stacks and of the head.
        num_layers: gated layers (the first reads the grid).
        kernel_size: odd kernel size of every layer.
        conditioned: every layer takes the conditioning map `condition` [B, H, W, Cc].
    """

    def __init__(self, num_outputs: int, channels: int = 64, num_layers: int = 5, kernel_size: int = 3,
                 conditioned: bool = False, **kwargs):
        super().__init__(**kwargs)
        if num_layers < 1:
            raise ValueError(f"num_layers must be at least 1, got {num_layers}")
        # === Config ===
        self.num_outputs = int(num_outputs)
        self.channels = int(channels)
        self.num_layers = int(num_layers)
        self.kernel_size = int(kernel_size)
        self.conditioned = bool(conditioned)
        # === Layers ===
        self.gated_layers = [GatedLayer(self.channels, self.kernel_size, first=(i == 0), conditioned=self.conditioned,
                                        name=f"gated{i}")
                             for i in range(self.num_layers)]
        self.head_hidden = layers.Conv2D(self.channels, 1, activation="relu", name="head_hidden")
        self.head_out = layers.Conv2D(self.num_outputs, 1, name="head_out", dtype="float32")

    def call(self, inputs, condition=None):
        vertical = horizontal = inputs
        for layer in self.gated_layers:
            vertical, horizontal = layer(vertical, horizontal, condition)
        return self.head_out(self.head_hidden(tf.nn.relu(horizontal)))

    def get_config(self):
        return {**super().get_config(), "num_outputs": self.num_outputs, "channels": self.channels,
                "num_layers": self.num_layers, "kernel_size": self.kernel_size, "conditioned": self.conditioned}


__all__ = ["GatedLayer", "GatedPixelCNN", "gate", "shift_down", "shift_right"]
