"""Attention and its masks against a naive numpy implementation written loop by loop from the paper's formula."""

import flax.linen as nn
import jax
import numpy as np
import pytest

from transformer_jax.attention import (IMPLEMENTATIONS, AttentionMask, MultiHeadAttention, attention_mask,
                                      dot_product_attention, heads_first)


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


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_cached_cross_attention_equals_full_attention(impl):
  """attend_cached over the encoder's keys/values stored heads first, with source padding different per sentence,
  equals the teacher-forced attention over the same inputs (naive path, dense mask), the beams taking the place of
  query positions. (Self-attention histories take attend_slots: test below, and test_decode rescores beam search
  with the full model.)"""
  rng = np.random.default_rng(6)
  batch, beams, length = 2, 3, 5
  x = rng.normal(size=(batch, beams, 16)).astype(np.float32)
  encoded = rng.normal(size=(batch, length, 16)).astype(np.float32)
  key_valid = (np.arange(length)[None, :] < np.array([[5], [2]]))[:, None, None, :]  # [batch, 1, 1, length]
  reference = MultiHeadAttention(num_heads=2, d_k=4, d_v=4, d_model=16)
  dense_mask = np.broadcast_to(key_valid, (batch, 1, beams, length))
  params = reference.init(jax.random.PRNGKey(0), x, encoded, dense_mask, True)
  want = np.asarray(reference.apply(params, x, encoded, dense_mask, True))
  cached = MultiHeadAttention(num_heads=2, d_k=4, d_v=4, d_model=16, impl=impl)
  keys, values = cached.apply(params, encoded, method=MultiHeadAttention.project_key_value)
  got = np.asarray(cached.apply(params, x, heads_first(keys), heads_first(values), key_valid,
                                method=MultiHeadAttention.attend_cached))
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


# ---- The lengths path: rows of one sentence passed to jax.nn.dot_product_attention as sequence lengths ----

# One sentence per row from position 0, then padding; the last row is batch padding (no sentence at all).
QUERY_LENGTHS, KEY_LENGTHS = np.array([4, 7, 1, 0]), np.array([6, 2, 5, 0])


def one_sentence_segments(lengths, width):
  return (np.arange(width)[None, :] < lengths[:, None]).astype(np.int32)


@pytest.mark.parametrize("cross,causal", [(False, False), (False, True), (True, False)])
def test_lengths_path_equals_naive_in_values_and_gradients(cross, causal):
  rng = np.random.default_rng(7)
  q_len, k_len = (7, 6) if cross else (7, 7)
  q_seg = one_sentence_segments(QUERY_LENGTHS, q_len)
  k_seg = one_sentence_segments(KEY_LENGTHS, k_len) if cross else q_seg
  q = rng.normal(size=(4, q_len, 2, 8)).astype(np.float32)
  k, v = (rng.normal(size=(4, k_len, 2, 8)).astype(np.float32) for _ in range(2))
  lengths_mask = AttentionMask(q_seg, k_seg, causal=causal, packed=False)
  dense_mask = AttentionMask(q_seg, k_seg, causal=causal, packed=True)
  got = np.asarray(jax.jit(lambda *a: dot_product_attention(*a, lengths_mask, impl="xla"))(q, k, v))
  want = naive_attention(q, k, v, q_seg, k_seg, causal)
  valid = q_seg > 0
  np.testing.assert_allclose(got[valid], want[valid], rtol=1e-5, atol=1e-5)
  assert np.all(np.isfinite(got))  # padding queries and the empty row included

  # Gradients of a loss over the valid queries (as the training loss is): equal to the naive path's.
  weights = rng.normal(size=got.shape).astype(np.float32) * valid[:, :, None, None]
  loss = lambda impl, mask: lambda q, k, v: (dot_product_attention(q, k, v, mask, impl=impl) * weights).sum()
  got_grads = jax.jit(jax.grad(loss("xla", lengths_mask), argnums=(0, 1, 2)))(q, k, v)
  want_grads = jax.grad(loss("naive", dense_mask), argnums=(0, 1, 2))(q, k, v)
  for got_grad, want_grad in zip(got_grads, want_grads):
    assert np.all(np.isfinite(np.asarray(got_grad)))
    np.testing.assert_allclose(np.asarray(got_grad), np.asarray(want_grad), rtol=1e-4, atol=1e-5)
  # A loss that also reads the padding queries stays finite.
  everything = jax.grad(lambda q: dot_product_attention(q, k, v, lengths_mask, impl="xla").sum())(q)
  assert np.all(np.isfinite(np.asarray(everything)))


