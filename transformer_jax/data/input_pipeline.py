"""Sentence pairs -> shared SentencePiece vocabulary -> cached token ids -> training batches; dev/test as text.

It hands out numpy arrays and python lists. Of the data package, only the tfds sources import TensorFlow, when they
read (transformer_jax/lazy_tensorflow.py): files (dataset local, multi30k, huggingface) are read without it.
Order of work, each step done once per workdir and reused by every resume:
  0. the text as the model reads it: the config's text_preprocessing (none by default) on both sides of every split;
  1. the vocabulary, trained on a seeded sample of the whole training text (by process 0; the others wait, then load);
  2. the training ids, encoded once and cached on disk (again by process 0);
  3. filtering by length (counted and logged) and the batcher, whose batch k is a pure function of (seed, k).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import Callable

import numpy as np

from transformer_jax import tokenizer as tokenizer_lib
from transformer_jax.data import batching, sources, token_cache
from transformer_jax.text_preprocessing import TextPreprocessing

TOKEN_CACHE_DIRNAME = "token_cache"
PACKED_EPOCH_ROWS_FILENAME = "packed_epoch_rows.json"  # in the token cache directory, beside the ids it counts


@dataclasses.dataclass
class TextSplit:
  """A split's sentences as the dataset has them (sacreBLEU's references) and as the model reads them (the config's
  text_preprocessing applied; the same lists when it is off)."""
  sources: list[str]
  targets: list[str]
  model_sources: list[str] | None = None  # None: the sources themselves
  model_targets: list[str] | None = None

  def __post_init__(self):
    self.model_sources = self.sources if self.model_sources is None else self.model_sources
    self.model_targets = self.targets if self.model_targets is None else self.model_targets


@dataclasses.dataclass
class Datasets:
  tokenizer: tokenizer_lib.Tokenizer
  train: batching.BucketedBatcher | batching.PackedBatcher
  train_filter_counts: batching.FilterCounts
  dev: TextSplit
  test: TextSplit | None  # a local corpus may have no test split
  batch_settings: dict  # what, besides the step, decides batch k: a resume compares it with the run before


def load_text_split(config, split: str) -> TextSplit:
  pairs = list(sources.iter_pairs(config, split))
  raw = TextSplit([s for s, _ in pairs], [t for _, t in pairs])
  preprocessing = TextPreprocessing.from_config(config)
  if not preprocessing.active:
    return raw
  return TextSplit(raw.sources, raw.targets, preprocessing.apply(raw.sources, config.source_lang),
                   preprocessing.apply(raw.targets, config.target_lang))


def model_pairs(config, split: str):
  """The (source, target) pairs of `split` as the model reads them (text_preprocessing applied), streamed."""
  return TextPreprocessing.from_config(config).pairs(sources.iter_pairs(config, split), config.source_lang,
                                                     config.target_lang)


def _both_sides(pairs):
  for source, target in pairs:
    yield source
    yield target


def _single_process(name: str) -> None:
  del name


def _built_by_process_0(load_or_build: Callable, path: str, name: str, process_index: int,
                        wait_for_process_0: Callable[[str], None]):
  """Process 0 builds the file at `path` (or reuses it); the others wait for it, then only read it."""
  if process_index == 0:
    result = load_or_build()
  wait_for_process_0(name)
  if process_index != 0:
    if not os.path.exists(path):
      raise sources.DataError(f"Process {process_index} cannot see {path}, which process 0 wrote: the workdir (and "
                              "token_cache_dir) must be on a filesystem every host shares.")
    result = load_or_build()  # finds the file, so it reads it
  return result


def make_batcher(config, pairs: token_cache.TokenizedPairs, *, row_multiple: int = 1, process_index: int = 0,
                 process_count: int = 1, epoch_rows_cache: str | None = None):
  """Length-filters the pairs (counting what is dropped) and builds the configured batcher over the rest.

  `epoch_rows_cache`: where packed rows remember each epoch's row count (PackedBatcher)."""
  keep, counts = batching.keep_mask(pairs.sources.lengths, pairs.targets.lengths, config.max_source_length,
                                    config.max_target_length)
  kept = np.flatnonzero(keep)
  train_sources, train_targets = pairs.sources.subset(kept), pairs.targets.subset(kept)
  shards = dict(row_multiple=row_multiple, process_index=process_index, process_count=process_count)
  if config.pack_training_rows:
    batcher = batching.PackedBatcher(train_sources, train_targets, length=config.bucket_lengths[-1],
                                     tokens_per_batch=config.tokens_per_batch, seed=config.seed,
                                     real_tokens_per_batch=config.real_tokens_per_batch,
                                     open_rows=config.pack_open_rows, epoch_rows_cache=epoch_rows_cache, **shards)
  else:
    batcher = batching.BucketedBatcher(train_sources, train_targets, bucket_lengths=config.bucket_lengths,
                                       tokens_per_batch=config.tokens_per_batch, seed=config.seed,
                                       real_tokens_per_batch=config.real_tokens_per_batch,
                                       bucket_count=config.train_bucket_count, **shards)
  return batcher, counts


