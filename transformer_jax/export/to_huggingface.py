"""Our parameters as a Hugging Face MarianMTModel, its MarianTokenizer and a generation config.

MarianMTModel is the same post-norm Transformer with one embedding shared by both stacks and the output projection,
scaled by sqrt(d_model), and a fixed sinusoid table whose dimensions are ours reordered (export.residual_permutation).
Every weight that reads the residual stream has its input axis permuted, every weight that writes it has its output
axis permuted, and the LayerNorms their features: the model computes the same function.
"""

from __future__ import annotations

import json
import os
import shutil

import numpy as np

from transformer_jax import export
from transformer_jax.export import DecodingSettings
from transformer_jax.model import ModelConfig
from transformer_jax.special_ids import EOS_ID, PAD_ID


def marian_config(cfg: ModelConfig, dropout: dict):
  transformers = export.require("transformers", "transformers")
  return transformers.MarianConfig(
      vocab_size=cfg.vocab_size, decoder_vocab_size=cfg.vocab_size, d_model=cfg.d_model,
      encoder_layers=cfg.num_layers, decoder_layers=cfg.num_layers, encoder_attention_heads=cfg.num_heads,
      decoder_attention_heads=cfg.num_heads, encoder_ffn_dim=cfg.d_ff, decoder_ffn_dim=cfg.d_ff,
      activation_function="relu", max_position_embeddings=cfg.max_position, scale_embedding=True,
      pad_token_id=PAD_ID, eos_token_id=EOS_ID, decoder_start_token_id=EOS_ID, forced_eos_token_id=EOS_ID,
      bos_token_id=None, share_encoder_decoder_embeddings=True, tie_word_embeddings=True, **dropout)


def generation_config(settings: DecodingSettings):
  transformers = export.require("transformers", "transformers")
  return transformers.GenerationConfig(
      num_beams=settings.beam_size, length_penalty=settings.length_penalty_alpha, early_stopping=True,
      max_length=settings.max_decode_length + 1,  # counts the decoder's start token
      decoder_start_token_id=EOS_ID, eos_token_id=EOS_ID, forced_eos_token_id=EOS_ID, pad_token_id=PAD_ID,
      bad_words_ids=[[PAD_ID]])


def state_dict(params: dict, cfg: ModelConfig) -> dict:
  """MarianMTModel's weights (numpy, torch's [outputs, inputs] layout) from ours (export.host_params)."""
  perm = export.residual_permutation(cfg.d_model)
  d_model = cfg.d_model

  def zeros(n):
    return np.zeros(n, np.float32)

  def reads_residual(kernel):  # flax [d_model, outputs] -> torch [outputs, d_model], input axis reordered
    return kernel[perm].T

  def writes_residual(kernel):  # flax [inputs, d_model] -> torch [d_model, inputs], output axis reordered
    return kernel[:, perm].T

  def attention(ours: dict, prefix: str) -> dict:
    weights = {}
    for name, marian in (("query", "q_proj"), ("key", "k_proj"), ("value", "v_proj")):
      kernel = ours[name]["kernel"].reshape(d_model, -1)
      bias = ours[name]["bias"].reshape(-1) if "bias" in ours[name] else zeros(kernel.shape[1])
      weights[f"{prefix}.{marian}.weight"] = reads_residual(kernel)
      weights[f"{prefix}.{marian}.bias"] = bias  # heads' outputs are not the residual stream: not reordered
    out = ours["out"]
    weights[f"{prefix}.out_proj.weight"] = writes_residual(out["kernel"].reshape(-1, d_model))
    weights[f"{prefix}.out_proj.bias"] = out["bias"][perm] if "bias" in out else zeros(d_model)
    return weights

  def norm(ours: dict, prefix: str) -> dict:
    return {f"{prefix}.weight": ours["norm"]["scale"][perm], f"{prefix}.bias": ours["norm"]["bias"][perm]}

  def ffn(ours: dict, prefix: str) -> dict:
    return {f"{prefix}.fc1.weight": reads_residual(ours["wi"]["kernel"]), f"{prefix}.fc1.bias": ours["wi"]["bias"],
            f"{prefix}.fc2.weight": writes_residual(ours["wo"]["kernel"]),
            f"{prefix}.fc2.bias": ours["wo"]["bias"][perm]}

  embedding = params["embedder"]["token_embedding"]["embedding"][:, perm]
  weights = {"model.shared.weight": embedding, "model.encoder.embed_tokens.weight": embedding,
             "model.decoder.embed_tokens.weight": embedding, "lm_head.weight": embedding,
             "final_logits_bias": zeros((1, cfg.vocab_size))}
  for i in range(cfg.num_layers):
    ours, prefix = params[f"encoder_{i}"], f"model.encoder.layers.{i}"
    weights.update(attention(ours["self_attention"], f"{prefix}.self_attn"))
    weights.update(norm(ours["self_attention_norm"], f"{prefix}.self_attn_layer_norm"))
    weights.update(ffn(ours["ffn"], prefix))
    weights.update(norm(ours["ffn_norm"], f"{prefix}.final_layer_norm"))
  for i in range(cfg.num_layers):
    ours, prefix = params[f"decoder_{i}"], f"model.decoder.layers.{i}"
    weights.update(attention(ours["self_attention"], f"{prefix}.self_attn"))
    weights.update(norm(ours["self_attention_norm"], f"{prefix}.self_attn_layer_norm"))
    weights.update(attention(ours["cross_attention"], f"{prefix}.encoder_attn"))
    weights.update(norm(ours["cross_attention_norm"], f"{prefix}.encoder_attn_layer_norm"))
    weights.update(ffn(ours["ffn"], prefix))
    weights.update(norm(ours["ffn_norm"], f"{prefix}.final_layer_norm"))
  return {name: np.ascontiguousarray(value, np.float32) for name, value in weights.items()}


