"""The math of the exported signatures, in graph terms, from the model's public interface.

Each signature is a function of tensors that contains no random op: the caller
passes the noise (`eps`), so every runtime gives the same outputs. What a model
supports comes from what it declares (`unsupported_signatures`, `has_density`,
`conditional`) and from two facts only a run can tell: whether q(z|x) is a
(transformed) diagonal Gaussian and whether the prior is a reparameterized
transform of N(0, I) (the VampPrior, a mixture, is not).
"""

from __future__ import annotations

import warnings

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from zoo.distributions import gaussian_parts
from zoo.models.base import LatentVariableModel

tfd = tfp.distributions

SIGNATURES = ("encode", "decode", "sample", "reconstruct", "score")


class ExportError(ValueError):
    """A model, signature or option cannot be exported as asked."""


def posterior_kind(posterior) -> tuple:
    """`zoo.distributions.gaussian_parts`, with an export-specific error."""
    try:
        return gaussian_parts(posterior)
    except ValueError as e:
        raise ExportError(f"cannot export the posterior: {e}; the signatures need q(z|x) to be one of those") from None


def prior_transform(prior):
    """(description, fn) with fn(eps) a draw from `prior` for eps ~ N(0, I) [N, D].

    Raises:
        ExportError: if the prior is not a reparameterized transform of N(0, I)
            (mixtures such as the VampPrior are not).
    """
    if isinstance(prior, tfd.MultivariateNormalDiag):
        loc, scale = prior.mean(), prior.stddev()
        standard = bool(np.all(loc.numpy() == 0) and np.all(scale.numpy() == 1)) if tf.executing_eagerly() else False
        if standard:
            return "z = eps (standard normal prior)", lambda eps: eps
        return "z = loc + scale * eps (diagonal Gaussian prior)", lambda eps: prior.mean() + prior.stddev() * eps
    if isinstance(prior, tfd.TransformedDistribution) and isinstance(prior.distribution, tfd.MultivariateNormalDiag):
        base_desc, base = prior_transform(prior.distribution)
        return (f"z = bijector({base_desc.split(' (')[0].replace('z = ', '')}) ({type(prior.bijector).__name__})",
                lambda eps: prior.bijector.forward(base(eps)))
    raise ExportError(
        f"the prior is a {type(prior).__name__}, not a reparameterized transform of N(0, I), so the noise-driven "
        "'sample' signature cannot express it; export without it (signatures=[...] without 'sample')"
    )


def check_model(model):
    """Raises ExportError unless `model` is a built zoo model."""
    if not isinstance(model, LatentVariableModel) or not model.built:
        raise ExportError(f"expected a built zoo model (LatentVariableModel), got {type(model).__name__}")


def supported(model) -> dict:
    """{"posterior": kind, "prior_sampling": description or None, "unsupported": {signature: why}}.

    The model's declared limits first, then one eager run of its encoder and prior.
    """
    h, w, c = model.image_shape
    x = tf.zeros([1, h, w, c])
    info = {"unsupported": dict(model.unsupported_signatures)}
    try:
        info["posterior"] = posterior_kind(model.posterior_for(x, model.label_condition([0], 1)))[0]
    except ExportError as e:
        info["posterior"] = "unsupported"
        for name in ("encode", "reconstruct", "score"):
            info["unsupported"].setdefault(name, str(e))
    if not model.has_density:
        info["unsupported"].setdefault("score", f"{type(model).__name__} defines no density over x: there is no "
                                                "ELBO or IWAE bound to score with")
    try:
        info["prior_sampling"] = prior_transform(model.prior_distribution(model.label_condition([0], 1)))[0]
    except ExportError as e:
        info["prior_sampling"] = None
        info["unsupported"].setdefault("sample", str(e))
    if "sample" in info["unsupported"]:
        info["prior_sampling"] = None
    return info


