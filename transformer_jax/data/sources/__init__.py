"""Where sentence pairs come from: one definition per dataset (a `Source`, base.py), all of them listed in SOURCES.

Every source yields the (source text, target text) pairs of one split in the configured direction, so everything
after it (vocabulary, token cache, batching) is the same pipeline. The config's `dataset` names the source:

  embedded.py          embedded_ende: the generated corpus of data/embedded, through tfds
  tfds_translation.py  wmt14_translate/de-en, wmt14_translate/fr-en, wmt17_translate/de-en (tfds; the class reads
                       any tfds translation dataset with one feature per language)
  multi30k.py          multi30k: Multi30k task 1 from multi30k_dir (files.py reads it)
  local.py             local: the user's own TSV or line-aligned files (files.py)
  huggingface.py       huggingface: a translation dataset read with `datasets`, e.g. the Hub's wmt/wmt14 (de-en)

A new dataset is one module here defining a `Source` (its name, languages, how to read a split, its identity for
the token cache, its config checks) and one line in SOURCES. This package imports TensorFlow (and `datasets`) only
inside the methods that read, so config_base can import it, and run its checks, on machines with only JAX.
"""

from __future__ import annotations

from transformer_jax.data.sources import embedded, huggingface, local, multi30k, tfds_translation
from transformer_jax.data.sources.base import SPLITS, Pairs, Source
from transformer_jax.errors import ConfigError, DataError
from transformer_jax.text_preprocessing import TextPreprocessing

SOURCES: tuple[Source, ...] = (
    embedded.SOURCE,
    tfds_translation.WMT14_DE_EN,
    tfds_translation.WMT14_FR_EN,
    tfds_translation.WMT17_DE_EN,
    multi30k.SOURCE,
    local.SOURCE,
    huggingface.SOURCE,
)
BY_NAME = {source.name: source for source in SOURCES}
NAMES = tuple(BY_NAME)  # the values `dataset` accepts

__all__ = ["BY_NAME", "DataError", "NAMES", "Pairs", "SOURCES", "SPLITS", "Source", "fingerprint", "get",
           "has_split", "iter_pairs", "prepare", "unknown_dataset"]


def unknown_dataset(name: str) -> str:
  return f"dataset={name!r}: must be one of {NAMES}"


def get(name: str) -> Source:
  """The definition of dataset `name`; a ConfigError naming the accepted ones if there is none."""
  if name not in BY_NAME:
    raise ConfigError(unknown_dataset(name))
  return BY_NAME[name]


def prepare(config) -> bool:
  """Downloads and prepares the configured source once (a no-op when prepared, and for files); whether it did."""
  return get(config.dataset).prepare(config)


def iter_pairs(config, split: str) -> Pairs:
  """(source, target) text pairs of `split`, streamed (the WMT training split does not need to fit in memory)."""
  return get(config.dataset).pairs(config, split)


def has_split(config, split: str) -> bool:
  return get(config.dataset).has_split(config, split)


def fingerprint(config) -> dict:
  """What identifies the training text as the model reads it (text_preprocessing included): changes here invalidate
  the token cache."""
  return {"dataset": config.dataset, "direction": [config.source_lang, config.target_lang],
          **get(config.dataset).identity(config), **TextPreprocessing.from_config(config).identity()}
