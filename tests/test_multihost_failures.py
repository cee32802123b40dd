"""Two training processes on 127.0.0.1 sharing one workdir (the real command, through --coordinator_address), one
CPU device each: what each kind of failure looks like, and that rerunning the same command resumes exactly.

- SIGTERM to one process (a preempted node): both save the same step and exit 0.
- Then SIGKILL of one process (right before a checkpoint write): the survivor exits non-zero within
  peer_timeout_seconds with one line naming the lost process. The relaunch of both finishes with the per-step losses
  and final parameters of an uninterrupted two-process run, bit for bit.
- An exception on one process: every process exits non-zero within seconds, each naming the process and its error.
"""

import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from tests.helpers import ROOT, TINY_MODEL, config_flags, env as command_env, per_step_losses
from tests.test_distributed import free_port

STEPS = 20
PEER_TIMEOUT = 5
SETTINGS = config_flags(dict(TINY_MODEL, num_train_steps=STEPS, log_every_steps=1, eval_every_steps=0,
                             checkpoint_every_steps=2, max_checkpoints_to_keep=3, max_train_seconds=0,
                             dropout_rate=0.1, num_test_sentences=-1, peer_timeout_seconds=PEER_TIMEOUT))
# Raises on process 1 after the step the environment names, inside the real training command.
INJECT = ("import os, runpy, jax\n"
          "from transformer_jax import launch, train\n"
          "step = int(os.environ['FAIL_AFTER_STEP'])\n"
          "write = train.TrainLog.write\n"
          "def failing(self, done, skipped):\n"
          "  write(self, done, skipped)\n"
          "  if done == step and jax.process_index() == 1: raise RuntimeError(f'injected failure after step {done}')\n"
          "train.TrainLog.write = failing\n"
          "runpy.run_module('transformer_jax.main', run_name='__main__')\n")


class TwoProcesses:
  """Both processes of one launch, their logs in `directory`."""

  def __init__(self, directory, workdir, tfds_dir, extra=(), inject_after_step=None):
    self.logs = [directory / f"{workdir.name}.{time.monotonic_ns()}.process{i}.log" for i in range(2)]
    port = free_port()
    environment = command_env(devices=1)
    entry = ["-c", INJECT] if inject_after_step else ["-m", "transformer_jax.main"]
    if inject_after_step:
      environment["FAIL_AFTER_STEP"] = str(inject_after_step)
    command = [sys.executable, *entry, "--config=configs/default.py", f"--workdir={workdir}",
               f"--config.tfds_data_dir={tfds_dir}", *SETTINGS, *extra, f"--coordinator_address=127.0.0.1:{port}",
               "--num_processes=2"]
    self.processes = [subprocess.Popen(command + [f"--process_id={i}"], cwd=ROOT, env=environment,
                                       stdout=open(log, "w"), stderr=subprocess.STDOUT)
                      for i, log in enumerate(self.logs)]

  def log(self, i) -> str:
    return self.logs[i].read_text()

  def wait_for(self, text: str, process: int = 1, timeout: float = 300) -> None:
    deadline = time.time() + timeout
    while text not in self.log(process):
      assert time.time() < deadline and all(p.poll() is None for p in self.processes), self.log(process)[-3000:]
      time.sleep(0.05)

  def wait(self, timeout: float = 300) -> list[int]:
    try:
      return [p.wait(timeout=timeout) for p in self.processes]
    finally:
      for p in self.processes:
        p.kill()


def assert_same_run(workdir, reference):
  want, got = per_step_losses(reference), per_step_losses(workdir)
  assert sorted(got) == sorted(want) == list(range(1, STEPS + 1))
  for step in want:
    assert got[step] == want[step], (step, got[step], want[step])  # exact float equality
  from transformer_jax import workdir as workdir_lib  # pylint: disable=import-outside-toplevel
  for a, b in zip(jax.tree_util.tree_leaves(jax.device_get(workdir_lib.load(str(reference)).params)),
                  jax.tree_util.tree_leaves(jax.device_get(workdir_lib.load(str(workdir)).params))):
    np.testing.assert_array_equal(a, b)


def error_lines(log: str) -> list[str]:
  return [line for line in log.splitlines() if line.startswith("Error: ")]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
  """An uninterrupted two-process run, and the tfds directory every run of this module shares."""
  directory = tmp_path_factory.mktemp("multihost")
  tfds_dir = directory / "tfds"
  run = TwoProcesses(directory, directory / "reference", tfds_dir)
  assert run.wait() == [0, 0], run.log(0)[-3000:] + run.log(1)[-3000:]
  return directory, directory / "reference", tfds_dir


def test_sigterm_then_sigkill_of_one_process_and_relaunches_resume_bit_identically(reference):
  directory, reference_workdir, tfds_dir = reference
  workdir = directory / "interrupted"
  # SIGTERM (a preempted node): both processes save the same step and exit 0.
  run = TwoProcesses(directory, workdir, tfds_dir)
  run.wait_for("step 5/")
  run.processes[1].send_signal(signal.SIGTERM)
  assert run.wait() == [0, 0], run.log(0)[-3000:] + run.log(1)[-3000:]
  stopped = [next(line for line in run.log(i).splitlines() if "Stopped by" in line) for i in range(2)]
  assert "Stopped by SIGTERM after step" in stopped[1] and "Stopped by a stop signal to another host" in stopped[0]
  steps = [int(line.split("after step ")[1].split(";")[0]) for line in stopped]
  assert steps[0] == steps[1] < STEPS
  assert str(steps[0]) in os.listdir(workdir / "checkpoints")

  # SIGKILL (a lost node), right before the step-16 checkpoint is written: the survivor stops within the timeout.
  run = TwoProcesses(directory, workdir, tfds_dir)
  run.wait_for(f"Resumed from the checkpoint at step {steps[0]}", process=0)
  run.wait_for("step 15/")
  run.processes[1].send_signal(signal.SIGKILL)
  killed_at = time.monotonic()
  assert run.processes[0].wait(timeout=PEER_TIMEOUT + 60) != 0
  assert time.monotonic() - killed_at < PEER_TIMEOUT + 5
  lines = error_lines(run.log(0))
  assert len(lines) == 1 and lines[0].startswith("Error: process 1 was lost"), run.log(0)[-3000:]
  assert "rerun the same command on every host" in lines[0]
  run.wait()

  relaunch = TwoProcesses(directory, workdir, tfds_dir)
  assert relaunch.wait() == [0, 0], relaunch.log(0)[-3000:] + relaunch.log(1)[-3000:]
  assert "Resumed from the checkpoint at step" in relaunch.log(0)
  assert_same_run(workdir, reference_workdir)


def test_an_exception_on_one_process_ends_every_process_within_seconds(reference):
  directory, _, tfds_dir = reference
  run = TwoProcesses(directory, directory / "exception", tfds_dir, inject_after_step=6)
  run.wait_for("injected failure after step 6")
  failed_at = time.monotonic()
  codes = run.wait(timeout=60)
  assert time.monotonic() - failed_at < 30
  assert codes[0] != 0 and codes[1] != 0
  for i in range(2):
    lines = error_lines(run.log(i))
    assert len(lines) == 1, run.log(i)[-3000:]
    assert lines[0].startswith("Error: process 1 failed: RuntimeError: injected failure after step 6")
  assert "Traceback" in run.log(1)  # not a user's mistake: the failing process keeps its traceback
