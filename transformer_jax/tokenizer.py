"""SentencePiece subword tokenizer with one vocabulary shared by source and target."""

from __future__ import annotations

import os
import random
import re
import tempfile
from typing import Callable, Iterable

import sentencepiece as spm

from transformer_jax.errors import ConfigError, DataError, MissingFileError
from transformer_jax.special_ids import EOS_ID, PAD_ID, UNK_ID  # no BOS piece

# sentencepiece rejects input_sentence_size values in 1..100.
_MIN_SAMPLED_SENTENCES = 101

_VOCAB_TOO_HIGH = re.compile(r"Vocabulary size too high \((\d+)\).*?<=\s*(\d+)")
_VOCAB_BELOW_CHARS = re.compile(r"Vocabulary size is smaller than required_chars\. (\d+) vs (\d+)")


def _as_int_list(ids) -> list[int]:
  # .tolist() converts numpy/JAX arrays in one transfer instead of per element.
  if hasattr(ids, "tolist"):
    ids = ids.tolist()
  return [int(i) for i in ids]


def _strip_special(ids) -> list[int]:
  """Ids up to (excluding) the first EOS, with PAD removed."""
  kept = []
  for token_id in _as_int_list(ids):
    if token_id == EOS_ID:
      break
    if token_id != PAD_ID:
      kept.append(token_id)
  return kept


class Tokenizer:
  """Thin wrapper over a SentencePieceProcessor that enforces the project's special ids."""

  def __init__(self, processor: spm.SentencePieceProcessor, source: str = "<in-memory>"):
    actual = (processor.pad_id(), processor.eos_id(), processor.unk_id(), processor.bos_id())
    expected = (PAD_ID, EOS_ID, UNK_ID, -1)
    if actual != expected:
      raise DataError(f"SentencePiece model {source} has (pad, eos, unk, bos) ids {actual}, "
                       f"expected {expected}; it was not trained by train_tokenizer")
    self._processor = processor
    self.source = source

  @classmethod
  def load(cls, model_path: str) -> "Tokenizer":
    if not os.path.isfile(model_path):
      raise MissingFileError(f"No SentencePiece model at {model_path!r}. The workdir must come from "
                              "a training run, which trains the tokenizer and writes this file.")
    return cls(spm.SentencePieceProcessor(model_file=model_path), source=model_path)

  @property
  def vocab_size(self) -> int:
    return self._processor.vocab_size()

  def id_to_piece(self, token_id: int) -> str:
    return self._processor.id_to_piece(int(token_id))

  def piece_to_id(self, piece: str) -> int:
    return self._processor.piece_to_id(piece)

  def encode(self, text: str) -> list[int]:
    """Subword ids of `text`, without EOS (the input pipeline appends it)."""
    return self._processor.encode(text, out_type=int)

  def encode_batch(self, texts: Iterable[str]) -> list[list[int]]:
    # A list input takes sentencepiece's multithreaded batch path.
    return self._processor.encode(list(texts), out_type=int)

  def decode(self, ids) -> str:
    """Text of `ids`, stopping at the first EOS and ignoring PAD (model outputs carry both)."""
    return self._processor.decode(_strip_special(ids))

  def decode_batch(self, batch_ids) -> list[str]:
    if hasattr(batch_ids, "tolist"):
      batch_ids = batch_ids.tolist()
    return self._processor.decode([_strip_special(ids) for ids in batch_ids])


def _vocab_error(requested: int, detail: str) -> ValueError:
  return ConfigError(f"Cannot train a SentencePiece model with vocab_size={requested}: "
                    f"the training corpus is too small for that many pieces{detail}. "
                    "Lower the vocab size in the config (or train on more text).")


def _translate_trainer_error(error: RuntimeError, requested: int) -> Exception:
  message = str(error)
  too_high = _VOCAB_TOO_HIGH.search(message)
  if too_high:
    return _vocab_error(requested, f" (sentencepiece allows at most {too_high.group(2)})")
  below_chars = _VOCAB_BELOW_CHARS.search(message)
  if below_chars:
    return ConfigError(f"vocab_size={requested} is too small: the corpus needs {below_chars.group(2)} "
                      "pieces just for its characters and the special ids; raise the vocab size in "
                      "the config or lower character_coverage")
  return error


