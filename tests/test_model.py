"""The Transformer against the paper: parameter counts, positional encodings, post-norm (and pre-norm) against an
independent numpy forward pass, shared embeddings, padding invariance, and cached incremental decoding equal to the
full forward pass."""

import dataclasses
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import default, wmt14_ende_base, wmt14_ende_big
from transformer_jax import losses
from transformer_jax.model import (ModelConfig, Transformer, closed_form_parameter_count, count_parameters,
                                   sinusoidal_table)

TINY = ModelConfig(vocab_size=40, num_layers=2, d_model=16, d_ff=32, num_heads=2, d_k=8, d_v=8, dropout_rate=0.1,
                   max_position=64)
SOURCE = np.array([[5, 6, 7, 8, 1, 0, 0], [9, 10, 1, 0, 0, 0, 0], [11, 12, 13, 14, 15, 16, 1]])
TARGETS = np.array([[20, 21, 22, 1, 0], [23, 1, 0, 0, 0], [24, 25, 26, 27, 1]])
DECODER_INPUTS = np.array([[1, 20, 21, 22, 0], [1, 23, 0, 0, 0], [1, 24, 25, 26, 27]])


def init(cfg):
  # Unboxed: init returns parameters wrapped in their logical axis names (transformer_jax/sharding.py).
  return nn.unbox(Transformer(cfg).init(jax.random.PRNGKey(0), SOURCE, DECODER_INPUTS, TARGETS)["params"])


def abstract_count(cfg):
  shapes = jax.eval_shape(lambda: init(cfg))
  return count_parameters(shapes)


@pytest.mark.parametrize("config_module,paper_millions", [(wmt14_ende_base, 65), (wmt14_ende_big, 213)])
def test_paper_parameter_counts(config_module, paper_millions):
  cfg = ModelConfig.from_config(config_module.get_config())
  assert cfg.vocab_size == 37_000
  assert abstract_count(cfg) == closed_form_parameter_count(cfg)
  assert abs(closed_form_parameter_count(cfg) / 1e6 - paper_millions) / paper_millions < 0.03


@pytest.mark.parametrize("changes", [{}, {"positional_encoding": "learned"}, {"attention_bias": False},
                                     {"d_k": 4, "d_v": 12, "num_heads": 3}, {"norm_position": "pre"}])
def test_parameter_count_formula_on_variants(changes):
  cfg = dataclasses.replace(TINY, **changes)
  assert abstract_count(cfg) == closed_form_parameter_count(cfg)


def test_sinusoidal_table_is_the_papers_formula():
  table = sinusoidal_table(50, 10)
  for pos in (0, 1, 7, 49):
    for i in range(5):
      assert table[pos, 2 * i] == pytest.approx(math.sin(pos / 10000 ** (2 * i / 10)), abs=1e-6)
      assert table[pos, 2 * i + 1] == pytest.approx(math.cos(pos / 10000 ** (2 * i / 10)), abs=1e-6)


def test_one_embedding_matrix_serves_both_stacks_and_the_softmax():
  params = init(TINY)
  matrices = [p for p in jax.tree_util.tree_leaves(params) if p.shape == (TINY.vocab_size, TINY.d_model)]
  assert len(matrices) == 1
  # Logits are the decoder output times the transposed embedding matrix (no separate output layer).
  model = Transformer(TINY)
  logits = model.apply({"params": params}, SOURCE, DECODER_INPUTS, TARGETS)
  assert logits.shape == TARGETS.shape + (TINY.vocab_size,)
  embedding = np.asarray(params["embedder"]["token_embedding"]["embedding"])
  decoder_out = model.apply({"params": params}, SOURCE, DECODER_INPUTS, TARGETS,
                            capture_intermediates=lambda mdl, name: mdl.name == "decoder_1" and name == "__call__",
                            mutable=["intermediates"])[1]["intermediates"]["decoder_1"]["__call__"][0]
  np.testing.assert_allclose(np.asarray(logits), np.asarray(decoder_out) @ embedding.T, rtol=1e-4, atol=1e-4)


def test_layers_end_in_layer_norm_post_norm():
  """Post-norm: each encoder position leaves the stack normalised (mean 0, variance 1 before the gain/bias)."""
  params = init(TINY)
  encoded = np.asarray(Transformer(TINY).apply({"params": params}, SOURCE, method=Transformer.encode))
  np.testing.assert_allclose(encoded.mean(-1), 0.0, atol=1e-5)
  np.testing.assert_allclose(encoded.var(-1), 1.0, atol=1e-3)


