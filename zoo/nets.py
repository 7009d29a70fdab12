"""Convolutional encoder and decoder builders, driven by the image shape.

The encoder halves the spatial size with each stride-2 4x4 convolution in
`widths`; the decoder mirrors it with stride-2 transposed convolutions, the last of
which emits the likelihood parameters. (Extra 3x3 convolutions per stage made an
MNIST epoch ten times slower on a 2-core CPU for little gain, so there are none.) Image height and width must
therefore be divisible by 2**len(widths) (28x28 with two blocks: 28 -> 14 -> 7;
64x64 with four: 64 -> 4; 32x32x3 with three: 32 -> 4).

A conditional network takes a one-hot label as a second input: the encoder sees it
as constant extra image channels and again beside the flattened features; the
decoder sees it concatenated to z and, with `label_every_stage`, again as constant
planes before every transposed convolution, so that the label reaches each
resolution directly instead of only through the dense layers.
"""

from __future__ import annotations

import keras
from keras import layers

from zoo import strided_conv


def _check_divisible(image_shape, widths):
    h, w, _ = image_shape
    factor = 2 ** len(widths)
    if h % factor or w % factor:
        raise ValueError(
            f"image size {h}x{w} is not divisible by 2**len(widths) = {factor}; "
            f"use fewer conv widths (got {tuple(widths)})"
        )


def build_encoder(
    image_shape,
    widths,
    hidden_dim: int,
    output_dim: int,
    condition_dim: int = 0,
    activation: str = "swish",
    name: str = "encoder",
) -> keras.Model:
    """Returns a functional model x [B,H,W,C] (+ y [B,K]) -> features [B, output_dim]."""
    image_shape = tuple(image_shape)
    _check_divisible(image_shape, widths)
    x_in = keras.Input(image_shape, name="x")
    inputs = [x_in]
    h = x_in
    if condition_dim:
        y_in = keras.Input((condition_dim,), name="y")
        inputs.append(y_in)
        label_planes = layers.Reshape((1, 1, condition_dim))(y_in)
        label_planes = layers.UpSampling2D(image_shape[:2])(label_planes)
        h = layers.Concatenate(axis=-1)([h, label_planes])
    for i, width in enumerate(widths):
        h = layers.Conv2D(width, 4, strides=2, padding="same", activation=activation, name=f"conv{i}")(h)
    h = layers.Flatten()(h)
    if condition_dim:
        h = layers.Concatenate()([h, y_in])
    h = layers.Dense(hidden_dim, activation=activation, name="hidden")(h)
    out = layers.Dense(output_dim, name="params", dtype="float32")(h)
    return keras.Model(inputs if condition_dim else x_in, out, name=name)


def build_decoder(
    image_shape,
    widths,
    hidden_dim: int,
    latent_dim: int,
    output_channels: int,
    condition_dim: int = 0,
    activation: str = "swish",
    label_every_stage: bool = False,
    name: str = "decoder",
) -> keras.Model:
    """Returns a functional model z [B,D] (+ y [B,K]) -> raw parameters [B,H,W,output_channels].

    `widths` is given in encoder order and used reversed, so the same tuple
    describes both halves. `label_every_stage` (conditional decoders only) concatenates
    the label as constant planes to the input of every transposed convolution.
    """
    image_shape = tuple(image_shape)
    h0, w0 = grid_shape(image_shape, widths)
    widths = tuple(reversed(widths))
    z_in = keras.Input((latent_dim,), name="z")
    inputs = [z_in]
    h = z_in
    if condition_dim:
        y_in = keras.Input((condition_dim,), name="y")
        inputs.append(y_in)
        h = layers.Concatenate()([z_in, y_in])
    h = layers.Dense(hidden_dim, activation=activation, name="hidden")(h)
    h = layers.Dense(h0 * w0 * widths[0], activation=activation, name="project")(h)
    h = layers.Reshape((h0, w0, widths[0]))(h)

    def with_label(h, size):
        if not (condition_dim and label_every_stage):
            return h
        planes = layers.UpSampling2D(size)(layers.Reshape((1, 1, condition_dim))(y_in))
        return layers.Concatenate(axis=-1)([h, planes])

    size = (h0, w0)
    for i, width in enumerate(widths[1:]):
        h = with_label(h, size)
        h = layers.Conv2DTranspose(width, 4, strides=2, padding="same", activation=activation, name=f"deconv{i}")(h)
        size = (2 * size[0], 2 * size[1])
    # The last upsampling emits the likelihood's parameters directly.
    h = with_label(h, size)
    out = strided_conv.Conv2DTranspose(output_channels, 4, strides=2, padding="same", name="params", dtype="float32")(h)
    return keras.Model(inputs if condition_dim else z_in, out, name=name)


def grid_shape(image_shape, widths) -> tuple[int, int]:
    """(h, w) of the feature grid after the encoder's stride-2 convolutions."""
    _check_divisible(tuple(image_shape), widths)
    return image_shape[0] // 2 ** len(widths), image_shape[1] // 2 ** len(widths)


def build_grid_encoder(image_shape, widths, hidden_dim: int, code_dim: int, activation: str = "swish",
                       name: str = "encoder") -> keras.Model:
    """A fully convolutional encoder x [B,H,W,C] -> one code_dim vector per grid cell,
    flattened: [B, h * w * code_dim] (the grid of `grid_shape`). After the stride-2
    convolutions a 3x3 convolution of `hidden_dim` channels mixes neighbouring cells and a
    1x1 convolution gives the vectors, so each one describes its own patch of the image."""
    image_shape = tuple(image_shape)
    _check_divisible(image_shape, widths)
    x_in = keras.Input(image_shape, name="x")
    h = x_in
    for i, width in enumerate(widths):
        h = layers.Conv2D(width, 4, strides=2, padding="same", activation=activation, name=f"conv{i}")(h)
    h = layers.Conv2D(hidden_dim, 3, padding="same", activation=activation, name="hidden")(h)
    h = layers.Conv2D(code_dim, 1, name="params", dtype="float32")(h)
    return keras.Model(x_in, layers.Flatten()(h), name=name)


def build_grid_decoder(image_shape, widths, hidden_dim: int, code_dim: int, output_channels: int,
                       activation: str = "swish", name: str = "decoder") -> keras.Model:
    """The mirror of `build_grid_encoder`: flattened grid vectors [B, h * w * code_dim] ->
    raw likelihood parameters [B, H, W, output_channels]."""
    image_shape = tuple(image_shape)
    h0, w0 = grid_shape(image_shape, widths)
    widths = tuple(reversed(widths))
    z_in = keras.Input((h0 * w0 * code_dim,), name="z")
    h = layers.Reshape((h0, w0, code_dim))(z_in)
    h = layers.Conv2D(hidden_dim, 3, padding="same", activation=activation, name="hidden")(h)
    for i, width in enumerate(widths[1:]):
        h = layers.Conv2DTranspose(width, 4, strides=2, padding="same", activation=activation, name=f"deconv{i}")(h)
    out = strided_conv.Conv2DTranspose(output_channels, 4, strides=2, padding="same", name="params", dtype="float32")(h)
    return keras.Model(z_in, out, name=name)