def reservoir_sample(items: Iterable[str], k: int, seed: int) -> list[str]:
  """A uniform sample of k items from a stream of unknown length (Algorithm R), reproducible from seed."""
  rng = random.Random(seed)
  sample = []
  for n, item in enumerate(items):
    if n < k:
      sample.append(item)
    else:
      j = rng.randrange(n + 1)
      if j < k:
        sample[j] = item
  return sample


def train_tokenizer(
    sentences: Iterable[str],
    model_path: str,
    vocab_size: int,
    model_type: str = "unigram",
    character_coverage: float = 1.0,
    max_sentences: int | None = None,
    seed_sentencepiece_size: int = 1_000_000,
    num_threads: int | None = None,
    seed: int = 0,
) -> Tokenizer:
  """Train a shared SentencePiece model on `sentences` and write it to `model_path`.

    max_sentences: train on a uniform sample of this many sentences drawn from the
    whole stream with `seed` (None: use all); must be > 100 because sentencepiece
    refuses less. We sample ourselves because sentencepiece's own sampling is not
    seeded: two runs would get different vocabularies.
    The file is written atomically, so a crash never leaves a half-written model
    that a later run would load.
    """
  if max_sentences is not None and max_sentences < _MIN_SAMPLED_SENTENCES:
    raise ConfigError(f"max_sentences={max_sentences} is too small; sentencepiece needs more than 100 "
                     "(or None to train on every sentence)")
  options = dict(
      vocab_size=vocab_size,
      model_type=model_type,
      character_coverage=character_coverage,
      seed_sentencepiece_size=seed_sentencepiece_size,
      pad_id=PAD_ID,
      eos_id=EOS_ID,
      unk_id=UNK_ID,
      bos_id=-1,
      # hard_vocab_limit stays True (the default): the embedding tables and the
      # vocab check in load_or_train are sized from the configured vocab_size,
      # so a model silently smaller than asked is worse than a clear error.
      input_sentence_size=0,  # the sample (if any) is drawn below, reproducibly
      shuffle_input_sentence=False,
      minloglevel=1,  # the INFO log is thousands of lines on a real corpus
  )
  if num_threads is not None:
    options["num_threads"] = num_threads

  model_dir = os.path.dirname(os.path.abspath(model_path))
  os.makedirs(model_dir, exist_ok=True)
  fd, temp_path = tempfile.mkstemp(dir=model_dir, prefix=os.path.basename(model_path) + ".", suffix=".tmp")
  try:
    with os.fdopen(fd, "wb") as model_file:
      try:
        if max_sentences is not None:
          sentences = reservoir_sample(sentences, max_sentences, seed)
        spm.SentencePieceTrainer.train(sentence_iterator=iter(sentences), model_writer=model_file, **options)
      except RuntimeError as error:
        friendly = _translate_trainer_error(error, vocab_size)
        if friendly is error:
          raise
        raise friendly from error
      model_file.flush()
      os.fsync(model_file.fileno())
    os.chmod(temp_path, 0o644)  # mkstemp creates 0600; the model should be readable like any output
    with open(temp_path, "rb") as model_file:
      processor = spm.SentencePieceProcessor(model_proto=model_file.read())
    # The "char" model type ignores hard_vocab_limit and just returns fewer pieces.
    if processor.vocab_size() != vocab_size:
      raise _vocab_error(vocab_size, f" (got only {processor.vocab_size()} pieces)")
    os.replace(temp_path, model_path)
  except BaseException:
    if os.path.exists(temp_path):
      os.remove(temp_path)
    raise
  return Tokenizer(processor, source=model_path)


def load_or_train(
    model_path: str,
    sentences_fn: Callable[[], Iterable[str]],
    vocab_size: int,
    **train_options,
) -> Tokenizer:
  """Load the model at `model_path`, or train it from `sentences_fn()` if absent.

    `sentences_fn` is only called when training, so loading never reads the corpus.
    """
  if os.path.exists(model_path):
    tokenizer = Tokenizer.load(model_path)
    if tokenizer.vocab_size != vocab_size:
      raise ConfigError(f"Tokenizer model {model_path!r} has vocab size {tokenizer.vocab_size} but the "
                       f"config asks for {vocab_size}; set the config's vocab size to "
                       f"{tokenizer.vocab_size} or use a fresh workdir to retrain")
    return tokenizer
  return train_tokenizer(sentences_fn(), model_path, vocab_size, **train_options)


__all__ = [
    "EOS_ID",
    "PAD_ID",
    "UNK_ID",
    "Tokenizer",
    "load_or_train",
    "reservoir_sample",
    "train_tokenizer",
]
