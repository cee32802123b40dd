"""TensorFlow and tensorflow_datasets, imported on first use, by the two parts of the project that use them.

  - the tfds sources (data/sources/tfds_translation.py: WMT; data/sources/embedded.py: embedded_ende) read their
    data through tensorflow_datasets;
  - metric_writers.py writes TensorBoard events with clu's TensorFlow summary writer when TensorFlow is installed.

No other module imports either, so training on files (dataset local, multi30k, huggingface) runs on a machine with
JAX and no TensorFlow (metric_writers then writes the events without it). TensorFlow only reads files and writes
summaries here: its first import hides every GPU from it, so it never takes memory that JAX needs.
"""

from __future__ import annotations

_gpus_hidden = False


def tensorflow():
  """`import tensorflow`, kept off the GPUs. Raises ImportError where TensorFlow is not installed."""
  global _gpus_hidden
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  if not _gpus_hidden:
    try:
      tf.config.set_visible_devices([], "GPU")
    except RuntimeError as error:  # TensorFlow's devices were set up before this call (by code outside the project)
      from absl import logging  # pylint: disable=g-import-not-at-top  (the sources' registry imports without absl)
      logging.warning("TensorFlow may use the GPUs, which it set up before it could be told not to: %s", error)
    _gpus_hidden = True
  return tf


def tensorflow_datasets():
  """`import tensorflow_datasets` (TensorFlow first, kept off the GPUs). Raises ImportError where it is missing."""
  tensorflow()
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  return tfds
