"""The Transformer encoder-decoder of Vaswani et al. 2017, as the paper describes it.

- Post-norm residual blocks: LayerNorm(x + Dropout(Sublayer(x))); norm_position="pre" moves the LayerNorm in front of
  each sub-layer, x + Dropout(Sublayer(LayerNorm(x))), and ends each stack with one more (docs/design.md).
- Sinusoidal positional encodings (or learned ones, Table 3 row E), added to embeddings scaled by sqrt(d_model),
  followed by dropout, in both stacks.
- One embedding matrix shared by the encoder input, the decoder input and the pre-softmax projection.
- FFN: max(0, x W1 + b1) W2 + b2.

Incremental decoding keeps keys/values in an explicit cache pytree (see `init_decode_cache` / `decode_step`), so the
beam search can reorder it with plain gathers and the encoder output is projected once per batch.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from transformer_jax import config_base
from transformer_jax.attention import AttentionMask, MultiHeadAttention, heads_first
from transformer_jax.dropout import Dropout
from transformer_jax.precision import einsum_f32
from transformer_jax.sharding import param_init

Array = jax.Array


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  vocab_size: int
  num_layers: int = 6
  d_model: int = 512
  d_ff: int = 2048
  num_heads: int = 8
  d_k: int = 64
  d_v: int = 64
  dropout_rate: float = 0.1
  attention_dropout_rate: float = 0.0
  relu_dropout_rate: float = 0.0
  positional_encoding: str = "sinusoidal"
  max_position: int = 512
  attention_bias: bool = True
  dtype: str = "float32"
  attention_impl: str = "naive"
  norm_position: str = "post"  # config_base.NORM_POSITIONS: "post" (the paper) or "pre"
  # Rows may hold several sentences (training with pack_training_rows): the fused attention paths then take the
  # dense segment mask, right for any rows (so the default). False: each row holds one sentence from position 0
  # (bucketed batches, evaluation): they take sequence lengths, the form cuDNN supports (attention.AttentionMask).
  packed_rows: bool = True

  @classmethod
  def from_config(cls, config) -> "ModelConfig":
    d_k, d_v = config_base.head_dims(config)
    names = {f.name for f in dataclasses.fields(cls)} - {"d_k", "d_v"}
    # Keys the config does not set (a partial dict) take the defaults above.
    return cls(d_k=d_k, d_v=d_v, packed_rows=bool(config.get("pack_training_rows", True)),
               **{name: config[name] for name in names if name in config})

  @property
  def jnp_dtype(self):
    return jnp.dtype(self.dtype)


def sinusoidal_table(max_position: int, d_model: int) -> np.ndarray:
  """PE(pos, 2i) = sin(pos / 10000^(2i/d_model)), PE(pos, 2i+1) = cos(pos / 10000^(2i/d_model))."""
  positions = np.arange(max_position, dtype=np.float64)[:, None]
  two_i = np.arange(0, d_model, 2, dtype=np.float64)[None, :]
  angles = positions / np.power(10000.0, two_i / d_model)
  table = np.zeros((max_position, d_model), dtype=np.float32)
  table[:, 0::2] = np.sin(angles)
  table[:, 1::2] = np.cos(angles[:, : d_model // 2])
  return table


class Embedder(nn.Module):
  """Token embedding * sqrt(d_model) + positional encoding, then dropout; also the pre-softmax projection."""
  config: ModelConfig

  def setup(self):
    cfg = self.config
    # Variance 1/d_model, so that after the sqrt(d_model) scaling the embeddings have unit variance.
    self.token_embedding = nn.Embed(cfg.vocab_size, cfg.d_model, dtype=cfg.jnp_dtype, embedding_init=param_init(
        nn.initializers.normal(stddev=cfg.d_model ** -0.5), "vocab", "embed"))
    if cfg.positional_encoding == "learned":
      self.position_embedding = self.param("position_embedding",
                                           param_init(nn.initializers.normal(stddev=0.02), "position", "embed"),
                                           (cfg.max_position, cfg.d_model))
    else:
      self.position_embedding = jnp.asarray(sinusoidal_table(cfg.max_position, cfg.d_model))
    self.dropout = Dropout(cfg.dropout_rate)

  def __call__(self, tokens: Array, positions: Array, deterministic: bool) -> Array:
    cfg = self.config
    x = self.token_embedding(tokens) * jnp.sqrt(cfg.d_model).astype(cfg.jnp_dtype)
    x = x + jnp.take(self.position_embedding, positions, axis=0).astype(cfg.jnp_dtype)
    return self.dropout(x, deterministic=deterministic)

  def logits(self, x: Array) -> Array:
    """Pre-softmax projection with the shared embedding matrix: [..., d_model] -> float32 [..., vocab].

    Inputs in the compute dtype, output accumulated and kept in float32: under bfloat16 the log-softmax over the
    vocabulary (loss, beam scores) then sees logits that were never rounded to 8 bits of mantissa."""
    dtype = self.config.jnp_dtype
    return einsum_f32("...d,vd->...v", x.astype(dtype), self.token_embedding.embedding.astype(dtype))


class FeedForward(nn.Module):
  config: ModelConfig

  @nn.compact
  def __call__(self, x: Array, deterministic: bool) -> Array:
    cfg = self.config
    dense = lambda features, name, names: nn.Dense(
        features, dtype=cfg.jnp_dtype, name=name, kernel_init=param_init(nn.linear.default_kernel_init, *names),
        bias_init=param_init(nn.initializers.zeros_init(), names[1]))
    h = nn.relu(dense(cfg.d_ff, "wi", ("embed", "mlp"))(x))
    h = Dropout(cfg.relu_dropout_rate)(h, deterministic=deterministic)
    return dense(cfg.d_model, "wo", ("mlp", "embed"))(h)


def _attention(cfg: ModelConfig, name: str) -> MultiHeadAttention:
  return MultiHeadAttention(num_heads=cfg.num_heads, d_k=cfg.d_k, d_v=cfg.d_v, d_model=cfg.d_model,
                            use_bias=cfg.attention_bias, dropout_rate=cfg.attention_dropout_rate,
                            dtype=cfg.jnp_dtype, impl=cfg.attention_impl, name=name)


def _layer_norm(cfg: ModelConfig, name: str | None = None) -> nn.LayerNorm:
  # Mean and variance are computed in float32 whatever the compute dtype (flax's force_float32_reductions).
  return nn.LayerNorm(dtype=cfg.jnp_dtype, force_float32_reductions=True, name=name,
                      scale_init=param_init(nn.initializers.ones_init(), "embed"),
                      bias_init=param_init(nn.initializers.zeros_init(), "embed"))


class ResidualNorm(nn.Module):
  """A sub-layer's residual connection and its LayerNorm, where config.norm_position puts the norm:
  "post" (the paper) LayerNorm(x + Dropout(sublayer(x))), "pre" x + Dropout(sublayer(LayerNorm(x)))."""
  config: ModelConfig

  @nn.compact
  def __call__(self, x: Array, sublayer: Callable[[Array], Array], deterministic: bool) -> Array:
    # Both positions keep the parameters at "norm" and the dropout at "Dropout_0" (its rng stream folds in that
    # path): post-norm checkpoints and dropout masks are those of the paper's model either way.
    dropout = Dropout(self.config.dropout_rate)
    norm = _layer_norm(self.config, "norm")
    if self.config.norm_position == "pre":
      return x + dropout(sublayer(norm(x)), deterministic=deterministic)
    return norm(x + dropout(sublayer(x), deterministic=deterministic))


class EncoderLayer(nn.Module):
  config: ModelConfig

  def setup(self):
    self.self_attention = _attention(self.config, "self_attention")
    self.self_attention_norm = ResidualNorm(self.config)
    self.ffn = FeedForward(self.config)
    self.ffn_norm = ResidualNorm(self.config)

  def __call__(self, x: Array, mask: AttentionMask, deterministic: bool) -> Array:
    x = self.self_attention_norm(x, lambda h: self.self_attention(h, h, mask, deterministic), deterministic)
    return self.ffn_norm(x, lambda h: self.ffn(h, deterministic), deterministic)


class DecoderLayer(nn.Module):
  config: ModelConfig

  def setup(self):
    self.self_attention = _attention(self.config, "self_attention")
    self.self_attention_norm = ResidualNorm(self.config)
    self.cross_attention = _attention(self.config, "cross_attention")
    self.cross_attention_norm = ResidualNorm(self.config)
    self.ffn = FeedForward(self.config)
    self.ffn_norm = ResidualNorm(self.config)

  def __call__(self, y: Array, encoded: Array, self_mask: AttentionMask, cross_mask: AttentionMask,
               deterministic: bool) -> Array:
    y = self.self_attention_norm(y, lambda h: self.self_attention(h, h, self_mask, deterministic), deterministic)
    y = self.cross_attention_norm(y, lambda h: self.cross_attention(h, encoded, cross_mask, deterministic),
                                  deterministic)
    return self.ffn_norm(y, lambda h: self.ffn(h, deterministic), deterministic)

  def cross_key_value(self, encoded: Array) -> tuple[Array, Array]:
    """The cross-attention keys and values of the encoder output, [batch, heads, length, dim] (attend_cached)."""
    keys, values = self.cross_attention.project_key_value(encoded)
    return heads_first(keys), heads_first(values)

  def step(self, y: Array, slots: dict, shared_cache: dict, position: Array, history_slot: Array,
           source_valid: Array) -> tuple[Array, dict]:
    """One decoding position for y [batch, beams, d_model]. slots: this layer's self-attention keys/values
    [batch, slots, heads, length, dim], written by slot and never reordered; history_slot [batch, beams, length]:
    which slot holds each beam's history at each position. Returns the output and the updated slots."""
    updated = {}

    def attend_history(h):
      # This position's keys/values are projected from the sub-layer's input (normalised first under pre-norm),
      # as the full forward pass projects them.
      new_key, new_value = self.self_attention.project_key_value(h)  # [batch, beams, heads, dim]
      # Beam j's keys/values of this position land in slot j, in place.
      for name, new in (("key", new_key), ("value", new_value)):
        updated[name] = jax.lax.dynamic_update_slice_in_dim(slots[name], new[:, :, :, None], position, axis=3)
      history_valid = (jnp.arange(updated["key"].shape[3]) <= position)[None, None, None, :]
      return self.self_attention.attend_slots(h, updated["key"], updated["value"], history_slot, history_valid)

    y = self.self_attention_norm(y, attend_history, True)
    y = self.cross_attention_norm(y, lambda h: self.cross_attention.attend_cached(
        h, shared_cache["key"], shared_cache["value"], source_valid[:, None, None, :]), True)
    y = self.ffn_norm(y, lambda h: self.ffn(h, True), True)
    return y, updated


