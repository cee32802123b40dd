"""Multi-head scaled dot-product attention (Vaswani et al. 2017, section 3.2) and the masks it obeys.

Masks come from segment ids: 0 marks padding, 1, 2, ... mark the sentences packed into one row (a row holding one
sentence has ids 0/1). A query may look at a key only if both belong to the same segment, the key is not padding,
and (for decoder self-attention) the key is not in the query's future.

Three implementations of the same function, chosen by `attention_impl`: "naive" (the reference: einsums and a
masked softmax, the only one with dropout on the attention weights), "xla" and "cudnn" (`jax.nn.dot_product_attention`;
cuDNN's fused flash attention on NVIDIA GPUs, bfloat16 only). The model hands every path an `AttentionMask` (segment
ids, causal or not, packed or not), and each builds what its kernel wants:
- naive, and packed rows on "xla": the dense boolean [batch, 1, q_len, k_len] mask;
- "xla" and "cudnn" on rows holding one sentence: sequence lengths and `is_causal`, no dense mask. That is the form
  cuDNN's fused kernel supports (a dense mask is slow or refused on several JAX versions, and has known NaN cases in
  the fused backward); packed segment ids have no cuDNN path in JAX's public API, so config_base.validate refuses
  packed rows under attention_impl="cudnn".
"""

from __future__ import annotations

import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp

from transformer_jax import dropout
from transformer_jax.precision import einsum_f32
from transformer_jax.sharding import param_init

Array = jax.Array


def attention_mask(query_segments: Array, key_segments: Array, causal: bool = False) -> Array:
  """Boolean [batch, 1, q_len, k_len]: True where the query may attend to the key."""
  allowed = (query_segments[:, :, None] == key_segments[:, None, :]) & (key_segments[:, None, :] > 0)
  if causal:
    q_len, k_len = query_segments.shape[1], key_segments.shape[1]
    allowed &= jnp.arange(q_len)[:, None] >= jnp.arange(k_len)[None, :]
  return allowed[:, None]


@flax.struct.dataclass
class AttentionMask:
  """Which keys each query may see, kept as segment ids so that each implementation builds its own form of it.

  packed: rows may hold several sentences (segments 1, 2, ...); otherwise a row holds one sentence whose tokens
  come first (segment 1 at positions 0 .. length - 1, then padding), and lengths describe the mask exactly.
  """
  query_segments: Array  # [batch, q_len]
  key_segments: Array  # [batch, k_len]
  causal: bool = flax.struct.field(pytree_node=False, default=False)
  packed: bool = flax.struct.field(pytree_node=False, default=True)

  def dense(self) -> Array:
    return attention_mask(self.query_segments, self.key_segments, self.causal)

  def lengths(self) -> tuple[Array, Array]:
    """(query lengths, key lengths) [batch] int32 of one-sentence rows. A row without a sentence (batch padding)
    keeps one key: a softmax over no key at all is where fused kernels have produced NaN; that row's queries are
    all padding, so nothing reads the result."""
    query_lengths = (self.query_segments > 0).sum(axis=-1).astype(jnp.int32)
    key_lengths = (self.key_segments > 0).sum(axis=-1).astype(jnp.int32)
    return query_lengths, jnp.maximum(key_lengths, 1)


def _masked_softmax(scores: Array, mask: Array) -> Array:
  # A finite fill (not -inf) keeps rows with no allowed key (padding queries) finite; their output is never used.
  scores = jnp.where(mask, scores.astype(jnp.float32), jnp.finfo(jnp.float32).min)
  return jax.nn.softmax(scores, axis=-1)


def _scores(equation: str, query: Array, key: Array) -> Array:
  # float32 scores from compute-dtype queries and keys: the softmax sees scores never rounded to bfloat16.
  return einsum_f32(equation, query, key) / jnp.sqrt(query.shape[-1])


IMPLEMENTATIONS = ("naive", "xla", "cudnn")


def dot_product_attention(query: Array, key: Array, value: Array, mask: AttentionMask | Array, *,
                          impl: str = "naive", dropout_rate: float = 0.0, dropout_rng: Array | None = None,
                          deterministic: bool = True, module: nn.Module | None = None) -> Array:
  """softmax(Q K^T / sqrt(d_k)) V over [batch, length, heads, dim] inputs.

  mask: an AttentionMask, or a dense boolean [batch, 1, q_len, k_len] (always applied densely).
  Queries with no allowed key (padding) get finite outputs, forward and backward, on every path (a uniform average
  on the dense paths, zeros on the lengths path; never used). If `module` is given, the naive path sows the weights
  [batch, heads, q_len, k_len] into "intermediates" (as Flax's own dot_product_attention does); that costs nothing
  unless the caller makes the collection mutable.
  """
  if impl != "naive":
    if dropout_rate > 0.0 and not deterministic:  # config_base.validate refuses this combination earlier
      raise ValueError(f"attention dropout needs attention_impl='naive', not {impl!r}")
    # Softmax in float32 inside, as in the naive path; key and value must have the same head size (d_k == d_v).
    if isinstance(mask, AttentionMask) and not mask.packed:
      query_lengths, key_lengths = mask.lengths()
      return jax.nn.dot_product_attention(query, key, value, is_causal=mask.causal, query_seq_lengths=query_lengths,
                                          key_value_seq_lengths=key_lengths, implementation=impl)
    if impl == "cudnn" and isinstance(mask, AttentionMask):
      raise ValueError("attention_impl='cudnn' cannot mask packed rows (JAX's cuDNN attention takes sequence "
                       "lengths, not segment ids): use pack_training_rows=False or attention_impl='xla'")
    dense = mask.dense() if isinstance(mask, AttentionMask) else mask
    return jax.nn.dot_product_attention(query, key, value, mask=dense, implementation=impl)
  dense = mask.dense() if isinstance(mask, AttentionMask) else mask
  weights = _masked_softmax(_scores("bqhd,bkhd->bhqk", query, key), dense)
  if module is not None:
    module.sow("intermediates", "attention_weights", weights)
  if dropout_rate > 0.0 and not deterministic:
    weights = dropout.dropout(weights, dropout_rate, dropout_rng)
  return jnp.einsum("bhqk,bkhd->bqhd", weights.astype(value.dtype), value)


