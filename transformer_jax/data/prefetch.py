"""Input prefetch: batches k+1 and k+2 are built and placed on the devices on a background thread while step k runs.

The batches stay a pure function of the step (the thread calls `build(step)` for the steps in order, exactly as
the loop would), so prefetching changes when a batch is made, never which: resume is unchanged. Each process
builds its own rows and `place` (e.g. train_step.put_batch, which assembles the global array from every process's
local rows) puts them on its devices: no collective runs on the thread, so many hosts prefetch independently.

  with Prefetcher(lambda step: put_batch(batcher.batch_at(step), mesh), start, stop) as batches:
    for step in range(start, stop):
      batch = batches.get(step)   # batches.last_wait_s: how long this step waited for it
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Callable

DEPTH = 2  # batches made ahead of the step that runs: k+1 and k+2
_POLL_S = 0.1  # how often a blocked thread looks whether it was closed


class Prefetcher:
  """Makes make(step) for step = start, start + 1, ..., stop - 1 on one thread, at most `depth` ahead of get()."""

  def __init__(self, make: Callable[[int], object], start: int, stop: int, depth: int = DEPTH):
    if depth < 1:
      raise ValueError(f"prefetch depth={depth}: must be >= 1")
    self._make, self._next_step, self._stop_step = make, start, stop
    self._ready: queue.Queue = queue.Queue(maxsize=depth)
    self._closed = threading.Event()
    self.last_wait_s = 0.0
    self._thread = threading.Thread(target=self._run, args=(start, stop), name="input-prefetch", daemon=True)
    self._thread.start()

  def _put(self, item) -> bool:
    while not self._closed.is_set():
      try:
        self._ready.put(item, timeout=_POLL_S)
        return True
      except queue.Full:
        continue
    return False

  def _run(self, start: int, stop: int) -> None:
    for step in range(start, stop):
      if self._closed.is_set():
        return
      try:
        item = (step, self._make(step), None)
      except BaseException as error:  # pylint: disable=broad-except
        self._put((step, None, error))  # raised by get(step) in the loop's thread
        return
      if not self._put(item):
        return

  def get(self, step: int):
    """The batch of `step`, which must be the next one; raises what making it raised."""
    if step != self._next_step or step >= self._stop_step:
      raise ValueError(f"prefetch: step {step} asked, but the next prefetched step is {self._next_step} (steps "
                       f"must be read in order, below {self._stop_step})")
    started = time.perf_counter()
    made_step, batch, error = self._ready.get()
    self.last_wait_s = time.perf_counter() - started
    assert made_step == step, (made_step, step)
    self._next_step += 1
    if error is not None:
      raise error
    return batch

  def close(self) -> None:
    """Stops the thread (it may be waiting for room, or making one more batch) and drops what it made."""
    self._closed.set()
    self._thread.join()
    while not self._ready.empty():
      self._ready.get_nowait()

  def __enter__(self) -> "Prefetcher":
    return self

  def __exit__(self, *exc) -> None:
    self.close()
