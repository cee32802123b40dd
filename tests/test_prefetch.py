"""Input prefetch: the same batches in the same order, made ahead on another thread, errors raised at their step."""

import threading
import time

import jax
import numpy as np
import pytest

from transformer_jax import sharding, train_step
from transformer_jax.data import batching, prefetch


def wait_until(condition, timeout_s=30.0):
  deadline = time.monotonic() + timeout_s
  while not condition():
    assert time.monotonic() < deadline, "condition not reached"
    time.sleep(0.01)


def test_steps_come_in_order_made_ahead_on_another_thread_and_no_further_than_the_depth():
  made, threads = [], set()

  def make(step):
    made.append(step)
    threads.add(threading.current_thread().name)
    return {"step": step}

  with prefetch.Prefetcher(make, start=5, stop=40, depth=2) as batches:
    assert batches.get(5) == {"step": 5}
    wait_until(lambda: len(made) >= 4)  # 6 and 7 wait in the queue; 8 is made and waits for room
    time.sleep(0.3)  # room for a (wrong) thread to run further ahead
    assert made == [5, 6, 7, 8]
    assert [batches.get(step)["step"] for step in range(6, 40)] == list(range(6, 40))
  assert threads == {"input-prefetch"}
  assert made == list(range(5, 40))


def test_a_failing_batch_is_raised_at_its_step_and_out_of_order_reads_are_refused():
  def make(step):
    if step == 3:
      raise RuntimeError("bad batch 3")
    return step

  batches = prefetch.Prefetcher(make, start=0, stop=10)
  with pytest.raises(ValueError, match="step 2 asked, but the next prefetched step is 0"):
    batches.get(2)
  assert [batches.get(step) for step in range(3)] == [0, 1, 2]
  with pytest.raises(RuntimeError, match="bad batch 3"):
    batches.get(3)
  batches.close()


def test_close_stops_a_thread_that_waits_for_room():
  batches = prefetch.Prefetcher(lambda step: step, start=0, stop=10 ** 9)
  wait_until(lambda: batches._ready.full())
  batches.close()
  assert not batches._thread.is_alive()


def test_prefetched_global_batches_equal_the_batches_placed_directly():
  """On the 8-device mesh, as the training loop uses it: same arrays, same sharding, bit for bit."""
  rng = np.random.default_rng(0)
  sources = [list(rng.integers(3, 50, size=rng.integers(1, 30))) + [1] for _ in range(400)]
  targets = [list(rng.integers(3, 50, size=rng.integers(1, 30))) + [1] for _ in range(400)]
  mesh = sharding.make_mesh()
  batcher = batching.BucketedBatcher(sources, targets, bucket_lengths=(8, 16, 32), tokens_per_batch=512, seed=1,
                                     row_multiple=mesh.devices.size)
  place = lambda step: train_step.put_batch(batcher.batch_at(step), mesh)
  with prefetch.Prefetcher(place, start=7, stop=30) as batches:
    for step in range(7, 30):
      got, want = batches.get(step), place(step)
      assert got.keys() == want.keys()
      for key in want:
        assert got[key].sharding == want[key].sharding
        np.testing.assert_array_equal(jax.device_get(got[key]), jax.device_get(want[key]))
