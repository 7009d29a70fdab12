"""Evaluation: likelihoods and the other measured numbers of the model cards."""

from zoo.evaluate.likelihood import evaluate_likelihood, importance_sampled_log_likelihood

__all__ = ["evaluate_likelihood", "importance_sampled_log_likelihood"]
