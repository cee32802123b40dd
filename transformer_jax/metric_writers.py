"""The training run's metric writer: the `[step] key=value` log lines and TensorBoard events in the workdir.

Where TensorFlow is installed (the normal install) it is clu's default writer, whose TensorBoard events go through
tf.summary. clu's metric_writers package imports TensorFlow as it loads, so where TensorFlow is missing (a machine
with JAX alone) the same writer is built here: the same log lines, and the same events (scalars, hyperparameters,
the dev translations' text, attention images) written by the pure-Python event file writer of the `tensorboard`
package. Without tensorboard either, the log lines alone, and one line saying what to install. train_log.jsonl and
dev_curve.jsonl are written by train.py in every case.

    writer = create_default_writer(workdir, just_logging=jax.process_index() > 0)
"""

from __future__ import annotations

import importlib
import struct
import time
import zlib
from typing import Any, Mapping

import numpy as np
from absl import logging

from transformer_jax import lazy_tensorflow

NO_EVENTS_MESSAGE = (
    "TensorBoard events are not written: TensorFlow is not installed, and the TensorFlow-free event writer needs the "
    "`tensorboard` package (pure Python; with `pip install --no-deps tensorboard==VERSION`, the version of "
    "requirements.txt, it needs only protobuf, numpy and absl-py, which training has already). The log, "
    "train_log.jsonl and dev_curve.jsonl are written as usual.")
NO_IMAGES_MESSAGE = "Attention images are not drawn for TensorBoard: %s."


def create_default_writer(logdir: str, *, just_logging: bool = False):
  """clu's default writer where TensorFlow is installed; else `MultiWriter` of the same log lines and TensorBoard
  events through tensorboard's own writer (or the log lines alone, saying once what to install). `just_logging`:
  the log lines only (every process but the first)."""
  try:
    lazy_tensorflow.tensorflow()
    from clu import metric_writers as clu_writers  # pylint: disable=g-import-not-at-top  (imports TensorFlow)
  except ImportError as error:
    without_tensorflow = error
  else:
    return clu_writers.create_default_writer(logdir, just_logging=just_logging)
  writers: list = [LoggingWriter()]
  if not just_logging:
    if tensorboard_importable():
      logging.info("TensorBoard events through tensorboard's own event writer: clu's needs TensorFlow (%s).",
                   without_tensorflow)
      writers.append(EventFileWriter(logdir))
    else:
      logging.warning(NO_EVENTS_MESSAGE)
  return MultiWriter(writers)


def importable(module: str) -> bool:
  try:
    importlib.import_module(module)
  except ImportError:
    return False
  return True


def tensorboard_importable() -> bool:
  return importable("tensorboard.summary.writer.event_file_writer")


_attention_images: bool | None = None


def attention_images_possible() -> bool:
  """Whether drawing attention images for TensorBoard is worth it here: matplotlib draws them, and TensorBoard events
  can be written (by TensorFlow or by tensorboard). The same answer on every host of a run, whatever its writer (the
  drawing gathers the parameters across hosts first). Says once why not."""
  global _attention_images
  if _attention_images is None:
    reason = None if importable("matplotlib") else (
        "matplotlib, which draws them, is not installed (`pip install matplotlib==VERSION`, the version of "
        "requirements.txt)")
    if reason is None:
      try:
        lazy_tensorflow.tensorflow()  # imported already, by the writer, where it is installed
      except ImportError:
        if not tensorboard_importable():
          reason = "neither TensorFlow nor tensorboard is installed, so no TensorBoard events are written"
    if reason is not None:
      logging.warning(NO_IMAGES_MESSAGE, reason)
    _attention_images = reason is None
  return _attention_images


class LoggingWriter:
  """clu's LoggingWriter without clu: every value to the INFO log, in the same lines."""

  def write_scalars(self, step: int, scalars: Mapping[str, Any]) -> None:
    values = [f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(scalars.items())]
    logging.info("[%d] %s", step, ", ".join(values))

  def write_texts(self, step: int, texts: Mapping[str, str]) -> None:
    logging.info("[%d] Got texts: %s.", step, texts)

  def write_images(self, step: int, images: Mapping[str, np.ndarray]) -> None:
    logging.info("[%d] Got images: %s.", step, {k: np.shape(v) for k, v in images.items()})

  def write_hparams(self, hparams: Mapping[str, Any]) -> None:
    logging.info("[Hyperparameters] %s", hparams)

  def flush(self) -> None:
    logging.flush()

  def close(self) -> None:
    self.flush()


