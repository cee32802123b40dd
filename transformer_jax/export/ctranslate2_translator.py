"""Translating with an exported CTranslate2 model under the run's own rules: our tokenizer and source truncation,
each output's length limit, n-best lists as the JAX decoder returns them (inference.translate_with_config).

CTranslate2's beam search ranks by log P / length^alpha (ours does so with length_penalty_form="length") and has its
own stopping rule (export/__init__.py); greedy search (beam 1) and beam search at alpha 0 give our decoder's
translations.
"""

from __future__ import annotations

import os

import numpy as np

from transformer_jax import export, inference, tokenizer as tokenizer_lib
from transformer_jax.errors import ConfigError
from transformer_jax.export import DecodingSettings


class Ctranslate2Translator:

  def __init__(self, model_dir: str, *, device: str = "cpu", compute_type: str = "default", threads: int = 0,
               workers: int = 1):
    """threads: CPU threads per batch (CTranslate2's intra_threads; 0 = its default); workers: batches translated
    at the same time (inter_threads). On CPU, one worker per core with one thread each translates a long input
    fastest (docs/benchmarks.md: 3.6x one worker with 2 threads on 2 cores)."""
    info = export.read_info(model_dir)
    if info["format"] != "ctranslate2":
      raise ConfigError(f"{model_dir} holds a {info['format']} export; --engine=ctranslate2 needs one written with "
                        "--format=ctranslate2")
    ctranslate2 = export.require("ctranslate2", "ctranslate2")
    self.info = info
    self.settings = DecodingSettings(**info["decoding"])
    self.tokenizer = tokenizer_lib.Tokenizer.load(os.path.join(model_dir, export.TOKENIZER))
    try:
      self.translator = ctranslate2.Translator(model_dir, device=device, compute_type=compute_type,
                                               intra_threads=threads, inter_threads=workers)
    except ValueError as error:  # e.g. a compute type this device does not have
      raise ConfigError(f"CTranslate2 cannot load {model_dir} with device={device!r}, "
                        f"compute_type={compute_type!r}: {error}") from error

  def _decode(self, pieces: list[list[str]], max_tokens: int, options: dict, asynchronous: bool = False) -> list:
    # CTranslate2's length limit counts EOS; ours ends an output that reaches its limit with a forced EOS, so the
    # same words come out when CTranslate2 stops one token earlier.
    return self.translator.translate_batch(pieces, max_decoding_length=max(max_tokens - 1, 1), max_input_length=0,
                                           return_scores=True, asynchronous=asynchronous, **options)

  def translate_n_best(self, sentences: list, *, n_best: int = 1, beam_size: int | None = None,
                       alpha: float | None = None, batch_size: int = 64,
                       progress=None) -> list[list[tuple[str, float]]]:
    """The n_best hypotheses of each sentence (text or token ids) as (text, score), best first, in input order."""
    beam_size = beam_size or self.settings.beam_size
    if not 1 <= n_best <= beam_size:
      raise ConfigError(f"n_best={n_best} must be between 1 and beam_size={beam_size}")
    alpha = self.settings.length_penalty_alpha if alpha is None else alpha
    options = dict(beam_size=beam_size, num_hypotheses=n_best, length_penalty=alpha)
    sources = inference.encode_sources(self.tokenizer, sentences, self.settings.max_source_length)
    limits = [self.settings.output_limit(len(ids)) for ids in sources]
    pieces = [[self.tokenizer.id_to_piece(i) for i in ids[:-1]] for ids in sources]  # CTranslate2 adds the EOS
    order = np.argsort([len(ids) for ids in sources], kind="stable")
    results = [None] * len(sources)
    chunks = [order[start:start + batch_size] for start in range(0, len(order), batch_size)]
    # Every batch is queued at once, each with its own length limit, so all workers have one to translate.
    pending = [self._decode([pieces[i] for i in chunk], max(limits[i] for i in chunk), options, asynchronous=True)
               for chunk in chunks]
    for chunk, decoded in zip(chunks, pending):
      for i, result in zip(chunk, (item.result() for item in decoded)):
        if any(len(tokens) >= limits[i] for tokens in result.hypotheses):  # past this source's own limit
          result = self._decode([pieces[i]], limits[i], options)[0]
        results[i] = [(self.tokenizer.decode([self.tokenizer.piece_to_id(p) for p in tokens]), float(score))
                      for tokens, score in zip(result.hypotheses, result.scores)]
      if progress:
        progress(len(chunk))
    return results
