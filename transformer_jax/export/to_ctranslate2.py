"""Our parameters as a CTranslate2 TransformerSpec: post-norm or pre-norm (norm_position), ReLU, the run's layers,
heads and head size.

Weights are float32 here; `quantization` (int8, float16, ...) is applied by CTranslate2 when it saves the model.
"""

from __future__ import annotations

import numpy as np

from transformer_jax import export
from transformer_jax.model import ModelConfig, sinusoidal_table


def _set_linear(spec, kernel: np.ndarray, bias: np.ndarray | None) -> None:
  """A flax kernel [inputs, outputs] as CTranslate2's (and torch's) weight [outputs, inputs]."""
  spec.weight = np.ascontiguousarray(kernel.T)
  if bias is not None:
    spec.bias = np.ascontiguousarray(bias)


def _heads_to_columns(kernel: np.ndarray) -> np.ndarray:
  """[d_model, heads, head_dim] -> [d_model, heads * head_dim], head by head (the order CTranslate2 splits them)."""
  return kernel.reshape(kernel.shape[0], -1)


def _projections(attention: dict, cfg: ModelConfig):
  """(kernel, bias) of the query, key and value projections; the key's bias, which we never have, is zeros."""
  def bias(name):
    if not cfg.attention_bias:
      return None
    return attention[name]["bias"].reshape(-1) if name != "key" else np.zeros(cfg.num_heads * cfg.d_k, np.float32)
  return [(_heads_to_columns(attention[name]["kernel"]), bias(name)) for name in ("query", "key", "value")]


def _fused(projections):
  kernels = np.concatenate([kernel for kernel, _ in projections], axis=1)
  biases = None if projections[0][1] is None else np.concatenate([bias for _, bias in projections])
  return kernels, biases


def _set_attention(spec, attention: dict, norm: dict, cfg: ModelConfig, self_attention: bool) -> None:
  query, key, value = _projections(attention, cfg)
  if self_attention:  # one fused query/key/value projection
    _set_linear(spec.linear[0], *_fused([query, key, value]))
  else:  # the query from the decoder, keys and values (fused) from the encoder output
    _set_linear(spec.linear[0], *query)
    _set_linear(spec.linear[1], *_fused([key, value]))
  out = attention["out"]
  _set_linear(spec.linear[-1], out["kernel"].reshape(-1, cfg.d_model), out.get("bias"))
  # The sub-layer's LayerNorm sits where ours does: after the residual addition (post-norm) or on the sub-layer's
  # input (pre-norm), as the spec's pre_norm says.
  _set_norm(spec.layer_norm, norm["norm"])


def _set_ffn(spec, ffn: dict, norm: dict) -> None:
  _set_linear(spec.linear_0, ffn["wi"]["kernel"], ffn["wi"]["bias"])
  _set_linear(spec.linear_1, ffn["wo"]["kernel"], ffn["wo"]["bias"])
  _set_norm(spec.layer_norm, norm["norm"])


def _set_norm(spec, norm: dict) -> None:
  spec.gamma, spec.beta = norm["scale"], norm["bias"]


def build_spec(params: dict, cfg: ModelConfig, pieces: list[str]):
  """The CTranslate2 model of `params` (numpy float32, export.host_params) with the vocabulary `pieces` (id order)."""
  export.require("ctranslate2", "ctranslate2")  # names the pip command when it is missing
  from ctranslate2.specs import common_spec, transformer_spec  # pylint: disable=g-import-not-at-top
  # pre_norm=True also gives each stack a final LayerNorm (our encoder_norm and decoder_norm).
  layers_spec = dict(pre_norm=cfg.norm_position == "pre", activation=common_spec.Activation.RELU, head_dim=cfg.d_k)
  spec = transformer_spec.TransformerSpec(
      transformer_spec.TransformerEncoderSpec(cfg.num_layers, cfg.num_heads, **layers_spec),
      transformer_spec.TransformerDecoderSpec(cfg.num_layers, cfg.num_heads, **layers_spec))
  embedding = params["embedder"]["token_embedding"]["embedding"]
  positions = (params["embedder"]["position_embedding"] if cfg.positional_encoding == "learned"
               else sinusoidal_table(cfg.max_position, cfg.d_model))
  for stack in (spec.encoder, spec.decoder):
    stack.scale_embeddings = True  # embeddings times sqrt(d_model), then the positions added
    stack.position_encodings.encodings = positions
  spec.encoder.embeddings[0].weight = embedding
  spec.decoder.embeddings.weight = embedding
  spec.decoder.projection.weight = embedding  # tied pre-softmax projection, no bias
  for i, layer in enumerate(spec.encoder.layer):
    ours = params[f"encoder_{i}"]
    _set_attention(layer.self_attention, ours["self_attention"], ours["self_attention_norm"], cfg, True)
    _set_ffn(layer.ffn, ours["ffn"], ours["ffn_norm"])
  for i, layer in enumerate(spec.decoder.layer):
    ours = params[f"decoder_{i}"]
    _set_attention(layer.self_attention, ours["self_attention"], ours["self_attention_norm"], cfg, True)
    _set_attention(layer.attention, ours["cross_attention"], ours["cross_attention_norm"], cfg, False)
    _set_ffn(layer.ffn, ours["ffn"], ours["ffn_norm"])
  if cfg.norm_position == "pre":
    _set_norm(spec.encoder.layer_norm, params["encoder_norm"])
    _set_norm(spec.decoder.layer_norm, params["decoder_norm"])

  eos, unk = pieces[1], pieces[2]  # special_ids: 0 padding, 1 EOS (also the decoder's start), 2 unknown
  spec.config.layer_norm_epsilon = 1e-6  # flax's LayerNorm default
  spec.config.unk_token = unk
  spec.config.eos_token = eos
  spec.config.bos_token = eos  # there is no BOS piece; CTranslate2 wants the name of one
  spec.config.decoder_start_token = eos
  spec.config.add_source_eos = True  # sources end with EOS, as in training
  spec.register_source_vocabulary(pieces)
  spec.register_target_vocabulary(pieces)
  return spec


def write(output: str, params: dict, cfg: ModelConfig, pieces: list[str], quantization: str) -> None:
  spec = build_spec(params, cfg, pieces)
  spec.validate()
  spec.optimize(quantization=quantization)
  spec.save(output)
