"""The embedded English->German corpus as a tfds dataset, so it is read exactly the way WMT is.

The sentences come from the grammar of this package (`generator.make_splits`: deterministic from a seed; nothing is
downloaded). tfds writes the splits once into its data dir and later runs read them from there.
"""

from __future__ import annotations

import dataclasses

import tensorflow_datasets as tfds

from transformer_jax.data.embedded import generator


@dataclasses.dataclass
class EmbeddedEndeConfig(tfds.core.BuilderConfig):
  seed: int = 0
  num_train: int = 200_000
  num_validation: int = 500
  num_test: int = 1000


def builder_config(seed: int, num_train: int) -> EmbeddedEndeConfig:
  return EmbeddedEndeConfig(name=f"seed{seed}_train{num_train}", seed=seed, num_train=num_train)


class EmbeddedEnde(tfds.core.GeneratorBasedBuilder):
  """Procedurally generated EN->DE translation pairs (see transformer_jax.data.embedded for the grammar)."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "First release."}
  BUILDER_CONFIGS = [builder_config(0, 200_000)]

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
        features=tfds.features.Translation(languages=("en", "de")),
        supervised_keys=("en", "de"),
        disable_shuffling=True,  # keep generation order: the corpus is a pure function of the seed.
        homepage="https://arxiv.org/abs/1706.03762",
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # nothing to download
    cfg = self.builder_config
    splits = generator.make_splits(seed=cfg.seed, num_train=cfg.num_train,
                                   num_validation=cfg.num_validation, num_test=cfg.num_test)
    return {name: self._generate_examples(pairs) for name, pairs in splits.items()}

  def _generate_examples(self, pairs):
    for index, (english, german) in enumerate(pairs):
      yield index, {"en": english, "de": german}
