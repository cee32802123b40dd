"""Where sentence pairs come from: tfds (the embedded corpus, WMT14, WMT17) or a user's own local files.

Every source yields the (source text, target text) pairs of one split in the configured direction, so everything
after it (vocabulary, token cache, batching) is the same pipeline. Local files are read here line by line rather
than through tf.data, so bad input is reported with its file and line instead of failing deep inside a graph.

WMT splits in tfds: wmt14_translate validation = newstest2013, test = newstest2014; wmt17_translate validation =
newstest2016, test = newstest2017. The test split is only decoded after training, never used to choose anything.
"""

from __future__ import annotations

import gzip
import itertools
import os
import zlib
from typing import Iterator

import tensorflow_datasets as tfds

from transformer_jax.data import embedded, multi30k
from transformer_jax.errors import DataError  # pylint: disable=unused-import  (raised here; callers catch it)

SPLITS = ("train", "validation", "test")
Pairs = Iterator[tuple[str, str]]


def _builder(config) -> tfds.core.DatasetBuilder:
  if config.dataset == "embedded_ende":
    builder_config = embedded.builder_config(config.embedded_seed, config.embedded_num_train)
    # tfds wants a predefined config by name and refuses an equal object under the same name.
    if builder_config.name in embedded.EmbeddedEnde.builder_configs:
      builder_config = builder_config.name
    return embedded.EmbeddedEnde(config=builder_config, data_dir=config.tfds_data_dir or None)
  return tfds.builder(config.dataset, data_dir=config.tfds_data_dir or None)


def reads_files(config) -> bool:
  """Local files and Multi30k are read line by line from files; the rest come from tfds."""
  return config.dataset in ("local", "multi30k")


def prepare(config) -> tfds.core.DatasetBuilder | None:
  """Downloads and prepares a tfds source once (a no-op when prepared, and for files)."""
  if reads_files(config):
    return None
  builder = _builder(config)
  try:
    builder.download_and_prepare()
  except Exception as error:  # tfds raises many kinds (network, checksum, missing manual files).
    raise DataError(
        f"Could not prepare tfds dataset {config.dataset!r} in {builder.data_dir!r}: {error}\nWMT is downloaded on "
        "first use; on a machine without internet, prepare it elsewhere (`tfds build wmt14_translate/de-en "
        "--data_dir=DIR`), copy DIR here and set --config.tfds_data_dir=DIR.") from error
  return builder


def _tfds_pairs(config, split: str) -> Pairs:
  builder = prepare(config)
  # Features are keyed by language, so the direction is exactly (source_lang, target_lang) whatever order tfds'
  # supervised_keys list the pair in (wmt14_translate/de-en lists German first).
  # Batched reads: iterating tf.data one example at a time costs ~10x more per pair.
  dataset = builder.as_dataset(split=split, shuffle_files=False).batch(4096).prefetch(2)
  for batch in tfds.as_numpy(dataset):
    for source, target in zip(batch[config.source_lang], batch[config.target_lang]):
      yield source.decode("utf-8"), target.decode("utf-8")


def _read_lines(path: str) -> Iterator[str]:
  """Lines of a plain or gzip text file without their newline; errors name the file and line."""
  try:
    handle = gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")
  except OSError as error:
    raise DataError(f"Cannot read {path}: {error.strerror or error}. Check the path in the config's local_* keys "
                    "and the file's permissions.") from error
  line_number = 0
  with handle:
    try:
      for line_number, raw in enumerate(handle, start=1):
        try:
          yield raw.rstrip(b"\r\n").decode("utf-8")
        except UnicodeDecodeError as error:
          raise DataError(f"{path}, line {line_number}: invalid UTF-8 at byte {error.start} of the line. The "
                          "input must be UTF-8; repair the file (for example `iconv -f utf-8 -t utf-8 -c`) or "
                          "convert it from its real encoding.") from error
    except (OSError, EOFError, zlib.error) as error:
      raise DataError(f"{path}: unreadable after line {line_number} ({error}); the file is truncated or not "
                      "valid gzip.") from error


def local_split_files(config, split: str) -> list[str]:
  """The files behind a local split: one TSV, or one file per language from a `{lang}` pattern."""
  if config.dataset == "multi30k":
    spec = multi30k.split_pattern(config.multi30k_dir, split)
  else:
    spec = config[f"local_{split}"]
  if not spec:
    return []
  if is_tsv(spec):
    return [spec]
  return [spec.format(lang=config.source_lang), spec.format(lang=config.target_lang)]


def is_tsv(spec: str) -> bool:
  return spec.endswith((".tsv", ".tsv.gz"))


def _local_pairs(config, split: str) -> Pairs:
  files = local_split_files(config, split)
  if len(files) == 1:  # TSV: the column order is named by local_tsv_languages.
    path, languages = files[0], tuple(config.local_tsv_languages)
    source_column, target_column = languages.index(config.source_lang), languages.index(config.target_lang)
    for line_number, line in enumerate(_read_lines(path), start=1):
      columns = line.split("\t")
      if len(columns) != len(languages):
        raise DataError(f"{path}, line {line_number}: {len(columns)} tab-separated columns, expected "
                        f"{len(languages)} ({', '.join(languages)}). Remove or fix the line.")
      yield columns[source_column], columns[target_column]
    return
  source_path, target_path = files
  missing = object()
  pairs = itertools.zip_longest(_read_lines(source_path), _read_lines(target_path), fillvalue=missing)
  for line_number, (source, target) in enumerate(pairs, start=1):
    if source is missing or target is missing:
      short, long = (source_path, target_path) if source is missing else (target_path, source_path)
      raise DataError(f"{short} has {line_number - 1} lines but {long} has more (line {line_number} has no "
                      "partner): the two files must be line-aligned translations of each other.")
    yield source, target


def iter_pairs(config, split: str) -> Pairs:
  """(source, target) text pairs of `split`, streamed (the WMT training split does not need to fit in memory)."""
  if reads_files(config):
    return _local_pairs(config, split)
  return _tfds_pairs(config, split)


def has_split(config, split: str) -> bool:
  return config.dataset != "local" or bool(config[f"local_{split}"])  # Multi30k has all three


def fingerprint(config) -> dict:
  """What identifies the training text: changes here invalidate the token cache."""
  if reads_files(config):
    files = []
    for path in local_split_files(config, "train"):
      stat = os.stat(path) if os.path.exists(path) else None
      files.append([os.path.abspath(path), stat.st_size if stat else None, stat.st_mtime_ns if stat else None])
    return {"dataset": config.dataset, "files": files, "tsv_languages": list(config.local_tsv_languages),
            "direction": [config.source_lang, config.target_lang]}
  identity = {"dataset": config.dataset, "direction": [config.source_lang, config.target_lang]}
  if config.dataset == "embedded_ende":
    identity.update(seed=config.embedded_seed, num_train=config.embedded_num_train,
                    version=str(embedded.EmbeddedEnde.VERSION))
  return identity
