"""Two training processes on 127.0.0.1 (the real command, through --coordinator_address): SIGTERM sent to one of
them stops both at the same step, with one complete checkpoint at that step, and both exit cleanly."""

import os
import signal
import subprocess
import sys
import time

from tests.test_distributed import free_port
from tests.helpers import ROOT, TINY, env as command_env


def test_sigterm_to_one_host_stops_every_host_at_the_same_step(tmp_path):
  port = free_port()
  env = command_env(devices=1)
  overrides = [o for o in TINY if not o.startswith(("--config.num_train_steps", "--config.eval_every_steps",
                                                    "--config.checkpoint_every_steps"))]
  command = [sys.executable, "-m", "transformer_jax.main", "--config=configs/default.py",
             f"--workdir={tmp_path / 'workdir'}", f"--config.tfds_data_dir={tmp_path / 'tfds'}", *overrides,
             "--config.num_train_steps=100000", "--config.eval_every_steps=0", "--config.checkpoint_every_steps=100000",
             f"--coordinator_address=127.0.0.1:{port}", "--num_processes=2"]
  logs = [open(tmp_path / f"process{i}.log", "w+") for i in range(2)]
  hosts = [subprocess.Popen(command + [f"--process_id={i}"], cwd=ROOT, env=env, stdout=logs[i], stderr=logs[i])
           for i in range(2)]
  try:
    deadline = time.time() + 300
    while "step 8/" not in (tmp_path / "process1.log").read_text():  # training is under way on both
      assert time.time() < deadline and all(h.poll() is None for h in hosts), (tmp_path / "process1.log").read_text()
      time.sleep(0.5)
    hosts[1].send_signal(signal.SIGTERM)
    for host in hosts:
      host.wait(timeout=300)
  finally:
    for host in hosts:
      host.kill()
  outputs = [(tmp_path / f"process{i}.log").read_text() for i in range(2)]
  assert [h.returncode for h in hosts] == [0, 0], outputs[0][-2000:] + outputs[1][-2000:]
  stopped = [next(line for line in out.splitlines() if "Stopped by" in line) for out in outputs]
  assert "Stopped by SIGTERM after step" in stopped[1] and "Stopped by a stop signal to another host" in stopped[0]
  steps = [int(line.split("after step ")[1].split(";")[0]) for line in stopped]
  assert steps[0] == steps[1] and steps[0] % 4 == 0  # agreed at a log step (log_every_steps=4)
  assert os.listdir(tmp_path / "workdir" / "checkpoints") == [str(steps[0])]
