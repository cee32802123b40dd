"""What keeps a run from being lost: non-finite steps, stop signals, an unusable workdir, and the training clock."""

from __future__ import annotations

import os
import signal
import time

import jax
from absl import logging

from transformer_jax import checkpoint
from transformer_jax.errors import DivergedError, WorkdirError


class FiniteGuard:
  """Looks at the `finite` flags of (step, metrics) pairs not yet checked, fetching only those: stops the run at
  the first non-finite step (policy "stop") or counts it as skipped (policy "skip"). Each step is checked once."""

  def __init__(self, policy: str, checkpointer: checkpoint.Checkpointer):
    self.policy, self.checkpointer = policy, checkpointer
    self.checked_through = -1  # the last step whose flag was looked at
    self.skipped = 0

  def check(self, pending: list) -> int:
    """Returns how many of the unchecked steps were skipped (non-finite under "skip")."""
    unchecked = [(step, m["finite"]) for step, m in pending if step > self.checked_through]
    if not unchecked:
      return 0
    flags = jax.device_get([flag for _, flag in unchecked])
    self.checked_through = unchecked[-1][0]
    bad_steps = [step for (step, _), ok in zip(unchecked, flags) if not ok]
    if bad_steps and self.policy == "stop":
      self.checkpointer.wait()  # let a save in flight (of an earlier, good step) complete before stopping
      last_checkpoint = self.checkpointer.latest_step()
      raise DivergedError(
          f"Non-finite loss or gradient norm at step {bad_steps[0]}: its update was not applied and no checkpoint "
          f"was written after it (the last good one is step {last_checkpoint}). Lower learning_rate_scale or raise "
          "warmup_steps, check the data, or set --config.nonfinite_policy=skip to skip such steps.")
    for step in bad_steps:
      logging.warning("Non-finite loss or gradient norm at step %d: update skipped (nonfinite_policy=skip).", step)
    self.skipped += len(bad_steps)
    return len(bad_steps)


def ensure_writable(workdir: str) -> None:
  """Fails before any work if the workdir cannot be created or written, rather than at the first checkpoint."""
  try:
    os.makedirs(workdir, exist_ok=True)
    probe = os.path.join(workdir, f".write_test.{os.getpid()}")
    with open(probe, "w") as f:
      f.write("ok")
    os.remove(probe)
  except OSError as error:
    raise WorkdirError(f"workdir {workdir!r} cannot be written ({type(error).__name__}: {error.strerror}). Choose "
                  "another --workdir, or fix its permissions or free space.") from error


class StopSignal:
  """SIGTERM/SIGINT ask the loop to finish its step, save and exit; a second signal exits at once."""

  def __init__(self):
    self.received = None
    self._previous = {sig: signal.signal(sig, self._handle) for sig in (signal.SIGTERM, signal.SIGINT)}

  def _handle(self, signum, frame):
    del frame
    self.received = signal.Signals(signum).name
    logging.warning("%s received: finishing the current step, then saving and exiting (send again to abort).",
                    self.received)
    self.restore()

  def restore(self) -> None:
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)

  def __enter__(self) -> "StopSignal":
    return self

  def __exit__(self, *exc) -> None:
    self.restore()


class Stopwatch:
  """Accumulates time between start() and pause()."""

  def __init__(self):
    self._total, self._since = 0.0, None

  def start(self) -> None:
    self._since = time.perf_counter()

  def pause(self) -> None:
    self._total, self._since = self.seconds(), None

  def seconds(self) -> float:
    return self._total + (time.perf_counter() - self._since if self._since is not None else 0.0)
