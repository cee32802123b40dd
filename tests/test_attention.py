"""Attention and its masks against a naive numpy implementation written loop by loop from the paper's formula."""

import flax.linen as nn
import jax
import numpy as np
import pytest

from transformer_jax.attention import MultiHeadAttention, attention_mask, dot_product_attention


def naive_attention(q, k, v, q_seg, k_seg, causal):
  """softmax(q k^T / sqrt(d_k)) v per batch row, head and query, over the keys that query may see."""
  batch, q_len, heads, d_k = q.shape
  out = np.zeros((batch, q_len, heads, v.shape[-1]))
  for b in range(batch):
    for h in range(heads):
      for i in range(q_len):
        allowed = [j for j in range(k.shape[1])
                   if k_seg[b, j] > 0 and k_seg[b, j] == q_seg[b, i] and (not causal or j <= i)]
        if not allowed:
          continue
        scores = np.array([q[b, i, h] @ k[b, j, h] / np.sqrt(d_k) for j in allowed])
        weights = np.exp(scores - scores.max())
        weights /= weights.sum()
        out[b, i, h] = sum(w * v[b, j, h] for w, j in zip(weights, allowed))
  return out


# Row 0: one sentence then padding; row 1: three packed segments then padding; row 2: no padding.
SEGMENTS = np.array([[1, 1, 1, 1, 0, 0, 0],
                     [1, 1, 2, 2, 2, 3, 0],
                     [1, 1, 1, 1, 1, 1, 1]])


@pytest.mark.parametrize("causal", [False, True])
def test_dot_product_attention_matches_naive(causal):
  rng = np.random.default_rng(0)
  q, k, v = (rng.normal(size=(3, 7, 2, 4)).astype(np.float32) for _ in range(3))
  mask = attention_mask(SEGMENTS, SEGMENTS, causal=causal)
  got = np.asarray(dot_product_attention(q, k, v, mask))
  want = naive_attention(q, k, v, SEGMENTS, SEGMENTS, causal)
  valid = SEGMENTS > 0
  np.testing.assert_allclose(got[valid], want[valid], rtol=1e-5, atol=1e-5)
  assert np.all(np.isfinite(got))


def test_cross_attention_mask_matches_naive():
  rng = np.random.default_rng(1)
  q_seg = np.array([[1, 1, 0], [1, 2, 2]])
  k_seg = np.array([[1, 1, 1, 0, 0], [1, 1, 2, 2, 0]])
  q = rng.normal(size=(2, 3, 2, 4)).astype(np.float32)
  k, v = (rng.normal(size=(2, 5, 2, 4)).astype(np.float32) for _ in range(2))
  got = np.asarray(dot_product_attention(q, k, v, attention_mask(q_seg, k_seg)))
  want = naive_attention(q, k, v, q_seg, k_seg, causal=False)
  np.testing.assert_allclose(got[q_seg > 0], want[q_seg > 0], rtol=1e-5, atol=1e-5)


def test_masked_keys_cannot_influence_output():
  """Changing padding, another segment's or future keys/values leaves every valid query's output unchanged."""
  rng = np.random.default_rng(2)
  q, k, v = (rng.normal(size=(3, 7, 2, 4)).astype(np.float32) for _ in range(3))
  mask = attention_mask(SEGMENTS, SEGMENTS, causal=True)
  base = np.asarray(dot_product_attention(q, k, v, mask))
  # Perturb row 1 position 4 (segment 2, last of its segment) and all padding keys.
  k2, v2 = k.copy(), v.copy()
  k2[1, 4] += 10.0
  v2[1, 4] += 10.0
  k2[SEGMENTS == 0] = 100.0
  v2[SEGMENTS == 0] = -100.0
  changed = np.asarray(dot_product_attention(q, k2, v2, mask))
  # Queries that may see position (1, 4): itself only (causal, segment 2 ends there). All others must be equal.
  unaffected = SEGMENTS > 0
  unaffected[1, 4] = False
  np.testing.assert_allclose(changed[unaffected], base[unaffected], rtol=1e-6, atol=1e-6)


