"""Sentence pairs from tfds, tokenized with the shared SentencePiece model, batched for training and evaluation.

This package is the only part of the project that imports TensorFlow; it hands out numpy arrays and python lists.
"""

from __future__ import annotations

import dataclasses
import logging

import tensorflow as tf
import tensorflow_datasets as tfds

from transformer_jax import tokenizer as tokenizer_lib
from transformer_jax.data import batching, embedded

# TensorFlow only reads files here; keep it off any accelerator so it never takes memory JAX needs.
tf.config.set_visible_devices([], "GPU")


@dataclasses.dataclass
class TextSplit:
  sources: list[str]
  targets: list[str]


@dataclasses.dataclass
class Datasets:
  tokenizer: tokenizer_lib.Tokenizer
  train: batching.BucketedBatcher | batching.PackedBatcher
  train_filter_counts: batching.FilterCounts
  dev: TextSplit
  test: TextSplit


def _builder(config) -> tfds.core.DatasetBuilder:
  if config.dataset == "embedded_ende":
    builder_config = embedded.builder_config(config.embedded_seed, config.embedded_num_train)
    # tfds wants a predefined config by name and refuses an equal object under the same name.
    if builder_config.name in embedded.EmbeddedEnde.builder_configs:
      builder_config = builder_config.name
    return embedded.EmbeddedEnde(config=builder_config, data_dir=config.tfds_data_dir or None)
  return tfds.builder(config.dataset, data_dir=config.tfds_data_dir or None)


def load_text_splits(config) -> dict[str, TextSplit]:
  """train / validation / test as lists of strings, in the configured translation direction."""
  builder = _builder(config)
  builder.download_and_prepare()
  splits = {}
  for split in ("train", "validation", "test"):
    sources, targets = [], []
    for example in tfds.as_numpy(builder.as_dataset(split=split)):
      sources.append(example[config.source_lang].decode("utf-8"))
      targets.append(example[config.target_lang].decode("utf-8"))
    splits[split] = TextSplit(sources, targets)
  return splits


def load_datasets(config, tokenizer_path: str, *, row_multiple: int = 1, process_index: int = 0,
                  process_count: int = 1) -> Datasets:
  splits = load_text_splits(config)
  train = splits["train"]
  # The shared vocabulary is trained on the training split (both languages) once, then reloaded.
  tokenizer = tokenizer_lib.load_or_train(
      tokenizer_path, lambda: train.sources + train.targets, config.vocab_size,
      model_type=config.sentencepiece_model_type, max_sentences=config.tokenizer_train_sentences, seed=config.seed)
  sources = batching.with_eos(tokenizer.encode_batch(train.sources))
  targets = batching.with_eos(tokenizer.encode_batch(train.targets))
  sources, targets, counts = batching.filter_pairs(sources, targets, config.max_source_length,
                                                   config.max_target_length)
  logging.info("Training pairs: %d kept, %d dropped as too long, %d dropped as empty.", counts.kept,
               counts.too_long, counts.empty)
  shards = dict(row_multiple=row_multiple, process_index=process_index, process_count=process_count)
  if config.pack_training_rows:
    batcher = batching.PackedBatcher(sources, targets, length=config.bucket_lengths[-1],
                                     tokens_per_batch=config.tokens_per_batch, seed=config.seed, **shards)
  else:
    batcher = batching.BucketedBatcher(sources, targets, bucket_lengths=config.bucket_lengths,
                                       tokens_per_batch=config.tokens_per_batch, seed=config.seed, **shards)
  return Datasets(tokenizer=tokenizer, train=batcher, train_filter_counts=counts, dev=splits["validation"],
                  test=splits["test"])
