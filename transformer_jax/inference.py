"""Translation with a trained model: text in, text out, batched by length. No TensorFlow.

evaluation.py calls it with the config's decoding settings for every command (training, reproduce, translate).
"""

from __future__ import annotations

import jax
import numpy as np
from absl import logging
from jax.experimental import multihost_utils

from transformer_jax.errors import ConfigError
from transformer_jax import decode, tokenizer as tokenizer_lib


def to_host(array) -> np.ndarray:
  """The whole array on this host, also when it is sharded over devices of several processes."""
  if isinstance(array, jax.Array) and not array.is_fully_addressable:
    return np.asarray(multihost_utils.process_allgather(array, tiled=True))
  return np.asarray(array)


def _bucket(length: int, multiple: int = 16) -> int:
  """Pads source lengths up to a multiple of 16, so a file compiles the decoder only a few times."""
  return -(-length // multiple) * multiple


def translate_n_best(model, params, tokenizer: tokenizer_lib.Tokenizer, sentences: list[str], *, n_best: int,
                     beam_size: int, alpha: float, extra_length: int, max_decode_length: int,
                     max_source_length: int, batch_size: int, place_source=None,
                     progress=None) -> list[list[tuple[str, float]]]:
  """The n_best (<= beam_size) beam-search hypotheses of each sentence with their scores, best first, in input order.

  Each sentence is text, or its token ids without EOS (a set decoded repeatedly, like dev, is encoded once).
  Sources longer than max_source_length tokens (EOS included) are truncated. place_source, if given, puts the
  [batch, length] numpy source on devices (e.g. sharded over a mesh); progress(n) is called after each batch.
  """
  if not 1 <= n_best <= beam_size:
    raise ConfigError(f"n_best={n_best} must be between 1 and beam_size={beam_size}")
  encoded = [list(ids) for ids in sentences] if sentences and not isinstance(sentences[0], str) else (
      tokenizer.encode_batch(sentences))
  too_long = sum(len(ids) >= max_source_length for ids in encoded)
  if too_long:
    logging.warning("%d sentence(s) longer than %d tokens were truncated to fit the model.", too_long,
                    max_source_length - 1)
  encoded = [ids[:max_source_length - 1] + [tokenizer_lib.EOS_ID] for ids in encoded]
  order = np.argsort([len(ids) for ids in encoded], kind="stable")
  results = [[] for _ in sentences]
  for start in range(0, len(order), batch_size):
    chunk = order[start:start + batch_size]
    # Padding past the positional table would read positions that do not exist (NaN embeddings).
    length = min(_bucket(max(len(encoded[i]) for i in chunk)), _bucket(max_source_length),
                 model.config.max_position)
    source = np.zeros((batch_size, length), np.int32)  # fixed row count: one compile per length
    for row, i in enumerate(chunk):
      source[row, :len(encoded[i])] = encoded[i]
    source = place_source(source) if place_source else source
    tokens, scores = decode.translate_beam(model, params, source, beam_size=beam_size, alpha=alpha,
                                           extra_length=extra_length, max_decode_length=max_decode_length)
    tokens, scores = to_host(tokens[:, :n_best]), to_host(scores[:, :n_best])
    for row, i in enumerate(chunk):
      results[i] = [(tokenizer.decode(tokens[row, k].tolist()), float(scores[row, k])) for k in range(n_best)
                    if scores[row, k] > decode.DEAD / 2]  # fewer finished hypotheses than n_best: shorter list
    if progress:
      progress(len(chunk))
  return results


def translate_sentences(model, params, tokenizer: tokenizer_lib.Tokenizer, sentences: list[str], **options
                        ) -> list[str]:
  """The best beam-search translation of each sentence, in input order (options: see translate_n_best)."""
  return [n_best[0][0] if n_best else "" for n_best in
          translate_n_best(model, params, tokenizer, sentences, n_best=1, **options)]

