"""Disentanglement metrics on ground-truth data: β-VAE score, FactorVAE score, MIG,
DCI and SAP, with disentanglement_lib's default protocols (Locatello et al. 2019).

Every metric takes

- `ground_truth`: an object with `num_factors`, `factor_sizes`,
  `sample_factors(n, random_state)` (int classes [n, num_factors]) and
  `sample_observations_from_factors(factors, random_state)` (images); for dSprites,
  `zoo.data.dsprites.DSpritesGroundTruth()`, whose five factors are shape, scale,
  orientation, posX and posY;
- `representation_fn(images) -> codes [n, d]` (numpy), e.g. the posterior mean of a
  model: `representation_fn_from_model(model)`;
- `random_state`: a `np.random.Generator` or an int seed;

and the numbers of points (the defaults are the published protocols; tests pass
small ones). Each returns a dict of floats. Chance levels: β-VAE and FactorVAE
scores ~ 1/num_factors (0.2 on dSprites), MIG, DCI disentanglement/completeness and
SAP ~ 0. An exact, axis-aligned code of the factors scores 1, except that MIG's
20-bin discretization merges some of the 40 orientations and 32 positions (about
0.9 for the true dSprites factors) and SAP with discrete factors (one linear SVM on
one code dimension) cannot single out the middle classes of a many-valued factor.
"""

from __future__ import annotations

import numpy as np
from sklearn import ensemble, linear_model, metrics, svm


def _rng(random_state) -> np.random.Generator:
    if isinstance(random_state, np.random.Generator):
        return random_state
    return np.random.default_rng(random_state)


def _codes(representation_fn, observations) -> np.ndarray:
    codes = np.asarray(representation_fn(observations), dtype=np.float64)
    if codes.ndim != 2 or codes.shape[0] != len(observations):
        raise ValueError(
            f"representation_fn must return codes [n, d] for n = {len(observations)} images, "
            f"got shape {codes.shape}")
    if not np.all(np.isfinite(codes)):
        raise ValueError("representation_fn returned NaN or Inf codes")
    return codes


def _check_count(name, value, minimum=1):
    if int(value) < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def representation_fn_from_model(model, batch_size: int = 1024):
    """codes = the posterior mean of `model` (a zoo model), computed in batches.

    The encoder runs as one compiled function: the metrics encode ~3 million images,
    and an eager Keras call per small batch spent most of its time in Python."""
    import tensorflow as tf

    encode_mean = tf.function(lambda x: model.posterior_for(x).mean(), reduce_retracing=True)

    def representation_fn(images):
        images, _ = model.checked_inputs(np.asarray(images, dtype=np.float32))
        return np.concatenate([encode_mean(images[i:i + batch_size]).numpy()
                               for i in range(0, len(images), batch_size)])

    return representation_fn


# Points whose images are encoded in one representation_fn call: the β-VAE and
# FactorVAE protocols need one small batch per point, too small to encode efficiently.
_IMAGES_PER_CALL = 4096


