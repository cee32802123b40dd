"""Two training processes on 127.0.0.1 sharing one workdir, interrupted over and over, then finished: the run must
end with the per-step losses and parameters of an uninterrupted two-process run, and no launch may fail on a file
another process was writing (the failure this loop exists to catch: a JSONDecodeError on batch_settings.json).

  python experiments/multihost_relaunch_loop.py --relaunches=20 --output=experiments/results/multihost_relaunch_loop

Each launch is stopped at a random moment (0.5 to 25 s after its start: in set-up, while compiling, between steps,
or while a checkpoint is written) by SIGKILL or SIGTERM to a random process. What every launch ended with is written
to OUTPUT/launches.jsonl, the summary to OUTPUT/summary.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS = 1500
SETTINGS = dict(embedded_num_train=2000, vocab_size=400, num_layers=1, d_model=32, d_ff=64, num_heads=2,
                num_train_steps=STEPS, log_every_steps=1, eval_every_steps=0, checkpoint_every_steps=5,
                max_checkpoints_to_keep=3, dropout_rate=0.1, num_test_sentences=-1, peer_timeout_seconds=5)


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def launch(workdir: str, tfds_dir: str, log_prefix: str) -> tuple[list[subprocess.Popen], list[str]]:
  environment = dict(os.environ, PYTHONPATH=ROOT, XLA_FLAGS="--xla_force_host_platform_device_count=1",
                     JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="2")
  command = [sys.executable, "-m", "transformer_jax.main", "--config=configs/default.py", f"--workdir={workdir}",
             f"--config.tfds_data_dir={tfds_dir}", *[f"--config.{k}={v}" for k, v in SETTINGS.items()],
             f"--coordinator_address=127.0.0.1:{_free_port()}", "--num_processes=2"]
  logs = [f"{log_prefix}.process{i}.log" for i in range(2)]
  processes = [subprocess.Popen(command + [f"--process_id={i}"], cwd=ROOT, env=environment, stdout=open(log, "w"),
                                stderr=subprocess.STDOUT) for i, log in enumerate(logs)]
  return processes, logs


def finish(processes, timeout=600) -> list[int]:
  try:
    return [p.wait(timeout=timeout) for p in processes]
  finally:
    for p in processes:
      p.kill()


def losses(workdir: str) -> dict:
  entries = {}
  for line in open(os.path.join(workdir, "train_log.jsonl")):
    entry = json.loads(line)
    entries[entry["step"]] = [entry["train/loss"], entry["train/grad_norm"]]
  return entries


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--relaunches", type=int, default=20)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--output", default="experiments/results/multihost_relaunch_loop")
  args = parser.parse_args()
  rng = random.Random(args.seed)
  scratch = tempfile.mkdtemp(prefix="relaunch_loop_")
  tfds_dir = os.path.join(scratch, "tfds")
  os.makedirs(args.output, exist_ok=True)
  record = open(os.path.join(args.output, "launches.jsonl"), "w")

  reference = os.path.join(scratch, "reference")
  codes = finish(launch(reference, tfds_dir, reference)[0])
  assert codes == [0, 0], f"the uninterrupted run failed: {codes}"

  workdir = os.path.join(scratch, "interrupted")
  started = time.monotonic()
  file_errors = 0
  for relaunch in range(args.relaunches):
    processes, logs = launch(workdir, tfds_dir, os.path.join(scratch, f"launch{relaunch}"))
    delay, victim = rng.uniform(0.5, 25.0), rng.randrange(2)
    how = rng.choice([signal.SIGKILL, signal.SIGTERM])
    time.sleep(delay)
    if processes[victim].poll() is None:
      processes[victim].send_signal(how)
    codes = finish(processes)
    texts = [open(log).read() for log in logs]
    errors = [[line for line in text.splitlines() if line.startswith("Error: ")] for text in texts]
    half_written = [text.count("JSONDecodeError") + text.count("Expecting value") for text in texts]
    file_errors += sum(half_written)
    resumed = [line.split("at step ")[1].rstrip(".") for line in texts[0].splitlines() if "Resumed from" in line]
    entry = {"launch": relaunch, "signal": signal.Signals(how).name, "process": victim, "after_s": round(delay, 2),
             "exit_codes": codes, "resumed_from": resumed[0] if resumed else None, "error_lines": errors,
             "half_written_reads": half_written}
    record.write(json.dumps(entry) + "\n")
    record.flush()
    print(json.dumps(entry), flush=True)

  codes = finish(launch(workdir, tfds_dir, os.path.join(scratch, "final"))[0])
  want, got = losses(reference), losses(workdir)
  summary = {"relaunches": args.relaunches, "final_exit_codes": codes, "steps": STEPS,
             "same_per_step_losses": got == want, "half_written_reads": file_errors,
             "wall_seconds": round(time.monotonic() - started, 1)}
  if codes == [0, 0]:
    import jax  # pylint: disable=import-outside-toplevel
    import numpy as np  # pylint: disable=import-outside-toplevel
    sys.path.insert(0, ROOT)
    from transformer_jax import workdir as workdir_lib  # pylint: disable=import-outside-toplevel
    summary["same_final_parameters"] = all(
        np.array_equal(a, b) for a, b in zip(jax.tree_util.tree_leaves(workdir_lib.load(reference).params),
                                             jax.tree_util.tree_leaves(workdir_lib.load(workdir).params)))
  with open(os.path.join(args.output, "summary.json"), "w") as f:
    json.dump(summary, f, indent=2)
  print(json.dumps(summary, indent=2))


if __name__ == "__main__":
  main()