def default_positions(segments: Array) -> Array:
  return jnp.broadcast_to(jnp.arange(segments.shape[-1]), segments.shape)


class Transformer(nn.Module):
  """Encoder-decoder. Inputs are int token ids [batch, length] with 0 = padding."""
  config: ModelConfig

  def setup(self):
    self.embedder = Embedder(self.config)
    self.encoder_layers = [EncoderLayer(self.config, name=f"encoder_{i}") for i in range(self.config.num_layers)]
    self.decoder_layers = [DecoderLayer(self.config, name=f"decoder_{i}") for i in range(self.config.num_layers)]
    if self.config.norm_position == "pre":
      # Pre-norm leaves each stack's residual sum unnormalised: one LayerNorm on the encoder output and one on the
      # decoder output before the pre-softmax projection. Post-norm has none (its parameter tree is the paper's).
      self.encoder_norm = _layer_norm(self.config)
      self.decoder_norm = _layer_norm(self.config)

  def _final_norm(self, x: Array, stack: str) -> Array:
    return getattr(self, f"{stack}_norm")(x) if self.config.norm_position == "pre" else x

  def encode(self, source: Array, source_segments: Array | None = None, source_positions: Array | None = None,
             deterministic: bool = True) -> Array:
    if source_segments is None:
      source_segments = (source > 0).astype(jnp.int32)
    if source_positions is None:
      source_positions = default_positions(source)
    mask = AttentionMask(source_segments, source_segments, packed=self.config.packed_rows)
    x = self.embedder(source, source_positions, deterministic)
    for layer in self.encoder_layers:
      x = layer(x, mask, deterministic)
    return self._final_norm(x, "encoder")

  def decode(self, encoded: Array, source_segments: Array, decoder_inputs: Array, target_segments: Array,
             target_positions: Array | None = None, deterministic: bool = True) -> Array:
    """Teacher-forced logits [batch, target_length, vocab]. target_segments mark the target tokens (0 = padding);
    decoder_inputs are the targets shifted right, starting with EOS."""
    if target_positions is None:
      target_positions = default_positions(decoder_inputs)
    packed = self.config.packed_rows
    self_mask = AttentionMask(target_segments, target_segments, causal=True, packed=packed)
    cross_mask = AttentionMask(target_segments, source_segments, packed=packed)
    y = self.embedder(decoder_inputs, target_positions, deterministic)
    for layer in self.decoder_layers:
      y = layer(y, encoded, self_mask, cross_mask, deterministic)
    return self.embedder.logits(self._final_norm(y, "decoder"))

  def __call__(self, source: Array, decoder_inputs: Array, targets: Array, source_segments: Array | None = None,
               target_segments: Array | None = None, source_positions: Array | None = None,
               target_positions: Array | None = None, deterministic: bool = True) -> Array:
    if source_segments is None:
      source_segments = (source > 0).astype(jnp.int32)
    if target_segments is None:
      target_segments = (targets > 0).astype(jnp.int32)
    encoded = self.encode(source, source_segments, source_positions, deterministic)
    return self.decode(encoded, source_segments, decoder_inputs, target_segments, target_positions, deterministic)

  # ---- Incremental decoding ----

  def init_decode_cache(self, encoded: Array, num_beams: int, max_length: int) -> dict:
    """The decoding cache for max_length positions of num_beams beams:
    - "shared": per layer, the cross-attention keys/values of the encoder output [batch, heads, length, dim],
      computed here once per batch;
    - "slots": per layer, the self-attention keys/values [batch, slots (= beams), heads, length, dim]: each step
      writes beam j's into slot j, and nothing ever moves them;
    - "per_beam": {"history_slot": [batch, beams, length] int32}, for each beam the slot that holds its ancestor's
      keys/values at each position. Beam search reorders only "per_beam": choosing the surviving beams moves these
      indices, not the histories (a gather of every layer's keys and values per step)."""
    cfg = self.config
    batch = encoded.shape[0]
    shared, slots = [], []
    for layer in self.decoder_layers:
      cross_key, cross_value = layer.cross_key_value(encoded)
      shared.append({"key": cross_key, "value": cross_value})
      slots.append({
          "key": jnp.zeros((batch, num_beams, cfg.num_heads, max_length, cfg.d_k), cfg.jnp_dtype),
          "value": jnp.zeros((batch, num_beams, cfg.num_heads, max_length, cfg.d_v), cfg.jnp_dtype),
      })
    history_slot = jnp.zeros((batch, num_beams, max_length), jnp.int32)
    return {"shared": shared, "slots": slots, "per_beam": {"history_slot": history_slot}}

  def decode_step(self, tokens: Array, position: Array, cache: dict, source_valid: Array) -> tuple[Array, dict]:
    """Logits [batch, beams, vocab] for the token after `tokens` [batch, beams], which sit at `position`."""
    positions = jnp.full(tokens.shape, position, jnp.int32)
    y = self.embedder(tokens, positions, True)
    batch, beams = tokens.shape
    own_slot = jnp.broadcast_to(jnp.arange(beams, dtype=jnp.int32)[None, :, None], (batch, beams, 1))
    history_slot = jax.lax.dynamic_update_slice_in_dim(cache["per_beam"]["history_slot"], own_slot, position, axis=2)
    slots = []
    for layer, layer_slots, shared_cache in zip(self.decoder_layers, cache["slots"], cache["shared"]):
      y, layer_slots = layer.step(y, layer_slots, shared_cache, position, history_slot, source_valid)
      slots.append(layer_slots)
    return self.embedder.logits(self._final_norm(y, "decoder")), {"shared": cache["shared"], "slots": slots,
                                                                  "per_beam": {"history_slot": history_slot}}