def select(requested, supported_info, allowed=SIGNATURES):
    """The signatures to export: `requested`, checked, or every supported one of `allowed`."""
    if requested is None:
        chosen = [s for s in allowed if s not in supported_info["unsupported"]]
        for s in allowed:
            if s in supported_info["unsupported"]:
                warnings.warn(f"not exporting '{s}': {supported_info['unsupported'][s]}", stacklevel=3)
        return chosen
    requested = list(requested)
    for s in requested:
        if s not in allowed:
            raise ExportError(f"unknown signature {s!r}; choose from {list(allowed)}")
        if s in supported_info["unsupported"]:
            raise ExportError(f"signature {s!r}: {supported_info['unsupported'][s]}")
    if not requested:
        raise ExportError("no signatures to export")
    return requested


def make_functions(model) -> dict:
    """name -> (fn(x, ..., label=None), [input specs]) for every signature, in graph terms."""
    h, w, c = model.image_shape
    d = model.latent_dim
    conditional = model.conditional

    def condition_of(label):
        return tf.one_hot(label, model.num_classes) if conditional else None

    def images(x):
        # A loaded signature does not enforce its input spec by itself: a wrong
        # channel count would otherwise reach the first conv and fail there with an
        # unrelated message ("grouped convolutions").
        return tf.ensure_shape(x, [None, h, w, c])

    def encode(x, label=None):
        x = images(x)
        if model.discrete_codes:  # a VQ-VAE: the code indices too, what a receiver needs to decode
            codes, mean = model.encode_codes(x)
            return {"mean": mean, "stddev": tf.zeros_like(mean), "codes": codes}
        _, mean, stddev, _ = posterior_kind(model.posterior_for(x, condition_of(label)))
        return {"mean": mean, "stddev": stddev}

    def decode(z, label=None):
        raw = model.decoder_params(z, condition_of(label))
        return {**model.likelihood.parameters(raw), "mean": model.likelihood.mean(raw)}

    def sample(eps, label=None):
        _, to_z = prior_transform(model.prior_distribution(condition_of(label)))
        return {"images": model.likelihood.mean(model.decoder_params(to_z(eps), condition_of(label)))}

    def reconstruct(x, label=None):
        x = images(x)
        condition = condition_of(label)
        z = model.posterior_for(x, condition).mean()
        return {"images": model.likelihood.mean(model.decoder_params(z, condition))}

    def score(x, eps, label=None):
        # The model's own importance weights, driven by the given noise: the
        # exported score is the bound `model.iwae_bound` computes.
        x = images(x)
        k = tf.shape(eps)[1]
        noise = tf.transpose(eps, [1, 0, 2])  # [K, N, D]: draws first, as the model's weights are
        log_w = model.log_importance_weights(x, condition_of(label), k, noise=noise)
        iwae = tf.reduce_logsumexp(log_w, axis=0) - tf.math.log(tf.cast(k, tf.float32))
        return {"score": -iwae}

    x_spec = tf.TensorSpec([None, h, w, c], tf.float32, name="x")
    label_spec = [tf.TensorSpec([None], tf.int32, name="label")] if conditional else []
    specs = {
        "encode": (encode, [x_spec]),
        "decode": (decode, [tf.TensorSpec([None, d], tf.float32, name="z")]),
        "sample": (sample, [tf.TensorSpec([None, d], tf.float32, name="eps")]),
        "reconstruct": (reconstruct, [x_spec]),
        "score": (score, [x_spec, tf.TensorSpec([None, None, d], tf.float32, name="eps")]),
    }
    functions = {}
    for name, (fn, inputs) in specs.items():
        # Keyword names become the signature's input names, so each function gets
        # explicit parameters rather than *args.
        functions[name] = (_named(fn, [s.name for s in inputs], conditional), inputs + label_spec)
    return functions


def _named(fn, names, conditional):
    """`fn` behind a function whose parameter names are the signature's input names."""
    if names == ["x"]:
        return (lambda x, label: fn(x, label=label)) if conditional else (lambda x: fn(x))
    if names == ["z"]:
        return (lambda z, label: fn(z, label=label)) if conditional else (lambda z: fn(z))
    if names == ["eps"]:
        return (lambda eps, label: fn(eps, label=label)) if conditional else (lambda eps: fn(eps))
    return (lambda x, eps, label: fn(x, eps, label=label)) if conditional else (lambda x, eps: fn(x, eps))