def numpy_logits(params, cfg: ModelConfig, source, decoder_inputs):
  """The model's logits [batch, target length, vocab] computed in float64 numpy from the paper's equations, sharing
  nothing with the model's code but the parameter tree. Padding (id 0) is never attended to; outputs at padded
  positions are meaningless."""
  p = jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), params)
  embedding = p["embedder"]["token_embedding"]["embedding"]
  d = cfg.d_model

  def embed(tokens):
    position = np.arange(tokens.shape[1])[:, None]
    if cfg.positional_encoding == "learned":
      table = p["embedder"]["position_embedding"][:tokens.shape[1]]
    else:
      table = np.zeros((tokens.shape[1], d))
      for i in range(0, d, 2):
        table[:, i:i + 1] = np.sin(position / 10000 ** (i / d))
        table[:, i + 1:i + 2] = np.cos(position / 10000 ** (i / d))
    return embedding[tokens] * math.sqrt(d) + table

  def layer_norm(x, norm):
    mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-6) * norm["scale"] + norm["bias"]

  def attention(w, queries, keys_values, allowed):  # allowed [batch, q, k]
    bias = lambda name: w[name]["bias"] if "bias" in w[name] else 0.0
    q = np.einsum("bqd,dhk->bqhk", queries, w["query"]["kernel"]) + bias("query")
    k = np.einsum("bkd,dhc->bkhc", keys_values, w["key"]["kernel"])
    v = np.einsum("bkd,dhc->bkhc", keys_values, w["value"]["kernel"]) + bias("value")
    scores = np.einsum("bqhc,bkhc->bhqk", q, k) / math.sqrt(q.shape[-1])
    scores = np.where(allowed[:, None], scores, -1e30)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    return np.einsum("bhqk,bkhc,hcd->bqd", weights, v, w["out"]["kernel"]) + bias("out")

  def ffn(w, x):
    return np.maximum(x @ w["wi"]["kernel"] + w["wi"]["bias"], 0) @ w["wo"]["kernel"] + w["wo"]["bias"]

  def block(x, sublayer, norm):
    if cfg.norm_position == "pre":  # x + F(LN(x))
      return x + sublayer(layer_norm(x, norm["norm"]))
    return layer_norm(x + sublayer(x), norm["norm"])  # the paper: LN(x + F(x))

  source_valid, target_length = source > 0, decoder_inputs.shape[1]
  x = embed(source)
  self_allowed = np.broadcast_to(source_valid[:, None, :], (len(source), source.shape[1], source.shape[1]))
  for i in range(cfg.num_layers):
    w = p[f"encoder_{i}"]
    x = block(x, lambda h: attention(w["self_attention"], h, h, self_allowed), w["self_attention_norm"])
    x = block(x, lambda h: ffn(w["ffn"], h), w["ffn_norm"])
  if cfg.norm_position == "pre":
    x = layer_norm(x, p["encoder_norm"])
  y = embed(decoder_inputs)
  causal = np.broadcast_to(np.tril(np.ones((target_length, target_length), bool)),
                           (len(source), target_length, target_length))
  cross_allowed = np.broadcast_to(source_valid[:, None, :], (len(source), target_length, source.shape[1]))
  for i in range(cfg.num_layers):
    w = p[f"decoder_{i}"]
    y = block(y, lambda h: attention(w["self_attention"], h, h, causal), w["self_attention_norm"])
    y = block(y, lambda h: attention(w["cross_attention"], h, x, cross_allowed), w["cross_attention_norm"])
    y = block(y, lambda h: ffn(w["ffn"], h), w["ffn_norm"])
  if cfg.norm_position == "pre":
    y = layer_norm(y, p["decoder_norm"])
  return y @ embedding.T


@pytest.mark.parametrize("changes", [{}, {"norm_position": "pre"},
                                     {"norm_position": "pre", "positional_encoding": "learned",
                                      "attention_bias": False}])
def test_logits_equal_an_independent_numpy_forward_pass(changes):
  cfg = dataclasses.replace(TINY, **changes)
  # Every parameter moved off its initial value: LayerNorm gains 1 and biases 0 would hide a norm applied twice,
  # in the wrong place or not at all.
  params = init(cfg)
  leaves, tree = jax.tree_util.tree_flatten(params)
  keys = jax.random.split(jax.random.PRNGKey(7), len(leaves))
  params = jax.tree_util.tree_unflatten(
      tree, [p + 0.3 * jax.random.normal(k, p.shape) for p, k in zip(leaves, keys)])
  ours = np.asarray(Transformer(cfg).apply({"params": params}, SOURCE, DECODER_INPUTS, TARGETS))
  reference = numpy_logits(params, cfg, SOURCE, DECODER_INPUTS)
  valid = TARGETS > 0
  np.testing.assert_allclose(ours[valid], reference[valid], rtol=1e-4, atol=1e-4)
  assert np.abs(reference[valid]).max() > 1.0  # logits large enough that a wrong block would show


def test_padding_never_changes_valid_outputs():
  params = init(TINY)
  model = Transformer(TINY)
  logits = model.apply({"params": params}, SOURCE, DECODER_INPUTS, TARGETS)
  source2, inputs2 = SOURCE.copy(), DECODER_INPUTS.copy()
  source2[SOURCE == 0] = 33  # garbage where padding was; the segments still say padding
  inputs2[TARGETS == 0] = 34
  logits2 = model.apply({"params": params}, source2, inputs2, TARGETS,
                        source_segments=(SOURCE > 0).astype(np.int32), target_segments=(TARGETS > 0).astype(np.int32))
  valid = TARGETS > 0
  np.testing.assert_allclose(np.asarray(logits2)[valid], np.asarray(logits)[valid], rtol=1e-5, atol=1e-5)


