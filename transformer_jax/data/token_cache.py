"""Training pairs as token ids: encoded with SentencePiece once, kept on disk, memory-mapped by every later run.

A cache entry is a directory of four .npy arrays (all source ids concatenated, EOS included, and the length of each
sentence; the same for targets). Its name carries a hash of what produced it (the training text's identity and the
tokenizer model's bytes), so a changed corpus or vocabulary never reads stale ids. Entries are written to a
temporary directory and renamed into place, so a crash leaves no half-written entry. Memory-mapping means a process
touches only the pages of the pairs in its own rows.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import logging
import os
import shutil
import tempfile
import time
from typing import TYPE_CHECKING, Iterable

import numpy as np

from transformer_jax.special_ids import EOS_ID

if TYPE_CHECKING:  # the batcher imports this module where SentencePiece is absent (benchmarks.device_check)
  from transformer_jax.tokenizer import Tokenizer

_ENCODE_CHUNK = 50_000  # pairs per SentencePiece batch call: large enough for its threads, small in memory
_FILES = ("source_ids", "source_lengths", "target_ids", "target_lengths")


@dataclasses.dataclass
class TokenSequences:
  """Variable-length id sequences stored flat: sequence i is ids[starts[i] : starts[i] + lengths[i]]."""
  ids: np.ndarray
  starts: np.ndarray
  lengths: np.ndarray

  @classmethod
  def from_lengths(cls, ids: np.ndarray, lengths: np.ndarray) -> "TokenSequences":
    starts = np.zeros(len(lengths), np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    return cls(ids, starts, np.asarray(lengths, np.int32))

  @classmethod
  def from_lists(cls, sequences: list[list[int]]) -> "TokenSequences":
    lengths = np.array([len(s) for s in sequences], np.int32)
    ids = np.fromiter((t for s in sequences for t in s), np.int32, count=int(lengths.sum()))
    return cls.from_lengths(ids, lengths)

  def __len__(self) -> int:
    return len(self.lengths)

  def __getitem__(self, index: int) -> np.ndarray:
    start = self.starts[index]
    return self.ids[start:start + self.lengths[index]]

  def subset(self, indices: np.ndarray) -> "TokenSequences":
    return TokenSequences(self.ids, self.starts[indices], self.lengths[indices])


@dataclasses.dataclass
class TokenizedPairs:
  sources: TokenSequences
  targets: TokenSequences

  def __len__(self) -> int:
    return len(self.sources)


def _id_dtype(vocab_size: int) -> np.dtype:
  return np.dtype(np.uint16) if vocab_size <= np.iinfo(np.uint16).max + 1 else np.dtype(np.int32)


def encode_pairs(pairs: Iterable[tuple[str, str]], tokenizer: Tokenizer) -> tuple[dict, int]:
  """Encodes pairs (appending EOS to each side) into the four flat arrays; returns them and the pair count."""
  dtype = _id_dtype(tokenizer.vocab_size)
  parts = {name: [] for name in _FILES}

  def flush(sources: list[str], targets: list[str]):
    for side, texts in (("source", sources), ("target", targets)):
      encoded = tokenizer.encode_batch(texts)
      for ids in encoded:
        ids.append(EOS_ID)
      lengths = np.fromiter(map(len, encoded), np.int32, count=len(encoded))
      flat = np.fromiter(itertools.chain.from_iterable(encoded), dtype, count=int(lengths.sum()))
      parts[f"{side}_ids"].append(flat)
      parts[f"{side}_lengths"].append(lengths)

  sources, targets, count = [], [], 0
  for source, target in pairs:
    sources.append(source)
    targets.append(target)
    if len(sources) == _ENCODE_CHUNK:
      flush(sources, targets)
      count += len(sources)
      sources, targets = [], []
  if sources:
    flush(sources, targets)
    count += len(sources)
  arrays = {name: np.concatenate(chunks) if chunks else np.zeros(0, np.int32) for name, chunks in parts.items()}
  return arrays, count


def cache_key(text_fingerprint: dict, tokenizer_path: str) -> str:
  digest = hashlib.sha256(json.dumps(text_fingerprint, sort_keys=True).encode())
  with open(tokenizer_path, "rb") as f:
    digest.update(f.read())
  return digest.hexdigest()[:16]


def _load(entry: str) -> TokenizedPairs:
  arrays = {name: np.load(os.path.join(entry, name + ".npy"), mmap_mode="r") for name in _FILES}
  return TokenizedPairs(TokenSequences.from_lengths(arrays["source_ids"], np.asarray(arrays["source_lengths"])),
                        TokenSequences.from_lengths(arrays["target_ids"], np.asarray(arrays["target_lengths"])))


def entry_path(cache_dir: str, split: str, text_fingerprint: dict, tokenizer_path: str) -> str:
  return os.path.join(cache_dir, f"{split}-{cache_key(text_fingerprint, tokenizer_path)}")


def load_or_encode(entry: str, pairs_fn, tokenizer: Tokenizer, text_fingerprint: dict) -> TokenizedPairs:
  """The cached ids at `entry`, or encodes `pairs_fn()` and writes them there first."""
  if os.path.isdir(entry):
    pairs = _load(entry)
    logging.info("Token ids of %d pairs read from the cache %s.", len(pairs), entry)
    return pairs
  started = time.perf_counter()
  arrays, count = encode_pairs(pairs_fn(), tokenizer)
  seconds = time.perf_counter() - started
  logging.info("Encoded %d pairs (%d target tokens) in %.1f s (%.0f pairs/s); caching them in %s.", count,
               int(arrays["target_lengths"].sum()), seconds, count / max(seconds, 1e-9), entry)
  parent = os.path.dirname(entry)
  os.makedirs(parent, exist_ok=True)
  temporary = tempfile.mkdtemp(dir=parent, prefix=os.path.basename(entry) + ".tmp-")
  try:
    for name, array in arrays.items():
      np.save(os.path.join(temporary, name + ".npy"), array)
    with open(os.path.join(temporary, "fingerprint.json"), "w") as f:
      json.dump({"text": text_fingerprint, "tokenizer": tokenizer.source, "pairs": count}, f, indent=2)
    os.replace(temporary, entry)
  except OSError:
    shutil.rmtree(temporary, ignore_errors=True)
    if not os.path.isdir(entry):  # another process may have won the rename with identical content
      raise
  return _load(entry)
