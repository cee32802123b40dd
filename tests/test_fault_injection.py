"""Kill -9 at three moments (one while a checkpoint is being written), resume each time with the same command:
the per-step losses and the final parameters equal those of an uninterrupted run, bit for bit (CPU)."""

import signal
import subprocess
import sys

import jax
import numpy as np

from helpers import ROOT, TINY_MODEL, config_flags, env, per_step_losses

STEPS = 14
SETTINGS = config_flags(dict(TINY_MODEL, num_train_steps=STEPS, log_every_steps=1, eval_every_steps=0,
                             checkpoint_every_steps=3, max_checkpoints_to_keep=2, max_train_seconds=0,
                             dropout_rate=0.1, max_decode_length=16, decode_extra_length=2, num_test_sentences=4))


def command(workdir, tfds_dir):
  return [sys.executable, "-m", "transformer_jax.main", "--config=configs/default.py", f"--workdir={workdir}",
          f"--config.tfds_data_dir={tfds_dir}", *SETTINGS]


ENV = env()


def run_to_end(workdir, tfds_dir):
  result = subprocess.run(command(workdir, tfds_dir), cwd=ROOT, env=ENV, capture_output=True, text=True,
                          timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  return result.stderr


def run_and_kill(workdir, tfds_dir, trigger):
  """Starts the run and SIGKILLs it as soon as a log line contains `trigger`."""
  process = subprocess.Popen(command(workdir, tfds_dir), cwd=ROOT, env=ENV, stderr=subprocess.PIPE, text=True)
  for line in process.stderr:
    if trigger in line:
      process.send_signal(signal.SIGKILL)
      break
  process.wait(timeout=600)
  assert process.returncode == -signal.SIGKILL, f"the run ended before '{trigger}'"


def final_params(workdir):
  from transformer_jax import workdir as workdir_lib
  return jax.device_get(workdir_lib.load(workdir).params)


def test_kill_minus_nine_resumes_bit_identically(tmp_path):
  tfds_dir = tmp_path / "tfds"
  reference = tmp_path / "reference"
  run_to_end(reference, tfds_dir)

  interrupted = tmp_path / "interrupted"
  run_and_kill(interrupted, tfds_dir, "step 2/")  # before any checkpoint: restarts from scratch
  run_and_kill(interrupted, tfds_dir, "step 6/")  # step 6 is saved right after this line: mid-write
  run_and_kill(interrupted, tfds_dir, "step 10/")
  log = run_to_end(interrupted, tfds_dir)
  assert "Resumed from the checkpoint at step" in log

  want, got = per_step_losses(reference), per_step_losses(interrupted)
  assert sorted(got) == sorted(want) == list(range(1, STEPS + 1))
  for step in want:
    assert got[step] == want[step], (step, got[step], want[step])  # exact float equality
  for a, b in zip(jax.tree_util.tree_leaves(final_params(reference)),
                  jax.tree_util.tree_leaves(final_params(interrupted))):
    np.testing.assert_array_equal(a, b)
