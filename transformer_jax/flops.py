"""Model FLOPs of a training step (the MFU formula) and this machine's measured matmul speed, the peak MFU is held
against where no datasheet figure is known (CPUs). Used by the training command's step profile
(`profile_start_step`), benchmarks/bench.py and benchmarks/device_check.py."""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

from transformer_jax import sharding
from transformer_jax.model import ModelConfig

MFU_FORMULA = (
    "train FLOPs/step = 6 * ( S * L*(3*d*h*d_k + 3*d*h*d_v + 2*d*d_ff)"
    " + T * (L*(3*d*h*d_k + 3*d*h*d_v + 2*d*d_ff) + d*V)"
    " + L*h*(d_k + d_v) * sum_i(S_i^2 + T_i*(T_i+1)/2 + S_i*T_i) ); "
    "S, T = source / target non-padding tokens of the step, S_i, T_i = lengths of sentence i; "
    "6 = 2 FLOPs per multiply-add x (forward + 2 x backward). Per sentence pair and layer: encoder self-attention "
    "S_i^2 query-key pairs, causal decoder self-attention T_i(T_i+1)/2, cross-attention S_i*T_i, each h*d_k "
    "multiply-adds for the score and h*d_v for the weighted value. With S = T and d_k = d_v = d/h the first two "
    "terms are the usual estimate 6*[L(4d^2+2d*d_ff) + L(8d^2+2d*d_ff) + d*V] per target token. "
    "MFU = train FLOPs/step / median step time / (peak per device x devices).")


def train_flops(cfg: ModelConfig, source_lengths, target_lengths) -> dict:
  """Model FLOPs of one training step (forward + backward) over sentence pairs of the given non-padding lengths,
  split into the parameter matmuls and the attention score/value products (MFU_FORMULA)."""
  s = np.asarray(source_lengths, np.float64)
  t = np.asarray(target_lengths, np.float64)
  d, h, layers = cfg.d_model, cfg.num_heads, cfg.num_layers
  qk, vo = d * h * cfg.d_k, d * h * cfg.d_v  # multiply-adds per token of one Q (or K) and one V (or O) projection
  # Encoder layer per source token: Q, K, V, O and the FFN. Decoder layer per target token: self-attention Q, K,
  # V, O, cross-attention Q and O, FFN; per source token: the cross-attention K and V of the encoder output.
  per_token = 3 * qk + 3 * vo + 2 * d * cfg.d_ff
  parameter_macs = s.sum() * layers * per_token + t.sum() * (layers * per_token + d * cfg.vocab_size)
  pairs = (s ** 2 + t * (t + 1) / 2 + s * t).sum()
  attention_macs = layers * h * (cfg.d_k + cfg.d_v) * pairs
  return {"parameter_matmuls": 6 * parameter_macs, "attention": 6 * attention_macs,
          "total": 6 * (parameter_macs + attention_macs)}


def design_flops_per_target_token(cfg: ModelConfig) -> float:
  """The usual per-token estimate (source = target length, d_k = d_v = d/h, no attention terms)."""
  d, layers = cfg.d_model, cfg.num_layers
  return 6 * (layers * (4 * d * d + 2 * d * cfg.d_ff) + layers * (8 * d * d + 2 * d * cfg.d_ff)
              + d * cfg.vocab_size)


def pair_lengths(batch: dict) -> tuple[np.ndarray, np.ndarray]:
  """Source and target lengths of every sentence pair in a batch, packed rows (segment ids 1..n) or not."""
  def lengths(segments):
    counts = [np.bincount(row)[1:] for row in segments]
    return np.concatenate([c[c > 0] for c in counts])
  return lengths(batch["source_segments"]), lengths(batch["target_segments"])


def measured_matmul_tflops(dtype: str, mesh, size: int = 2048, repeats: int = 10) -> float:
  """Dense matmul speed per device in TFLOP/s: every device of `mesh` multiplies its own [size, size] x [size, size]
  pair at the same time, in `dtype` (float32 accumulation), the best of `repeats` timed calls; the total over the
  devices divided by their number. A practical peak to hold the train step against where no datasheet figure is
  known (CPUs). All devices at once, because several XLA CPU devices share the same cores."""
  devices = mesh.devices.size
  rng = np.random.default_rng(0)
  rows = sharding.batch_sharding(mesh)
  a = jax.device_put(jnp.asarray(rng.standard_normal((devices * size, size)), dtype), rows)
  b = jax.device_put(jnp.asarray(rng.standard_normal((size, size)), dtype), sharding.replicated(mesh))
  matmul = jax.jit(lambda x, y: jnp.matmul(x, y, preferred_element_type=jnp.float32), out_shardings=rows)
  jax.block_until_ready(matmul(a, b))
  best = float("inf")
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(matmul(a, b))
    best = min(best, time.perf_counter() - start)
  return 2 * size ** 3 / best / 1e12
