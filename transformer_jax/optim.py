"""The paper's optimiser: Adam(0.9, 0.98, 1e-9) on the inverse-square-root schedule with linear warmup."""

from __future__ import annotations

import jax.numpy as jnp
import optax


def paper_learning_rate(d_model: int, warmup_steps: int, scale: float = 1.0):
  """lrate = scale * d_model^-0.5 * min(step^-0.5, step * warmup^-1.5), with the first update at step 1."""

  def schedule(count):
    step = jnp.asarray(count, jnp.float32) + 1.0  # optax counts updates from 0; the paper from 1.
    return scale * d_model ** -0.5 * jnp.minimum(step ** -0.5, step * warmup_steps ** -1.5)

  return schedule


def make_optimizer(config) -> tuple[optax.GradientTransformation, callable]:
  schedule = paper_learning_rate(config.d_model, config.warmup_steps, config.learning_rate_scale)
  adam = optax.adam(schedule, b1=config.adam_b1, b2=config.adam_b2, eps=config.adam_eps)
  if config.grad_clip_norm > 0:
    adam = optax.chain(optax.clip_by_global_norm(config.grad_clip_norm), adam)
  return adam, schedule
