"""Evaluation, the same for every caller (training loop, reproduce, translate): dev loss, and decoding for BLEU.

Decoding: beam search with the config's beam, length penalty and maximum length; sources longer than the longest
training bucket (bucket_lengths[-1], the longest source the model was trained on) are truncated with a warning;
batch rows are a multiple of the mesh's batch shards and split over them, so every device decodes its share.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
from absl import logging

from transformer_jax import bleu, sharding, train_step
from transformer_jax.data import batching
from transformer_jax.inference import translate_n_best


def summarize(sums: dict) -> dict:
  """Token-weighted means from summed metrics (train or dev)."""
  tokens = max(float(sums["tokens"]), 1.0)
  nll = float(sums["nll_sum"]) / tokens
  return {"loss": float(sums["loss_sum"]) / tokens, "nll": nll, "perplexity": float(np.exp(min(nll, 50.0))),
          "accuracy": float(sums["correct_sum"]) / tokens}


@dataclasses.dataclass(frozen=True)
class LossBatches:
  """An evaluation split encoded and batched once (numpy), reused by every dev-loss evaluation."""
  batches: list


def loss_batches(split, tokenizer, config, mesh) -> LossBatches:
  sources = batching.with_eos(tokenizer.encode_batch(split.sources))
  targets = batching.with_eos(tokenizer.encode_batch(split.targets))
  longest = config.bucket_lengths[-1]
  sources, targets, counts = batching.filter_pairs(sources, targets, longest, longest)
  if counts.too_long or counts.empty:
    logging.warning("Dev loss leaves out %d pairs longer than %d tokens and %d empty ones.", counts.too_long,
                    longest, counts.empty)
  return LossBatches(list(batching.eval_batches(sources, targets, bucket_lengths=config.bucket_lengths,
                                                tokens_per_batch=config.tokens_per_batch,
                                                row_multiple=sharding.batch_shards(mesh))))


def loss(eval_step, params, batches: LossBatches, mesh) -> dict:
  """Token-weighted dev loss, NLL, perplexity and accuracy of `params` (eval_step: train_step.jit_eval_step)."""
  totals = None
  for batch in batches.batches:
    sums = jax.device_get(eval_step(params, train_step.put_batch(batch, mesh)))
    totals = sums if totals is None else {k: totals[k] + sums[k] for k in totals}
  return summarize(totals)


@dataclasses.dataclass(frozen=True)
class BleuSet:
  """The sentences BLEU is computed on: sources (text, and token ids encoded once) and references."""
  sources: list
  source_ids: list
  references: list


def bleu_set(split, tokenizer, limit: int | None = None) -> BleuSet:
  sources = list(split.sources[:limit])
  return BleuSet(sources, tokenizer.encode_batch(sources), list(split.targets[:limit]))


def replicate(params, mesh):
  """Parameters of a loaded run on every device of the mesh (the decoding batch is split over them)."""
  return jax.device_put(params, sharding.replicated(mesh))


def decode(model, params, tokenizer, sentences: list, config, mesh, *, n_best: int = 1,
           beam_size: int | None = None, alpha: float | None = None, batch_size: int | None = None,
           progress=None) -> list[list[tuple[str, float]]]:
  """The n_best beam-search hypotheses of each sentence (text or token ids) with their scores, best first, in input
  order. beam_size, alpha and batch_size default to the config's. params must already be on the mesh's devices
  (the train state's, or `replicate(params, mesh)`)."""
  shards = sharding.batch_shards(mesh)
  rows = -(-(batch_size or config.decode_batch_size) // shards) * shards
  rows_sharding = sharding.batch_sharding(mesh)
  return translate_n_best(
      model, params, tokenizer, sentences, n_best=n_best, beam_size=beam_size or config.beam_size,
      alpha=config.length_penalty_alpha if alpha is None else alpha, extra_length=config.decode_extra_length,
      max_decode_length=config.max_decode_length, max_source_length=config.bucket_lengths[-1], batch_size=rows,
      place_source=lambda source: jax.device_put(source, rows_sharding), progress=progress)


def translations(model, params, tokenizer, sentences: list, config, mesh, progress=None) -> list[str]:
  """The best translation of each sentence ("" where beam search finished none)."""
  return [n_best[0][0] if n_best else "" for n_best in
          decode(model, params, tokenizer, sentences, config, mesh, progress=progress)]


def bleu_of(model, params, tokenizer, sentences: BleuSet, config, mesh, progress=None) -> dict:
  """sacreBLEU and the paper's tokenized BLEU of the translations of the set's sources, with the hypotheses and
  three (source, hypothesis, reference) examples."""
  hypotheses = translations(model, params, tokenizer, sentences.source_ids, config, mesh, progress)
  report = bleu.bleu_report(hypotheses, sentences.references, lang=config.target_lang)
  report["hypotheses"] = hypotheses
  report["examples"] = list(zip(sentences.sources[:3], hypotheses[:3], sentences.references[:3]))
  return report
