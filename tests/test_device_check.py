"""The device check, end to end on the CPU with a tiny workload: every part runs (PyTorch included) or says why."""

import json
import os
import subprocess
import sys

import numpy as np

from transformer_jax import device_check

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_import_leaves_out_what_the_device_machine_lacks():
  code = ("import sys, transformer_jax.device_check; "
          "print([m for m in ('tensorflow', 'tensorflow_datasets', 'clu', 'ml_collections', 'sentencepiece') "
          "if m in sys.modules])")
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
  assert out.stdout.strip().splitlines()[-1] == "[]"


def test_tiny_run_measures_every_part_and_writes_one_json(tmp_path):
  """The command a user types; XLA's backend optimisations are off to halve the compile time on 2 cores."""
  output = tmp_path / "check.json"
  env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS="--xla_backend_optimization_level=0 "
             "--xla_llvm_disable_expensive_passes=true")
  run = subprocess.run([sys.executable, "-m", "transformer_jax.device_check", "--workloads=tiny", "--steps=2",
                        "--warmup=1", "--torch_compile=false", f"--output={output}"],
                       capture_output=True, text=True, env=env, cwd=ROOT, timeout=1200)
  assert run.returncode == 0, run.stderr[-3000:]
  assert "ours / torch" in run.stderr  # the table
  report = json.loads(output.read_text())
  assert report["versions"]["jax"] and report["versions"]["torch"] and report["device_kind"]
  tiny = report["workloads"]["tiny"]
  ours, torch = tiny["train"]["xla"], tiny["torch"]
  # The same architecture on both sides: PyTorch's parameter count equals ours.
  assert torch["parameters"] == ours["parameters"]
  for result in (ours, torch):
    assert result["target_tokens_per_s"] > 0 and np.isfinite(result["final_loss"])
  budget = device_check.WORKLOADS["tiny"].real_tokens_per_batch
  assert 0.7 * budget < (ours["real_source_tokens_per_step"] + ours["real_target_tokens_per_step"]) / 2 < 1.3 * budget
  assert ours["input_wait_after_warmup"]["mean_ms"] >= 0
  assert len(tiny["batches"]["buckets"]) <= device_check.WORKLOADS["tiny"].bucket_count
  assert tiny["decode"]["target_tokens_per_s"] > 0 and tiny["decode"]["sentences_per_s"] > 0
  check = report["attention_check"]["xla"]
  assert check["all_finite"] and check["logits_relative_error"] < 1e-2 and check["grads_relative_error"] < 1e-2
  if report["platform"] == "cpu":  # cuDNN is absent: the part records its error and the run goes on
    assert "error" in tiny["train"]["cudnn"] and "error" in report["attention_check"]["cudnn"]


def test_default_output_is_named_for_the_device_and_date():
  path = device_check.default_output("NVIDIA H200")
  assert path.startswith(os.path.join("docs", "results", "nvidia_h200_")) and path.endswith(".json")
