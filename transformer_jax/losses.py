"""Label-smoothed cross-entropy (Szegedy et al. 2016, as the paper uses it) and the unsmoothed figures beside it."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def token_losses(logits: jax.Array, targets: jax.Array, label_smoothing: float) -> tuple[jax.Array, jax.Array]:
  """Per-token (smoothed loss, negative log-likelihood), both float32 [batch, length].

  The smoothed target puts 1 - eps on the reference token and eps spread uniformly over the whole vocabulary,
  so the loss is (1 - eps) * NLL + eps * mean_v(-log p_v).
  """
  logprobs = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
  nll = -jnp.take_along_axis(logprobs, targets[..., None], axis=-1)[..., 0]
  uniform = -jnp.mean(logprobs, axis=-1)
  return (1.0 - label_smoothing) * nll + label_smoothing * uniform, nll