def build_model(params: dict, cfg: ModelConfig, dropout: dict):
  """The MarianMTModel (torch, eval mode) computing what our model computes."""
  transformers = export.require("transformers", "transformers")
  import torch  # pylint: disable=g-import-not-at-top  (transformers' own dependency)
  model = transformers.MarianMTModel(marian_config(cfg, dropout))
  expected = model.state_dict()
  ours = state_dict(params, cfg)
  unknown = sorted(set(ours) - set(expected))
  if unknown:
    raise AssertionError(f"MarianMTModel has no weights named {unknown[:3]}: the mapping needs updating")
  for name, value in ours.items():
    if tuple(expected[name].shape) != value.shape:
      raise AssertionError(f"{name}: MarianMTModel wants {tuple(expected[name].shape)}, the mapping gives "
                           f"{value.shape}")
  with torch.no_grad():
    model.load_state_dict({name: torch.tensor(value) for name, value in ours.items()}, strict=False)
  return model.eval()


def write_tokenizer(output: str, tokenizer_path: str, pieces: list[str], settings: DecodingSettings) -> None:
  """MarianTokenizer's files: the one SentencePiece model as source.spm and target.spm, vocab.json in id order."""
  transformers = export.require("transformers", "transformers")
  for name in ("source.spm", "target.spm"):
    shutil.copyfile(tokenizer_path, os.path.join(output, name))
  with open(os.path.join(output, "vocab.json"), "w", encoding="utf-8") as f:
    json.dump({piece: i for i, piece in enumerate(pieces)}, f, ensure_ascii=False, indent=0)
  tokenizer = transformers.MarianTokenizer(
      source_spm=os.path.join(output, "source.spm"), target_spm=os.path.join(output, "target.spm"),
      vocab=os.path.join(output, "vocab.json"), source_lang=settings.source_lang, target_lang=settings.target_lang,
      unk_token=pieces[2], eos_token=pieces[EOS_ID], pad_token=pieces[PAD_ID],
      model_max_length=settings.max_source_length)
  tokenizer.save_pretrained(output)


def write(output: str, params: dict, cfg: ModelConfig, dropout: dict, tokenizer_path: str, pieces: list[str],
          settings: DecodingSettings) -> None:
  model = build_model(params, cfg, dropout)
  model.generation_config = generation_config(settings)
  model.save_pretrained(output)
  write_tokenizer(output, tokenizer_path, pieces, settings)
