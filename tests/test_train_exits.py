"""However the training loop ends, what it opened is closed: the TensorBoard writer, the checkpointer (its save in
flight finished), the input prefetch thread and the stop-signal handlers."""

import os
import signal
import threading

import pytest

from configs import default
from helpers import TINY_RUN
from transformer_jax import checkpoint, train, workdir as workdir_lib
from transformer_jax.errors import DivergedError


def test_resources_are_closed_when_the_loop_raises(tmp_path, monkeypatch):
  config = default.get_config()
  config.update(TINY_RUN, num_train_steps=12, checkpoint_every_steps=6, eval_every_steps=6,
                tfds_data_dir=str(tmp_path / "tfds"))
  closed = []

  def recording_writer(*args, **kwargs):
    writer = create_writer(*args, **kwargs)
    close = writer.close
    writer.close = lambda: (closed.append("writer"), close())[1]
    return writer

  create_writer = train.metric_writers.create_default_writer
  monkeypatch.setattr(train.metric_writers, "create_default_writer", recording_writer)
  close_checkpointer = checkpoint.Checkpointer.close
  monkeypatch.setattr(checkpoint.Checkpointer, "close",
                      lambda self: (closed.append(("checkpointer", os.listdir(self.directory))),
                                    close_checkpointer(self))[1])

  def diverging_evaluation(*args, **kwargs):
    raise DivergedError("the loss diverged")  # at step 6: its checkpoint is being written in the background

  monkeypatch.setattr(train, "evaluate_dev", diverging_evaluation)
  sigterm_handler = signal.getsignal(signal.SIGTERM)
  workdir = str(tmp_path / "run")
  with pytest.raises(DivergedError, match="diverged"):
    train.train_and_evaluate(config, workdir)

  # The checkpointer closes first (it was opened last), after the save of step 6 was finished.
  assert closed == [("checkpointer", ["6"]), "writer"]
  assert signal.getsignal(signal.SIGTERM) is sigterm_handler
  assert not [thread for thread in threading.enumerate() if thread.name == "input-prefetch" and thread.is_alive()]
  restored = workdir_lib.load(workdir)  # the step-6 checkpoint reads back whole
  assert restored.params is not None
  manager = workdir_lib.checkpointer(workdir)
  assert sorted(manager.manager.all_steps()) == [6]
  manager.close()
