"""dataset="embedded_ende": the download-free English-German corpus of transformer_jax/data/embedded, generated from
embedded_seed (embedded_num_train training pairs) and served through tfds exactly as WMT is."""

from __future__ import annotations

import dataclasses

from transformer_jax import lazy_tensorflow
from transformer_jax.data.sources.tfds_translation import TfdsTranslation


def _tfds_builder():
  """The tfds builder module, imported on first use (it imports tensorflow_datasets)."""
  lazy_tensorflow.tensorflow_datasets()  # TensorFlow first, kept off the GPUs
  from transformer_jax.data.embedded import tfds_builder  # pylint: disable=g-import-not-at-top
  return tfds_builder


@dataclasses.dataclass(frozen=True)
class EmbeddedCorpus(TfdsTranslation):

  def builder(self, config):
    tfds_builder = _tfds_builder()
    builder_config = tfds_builder.builder_config(config.embedded_seed, config.embedded_num_train)
    # tfds wants a predefined config by name and refuses an equal object under the same name.
    if builder_config.name in tfds_builder.EmbeddedEnde.builder_configs:
      builder_config = builder_config.name
    return tfds_builder.EmbeddedEnde(config=builder_config, data_dir=config.tfds_data_dir or None)

  def identity(self, config) -> dict:
    tfds_builder = _tfds_builder()
    return {"seed": config.embedded_seed, "num_train": config.embedded_num_train,
            "version": str(tfds_builder.EmbeddedEnde.VERSION)}


SOURCE = EmbeddedCorpus("embedded_ende", ("en", "de"))