class MultiHeadAttention(nn.Module):
  """h heads of attention, concatenated and projected by W^O back to d_model."""
  num_heads: int
  d_k: int
  d_v: int
  d_model: int
  use_bias: bool = True
  dropout_rate: float = 0.0
  dtype: jnp.dtype = jnp.float32
  impl: str = "naive"  # one of IMPLEMENTATIONS

  def setup(self):
    kernel_init, bias_init = nn.linear.default_kernel_init, nn.initializers.zeros_init()

    def dense(features, name, bias):  # d_model -> [heads, dim]
      return nn.DenseGeneral(features, use_bias=bias, dtype=self.dtype, name=name,
                             kernel_init=param_init(kernel_init, "embed", "heads", "kv"),
                             bias_init=param_init(bias_init, "heads", "kv"))

    self.query = dense((self.num_heads, self.d_k), "query", self.use_bias)
    # A key bias adds q.b to every score of a query alike, so the softmax cancels it: its gradient is pure
    # rounding noise, which Adam (eps 1e-9) would turn into full-size random steps. It is left out.
    self.key = dense((self.num_heads, self.d_k), "key", False)
    self.value = dense((self.num_heads, self.d_v), "value", self.use_bias)
    self.out = nn.DenseGeneral(self.d_model, axis=(-2, -1), use_bias=self.use_bias, dtype=self.dtype, name="out",
                               kernel_init=param_init(kernel_init, "heads", "kv", "embed"),
                               bias_init=param_init(bias_init, "embed"))

  def __call__(self, query_inputs: Array, key_value_inputs: Array, mask: AttentionMask | Array,
               deterministic: bool) -> Array:
    query, key, value = self.query(query_inputs), self.key(key_value_inputs), self.value(key_value_inputs)
    dropout_rng = None
    if self.dropout_rate > 0.0 and not deterministic:
      dropout_rng = self.make_rng("dropout")
    context = dot_product_attention(query, key, value, mask, impl=self.impl, dropout_rate=self.dropout_rate,
                                    dropout_rng=dropout_rng, deterministic=deterministic, module=self)
    return self.out(context)

  # ---- Incremental decoding: one new query position per call, keys/values kept in an explicit cache ----

  def project_key_value(self, key_value_inputs: Array) -> tuple[Array, Array]:
    """Keys and values [batch, length, heads, dim]; for cross-attention these are computed once per batch."""
    return self.key(key_value_inputs), self.value(key_value_inputs)

  def attend_slots(self, query_inputs: Array, keys: Array, values: Array, history_slot: Array,
                   key_valid: Array) -> Array:
    """Attention of queries [batch, beams, d_model] over self-attention histories kept in slots: keys/values
    [batch, slots, heads, length, dim], history_slot [batch, beams, length] int (which slot holds beam j's history
    at each position), key_valid broadcastable to [batch, beams, 1, length].

    Each beam gathers its own history position by position from the slots and attends over it; nothing is written
    back. Scoring every slot and picking the beam's own scores with a one-hot did beams times the work in tiny
    batched matmuls; on the demo's test set the gather is about 5% faster (docs/benchmarks.md).
    """
    query = self.query(query_inputs)  # [batch, beams, heads, dim]
    index = history_slot[:, :, None, :, None]  # [batch, beams, 1, length, 1]
    # Slot indices are always valid: no bounds check (take_along_axis's default "fill" adds a select per element).
    own_keys = jnp.take_along_axis(keys, index, axis=1, mode="promise_in_bounds")  # [batch, beams, heads, length, dim]
    own_values = jnp.take_along_axis(values, index, axis=1, mode="promise_in_bounds")
    weights = _masked_softmax(_scores("bjhd,bjhtd->bjht", query, own_keys), key_valid).astype(values.dtype)
    return self.out(jnp.einsum("bjht,bjhtd->bjhd", weights, own_values))

  def attend_cached(self, query_inputs: Array, keys: Array, values: Array, key_valid: Array) -> Array:
    """Attention of queries [batch, beams, d_model] over keys/values [batch, heads, length, dim] that all beams of a
    sentence share (cross-attention over the encoder output, `heads_first`); key_valid is a boolean mask
    broadcastable to [batch, beams, 1, length] (the same for every head). Self-attention histories: attend_slots.

    One path for every implementation: a handful of query positions leaves a fused kernel nothing to tile (and
    cuDNN rejects some of these shapes). Keys stored heads first are what the batched matmuls read; stored as
    [batch, length, heads, dim] they were transposed again at every step, ~10% of a CPU decoding step.
    """
    query = self.query(query_inputs)  # [batch, beams, heads, dim]
    # Scores and weights [batch, heads, beams, length]: batch axes leading, as the CPU's batched matmul wants them.
    scores = _scores("bjhd,bhtd->bhjt", query, keys)
    weights = _masked_softmax(scores, jnp.swapaxes(key_valid, 1, 2)).astype(values.dtype)
    return self.out(jnp.einsum("bhjt,bhtd->bhjd", weights, values).transpose(0, 2, 1, 3))


def heads_first(keys_or_values: Array) -> Array:
  """[batch, length, heads, dim] -> [batch, heads, length, dim], the layout attend_cached reads."""
  return keys_or_values.transpose(0, 2, 1, 3)
