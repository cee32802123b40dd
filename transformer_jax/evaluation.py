"""Evaluation, the same for every caller (training loop, reproduce): dev loss, and BLEU of translations decoded
with the run's settings through inference.translate_with_config.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
from absl import logging

from transformer_jax import bleu, inference, sharding, train_step
from transformer_jax.data import batching
from transformer_jax.text_preprocessing import TextPreprocessing


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
  sources = batching.with_eos(tokenizer.encode_batch(split.model_sources))
  targets = batching.with_eos(tokenizer.encode_batch(split.model_targets))
  longest = config.bucket_lengths[-1]
  sources, targets, counts = batching.filter_pairs(sources, targets, longest, longest)
  if counts.too_long or counts.empty:
    logging.warning("Dev loss leaves out %d pairs longer than %d tokens and %d empty ones.", counts.too_long,
                    longest, counts.empty)
  shards = sharding.batch_shards(mesh)
  if config.pack_training_rows:  # the model then takes packed rows, and one batch shape compiles once
    return LossBatches(list(batching.packed_eval_batches(sources, targets, length=longest,
                                                         tokens_per_batch=config.tokens_per_batch,
                                                         row_multiple=shards, open_rows=config.pack_open_rows)))
  return LossBatches(list(batching.eval_batches(sources, targets, bucket_lengths=config.bucket_lengths,
                                                tokens_per_batch=config.tokens_per_batch, row_multiple=shards)))


def mean_loss(eval_step, params, batches: LossBatches, mesh) -> dict:
  """Token-weighted dev loss, NLL, perplexity and accuracy of `params` (eval_step: train_step.jit_eval_step)."""
  totals = None
  for batch in batches.batches:
    sums = jax.device_get(eval_step(params, train_step.put_batch(batch, mesh)))
    totals = sums if totals is None else {k: totals[k] + sums[k] for k in totals}
  return summarize(totals)


@dataclasses.dataclass(frozen=True)
class BleuSet:
  """The sentences BLEU is computed on: sources (text, and the token ids of the text the model reads, encoded once)
  and references, as the dataset has them and as the model writes them (text_preprocessing applied)."""
  sources: list
  source_ids: list
  references: list
  model_references: list


def bleu_set(split, tokenizer, limit: int | None = None) -> BleuSet:
  return BleuSet(list(split.sources[:limit]), tokenizer.encode_batch(split.model_sources[:limit]),
                 list(split.targets[:limit]), list(split.model_targets[:limit]))


def bleu_of(model, params, tokenizer, sentences: BleuSet, config, mesh, progress=None) -> dict:
  """sacreBLEU and the paper's tokenized BLEU of the translations of the set's sources, with the hypotheses and
  three (source, hypothesis, reference) examples. With text_preprocessing on, the model's outputs are scored as
  they are by protocol_bleu (against the preprocessed references; kept as "model_hypotheses"), and Moses-detokenized
  by every other figure (against the raw references) and in "hypotheses"."""
  outputs = inference.best(inference.translate_with_config(model, params, tokenizer, sentences.source_ids, config,
                                                          mesh, progress=progress))
  preprocessing = TextPreprocessing.from_config(config)
  hypotheses = preprocessing.restore_all(outputs, config.target_lang)
  report = bleu.bleu_report(hypotheses, sentences.references, lang=config.target_lang)
  if preprocessing.active:
    report["protocol_bleu"] = bleu.protocol_bleu(outputs, sentences.model_references)
    report["model_hypotheses"] = outputs
  report["hypotheses"] = hypotheses
  report["examples"] = list(zip(sentences.sources[:3], hypotheses[:3], sentences.references[:3]))
  return report