def test_dropout_only_in_training():
  params = init(TINY)
  model = Transformer(TINY)
  run = lambda det, seed: np.asarray(model.apply({"params": params}, SOURCE, DECODER_INPUTS, TARGETS,
                                                 deterministic=det, rngs={"dropout": jax.random.PRNGKey(seed)}))
  np.testing.assert_array_equal(run(True, 0), run(True, 1))
  assert not np.allclose(run(False, 0), run(False, 1))


@pytest.mark.parametrize("positional_encoding,norm_position", [("sinusoidal", "post"), ("learned", "post"),
                                                                ("sinusoidal", "pre"), ("learned", "pre")])
def test_cached_decoding_equals_full_forward(positional_encoding, norm_position):
  cfg = dataclasses.replace(TINY, positional_encoding=positional_encoding, norm_position=norm_position)
  params = init(cfg)
  model = Transformer(cfg)
  variables = {"params": params}
  full = np.asarray(model.apply(variables, SOURCE, DECODER_INPUTS, TARGETS))
  encoded = model.apply(variables, SOURCE, method=Transformer.encode)
  cache = model.apply(variables, encoded, 1, TARGETS.shape[1], method=Transformer.init_decode_cache)
  steps = []
  for position in range(TARGETS.shape[1]):
    logits, cache = model.apply(variables, jnp.asarray(DECODER_INPUTS[:, position:position + 1]), position, cache,
                                SOURCE > 0, method=Transformer.decode_step)
    steps.append(np.asarray(logits[:, 0]))
  incremental = np.stack(steps, axis=1)
  valid = TARGETS > 0
  np.testing.assert_allclose(incremental[valid], full[valid], rtol=1e-4, atol=1e-4)


def test_default_config_builds():
  cfg = ModelConfig.from_config(default.get_config())
  assert abstract_count(dataclasses.replace(cfg, vocab_size=100)) > 0


def _primitives(jaxpr):
  """Every equation of a jaxpr, nested jaxprs (jit, custom_jvp, ...) included."""
  for eqn in jaxpr.eqns:
    yield eqn
    for value in eqn.params.values():
      for sub in value if isinstance(value, (list, tuple)) else [value]:
        inner = getattr(sub, "jaxpr", sub)
        if hasattr(inner, "eqns"):
          yield from _primitives(inner)


def test_bfloat16_forward_is_close_to_float32_and_keeps_softmaxes_in_float32():
  params = init(TINY)
  full = np.asarray(Transformer(TINY).apply({"params": params}, SOURCE, DECODER_INPUTS, TARGETS))
  half_model = Transformer(dataclasses.replace(TINY, dtype="bfloat16"))
  half = jax.jit(half_model.apply)({"params": params}, SOURCE, DECODER_INPUTS, TARGETS)
  assert half.dtype == jnp.float32
  valid = TARGETS > 0
  np.testing.assert_allclose(np.asarray(half)[valid], full[valid], atol=0.1)  # logits span about +-3.5
  assert not np.allclose(np.asarray(half), full, atol=1e-4), "bfloat16 should not compute in float32"
  # The vocabulary projection accumulates into float32: its outputs are not bfloat16 values.
  rounded = np.asarray(half.astype(jnp.bfloat16).astype(jnp.float32))
  assert np.mean(np.asarray(half) != rounded) > 0.9

  def loss(p):
    logits = half_model.apply({"params": p}, SOURCE, DECODER_INPUTS, TARGETS)
    return losses.token_losses(logits, TARGETS, 0.1)[0].sum()

  eqns = list(_primitives(jax.make_jaxpr(jax.value_and_grad(loss))(params).jaxpr))
  dtypes = lambda eqn: {str(v.aval.dtype) for v in eqn.invars}
  # Softmaxes (exp), the log-softmax (log) and layer-norm statistics (rsqrt of the variance) run in float32 ...
  for name in ("exp", "log", "rsqrt"):
    assert [dtypes(e) for e in eqns if e.primitive.name == name] and all(
        dtypes(e) == {"float32"} for e in eqns if e.primitive.name == name), name
  # ... and every matmul, forward and backward, multiplies bfloat16 operands.
  matmuls = [e for e in eqns if e.primitive.name == "dot_general"]
  assert all(dtypes(e) == {"bfloat16"} or e.params["precision"] == jax.lax.DotAlgorithmPreset.BF16_BF16_F32
             for e in matmuls)


def test_fused_attention_gives_the_same_logits():
  """attention_impl="xla" (jax.nn.dot_product_attention) against the naive reference, through the whole model."""
  params = init(TINY)
  naive = np.asarray(Transformer(TINY).apply({"params": params}, SOURCE, DECODER_INPUTS, TARGETS))
  fused_model = Transformer(dataclasses.replace(TINY, attention_impl="xla"))
  fused = np.asarray(jax.jit(fused_model.apply)({"params": params}, SOURCE, DECODER_INPUTS, TARGETS))
  valid = TARGETS > 0
  np.testing.assert_allclose(fused[valid], naive[valid], rtol=1e-5, atol=1e-5)
  assert np.all(np.isfinite(fused))