@dataclasses.dataclass
class PreparedTraining:
  """What training reads once prepared: the vocabulary and the training ids, and whether this call made each."""
  tokenizer: tokenizer_lib.Tokenizer
  pairs: token_cache.TokenizedPairs
  cache_dir: str
  entry: str  # the token cache entry of these ids
  prepared_dataset: bool
  trained_vocabulary: bool
  encoded_ids: bool


def _no_progress(iterable, description: str, total: int | None):
  del description, total
  return iterable


def prepare_training(config, tokenizer_path: str, *, cache_dir: str | None = None, process_index: int = 0,
                     wait_for_process_0: Callable[[str], None] = _single_process,
                     progress=_no_progress) -> PreparedTraining:
  """The dataset downloaded and prepared, the vocabulary trained and the training ids encoded, each once (process 0
  builds, the others wait and read); what is already there is reused. `progress(iterable, description, total)`
  wraps each pass over the training text (a progress bar in `python -m transformer_jax.data.prepare`)."""
  cache_dir = cache_dir or config.token_cache_dir or os.path.join(os.path.dirname(tokenizer_path),
                                                                    TOKEN_CACHE_DIRNAME)
  source = sources.get(config.dataset)
  prepared_dataset = False
  if process_index == 0:  # tfds and datasets prepare a dataset in place: one writer
    prepared_dataset = source.prepare(config)
  wait_for_process_0("dataset")
  # Counted only when a pass over the text happens: a resumed run reads neither the text nor its size.
  train_pairs = lambda description: progress(model_pairs(config, "train"), description,
                                             source.num_pairs(config, "train"))
  trained_vocabulary = not os.path.exists(tokenizer_path)
  tokenizer = _built_by_process_0(
      lambda: tokenizer_lib.load_or_train(
          tokenizer_path, lambda: _both_sides(train_pairs("vocabulary: reading the training text")),
          config.vocab_size, model_type=config.sentencepiece_model_type,
          max_sentences=config.tokenizer_train_sentences, seed=config.seed),
      tokenizer_path, "vocabulary", process_index, wait_for_process_0)

  text_fingerprint = sources.fingerprint(config)
  entry = token_cache.entry_path(cache_dir, "train", text_fingerprint, tokenizer_path)
  encoded_ids = not os.path.isdir(entry)
  pairs = _built_by_process_0(
      lambda: token_cache.load_or_encode(entry, lambda: train_pairs("token ids: encoding the training text"),
                                         tokenizer, text_fingerprint),
      entry, "token cache", process_index, wait_for_process_0)
  built_here = process_index == 0  # the others only read what process 0 built
  return PreparedTraining(tokenizer, pairs, cache_dir, entry, prepared_dataset, trained_vocabulary and built_here,
                          encoded_ids and built_here)


def load_datasets(config, tokenizer_path: str, *, cache_dir: str | None = None, row_multiple: int = 1,
                  process_index: int = 0, process_count: int = 1,
                  wait_for_process_0: Callable[[str], None] = _single_process) -> Datasets:
  """Vocabulary, cached training ids and batcher, and the dev/test text.

  `wait_for_process_0(name)` is a barrier across processes (e.g. jax's sync_global_devices): process 0 writes the
  vocabulary and the token cache, and the others read them only after it.
  """
  prepared = prepare_training(config, tokenizer_path, cache_dir=cache_dir, process_index=process_index,
                              wait_for_process_0=wait_for_process_0)
  batcher, counts = make_batcher(config, prepared.pairs, row_multiple=row_multiple, process_index=process_index,
                                 process_count=process_count,
                                 epoch_rows_cache=os.path.join(prepared.cache_dir, PACKED_EPOCH_ROWS_FILENAME))
  logging.info("Training pairs: %d kept, %d dropped as too long (max_source_length=%d, max_target_length=%d), %d "
               "dropped as empty.", counts.kept, counts.too_long, config.max_source_length,
               config.max_target_length, counts.empty)
  test = load_text_split(config, "test") if sources.has_split(config, "test") else None
  batch_settings = {"training_ids": os.path.basename(prepared.entry), **{key: config[key] for key in (
      "seed", "tokens_per_batch", "real_tokens_per_batch", "bucket_lengths", "train_bucket_count",
      "pack_training_rows", "pack_open_rows", "max_source_length", "max_target_length")}}
  batch_settings["bucket_lengths"] = list(batch_settings["bucket_lengths"])
  return Datasets(tokenizer=prepared.tokenizer, train=batcher, train_filter_counts=counts,
                  dev=load_text_split(config, "validation"), test=test, batch_settings=batch_settings)