def _points_in_chunks(num_points, batch_size, make_point_factors, ground_truth, representation_fn, rng):
    """Yields (codes [batch_size', d], point info) for each point, encoding many points'
    images in one call. make_point_factors(rng) -> (factor classes [n, f], info)."""
    per_call = max(1, _IMAGES_PER_CALL // batch_size)
    for start in range(0, num_points, per_call):
        points = [make_point_factors(rng) for _ in range(min(per_call, num_points - start))]
        factors = np.concatenate([f for f, _ in points])
        codes = _codes(representation_fn, ground_truth.sample_observations_from_factors(factors, rng))
        offset = 0
        for f, info in points:
            yield codes[offset:offset + len(f)], info
            offset += len(f)


def generate_codes_and_factors(ground_truth, representation_fn, num_points, random_state, batch_size=256):
    """(codes [n, d], factor classes [n, num_factors]) for n random points."""
    rng = _rng(random_state)
    codes, factors = [], []
    for start in range(0, num_points, batch_size):
        n = min(batch_size, num_points - start)
        f = ground_truth.sample_factors(n, rng)
        codes.append(_codes(representation_fn, ground_truth.sample_observations_from_factors(f, rng)))
        factors.append(f)
    return np.concatenate(codes), np.concatenate(factors)


# --------------------------------------------------------------------------- β-VAE score


def _beta_vae_points(ground_truth, representation_fn, num_points, batch_size, rng):
    def pairs_sharing_one_factor(rng):
        # Pairs that share one factor: the code difference should be small along the
        # dimensions that encode it.
        k = rng.integers(ground_truth.num_factors)
        f1 = ground_truth.sample_factors(batch_size, rng)
        f2 = ground_truth.sample_factors(batch_size, rng)
        f2[:, k] = f1[:, k]
        return np.concatenate([f1, f2]), k

    features, labels = [], []
    for codes, k in _points_in_chunks(num_points, 2 * batch_size, pairs_sharing_one_factor, ground_truth,
                                      representation_fn, rng):
        features.append(np.mean(np.abs(codes[:batch_size] - codes[batch_size:]), axis=0))
        labels.append(k)
    return np.stack(features), np.array(labels)


def beta_vae_score(ground_truth, representation_fn, random_state, batch_size=64, num_train=10000,
                   num_eval=5000) -> dict:
    """Higgins et al. (2017): accuracy of a linear classifier that predicts which factor
    a batch of pairs shares from the mean absolute code difference.

    Returns: {"train_accuracy", "eval_accuracy"}.
    """
    rng = _rng(random_state)
    batch_size = _check_count("batch_size", batch_size)
    x_train, y_train = _beta_vae_points(ground_truth, representation_fn, _check_count("num_train", num_train),
                                        batch_size, rng)
    x_eval, y_eval = _beta_vae_points(ground_truth, representation_fn, _check_count("num_eval", num_eval),
                                      batch_size, rng)
    model = linear_model.LogisticRegression(max_iter=1000)
    model.fit(x_train, y_train)
    return {"train_accuracy": float(model.score(x_train, y_train)),
            "eval_accuracy": float(model.score(x_eval, y_eval))}


# --------------------------------------------------------------------------- FactorVAE score


def _factor_vae_votes(ground_truth, representation_fn, num_points, batch_size, global_variances,
                      active, rng):
    def batch_with_one_factor_fixed(rng):
        # A batch with one factor fixed: the normalized code dimension that varies
        # least should be the one encoding it.
        k = rng.integers(ground_truth.num_factors)
        factors = ground_truth.sample_factors(batch_size, rng)
        factors[:, k] = factors[0, k]
        return factors, k

    votes = np.zeros((ground_truth.num_factors, len(global_variances)), dtype=np.int64)
    active_index = np.flatnonzero(active)
    for codes, k in _points_in_chunks(num_points, batch_size, batch_with_one_factor_fixed, ground_truth,
                                      representation_fn, rng):
        local = np.var(codes, axis=0, ddof=1)
        dim = active_index[np.argmin(local[active] / global_variances[active])]
        votes[k, dim] += 1
    return votes


def factor_vae_score(ground_truth, representation_fn, random_state, batch_size=64, num_train=10000,
                     num_eval=5000, num_variance_estimate=10000) -> dict:
    """Kim & Mnih (2018): accuracy of the majority-vote classifier from "the code
    dimension with the least normalized variance" to the fixed factor.

    Dimensions whose variance over `num_variance_estimate` points is 0 are inactive
    and never vote. Returns: {"train_accuracy", "eval_accuracy", "num_active_dims"}.
    """
    rng = _rng(random_state)
    batch_size = _check_count("batch_size", batch_size, 2)
    codes, _ = generate_codes_and_factors(ground_truth, representation_fn,
                                          _check_count("num_variance_estimate", num_variance_estimate, 2), rng)
    global_variances = np.var(codes, axis=0, ddof=1)
    active = global_variances > 0.0
    if not active.any():
        return {"train_accuracy": 0.0, "eval_accuracy": 0.0, "num_active_dims": 0}
    train_votes = _factor_vae_votes(ground_truth, representation_fn, _check_count("num_train", num_train),
                                    batch_size, global_variances, active, rng)
    eval_votes = _factor_vae_votes(ground_truth, representation_fn, _check_count("num_eval", num_eval),
                                   batch_size, global_variances, active, rng)
    classifier = np.argmax(train_votes, axis=0)  # code dimension -> factor
    columns = np.arange(train_votes.shape[1])
    return {
        "train_accuracy": float(train_votes[classifier, columns].sum() / train_votes.sum()),
        "eval_accuracy": float(eval_votes[classifier, columns].sum() / eval_votes.sum()),
        "num_active_dims": int(active.sum()),
    }


# --------------------------------------------------------------------------- MIG


def discretize(codes, num_bins=20) -> np.ndarray:
    """Each code dimension into `num_bins` equal-width bins over its range: int [n, d]."""
    out = np.zeros(codes.shape, dtype=np.int64)
    for i in range(codes.shape[1]):
        edges = np.histogram(codes[:, i], num_bins)[1]
        out[:, i] = np.digitize(codes[:, i], edges[:-1])
    return out


def mutual_information_matrix(discrete_codes, factors) -> np.ndarray:
    """MI in nats between every code dimension and every factor: [d, num_factors]."""
    return np.array([[metrics.mutual_info_score(factors[:, j], discrete_codes[:, i])
                      for j in range(factors.shape[1])] for i in range(discrete_codes.shape[1])])


def mig(ground_truth, representation_fn, random_state, num_train=10000, num_bins=20, batch_size=16) -> dict:
    """Mutual information gap (Chen et al. 2018): per factor, the gap between the two
    code dimensions most informative about it, over the factor's entropy; averaged.

    Returns: {"discrete_mig"}.
    """
    codes, factors = generate_codes_and_factors(ground_truth, representation_fn,
                                                _check_count("num_train", num_train), random_state, batch_size)
    if codes.shape[1] < 2:
        raise ValueError("MIG needs a code of at least 2 dimensions")
    mi = mutual_information_matrix(discretize(codes, num_bins), factors)
    entropy = np.array([metrics.mutual_info_score(factors[:, j], factors[:, j]) for j in range(factors.shape[1])])
    top = np.sort(mi, axis=0)[::-1]
    varying = entropy > 0  # a factor that did not vary in the sample has no gap to normalize
    gaps = (top[0, varying] - top[1, varying]) / entropy[varying]
    return {"discrete_mig": float(np.mean(gaps))}


# --------------------------------------------------------------------------- DCI


def _make_classifier(model: str, seed: int):
    if model == "gbt":
        return ensemble.GradientBoostingClassifier(random_state=seed)
    if model == "random_forest":
        # Bagged trees (every split sees every code dimension) with leaves of >= 5
        # points: with sklearn's default sqrt(d) features per split, trees are forced
        # onto uninformative dimensions and a perfect code scored D ~ 0.4 here.
        return ensemble.RandomForestClassifier(n_estimators=30, max_features=None, min_samples_leaf=5,
                                               random_state=seed, n_jobs=1)
    raise ValueError(f"model must be 'gbt' or 'random_forest', got {model!r}")


def _one_minus_entropy(p, base):
    """1 - H(p)/log(base) for each row of a row-stochastic matrix."""
    p = np.clip(p, 1e-11, 1.0)
    return 1.0 - (-np.sum(p * np.log(p), axis=1) / np.log(base))


def dci_from_importance(importance) -> tuple[float, float]:
    """(disentanglement, completeness) from an importance matrix [d, num_factors]."""
    importance = np.abs(np.asarray(importance, dtype=np.float64))
    total = importance.sum()
    if total == 0:
        return 0.0, 0.0
    num_codes, num_factors = importance.shape
    rows = importance.sum(axis=1)
    rows_safe = np.where(rows > 0, rows, 1.0)[:, None]
    per_code = _one_minus_entropy(importance / rows_safe, num_factors) if num_factors > 1 else np.ones(num_codes)
    disentanglement = float(np.sum(per_code * rows / total))
    cols = importance.sum(axis=0)
    cols_safe = np.where(cols > 0, cols, 1.0)[:, None]
    per_factor = _one_minus_entropy(importance.T / cols_safe, num_codes) if num_codes > 1 else np.ones(num_factors)
    completeness = float(np.sum(per_factor * cols / total))
    return disentanglement, completeness


def dci(ground_truth, representation_fn, random_state, num_train=10000, num_test=5000, batch_size=16,
        model="gbt") -> dict:
    """Eastwood & Williams (2018): a classifier per factor from the whole code; the
    feature importances give disentanglement (each code dimension informs one factor)
    and completeness (each factor is in one dimension), the test accuracy the
    informativeness.

    Args:
        model: "gbt" (sklearn GradientBoostingClassifier, as disentanglement_lib; slow
            on 10,000 points with 40-class factors) or "random_forest" (30 bagged
            trees, leaves of >= 5 points; much faster; importances are impurity
            decreases as well).

    Returns: {"disentanglement", "completeness", "informativeness_train",
        "informativeness_test"}.
    """
    rng = _rng(random_state)
    x_train, y_train = generate_codes_and_factors(ground_truth, representation_fn,
                                                  _check_count("num_train", num_train), rng, batch_size)
    x_test, y_test = generate_codes_and_factors(ground_truth, representation_fn,
                                                _check_count("num_test", num_test), rng, batch_size)
    importance = np.zeros((x_train.shape[1], y_train.shape[1]))
    train_acc, test_acc = [], []
    for j in range(y_train.shape[1]):
        classifier = _make_classifier(model, seed=int(rng.integers(2**31)))
        classifier.fit(x_train, y_train[:, j])
        importance[:, j] = np.abs(classifier.feature_importances_)
        train_acc.append(classifier.score(x_train, y_train[:, j]))
        test_acc.append(classifier.score(x_test, y_test[:, j]))
    disentanglement, completeness = dci_from_importance(importance)
    return {"disentanglement": disentanglement, "completeness": completeness,
            "informativeness_train": float(np.mean(train_acc)), "informativeness_test": float(np.mean(test_acc))}


# --------------------------------------------------------------------------- SAP


def sap(ground_truth, representation_fn, random_state, num_train=10000, num_test=5000, batch_size=16,
        continuous_factors=False) -> dict:
    """Separated attribute predictability (Kumar et al. 2018): per factor, the gap
    between the two code dimensions that predict it best alone; averaged.

    Args:
        continuous_factors: False (disentanglement_lib's default for dSprites): the
            score of (dimension, factor) is the test accuracy of a linear SVM
            (C = 0.01, balanced classes) on that dimension alone. True: the R² of a
            linear fit on the training points.

    Returns: {"sap_score"}.
    """
    rng = _rng(random_state)
    x_train, y_train = generate_codes_and_factors(ground_truth, representation_fn,
                                                  _check_count("num_train", num_train), rng, batch_size)
    x_test, y_test = generate_codes_and_factors(ground_truth, representation_fn,
                                                _check_count("num_test", num_test), rng, batch_size)
    num_codes, num_factors = x_train.shape[1], y_train.shape[1]
    if num_codes < 2:
        raise ValueError("SAP needs a code of at least 2 dimensions")
    scores = np.zeros((num_codes, num_factors))
    for i in range(num_codes):
        for j in range(num_factors):
            code, factor = x_train[:, i], y_train[:, j].astype(np.float64)
            if continuous_factors:
                cov = np.cov(code, factor, ddof=1)
                if cov[0, 0] > 0 and cov[1, 1] > 0:
                    scores[i, j] = cov[0, 1] ** 2 / (cov[0, 0] * cov[1, 1])
            elif code.std() > 0 and len(np.unique(y_train[:, j])) > 1:
                classifier = svm.LinearSVC(C=0.01, class_weight="balanced")
                classifier.fit(code[:, None], y_train[:, j])
                scores[i, j] = np.mean(classifier.predict(x_test[:, i, None]) == y_test[:, j])
    top = np.sort(scores, axis=0)[::-1]
    return {"sap_score": float(np.mean(top[0] - top[1]))}


__all__ = [
    "beta_vae_score",
    "dci",
    "dci_from_importance",
    "discretize",
    "factor_vae_score",
    "generate_codes_and_factors",
    "mig",
    "mutual_information_matrix",
    "representation_fn_from_model",
    "sap",
]
