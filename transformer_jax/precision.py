"""Mixed precision: matmuls in the compute dtype, accumulated into float32 where the result feeds a softmax.

Under `dtype=bfloat16` the parameters and optimiser state stay float32 (flax casts weights to the compute dtype at
each use), matmuls and activations run in bfloat16, and the numerically delicate parts stay float32: attention
scores and their softmax, layer-norm statistics, and the logits with the log-softmax over the vocabulary.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def einsum_f32(equation: str, a: jax.Array, b: jax.Array) -> jax.Array:
  """einsum of two compute-dtype operands with a float32 result (no rounding to bfloat16 on the way out).

  The explicit BF16_BF16_F32 algorithm also governs the transposed matmuls of the backward pass, which otherwise
  would multiply the float32 cotangent with a bfloat16 operand in float32 (jax issue 24047).
  """
  precision = jax.lax.DotAlgorithmPreset.BF16_BF16_F32 if a.dtype == jnp.bfloat16 else None
  return jnp.einsum(equation, a, b, precision=precision, preferred_element_type=jnp.float32)
