"""What several test files share: the tiny-run settings and how to start a command in a subprocess. Not a test
module."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A model and corpus small enough to train a few steps in seconds on a CPU.
TINY_MODEL = dict(embedded_num_train=2000, vocab_size=400, num_layers=1, d_model=32, d_ff=64, num_heads=2)
# A whole tiny run: 12 steps, logs every 4, checkpoints at 6 and 12, one dev evaluation, a short test decoding.
TINY_RUN = dict(TINY_MODEL, num_train_steps=12, log_every_steps=4, eval_every_steps=12, num_dev_bleu_sentences=8,
                checkpoint_every_steps=6, max_decode_length=24, decode_extra_length=4, num_test_sentences=16,
                max_train_seconds=0)


def config_flags(settings: dict) -> list[str]:
  """{"d_model": 32} -> ["--config.d_model=32"]."""
  return [f"--config.{key}={value}" for key, value in settings.items()]


TINY = config_flags(TINY_RUN)


def env(devices: int | None = 2, **variables) -> dict:
  """The environment of a command a test starts: this checkout importable, `devices` forced CPU devices (None: the
  command chooses), plus `variables` (a value of None removes the variable)."""
  result = dict(os.environ, PYTHONPATH=ROOT)
  if devices is None:
    result.pop("XLA_FLAGS", None)
  else:
    result["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
  for name, value in variables.items():
    if value is None:
      result.pop(name, None)
    else:
      result[name] = value
  return result


def run(args: list[str], environment: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
  """`python -m ARGS` from the repository root, output captured as text."""
  return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=environment or env(), capture_output=True,
                        text=True, timeout=600, **kwargs)


def per_step_losses(workdir) -> dict:
  """{step: (train/loss, train/grad_norm)} from a run's train_log.jsonl; a step a resumed run trained again keeps
  its last entry."""
  entries = {}
  for line in open(os.path.join(workdir, "train_log.jsonl")):
    entry = json.loads(line)
    entries[entry["step"]] = (entry["train/loss"], entry["train/grad_norm"])
  return entries