def test_lengths_path_in_bfloat16_is_finite_and_close():
  rng = np.random.default_rng(8)
  seg = one_sentence_segments(QUERY_LENGTHS, 7)
  q, k, v = (jax.numpy.asarray(rng.normal(size=(4, 7, 2, 8)), jax.numpy.bfloat16) for _ in range(3))
  mask = AttentionMask(seg, seg, causal=True, packed=False)
  got = np.asarray(dot_product_attention(q, k, v, mask, impl="xla").astype(np.float32))
  want = naive_attention(*(np.asarray(x.astype(np.float32)) for x in (q, k, v)), seg, seg, True)
  assert np.all(np.isfinite(got))
  np.testing.assert_allclose(got[seg > 0], want[seg > 0], rtol=0.05, atol=0.05)


def test_cudnn_refuses_packed_rows_naming_the_alternatives():
  q = np.zeros((3, 7, 2, 8), np.float32)
  with pytest.raises(ValueError, match="cannot mask packed rows.*pack_training_rows=False or attention_impl='xla'"):
    dot_product_attention(q, q, q, AttentionMask(SEGMENTS, SEGMENTS), impl="cudnn")


def test_model_on_the_lengths_path_equals_the_naive_model_in_logits_and_gradients():
  """Through the whole Transformer: bucketed-style rows (one sentence each, one row of batch padding)."""
  import dataclasses

  from transformer_jax.model import ModelConfig, Transformer

  cfg = ModelConfig(vocab_size=40, num_layers=2, d_model=16, d_ff=32, num_heads=2, d_k=8, d_v=8, max_position=16,
                    dropout_rate=0.0)
  rng = np.random.default_rng(9)
  source_lengths, target_lengths = np.array([5, 9, 2, 0]), np.array([7, 3, 9, 0])
  source = rng.integers(3, 40, size=(4, 9)) * one_sentence_segments(source_lengths, 9)
  targets = rng.integers(3, 40, size=(4, 9)) * one_sentence_segments(target_lengths, 9)
  decoder_inputs = np.concatenate([np.ones((4, 1), np.int64), targets[:, :-1]], axis=1) * (targets > 0)
  naive = Transformer(cfg)
  lengths = Transformer(dataclasses.replace(cfg, attention_impl="xla", packed_rows=False))
  params = naive.init(jax.random.PRNGKey(0), source, decoder_inputs, targets)["params"]
  valid = targets > 0

  def loss(model):
    return lambda p: (model.apply({"params": p}, source, decoder_inputs, targets) * valid[..., None]).sum()

  want, got = (np.asarray(m.apply({"params": params}, source, decoder_inputs, targets)) for m in (naive, lengths))
  np.testing.assert_allclose(got[valid], want[valid], rtol=1e-4, atol=1e-4)
  assert np.all(np.isfinite(got))
  want_grads, got_grads = jax.grad(loss(naive))(params), jax.jit(jax.grad(loss(lengths)))(params)
  for w, g in zip(jax.tree_util.tree_leaves(want_grads), jax.tree_util.tree_leaves(got_grads)):
    assert np.all(np.isfinite(np.asarray(g)))
    np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-3, atol=1e-4)


def test_attention_over_history_slots_equals_each_beams_own_history():
  """attend_slots against numpy: beam j's history gathered position by position from the slot that holds it, then
  softmax(q k^T / sqrt(d)) v over the valid positions."""
  rng = np.random.default_rng(8)
  batch, beams, heads, length, dim = 2, 3, 2, 6, 4
  x = rng.normal(size=(batch, beams, 8)).astype(np.float32)
  keys, values = (rng.normal(size=(batch, beams, heads, length, dim)).astype(np.float32) for _ in range(2))
  history_slot = rng.integers(0, beams, size=(batch, beams, length))
  valid = np.arange(length) <= 3
  module = MultiHeadAttention(num_heads=heads, d_k=dim, d_v=dim, d_model=8)
  key_valid = valid[None, None, None, :]
  params = module.init(jax.random.PRNGKey(0), x, keys, values, history_slot, key_valid,
                       method=MultiHeadAttention.attend_slots)
  got = np.asarray(module.apply(params, x, keys, values, history_slot, key_valid,
                                method=MultiHeadAttention.attend_slots))
  p = jax.tree_util.tree_map(np.asarray, nn.unbox(params)["params"])
  want = np.zeros((batch, beams, 8), np.float32)
  for b in range(batch):
    for j in range(beams):
      q = (x[b, j] @ p["query"]["kernel"].reshape(8, -1) + p["query"]["bias"].reshape(-1)).reshape(heads, dim)
      context = np.zeros((heads, dim))
      for h in range(heads):
        own_keys = np.stack([keys[b, history_slot[b, j, t], h, t] for t in range(length)])
        own_values = np.stack([values[b, history_slot[b, j, t], h, t] for t in range(length)])
        scores = np.where(valid, own_keys @ q[h] / np.sqrt(dim), -np.inf)
        weights = np.exp(scores - scores.max())
        context[h] = (weights / weights.sum()) @ own_values
      want[b, j] = context.reshape(-1) @ p["out"]["kernel"].reshape(-1, 8) + p["out"]["bias"]
  np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
