"""Sources read from text files line by line, rather than through tf.data, so that bad input is reported with its
file and line instead of failing deep inside a graph.

Each split is either one TSV file (.tsv or .tsv.gz, its columns in the config's local_tsv_languages order) or a
pattern with "{lang}" naming one line-aligned file per language (plain, or gzip if it ends in .gz).
"""

from __future__ import annotations

import dataclasses
import gzip
import itertools
import os
import zlib
from typing import Iterator

from transformer_jax.data.sources.base import Pairs, Source
from transformer_jax.errors import DataError


def is_tsv(spec: str) -> bool:
  return spec.endswith((".tsv", ".tsv.gz"))


def read_lines(path: str) -> Iterator[str]:
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


@dataclasses.dataclass(frozen=True)
class FileSource(Source):
  """A source whose splits are files; subclasses say where a split's TSV or `{lang}` pattern is (`split_spec`)."""

  def split_spec(self, config, split: str) -> str:
    """The split's TSV file or `{lang}` pattern; "" when the source has no such split."""
    raise NotImplementedError

  def split_files(self, config, split: str) -> list[str]:
    """The files behind a split: one TSV, or the source and target language's files."""
    spec = self.split_spec(config, split)
    if not spec:
      return []
    if is_tsv(spec):
      return [spec]
    return [spec.format(lang=config.source_lang), spec.format(lang=config.target_lang)]

  def has_split(self, config, split: str) -> bool:
    return bool(self.split_spec(config, split))

  def pairs(self, config, split: str) -> Pairs:
    files = self.split_files(config, split)
    if len(files) == 1:  # TSV: the column order is named by local_tsv_languages.
      path, languages = files[0], tuple(config.local_tsv_languages)
      source_column, target_column = languages.index(config.source_lang), languages.index(config.target_lang)
      for line_number, line in enumerate(read_lines(path), start=1):
        columns = line.split("\t")
        if len(columns) != len(languages):
          raise DataError(f"{path}, line {line_number}: {len(columns)} tab-separated columns, expected "
                          f"{len(languages)} ({', '.join(languages)}). Remove or fix the line.")
        yield columns[source_column], columns[target_column]
      return
    source_path, target_path = files
    missing = object()
    pairs = itertools.zip_longest(read_lines(source_path), read_lines(target_path), fillvalue=missing)
    for line_number, (source, target) in enumerate(pairs, start=1):
      if source is missing or target is missing:
        short, long = (source_path, target_path) if source is missing else (target_path, source_path)
        raise DataError(f"{short} has {line_number - 1} lines but {long} has more (line {line_number} has no "
                        "partner): the two files must be line-aligned translations of each other.")
      yield source, target

  def identity(self, config) -> dict:
    """The training files by path, size and modification time (and the TSV column order)."""
    files = []
    for path in self.split_files(config, "train"):
      stat = os.stat(path) if os.path.exists(path) else None
      files.append([os.path.abspath(path), stat.st_size if stat else None, stat.st_mtime_ns if stat else None])
    return {"files": files, "tsv_languages": list(config.local_tsv_languages)}
