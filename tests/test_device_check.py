"""The device check, end to end on the CPU with a tiny workload: every part runs (PyTorch included) or says why."""

import json
import os
import subprocess
import sys

import numpy as np

from benchmarks import device_check
from transformer_jax import flops

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_import_leaves_out_what_the_device_machine_lacks():
  code = ("import sys, benchmarks.device_check; "
          "print([m for m in ('tensorflow', 'tensorflow_datasets', 'clu', 'ml_collections', 'sentencepiece') "
          "if m in sys.modules])")
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
  assert out.stdout.strip().splitlines()[-1] == "[]"


def test_tiny_run_measures_every_part_and_writes_one_json(tmp_path):
  """The command a user types; XLA's backend optimisations are off to halve the compile time on 2 cores."""
  output = tmp_path / "check.json"
  env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS="--xla_backend_optimization_level=0 "
             "--xla_llvm_disable_expensive_passes=true")
  run = subprocess.run([sys.executable, "-m", "benchmarks.device_check", "--workloads=tiny", "--steps=2",
                        "--warmup=1", "--torch_compile=false", "--time_budget_s=3000", f"--output={output}"],
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
  packed = tiny["train"][device_check.PACKED]  # the paper configs' path: packed rows of the longest length
  assert packed["packed_rows"] and packed["target_tokens_per_s"] > 0 and np.isfinite(packed["final_loss"])
  assert packed["batch_shape"] == [tiny["batches"]["packed_rows"]["rows"], device_check.WORKLOADS["tiny"].max_length]
  packed_tokens = (packed["real_source_tokens_per_step"] + packed["real_target_tokens_per_step"]) / 2
  assert 0.7 * budget < packed_tokens < 1.3 * budget
  assert device_check.PACKED not in report["attention_check"]
  assert tiny["decode"]["target_tokens_per_s"] > 0 and tiny["decode"]["sentences_per_s"] > 0
  check = report["attention_check"]["xla"]
  assert check["all_finite"] and check["logits_relative_error"] < 1e-2 and check["grads_relative_error"] < 1e-2
  if report["platform"] == "cpu":  # cuDNN is absent: the part records its error and the run goes on
    assert "error" in tiny["train"]["cudnn"] and "error" in report["attention_check"]["cudnn"]


def test_pair_lengths_count_each_sentence_of_a_packed_row():
  batch = {"source_segments": np.array([[1, 1, 1, 2, 2, 0], [1, 1, 0, 0, 0, 0], [0] * 6]),
           "target_segments": np.array([[1, 2, 2, 2, 0, 0], [1, 1, 1, 1, 1, 0], [0] * 6])}
  sources, targets = flops.pair_lengths(batch)
  assert sources.tolist() == [3, 2, 2] and targets.tolist() == [1, 3, 5]


def test_the_table_reports_skipped_and_failed_parts():
  skipped = {"skipped": "time budget of 400 s spent"}
  report = {"workloads": {"base": {"train": {"xla": skipped, "cudnn": {"error": "XlaRuntimeError: no cuDNN"}},
                                   "torch": skipped, "decode": skipped}},
            "attention_check": {"xla": skipped, "cudnn": {"error": "XlaRuntimeError: no cuDNN"}}}
  text = device_check.table(report)
  assert text.count("time budget of 400 s spent") == 3 and text.count("no cuDNN") == 2


def test_default_output_is_named_for_the_device_and_date():
  path = device_check.default_output("NVIDIA H200")
  assert path.startswith(os.path.join("docs", "results", "nvidia_h200_")) and path.endswith(".json")


def test_the_pytorch_reference_computes_our_transformer():
  """With our weights copied in, PyTorch's loss and its gradient for the embedding equal ours (float32, no dropout)."""
  import dataclasses

  import flax.linen as nn
  import jax
  import torch

  from transformer_jax import losses
  from transformer_jax.data import batching
  from transformer_jax.model import Transformer

  workload = device_check.WORKLOADS["tiny"]
  sources, targets = device_check.synthetic_corpus(workload, seed=1)
  batcher = batching.BucketedBatcher(sources, targets, bucket_lengths=(32,), tokens_per_batch=0, seed=1,
                                     real_tokens_per_batch=256, bucket_count=3)
  batch = batcher.batch_at(0)
  cfg = device_check.model_config(workload, "naive")
  model = Transformer(dataclasses.replace(cfg, dtype="float32"))
  # Jitted: op by op, JAX would compile each operation's kernel on its own, several times slower on 2 cores.
  params = nn.unbox(jax.jit(model.init)(jax.random.PRNGKey(3), batch["source"], batch["decoder_inputs"],
                                        batch["targets"])["params"])
  valid = batch["targets"] > 0

  def our_loss(p):
    logits = model.apply({"params": p}, batch["source"], batch["decoder_inputs"], batch["targets"])
    return (losses.token_losses(logits, batch["targets"], 0.1)[0] * valid).sum() / valid.sum()

  want, want_grads = jax.jit(jax.value_and_grad(our_loss))(params)
  reference = device_check.torch_transformer(workload, "cpu").eval()
  device_check.load_our_params(reference, params)
  got = reference(*(torch.from_numpy(batch[k].astype(np.int64)) for k in ("source", "decoder_inputs", "targets")))
  got.backward()
  np.testing.assert_allclose(float(got.detach()), float(want), rtol=1e-5)
  np.testing.assert_allclose(reference.embedding.weight.grad.numpy(),
                             np.asarray(want_grads["embedder"]["token_embedding"]["embedding"]), rtol=1e-3, atol=1e-6)
