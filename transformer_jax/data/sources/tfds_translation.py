"""Sources read through tfds: translation datasets whose features are keyed by language, and WMT from tfds' catalog.

WMT splits in tfds: wmt14_translate validation = newstest2013, test = newstest2014; wmt17_translate validation =
newstest2016, test = newstest2017. The test split is only decoded after training, never used to choose anything.
"""

from __future__ import annotations

import dataclasses

from transformer_jax import lazy_tensorflow
from transformer_jax.data.sources.base import Pairs, Source
from transformer_jax.errors import DataError


@dataclasses.dataclass(frozen=True)
class TfdsTranslation(Source):
  """A tfds dataset with one text feature per language, built by `tfds.builder(name)` unless `builder` says else."""

  hub_copy: tuple[str, str] | None = None  # (hf_dataset, hf_config) of the same data on the Hugging Face Hub

  def alternatives(self) -> str:
    """The exact flags of the other ways to the same data, for when tfds cannot prepare it."""
    hub = ""
    if self.hub_copy:
      hub = (f"  - the Hugging Face Hub's copy of the same data: --config.dataset=huggingface "
             f"--config.hf_dataset={self.hub_copy[0]} --config.hf_config={self.hub_copy[1]} (a paper config's "
             "variant `:hf` sets these, e.g. --config=configs/wmt14_ende_base.py:hf);\n")
    return (f"{hub}  - your own files: --config.dataset=local --config.local_train='DIR/train.{{lang}}' "
            "--config.local_validation='DIR/newstest2013.{lang}' --config.local_test='DIR/newstest2014.{lang}' "
            "(line-aligned, plain or .gz; or one .tsv per split);\n"
            f"  - or prepare it elsewhere (`tfds build {self.name} --data_dir=DIR`), copy DIR here and set "
            "--config.tfds_data_dir=DIR.")

  def builder(self, config):
    tfds = lazy_tensorflow.tensorflow_datasets()  # here, not at the top: config checks and file sources run without it
    return tfds.builder(self.name, data_dir=config.tfds_data_dir or None)

  def prepared_builder(self, config):
    """The builder, its data downloaded and prepared once (a no-op when prepared)."""
    builder = self.builder(config)
    try:
      builder.download_and_prepare()
    except Exception as error:  # tfds raises many kinds (network, checksum, missing manual files).
      raise DataError(
          f"Could not prepare tfds dataset {self.name!r} in {builder.data_dir!r}: {error}\ntfds downloads WMT from "
          f"statmt.org and other hosts on first use, which often fails. Alternatives:\n{self.alternatives()}"
          ) from error
    return builder

  def prepare(self, config) -> bool:
    was_prepared = self.builder(config).is_prepared()
    self.prepared_builder(config)
    return not was_prepared

  def num_pairs(self, config, split: str) -> int | None:
    splits = self.prepared_builder(config).info.splits
    return splits[split].num_examples if split in splits else None  # None: not recorded (as under tfds' mock data)

  def stored_bytes(self, config) -> int | None:
    path = self.prepared_builder(config).data_path
    return sum(item.stat().length for item in path.iterdir())

  def pairs(self, config, split: str) -> Pairs:
    tfds = lazy_tensorflow.tensorflow_datasets()
    builder = self.prepared_builder(config)
    # Features are keyed by language, so the direction is exactly (source_lang, target_lang) whatever order tfds'
    # supervised_keys list the pair in (wmt14_translate/de-en lists German first).
    # Batched reads: iterating tf.data one example at a time costs ~10x more per pair.
    dataset = builder.as_dataset(split=split, shuffle_files=False).batch(4096).prefetch(2)
    for batch in tfds.as_numpy(dataset):
      for source, target in zip(batch[config.source_lang], batch[config.target_lang]):
        yield source.decode("utf-8"), target.decode("utf-8")


WMT14_DE_EN = TfdsTranslation("wmt14_translate/de-en", ("de", "en"), hub_copy=("wmt/wmt14", "de-en"))
WMT14_FR_EN = TfdsTranslation("wmt14_translate/fr-en", ("fr", "en"), hub_copy=("wmt/wmt14", "fr-en"))
WMT17_DE_EN = TfdsTranslation("wmt17_translate/de-en", ("de", "en"), hub_copy=("wmt/wmt17", "de-en"))