def test_multi_head_module_matches_naive_projections():
  """The module = per-head projections, naive attention, concatenation, W^O (numpy, from its parameters)."""
  rng = np.random.default_rng(3)
  x = rng.normal(size=(3, 7, 16)).astype(np.float32)
  module = MultiHeadAttention(num_heads=2, d_k=4, d_v=6, d_model=16)
  mask = attention_mask(SEGMENTS, SEGMENTS, causal=True)
  params = nn.unbox(module.init(jax.random.PRNGKey(0), x, x, mask, True)["params"])
  got = np.asarray(module.apply({"params": params}, x, x, mask, True))
  p = jax.tree_util.tree_map(np.asarray, params)
  project = lambda name: np.einsum("bld,dhk->blhk", x, p[name]["kernel"]) + p[name].get("bias", 0.0)
  heads = naive_attention(project("query"), project("key"), project("value"), SEGMENTS, SEGMENTS, True)
  concat = heads.reshape(3, 7, 2 * 6)
  want = concat @ p["out"]["kernel"].reshape(12, 16) + p["out"]["bias"]
  valid = SEGMENTS > 0
  np.testing.assert_allclose(got[valid], want[valid], rtol=1e-4, atol=1e-4)


# ---- The fused implementation ("xla" on CPU; "cudnn" is the same call on a GPU) against the naive reference ----

@pytest.mark.parametrize("causal", [False, True])
def test_fused_attention_equals_naive_with_padding_causal_and_segment_masks(causal):
  rng = np.random.default_rng(4)
  q, k, v = (rng.normal(size=(3, 7, 2, 4)).astype(np.float32) for _ in range(3))
  mask = attention_mask(SEGMENTS, SEGMENTS, causal=causal)
  got = np.asarray(jax.jit(lambda *a: dot_product_attention(*a, impl="xla"))(q, k, v, mask))
  want = naive_attention(q, k, v, SEGMENTS, SEGMENTS, causal)
  valid = SEGMENTS > 0
  np.testing.assert_allclose(got[valid], want[valid], rtol=1e-5, atol=1e-5)
  assert np.all(np.isfinite(got))  # fully masked (padding) query rows included


def test_fused_cross_attention_equals_naive_with_padded_keys():
  rng = np.random.default_rng(5)
  q_seg = np.array([[1, 1, 0], [1, 2, 2]])
  k_seg = np.array([[1, 1, 1, 0, 0], [1, 1, 2, 2, 0]])
  q = rng.normal(size=(2, 3, 2, 4)).astype(np.float32)
  k, v = (rng.normal(size=(2, 5, 2, 4)).astype(np.float32) for _ in range(2))
  got = np.asarray(dot_product_attention(q, k, v, attention_mask(q_seg, k_seg), impl="xla"))
  want = naive_attention(q, k, v, q_seg, k_seg, causal=False)
  np.testing.assert_allclose(got[q_seg > 0], want[q_seg > 0], rtol=1e-5, atol=1e-5)
  assert np.all(np.isfinite(got))


def test_fused_cached_cross_attention_equals_naive():
  """attend_cached over shared encoder keys [b, T, h, d] with source padding. (Per-beam histories take the same
  einsum on every implementation; test_model checks cached decoding against the full forward pass.)"""
  rng = np.random.default_rng(6)
  batch, beams, length = 2, 3, 5
  x = rng.normal(size=(batch, beams, 16)).astype(np.float32)
  keys, values = (rng.normal(size=(batch, length, 2, 4)).astype(np.float32) for _ in range(2))
  key_valid = (np.arange(length)[None, :] < np.array([[5], [2]]))[:, None, None, :]  # different per sentence
  naive = MultiHeadAttention(num_heads=2, d_k=4, d_v=4, d_model=16)
  params = naive.init(jax.random.PRNGKey(0), x, keys, values, key_valid, method=MultiHeadAttention.attend_cached)
  run = lambda module: np.asarray(module.apply(params, x, keys, values, key_valid,
                                               method=MultiHeadAttention.attend_cached))
  fused = MultiHeadAttention(num_heads=2, d_k=4, d_v=4, d_model=16, impl="cudnn")  # decodes with "xla"
  np.testing.assert_allclose(run(fused), run(naive), rtol=1e-5, atol=1e-5)
