"""Sources read through tfds: translation datasets whose features are keyed by language, and WMT from tfds' catalog.

WMT splits in tfds: wmt14_translate validation = newstest2013, test = newstest2014; wmt17_translate validation =
newstest2016, test = newstest2017. The test split is only decoded after training, never used to choose anything.
"""

from __future__ import annotations

import dataclasses

from transformer_jax.data.sources.base import Pairs, Source
from transformer_jax.errors import DataError


@dataclasses.dataclass(frozen=True)
class TfdsTranslation(Source):
  """A tfds dataset with one text feature per language, built by `tfds.builder(name)` unless `builder` says else."""

  def builder(self, config):
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top  (config checks run without it)
    return tfds.builder(self.name, data_dir=config.tfds_data_dir or None)

  def prepared_builder(self, config):
    """The builder, its data downloaded and prepared once (a no-op when prepared)."""
    builder = self.builder(config)
    try:
      builder.download_and_prepare()
    except Exception as error:  # tfds raises many kinds (network, checksum, missing manual files).
      raise DataError(
          f"Could not prepare tfds dataset {self.name!r} in {builder.data_dir!r}: {error}\nWMT is downloaded on "
          "first use; on a machine without internet, prepare it elsewhere (`tfds build wmt14_translate/de-en "
          "--data_dir=DIR`), copy DIR here and set --config.tfds_data_dir=DIR.") from error
    return builder

  def prepare(self, config) -> None:
    self.prepared_builder(config)

  def pairs(self, config, split: str) -> Pairs:
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
    builder = self.prepared_builder(config)
    # Features are keyed by language, so the direction is exactly (source_lang, target_lang) whatever order tfds'
    # supervised_keys list the pair in (wmt14_translate/de-en lists German first).
    # Batched reads: iterating tf.data one example at a time costs ~10x more per pair.
    dataset = builder.as_dataset(split=split, shuffle_files=False).batch(4096).prefetch(2)
    for batch in tfds.as_numpy(dataset):
      for source, target in zip(batch[config.source_lang], batch[config.target_lang]):
        yield source.decode("utf-8"), target.decode("utf-8")


WMT14_DE_EN = TfdsTranslation("wmt14_translate/de-en", ("de", "en"))
WMT14_FR_EN = TfdsTranslation("wmt14_translate/fr-en", ("fr", "en"))
WMT17_DE_EN = TfdsTranslation("wmt17_translate/de-en", ("de", "en"))