def extend_decode_cache(cache: dict, length: int) -> dict:
  """The cache of Transformer.init_decode_cache with room for `length` positions: the keys/values [batch, slots,
  heads, positions, dim] and the history slots [batch, beams, positions] padded with zeros (positions not reached
  yet are masked anyway)."""
  def extend(history, axis):
    widths = [(0, 0)] * history.ndim
    widths[axis] = (0, length - history.shape[axis])
    return jnp.pad(history, widths)
  return dict(cache, slots=jax.tree_util.tree_map(lambda h: extend(h, 3), cache["slots"]),
              per_beam={"history_slot": extend(cache["per_beam"]["history_slot"], 2)})


def model_from_config(config, vocab_size: int | None = None) -> Transformer:
  """The Transformer a config describes; vocab_size (the trained tokenizer's) overrides the config's."""
  model_config = ModelConfig.from_config(config)
  if vocab_size is not None:
    model_config = dataclasses.replace(model_config, vocab_size=vocab_size)
  return Transformer(model_config)


def count_parameters(params) -> int:
  return sum(int(np.prod(p.shape)) for p in jax.tree_util.tree_leaves(params))


def closed_form_parameter_count(cfg: ModelConfig) -> int:
  """Parameters of this architecture computed from the hyperparameters alone (shared embedding matrix)."""
  d, h = cfg.d_model, cfg.num_heads
  bias = 1 if cfg.attention_bias else 0

  def attention():
    weights = d * h * cfg.d_k * 2 + d * h * cfg.d_v + h * cfg.d_v * d
    return weights + bias * (h * cfg.d_k + h * cfg.d_v + d)  # query, value and output biases; keys have none

  ffn = 2 * d * cfg.d_ff + cfg.d_ff + d
  layer_norm = 2 * d
  encoder_layer = attention() + ffn + 2 * layer_norm
  decoder_layer = 2 * attention() + ffn + 3 * layer_norm
  positions = cfg.max_position * d if cfg.positional_encoding == "learned" else 0
  final_norms = 2 * layer_norm if cfg.norm_position == "pre" else 0  # encoder_norm, decoder_norm
  return cfg.vocab_size * d + positions + cfg.num_layers * (encoder_layer + decoder_layer) + final_norms