class EventFileWriter:
  """TensorBoard events without TensorFlow: the summaries tf.summary writes (scalars as float32 tensors, text, PNG
  images as [width, height, png...] string tensors, the hparams plugin's session start), through tensorboard's
  event file writer (events.out.tfevents.* in `logdir`, written by a background thread, flushed every 120 s and on
  flush/close)."""

  def __init__(self, logdir: str):
    # pylint: disable=g-import-not-at-top
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.plugins.hparams import summary_v2 as hparams_summary
    from tensorboard.plugins.image import metadata as image_metadata
    from tensorboard.plugins.scalar import summary_v2 as scalar_summary
    from tensorboard.plugins.text import summary_v2 as text_summary
    from tensorboard.summary.writer import event_file_writer
    from tensorboard.util import tensor_util
    # pylint: enable=g-import-not-at-top
    self._event_pb2, self._summary_pb2, self._tensor_util = event_pb2, summary_pb2, tensor_util
    self._hparams_pb, self._scalar_pb, self._text_pb = (hparams_summary.hparams_pb, scalar_summary.scalar_pb,
                                                        text_summary.text_pb)
    self._image_metadata = image_metadata
    self._writer = event_file_writer.EventFileWriter(logdir)

  def _add(self, step: int, summary) -> None:
    self._writer.add_event(self._event_pb2.Event(wall_time=time.time(), step=int(step), summary=summary))

  def write_scalars(self, step: int, scalars: Mapping[str, Any]) -> None:
    summary = self._summary_pb2.Summary()
    for key, value in scalars.items():
      summary.value.extend(self._scalar_pb(key, np.asarray(value, dtype=np.float32)).value)
    self._add(step, summary)

  def write_texts(self, step: int, texts: Mapping[str, str]) -> None:
    summary = self._summary_pb2.Summary()
    for key, value in texts.items():
      summary.value.extend(self._text_pb(key, value).value)
    self._add(step, summary)

  def write_images(self, step: int, images: Mapping[str, np.ndarray]) -> None:
    summary = self._summary_pb2.Summary()
    for key, value in images.items():
      batch = np.asarray(value)
      batch = batch[None] if batch.ndim == 3 else batch  # [count, height, width, channels], like tf.summary.image
      if batch.dtype != np.uint8:  # floats in [0, 1], as tf.image.convert_image_dtype reads them
        batch = np.clip(np.round(batch.astype(np.float64) * 255), 0, 255).astype(np.uint8)
      height, width = batch.shape[1:3]
      tensor = self._tensor_util.make_tensor_proto(
          [str(width).encode(), str(height).encode(), *(png(image) for image in batch)], dtype=np.object_)
      summary.value.add(tag=key, tensor=tensor,
                        metadata=self._image_metadata.create_summary_metadata(display_name=None, description=None))
    self._add(step, summary)

  def write_hparams(self, hparams: Mapping[str, Any]) -> None:
    self._add(0, self._hparams_pb(dict(hparams)))

  def flush(self) -> None:
    self._writer.flush()

  def close(self) -> None:
    self._writer.close()


class MultiWriter:
  """Each call to every writer in turn."""

  def __init__(self, writers: list):
    self.writers = writers

  def write_scalars(self, step: int, scalars: Mapping[str, Any]) -> None:
    for writer in self.writers:
      writer.write_scalars(step, scalars)

  def write_texts(self, step: int, texts: Mapping[str, str]) -> None:
    for writer in self.writers:
      writer.write_texts(step, texts)

  def write_images(self, step: int, images: Mapping[str, np.ndarray]) -> None:
    for writer in self.writers:
      writer.write_images(step, images)

  def write_hparams(self, hparams: Mapping[str, Any]) -> None:
    for writer in self.writers:
      writer.write_hparams(hparams)

  def flush(self) -> None:
    for writer in self.writers:
      writer.flush()

  def close(self) -> None:
    for writer in self.writers:
      writer.close()


def png(image: np.ndarray) -> bytes:
  """A uint8 image [height, width, channels] (1 gray, 3 RGB, 4 RGBA) as PNG bytes, with the standard library only."""
  height, width, channels = image.shape
  color_type = {1: 0, 3: 2, 4: 6}[channels]
  rows = np.concatenate([np.zeros((height, 1), np.uint8), np.ascontiguousarray(image, np.uint8).reshape(height, -1)],
                        axis=1)  # each row after its filter byte 0 (none)

  def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

  return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)) +
          chunk(b"IDAT", zlib.compress(rows.tobytes(), 6)) + chunk(b"IEND", b""))
