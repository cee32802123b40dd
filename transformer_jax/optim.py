"""The paper's optimiser: Adam(0.9, 0.98, 1e-9) on the inverse-square-root schedule with linear warmup.

An optional linear cooldown to zero over a run's last steps (not in the paper) is for short fixed budgets, where the
inverse square root leaves the rate high at the end: configs/multi30k_ende.py measures it.
"""

from __future__ import annotations

import jax.numpy as jnp
import optax


def paper_learning_rate(d_model: int, warmup_steps: int, scale: float = 1.0, total_steps: int = 0,
                        cooldown_steps: int = 0):
  """lrate = scale * d_model^-0.5 * min(step^-0.5, step * warmup^-1.5), with the first update at step 1.

  With cooldown_steps > 0 the rate of the last cooldown_steps updates before total_steps is also multiplied by
  (total_steps - update) / cooldown_steps, which falls linearly to 1 / cooldown_steps at the last update.
  """

  def schedule(count):
    step = jnp.asarray(count, jnp.float32) + 1.0  # optax counts updates from 0; the paper from 1.
    rate = scale * d_model ** -0.5 * jnp.minimum(step ** -0.5, step * warmup_steps ** -1.5)
    if cooldown_steps > 0:
      rate = rate * cooldown_factor(count, total_steps, cooldown_steps)
    return rate

  return schedule


def cooldown_factor(updates_done, total_steps: int, cooldown_steps: int):
  """The cooldown's multiplier of the update after `updates_done` ones: (total_steps - updates_done) /
  cooldown_steps, within [0, 1]."""
  return jnp.clip((total_steps - jnp.asarray(updates_done, jnp.float32)) / cooldown_steps, 0.0, 1.0)


def make_optimizer(config) -> tuple[optax.GradientTransformation, callable]:
  schedule = paper_learning_rate(config.d_model, config.warmup_steps, config.learning_rate_scale,
                                 config.num_train_steps, config.learning_rate_cooldown_steps)
  adam = optax.adam(schedule, b1=config.adam_b1, b2=config.adam_b2, eps=config.adam_eps)
  if config.grad_clip_norm > 0:
    adam = optax.chain(optax.clip_by_global_norm(config.grad_clip_norm), adam)
  return adam, schedule
