"""Label-smoothed cross-entropy (Szegedy et al. 2016, as the paper uses it) and the unsmoothed figures beside it."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def token_losses(logits: jax.Array, targets: jax.Array, label_smoothing: float) -> tuple[jax.Array, jax.Array]:
  """Per-token (smoothed loss, negative log-likelihood), both float32 [batch, length].

  The smoothed target puts 1 - eps on the reference token and eps spread uniformly over the whole vocabulary,
  so the loss is (1 - eps) * NLL + eps * mean_v(-log p_v).
  """
  with jax.named_scope("token_losses"):  # names the loss's ops in profiles (transformer_jax/profiling.py)
    return _token_losses(logits, targets, label_smoothing)


def _token_losses(logits: jax.Array, targets: jax.Array, label_smoothing: float) -> tuple[jax.Array, jax.Array]:
  logits = logits.astype(jnp.float32)
  log_normalizer = jax.nn.logsumexp(logits, axis=-1)  # log p_v = logit_v - log_normalizer, never materialised
  nll = log_normalizer - jnp.take_along_axis(logits, targets[..., None], axis=-1)[..., 0]
  uniform = log_normalizer - jnp.mean(logits, axis=-1)
  return (1.0 - label_smoothing) * nll + label_smoothing * uniform, nll
