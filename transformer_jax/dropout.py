"""Dropout (Srivastava et al. 2014) from 16 random bits per element.

flax's Dropout draws one 32-bit word per element (one threefry hash each) and turns it into a float to compare with
the keep probability. Here each 32-bit word is split into two 16-bit halves, so an element costs half a hash, and
the halves are compared with an integer threshold: an element is dropped with probability round(rate * 2^16) / 2^16
(0.1 becomes 0.1000061) and the kept ones are scaled by the inverse of that exact keep probability, so the
expectation is unchanged. The scaling is computed in float32 whatever x's dtype, and its result rounded once to
x's dtype: in bfloat16 the factor itself is not rounded (1 / 0.9 would become 1.109375, every kept value 0.16% low),
only each product is, to the nearest bfloat16, which is as often up as down over a tensor's values. On 2 CPU cores
this made dropout's forward and backward over 17 activations of [32, 48, 256] about 2.4x cheaper (benchmarks in
docs/benchmarks.md).

The words are drawn over the array's leading dimensions as they are (only the last one is halved), with JAX's
partitionable threefry, so every device draws only the bits of its own rows and the same mask comes out on any
number of devices.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

LEVELS = 1 << 16  # values of one 16-bit half


def drop_threshold(rate: float) -> int:
  """Halves below this are dropped: the drop probability is drop_threshold(rate) / 2^16."""
  return round(rate * LEVELS)


def dropout(x: jax.Array, rate: float, rng: jax.Array) -> jax.Array:
  """x with each element zeroed with probability ~rate (see the module docstring), the others scaled up."""
  threshold = drop_threshold(rate)
  if threshold == 0:
    return x
  if threshold >= LEVELS:
    return jnp.zeros_like(x)
  last = x.shape[-1]
  words = jax.random.bits(rng, x.shape[:-1] + (-(-last // 2),), jnp.uint32)
  halves = jax.lax.bitcast_convert_type(words, jnp.uint16).reshape(x.shape[:-1] + (-1,))[..., :last]
  keep = halves >= threshold
  scale = jnp.float32(LEVELS / (LEVELS - threshold))  # float32: a bfloat16 factor would bias every kept value
  return jnp.where(keep, (x.astype(jnp.float32) * scale).astype(x.dtype), jnp.zeros((), x.dtype))


class Dropout(nn.Module):
  """nn.Dropout's interface (rate, deterministic, the "dropout" rng stream) on `dropout` above."""
  rate: float

  @nn.compact
  def __call__(self, x: jax.Array, deterministic: bool) -> jax.Array:
    if deterministic or self.rate == 0.0:
      return x
    return dropout(x, self.rate, self.make_rng("dropout"))
