"""The learning-rate schedule and optimiser against the paper's formula (section 5.3)."""

import jax.numpy as jnp
import numpy as np
import pytest

from configs import wmt14_ende_base
from transformer_jax import optim


def paper_lrate(step, d_model, warmup):
  return d_model ** -0.5 * min(step ** -0.5, step * warmup ** -1.5)


@pytest.mark.parametrize("d_model,warmup", [(512, 4000), (1024, 4000), (128, 100)])
def test_schedule_is_the_papers_formula(d_model, warmup):
  schedule = optim.paper_learning_rate(d_model, warmup)
  for update in [0, 1, 10, warmup - 2, warmup - 1, warmup, 3 * warmup, 100_000]:
    # The n-th update (counting from 0, as optax does) is the paper's step n + 1.
    assert float(schedule(update)) == pytest.approx(paper_lrate(update + 1, d_model, warmup), rel=1e-5)


def test_peak_is_at_warmup():
  schedule = optim.paper_learning_rate(512, 4000)
  rates = np.array([float(schedule(n)) for n in range(0, 20_000, 10)])
  assert abs(int(np.argmax(rates)) * 10 - 3999) <= 10
  assert rates.max() == pytest.approx(512 ** -0.5 * 4000 ** -0.5, rel=1e-3)


def test_adam_hyperparameters_are_the_papers():
  config = wmt14_ende_base.get_config()
  optimizer, schedule = optim.make_optimizer(config)
  params = {"w": jnp.ones(3)}
  grads = {"w": jnp.array([1.0, -2.0, 0.5])}
  updates, _ = optimizer.update(grads, optimizer.init(params), params)
  # First Adam step with bias correction: m_hat = g, v_hat = g^2, update = -lr * g / (|g| + eps).
  lr = paper_lrate(1, 512, 4000)
  expected = -lr * np.array([1.0, -2.0, 0.5]) / (np.abs([1.0, -2.0, 0.5]) + 1e-9)
  np.testing.assert_allclose(np.asarray(updates["w"]), expected, rtol=1e-6)
  assert (config.adam_b1, config.adam_b2, config.adam_eps) == (0.9, 0.98, 1e-9)


def test_cooldown_falls_linearly_to_zero_over_the_last_steps():
  total, cooldown = 1000, 200
  schedule = optim.paper_learning_rate(128, 100, 1.0, total_steps=total, cooldown_steps=cooldown)
  for update in [0, 50, 99, 500, 799]:  # before the cooldown: the paper's rate
    assert float(schedule(update)) == pytest.approx(paper_lrate(update + 1, 128, 100), rel=1e-5)
  for update in [800, 850, 900, 999]:  # the paper's rate times (total - update) / cooldown
    expected = paper_lrate(update + 1, 128, 100) * (total - update) / cooldown
    assert float(schedule(update)) == pytest.approx(expected, rel=1e-5)
  assert float(schedule(total)) == 0.0 and float(schedule(total + 10)) == 0.0


def test_cooldown_longer_than_the_run_is_refused():
  from transformer_jax import config_base
  config = wmt14_ende_base.get_config()
  config.learning_rate_cooldown_steps = config.num_train_steps + 1
  with pytest.raises(ValueError, match="learning_rate_cooldown_steps"):
    config_base.validate(config)
