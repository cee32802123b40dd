"""The run guards: non-finite steps stop the run naming the step, or are skipped and counted."""

import os

import jax.numpy as jnp
import pytest

from transformer_jax import run_guards


class FakeCheckpointer:
  def __init__(self, latest):
    self.latest, self.waited = latest, False

  def wait(self):
    self.waited = True

  def latest_step(self):
    return self.latest


def pending(flags, first_step=11):
  return [(first_step + i, {"finite": jnp.array(ok)}) for i, ok in enumerate(flags)]


def test_stop_policy_names_the_first_bad_step_and_the_last_good_checkpoint():
  saver = FakeCheckpointer(latest=10)
  with pytest.raises(FloatingPointError, match=r"at step 13: .*last good one is step 10.*nonfinite_policy=skip"):
    run_guards.FiniteGuard("stop", saver).check(pending([True, True, False, False]))
  assert saver.waited


def test_skip_policy_counts_each_bad_step_once():
  steps = pending([True, False, True, False])
  guard = run_guards.FiniteGuard("skip", FakeCheckpointer(None))
  assert guard.check(steps) == 2
  assert guard.check(steps) == 0  # already checked
  assert run_guards.FiniteGuard("stop", FakeCheckpointer(None)).check(pending([True, True])) == 0


def test_stopwatch_counts_only_running_time():
  clock = run_guards.Stopwatch()
  assert clock.seconds() == 0.0
  clock.start()
  clock.pause()
  paused_at = clock.seconds()
  assert clock.seconds() == paused_at  # nothing accrues while paused


def test_unusable_workdir_fails_up_front_with_the_fix(tmp_path):
  blocker = tmp_path / "a_file"
  blocker.write_text("not a directory")
  with pytest.raises(OSError, match=r"cannot be written .*Choose another --workdir"):
    run_guards.ensure_writable(str(blocker / "workdir"))
  run_guards.ensure_writable(str(tmp_path / "fine"))
  assert os.listdir(tmp_path / "fine") == []  # the probe file is gone
