"""What a dataset definition is: `Source`, the class every entry of the registry (`sources.SOURCES`) is an instance of.

A definition names its dataset (the config's `dataset` value) and says which languages it offers, what it needs in
the config, how to read a split's (source text, target text) pairs in the configured direction, and what identifies
its training text for the token cache. Only reading and `identity` may import TensorFlow, inside the method:
config_base imports the registry, and runs `offered_languages` and `config_problems`, on machines with only JAX.
"""

from __future__ import annotations

import dataclasses
from typing import Iterator

SPLITS = ("train", "validation", "test")
Pairs = Iterator[tuple[str, str]]


@dataclasses.dataclass(frozen=True)
class Source:
  """One dataset. Subclasses define `pairs`; every other method has a default."""

  name: str  # the config's `dataset` value
  languages: tuple[str, ...] | None = None  # the languages it offers; None: whatever the config's files hold

  def offered_languages(self, config) -> tuple[str, ...] | None:
    """The languages source_lang and target_lang must be among; None: no constraint."""
    del config
    return self.languages

  def config_problems(self, config) -> list[str]:
    """What in the config cannot work with this source, each problem naming its key and the fix."""
    del config
    return []

  def prepare(self, config) -> bool:
    """Downloads or builds the data, once per data dir (process 0 runs it before any process reads); returns
    whether this call did any of it (False: it was prepared already, or there is nothing to prepare)."""
    del config
    return False

  def num_pairs(self, config, split: str) -> int | None:
    """How many pairs `split` holds, where the source knows without reading it (for progress bars)."""
    del config, split
    return None

  def stored_bytes(self, config) -> int | None:
    """The size of the prepared data on disk, where the source keeps a prepared copy."""
    del config
    return None

  def has_split(self, config, split: str) -> bool:
    del config, split
    return True

  def pairs(self, config, split: str) -> Pairs:
    """(source, target) text pairs of `split` in the direction (source_lang, target_lang), streamed."""
    raise NotImplementedError

  def identity(self, config) -> dict:
    """What identifies the training text besides the name and the direction: a change invalidates the token cache."""
    del config
    return {}
