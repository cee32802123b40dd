"""Decoding, the one path every command takes (training's dev and test BLEU, reproduce, translate, the explorer and
the attention pictures): text or token ids in, the n best hypotheses out, batched by length. No TensorFlow.

Sources are truncated to what the model was trained on (a warning says how many), sorted by length, and padded to
a multiple of 16 tokens, so a file compiles the decoder only a few times. Beam size 1 is greedy search.
"""

from __future__ import annotations

import jax
import numpy as np
from absl import logging
from jax.experimental import multihost_utils

from transformer_jax import config_base, decode, sharding, tokenizer as tokenizer_lib
from transformer_jax.errors import ConfigError
from transformer_jax.text_preprocessing import TextPreprocessing


def to_host(array) -> np.ndarray:
  """The whole array on this host, also when it is sharded over devices of several processes."""
  if isinstance(array, jax.Array) and not array.is_fully_addressable:
    return np.asarray(multihost_utils.process_allgather(array, tiled=True))
  return np.asarray(array)


def padded_length(length: int, max_position: int, multiple: int = 16) -> int:
  """`length` rounded up to a multiple of 16, capped at the positional table (padding past it would read positions
  that do not exist)."""
  return min(-(-length // multiple) * multiple, max_position)


def encode_sources(tokenizer: tokenizer_lib.Tokenizer, sentences: list, max_length: int) -> list[list[int]]:
  """Each sentence (text, or its token ids without EOS: a set decoded repeatedly, like dev, is encoded once) as token
  ids ending with EOS, truncated to max_length tokens."""
  encoded = [list(ids) for ids in sentences] if sentences and not isinstance(sentences[0], str) else (
      tokenizer.encode_batch(sentences))
  too_long = sum(len(ids) >= max_length for ids in encoded)
  if too_long:
    logging.warning("%d sentence(s) longer than %d tokens were truncated to fit the model.", too_long,
                    max_length - 1)
  return [ids[:max_length - 1] + [tokenizer_lib.EOS_ID] for ids in encoded]


def hypothesis_ids(row) -> list[int]:
  """A decoded row's target ids: padding dropped, up to and including the first EOS."""
  target = [int(t) for t in row if t != tokenizer_lib.PAD_ID]
  return target[:target.index(tokenizer_lib.EOS_ID) + 1] if tokenizer_lib.EOS_ID in target else target


def search(model, params, sources: list[list[int]], *, n_best: int, beam_size: int, alpha: float, extra_length: int,
           max_decode_length: int, batch_size: int, place_source=None, mesh=None, progress=None,
           length_penalty_form: str = "gnmt") -> list[list[tuple[list[int], float]]]:
  """The n_best (<= beam_size) hypotheses of each source (token ids ending with EOS), best first, in input order:
  (target ids, score). A source with fewer finished hypotheses than n_best gets a shorter list. Scores are
  log-probabilities over the length penalty of `length_penalty_form` (decode.LENGTH_PENALTY_FORMS).

  place_source, if given, puts the [batch_size, length] numpy source on devices (e.g. sharded over a mesh's batch
  axes; with that mesh given, each device then searches its own rows, decode.translate_beam); progress(n) is called
  after each batch.
  """
  if not 1 <= n_best <= beam_size:
    raise ConfigError(f"n_best={n_best} must be between 1 and beam_size={beam_size}")
  order = np.argsort([len(ids) for ids in sources], kind="stable")
  results = [[] for _ in sources]
  options = dict(extra_length=extra_length, max_decode_length=max_decode_length, mesh=mesh)

  def launch(chunk):
    length = padded_length(max(len(sources[i]) for i in chunk), model.config.max_position)
    source = np.zeros((batch_size, length), np.int32)  # fixed row count: one compile per length
    for row, i in enumerate(chunk):
      source[row, :len(sources[i])] = sources[i]
    source = place_source(source) if place_source else source
    if beam_size > 1:
      return (chunk, *decode.translate_beam(model, params, source, beam_size=beam_size, alpha=alpha, n_best=n_best,
                                            length_penalty_form=length_penalty_form, **options))
    tokens, scores = decode.translate_greedy(model, params, source, **options)
    return chunk, tokens[:, None], scores[:, None]

  def collect(chunk, tokens, scores):
    tokens, scores = to_host(tokens), to_host(scores)
    for row, i in enumerate(chunk):
      results[i] = [(hypothesis_ids(tokens[row, k]), float(scores[row, k])) for k in range(n_best)
                    if scores[row, k] > decode.DEAD / 2]
    if progress:
      progress(len(chunk))

  # The next batch is queued before this one's results are read back: a device that finishes its rows early
  # starts on the next batch instead of waiting for the others and for the host.
  in_flight = None
  for start in range(0, len(order), batch_size):
    launched = launch(order[start:start + batch_size])
    if in_flight:
      collect(*in_flight)
    in_flight = launched
  if in_flight:
    collect(*in_flight)
  return results


def translate_n_best(model, params, tokenizer: tokenizer_lib.Tokenizer, sentences: list, *, n_best: int,
                     beam_size: int, alpha: float, extra_length: int, max_decode_length: int,
                     max_source_length: int, batch_size: int, place_source=None, mesh=None,
                     progress=None, length_penalty_form: str = "gnmt") -> list[list[tuple[str, float]]]:
  """The n_best hypotheses of each sentence (text or token ids) as (text, score), best first, in input order.
  Sources longer than max_source_length tokens (EOS included) are truncated."""
  sources = encode_sources(tokenizer, sentences, min(max_source_length, model.config.max_position))
  hypotheses = search(model, params, sources, n_best=n_best, beam_size=beam_size, alpha=alpha,
                      extra_length=extra_length, max_decode_length=max_decode_length, batch_size=batch_size,
                      place_source=place_source, mesh=mesh, progress=progress,
                      length_penalty_form=length_penalty_form)
  return [[(tokenizer.decode(ids), score) for ids, score in n_best_list] for n_best_list in hypotheses]


def best(n_best_lists: list[list[tuple[str, float]]]) -> list[str]:
  """The best translation of each sentence ("" where the search finished none)."""
  return [n_best_list[0][0] if n_best_list else "" for n_best_list in n_best_lists]


def replicate(params, mesh):
  """Parameters of a loaded run on every device of the mesh (the decoding batch is split over them)."""
  return jax.device_put(params, sharding.replicated(mesh))


def load_on_devices(workdir: str, step: int | None = None):
  """A trained run (workdir.load) ready to decode on every visible device: (config, tokenizer, model, params, mesh),
  the parameters replicated over the mesh that the sentences are split over."""
  from transformer_jax import workdir as workdir_lib  # pylint: disable=g-import-not-at-top
  config, tokenizer, model, params = workdir_lib.load(workdir, step)
  mesh = sharding.make_mesh()
  return config, tokenizer, model, replicate(params, mesh), mesh


def translate_with_config(model, params, tokenizer, sentences: list, config, mesh, *, n_best: int = 1,
                          beam_size: int | None = None, alpha: float | None = None, batch_size: int | None = None,
                          progress=None) -> list[list[tuple[str, float]]]:
  """translate_n_best with a run's decoding settings: beam_size, alpha and batch_size default to the config's, the
  length penalty's form is the config's, and sources are truncated to the longest training bucket (the longest
  source the model was trained on). Batch rows are a multiple of the mesh's batch shards and split over them; params
  must already be on the mesh's devices (the train state's, or `replicate(params, mesh)`)."""
  shards = sharding.batch_shards(mesh)
  rows = -(-(batch_size or config.decode_batch_size) // shards) * shards
  rows_sharding = sharding.batch_sharding(mesh)
  return translate_n_best(
      model, params, tokenizer, sentences, n_best=n_best, beam_size=beam_size or config.beam_size,
      alpha=config.length_penalty_alpha if alpha is None else alpha, extra_length=config.decode_extra_length,
      max_decode_length=config.max_decode_length, max_source_length=config.bucket_lengths[-1], batch_size=rows,
      place_source=lambda source: jax.device_put(source, rows_sharding), mesh=mesh, progress=progress,
      length_penalty_form=config_base.length_penalty_form(config))


def translate_text(model, params, tokenizer, sentences: list[str], config, mesh, *, preprocessed_output: bool = False,
                   **options) -> list[list[tuple[str, float]]]:
  """translate_with_config for text as a user has it: the run's text preprocessing (lowercase_text, moses_tokenize,
  ...: text_preprocessing.py) applied to the sentences, and the translations given back Moses-detokenized, or with
  preprocessed_output as the model writes them."""
  preprocessing = TextPreprocessing.from_config(config)
  n_best_lists = translate_with_config(model, params, tokenizer, preprocessing.apply(sentences, config.source_lang),
                                       config, mesh, **options)
  if preprocessed_output:
    return n_best_lists
  return [[(preprocessing.restore(text, config.target_lang), score) for text, score in n_best_list]
          for n_best_list in n_best_lists]
