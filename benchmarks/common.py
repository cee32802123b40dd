"""What the benchmarks share: progress lines, library versions, the synthetic WMT-like corpus, a workload's
ModelConfig and the paper's optimiser.

Imports only what an accelerator machine has (jax, flax, optax, numpy): no TensorFlow, tfds, clu, ml_collections or
sentencepiece.
"""

from __future__ import annotations

import dataclasses
import math
import platform
import sys
import time
from typing import Callable

import numpy as np

from transformer_jax import optim, run_info
from transformer_jax.data import token_cache
from transformer_jax.model import ModelConfig
from transformer_jax.special_ids import EOS_ID

# Sentence lengths in subword tokens (EOS included): log-normal with median 24 and sigma 0.6 (mean ~29), roughly
# WMT14 EN-DE under a 37k BPE vocabulary; target length = source length x N(1.05, 0.1).
LENGTH_MEDIAN, LENGTH_SIGMA = 24.0, 0.6
TARGET_RATIO, TARGET_RATIO_SD = 1.05, 0.1
LIBRARIES = ("jax", "jaxlib", "flax", "optax", "numpy")


def logger(name: str) -> Callable[[str], None]:
  """log(message): one progress line on stderr, `[name HH:MM:SS] message`."""

  def log(message: str) -> None:
    print(f"[{name} {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

  return log


def versions() -> dict:
  """Python's version and those of the libraries that decide the numbers (None where one is not installed)."""
  return {"python": platform.python_version(), **run_info.versions(LIBRARIES)}


# ---- Synthetic WMT-like lengths and corpus ----

def wmt_like_pair_lengths(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
  """Source and target lengths (EOS included, at least 2) of n pairs from the WMT-like distribution, unrestricted."""
  source = np.maximum(np.rint(rng.lognormal(math.log(LENGTH_MEDIAN), LENGTH_SIGMA, size=n)), 2).astype(np.int64)
  target = np.maximum(np.rint(source * rng.normal(TARGET_RATIO, TARGET_RATIO_SD, size=n)), 2).astype(np.int64)
  return source, target


def sample_lengths(rng: np.random.Generator, n: int, low: int, high: int) -> np.ndarray:
  """n lengths from the WMT-like log-normal restricted to [low, high] (rejection sampling)."""
  kept = np.zeros((0,), np.int64)
  for _ in range(1000):
    draws = np.rint(rng.lognormal(math.log(LENGTH_MEDIAN), LENGTH_SIGMA, size=max(64, 8 * n))).astype(np.int64)
    kept = np.concatenate([kept, draws[(draws >= low) & (draws <= high)]])
    if len(kept) >= n:
      return kept[:n]
  return rng.integers(low, high + 1, size=n)  # a range the distribution barely reaches


def synthetic_corpus(pairs: int, seed: int, vocab_size: int = 0,
                     max_length: int = 0) -> tuple[token_cache.TokenSequences, token_cache.TokenSequences]:
  """(sources, targets) of `pairs` pairs with WMT-like lengths, each sentence ending with EOS: what the batchers see
  of a corpus. Ids are random in [3, vocab_size), or a placeholder id (5) when vocab_size is 0; with max_length > 0
  the pairs longer than it on either side are dropped, as training drops them."""
  rng = np.random.default_rng(seed)
  source_lengths, target_lengths = wmt_like_pair_lengths(rng, pairs)
  if max_length:
    keep = (source_lengths <= max_length) & (target_lengths <= max_length)
    source_lengths, target_lengths = source_lengths[keep], target_lengths[keep]

  def side(lengths):
    size = int(lengths.sum())
    ids = rng.integers(3, vocab_size, size=size, dtype=np.int32) if vocab_size else np.full(size, 5, np.int32)
    ids[np.cumsum(lengths) - 1] = EOS_ID
    return token_cache.TokenSequences.from_lengths(ids, lengths)

  return side(source_lengths), side(target_lengths)


# ---- The model and its optimiser ----

@dataclasses.dataclass(frozen=True)
class Architecture:
  """A benchmark workload's model: d_k = d_v = d_model / num_heads, as in the paper."""
  vocab_size: int
  num_layers: int
  d_model: int
  d_ff: int
  num_heads: int
  dropout_rate: float


def model_config(workload: Architecture, **fields) -> ModelConfig:
  """The ModelConfig of a workload (positions up to 512); `fields` sets the others (dtype, attention_impl, ...)."""
  head = workload.d_model // workload.num_heads
  return ModelConfig(vocab_size=workload.vocab_size, num_layers=workload.num_layers, d_model=workload.d_model,
                     d_ff=workload.d_ff, num_heads=workload.num_heads, d_k=head, d_v=head,
                     dropout_rate=workload.dropout_rate, max_position=512, **fields)


@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
  """The keys optim.make_optimizer reads, at the defaults of config_base.base_config() (tests/test_bench.py checks
  that they agree): a plain object, as ml_collections is absent where the benchmarks run."""
  d_model: int
  warmup_steps: int = 4000
  learning_rate_scale: float = 1.0
  num_train_steps: int = 100_000
  learning_rate_cooldown_steps: int = 0
  adam_b1: float = 0.9
  adam_b2: float = 0.98
  adam_eps: float = 1e-9
  grad_clip_norm: float = 0.0


def make_optimizer(d_model: int):
  """(optimizer, learning-rate schedule) as training builds them for a model of this width, with the defaults."""
  return optim.make_optimizer(OptimizerConfig(d_model))
