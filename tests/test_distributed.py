"""Two processes on 127.0.0.1 (2 CPU devices each, gloo collectives) train exactly as one process does."""

import json
import os
import socket
import subprocess
import sys

import pytest

from tests import multihost_worker
from tests.helpers import ROOT, env as command_env
from transformer_jax import distributed


def free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def test_two_processes_equal_one_process(tmp_path):
  port = free_port()
  env = command_env(devices=None)  # the worker forces its own 2 devices
  workers = [subprocess.Popen([sys.executable, os.path.join(ROOT, "tests", "multihost_worker.py"), str(i), "2",
                               str(port), str(tmp_path / f"{i}.json")], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for i in range(2)]
  try:
    one = multihost_worker.train((1, 1, 1))  # meanwhile: the same global batches in one process, on one device
    outputs = [w.communicate(timeout=300)[0] for w in workers]
  finally:
    for w in workers:
      w.kill()
  for w, output in zip(workers, outputs):
    assert w.returncode == 0, output[-3000:]
  two = [json.load(open(tmp_path / f"{i}.json")) for i in range(2)]
  assert two[0] == two[1]  # every process sees the same global metrics
  for got, want in zip(two[0], one):
    assert got["tokens"] == want["tokens"]
    assert got["loss_sum"] == pytest.approx(want["loss_sum"], rel=1e-5)
    assert got["grad_norm"] == pytest.approx(want["grad_norm"], rel=1e-4)


@pytest.mark.parametrize("mode,coordinator,environment,expected", [
    ("auto", None, {}, False),
    ("auto", "10.0.0.1:1234", {}, True),
    ("auto", None, {"SLURM_NTASKS": "1"}, False),
    ("auto", None, {"SLURM_NTASKS": "16"}, True),
    ("auto", None, {"JAX_COORDINATOR_ADDRESS": "10.0.0.1:1234"}, True),
    ("on", None, {}, True),
    ("off", "10.0.0.1:1234", {"SLURM_NTASKS": "16"}, False),
])
def test_single_process_runs_do_not_initialize(monkeypatch, mode, coordinator, environment, expected):
  for name in ("SLURM_NTASKS", "OMPI_COMM_WORLD_SIZE", "JAX_COORDINATOR_ADDRESS"):
    monkeypatch.delenv(name, raising=False)
  for name, value in environment.items():
    monkeypatch.setenv(name, value)
  assert distributed.wanted(mode, coordinator) == expected
