"""Dropout from 16-bit halves: the drop rate a binomial test expects, the expectation kept, one mask on any mesh."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from transformer_jax import dropout


@pytest.mark.parametrize("rate", [0.1, 0.3, 0.5])
def test_the_drop_fraction_is_the_rate_within_a_binomial_bound(rate):
  n = 64 * 96 * 256
  out = np.asarray(dropout.dropout(jnp.ones((64, 96, 256)), rate, jax.random.key(3)))
  dropped = float((out == 0).mean())
  sd = math.sqrt(rate * (1 - rate) / n)
  assert abs(dropped - rate) < 5 * sd + 1 / dropout.LEVELS
  kept = out[out != 0]
  # The survivors carry 1 / keep probability, so the mean stays 1 (the exact keep probability, not 1 - rate).
  assert np.allclose(kept, dropout.LEVELS / (dropout.LEVELS - round(rate * dropout.LEVELS)))
  assert abs(out.mean() - 1.0) < 5 * math.sqrt(rate / (1 - rate) / n)


def test_bits_are_independent_across_halves_and_positions():
  """Neighbours (the two halves of one word) are dropped together no more often than chance says."""
  rate, n = 0.5, 256 * 1024
  kept = np.asarray(dropout.dropout(jnp.ones((256, 1024)), rate, jax.random.key(0))) != 0
  pairs = kept.reshape(-1, 2)
  both = float((pairs[:, 0] & pairs[:, 1]).mean())
  assert abs(both - 0.25) < 5 * math.sqrt(0.25 * 0.75 / (n // 2))
  assert abs(float((kept[:, 1:] == kept[:, :-1]).mean()) - 0.5) < 5 * math.sqrt(0.25 / n)


@pytest.mark.parametrize("shape", [(7,), (3, 5), (2, 3, 9)])
def test_odd_last_dimensions_and_edge_rates(shape):
  x = jnp.arange(1, math.prod(shape) + 1, dtype=jnp.float32).reshape(shape)
  out = dropout.dropout(x, 0.5, jax.random.key(1))
  assert out.shape == shape and out.dtype == x.dtype
  assert np.all((np.asarray(out) == 0) | np.isclose(np.asarray(out), 2 * np.asarray(x)))
  assert np.array_equal(dropout.dropout(x, 0.0, jax.random.key(1)), x)
  assert not np.asarray(dropout.dropout(x, 1.0, jax.random.key(1))).any()


def test_the_mask_is_the_same_when_the_rows_are_split_over_devices():
  devices = jax.devices()
  if len(devices) < 2:
    pytest.skip("needs XLA_FLAGS=--xla_force_host_platform_device_count >= 2 (tests/conftest.py sets 8)")
  mesh = jax.sharding.Mesh(np.array(devices[:2]), ("data",))
  rows = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("data"))
  x = jnp.ones((8, 16, 32))
  one = dropout.dropout(x, 0.1, jax.random.key(5))
  split = jax.jit(lambda v, k: dropout.dropout(v, 0.1, k), out_shardings=rows)(jax.device_put(x, rows),
                                                                           jax.random.key(5))
  assert np.array_equal(np.asarray(one), np.asarray(split))


@pytest.mark.parametrize("dtype, tolerance", [(jnp.bfloat16, 2e-4), (jnp.float32, 1e-6)])
def test_the_expectation_is_x_in_every_dtype(dtype, tolerance):
  """E[dropout(x)] = x: the kept values are x / keep probability, up to one rounding of each to x's dtype that is as
  often up as down. Measured exactly from the mask (no sampling noise): keep probability * mean(kept / x) = 1. A
  factor rounded to bfloat16 (1.109375 for 1 / 0.9) would be 0.16% low, 8x the tolerance."""
  rate = 0.1
  keep_probability = 1 - dropout.drop_threshold(rate) / dropout.LEVELS
  x = jax.random.uniform(jax.random.key(7), (256, 4096), jnp.float32, 0.5, 2.0).astype(dtype)  # many mantissas
  out = np.asarray(dropout.dropout(x, rate, jax.random.key(8)), np.float64)
  x = np.asarray(x, np.float64)
  kept = out != 0
  assert 0.89 < kept.mean() < 0.91
  ratio = out[kept] / x[kept]
  assert abs(keep_probability * ratio.mean() - 1) < tolerance
  assert np.abs(keep_probability * ratio - 1).max() <= {jnp.bfloat16: 2 ** -8, jnp.float32: 1e-6}[dtype]
