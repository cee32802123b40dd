"""The device check: the whole prepared command end to end on the CPU at tiny sizes (every part, the files it writes,
their statuses and thresholds), part (b) refused cleanly without Multi30k, and its pieces."""

import gzip
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from benchmarks import attention_check, device_check, multi30k_check, throughput_check
from test_without_tensorflow import HIDE_MODULES
from transformer_jax import flops
from transformer_jax.data import embedded

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FILES = {"train": "train", "validation": "val", "test": "test_2016_flickr"}


def write_multi30k_like(directory) -> None:
  """A tiny corpus in Multi30k's layout: train/val/test_2016_flickr.{en,de}.gz."""
  splits = embedded.make_splits(seed=3, num_train=300, num_validation=8, num_test=4)
  os.makedirs(directory, exist_ok=True)
  for split, pairs in splits.items():
    for column, lang in enumerate(("en", "de")):
      with gzip.open(os.path.join(directory, f"{FILES[split]}.{lang}.gz"), "wt", encoding="utf-8") as f:
        f.write("".join(pair[column] + "\n" for pair in pairs))


def check_env(tmp_path) -> dict:
  """The CPU, XLA's backend optimisations off (half the compile time on 2 cores), and TensorFlow, tfds and
  matplotlib unimportable, as on an accelerator machine with JAX only (and no attention images to draw)."""
  hide = tmp_path / "hide_modules"
  hide.mkdir(exist_ok=True)
  (hide / "sitecustomize.py").write_text(HIDE_MODULES.format(hidden={"tensorflow", "tensorflow_datasets",
                                                                      "matplotlib"}))
  return dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=os.pathsep.join([str(hide), ROOT]),
              XLA_FLAGS="--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true")


def test_import_leaves_out_what_the_device_machine_lacks():
  """The parent process imports neither JAX nor anything an accelerator machine lacks; the parts' modules leave out
  TensorFlow, tfds, clu, ml_collections and sentencepiece."""
  code = ("import sys, benchmarks.device_check; print(sorted(m for m in ('jax', 'numpy') if m in sys.modules)); "
          "import benchmarks.attention_check, benchmarks.throughput_check, benchmarks.multi30k_check; "
          "print([m for m in ('tensorflow', 'tensorflow_datasets', 'clu', 'ml_collections', 'sentencepiece') "
          "if m in sys.modules])")
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
  assert out.stdout.strip().splitlines()[-2:] == ["[]", "[]"]


def test_the_prepared_command_runs_every_part_at_tiny_sizes(tmp_path):
  """`python -m benchmarks.device_check --tiny`: each part's status, results and thresholds in the JSON, and the
  files the accelerator call brings back. The loss reference given here is deliberately wrong (1.0 at every step),
  so the comparison runs on the real curve and must fail."""
  data, out = tmp_path / "multi30k", tmp_path / "out"
  write_multi30k_like(data)
  overrides = multi30k_check.settings(6, 1, 3, 4, "bfloat16",
                                      multi30k_check.parse_settings(device_check.TINY["multi30k_set"]))
  reference = tmp_path / "reference.json"
  reference.write_text(json.dumps({"settings": {**overrides, "dtype": "float32", "num_dev_bleu_sentences": 0},
                                   "train_loss": {str(step): 1.0 for step in range(1, 7)}, "dev_loss": 1.0}))
  run = subprocess.run([sys.executable, "-m", "benchmarks.device_check", "--tiny", f"--output_dir={out}",
                        f"--work_dir={tmp_path / 'work'}", f"--multi30k_dir={data}",
                        f"--multi30k_reference={reference}", "--time_budget_s=900"],
                       capture_output=True, text=True, env=check_env(tmp_path), cwd=ROOT, timeout=900)
  assert run.returncode == 0, run.stderr[-3000:]
  assert sorted(os.listdir(out)) == sorted(device_check.PART_OUTPUT_FILES)
  report = json.loads((out / "device_check.json").read_text())
  assert list(report["parts"]) == list(device_check.PARTS)
  assert {part: result["status"] for part, result in report["parts"].items()} == dict.fromkeys(device_check.PARTS,
                                                                                                 "ok")
  assert all(result["seconds"] <= result["budget_s"] + device_check.KILL_GRACE_S + 5
             for result in report["parts"].values())
  assert report["environment"]["platform"] == "cpu" and report["environment"]["versions"]["jax"]
  assert "MFU datasheet | MFU measured" in (out / "device_check.log").read_text()

  # (a) every path against the float64 reference; the thresholds are the module's; cuDNN says why it cannot run.
  attention = report["parts"]["attention"]
  assert attention["thresholds"] == attention_check.THRESHOLDS and attention["passed"] is True
  assert attention["shape"]["empty_rows"] == 2 and attention["shape"]["bucket_lengths"] == [8, 16]
  variants = attention["variants"]
  assert set(variants) == {"/".join(v) for v in attention_check.VARIANTS}
  for name, variant in variants.items():
    if variant["impl"] == "cudnn":
      assert variant["status"] == ("error" if variant["dtype"] == "bfloat16" else "not_applicable"), name
      continue
    assert variant["status"] == "pass" and len(variant["cases"]) == 2 * len(attention_check.MASKS), name
    assert variant["max_output_error"] <= variant["threshold"] and variant["max_grad_error"] <= variant["threshold"]
    assert all(case["all_finite"] for case in variant["cases"].values())
  cudnn = variants["cudnn/bfloat16/default"]
  assert cudnn["error"] and cudnn["known_issue"].startswith("JAX's tests skip cuDNN")
  assert variants["cudnn/float32/highest"]["status"] == "not_applicable"

  # (b) killed once its checkpoint was complete, resumed from it, evaluated with dev BLEU, compared to the reference.
  m30k = report["parts"]["multi30k"]
  assert m30k["thresholds"] == {"loss_relative_tolerance": multi30k_check.RELATIVE_TOLERANCE, "compare_after_step": 0,
                                "resume_relative_tolerance": multi30k_check.RESUME_TOLERANCE,
                                "reference": str(reference)}
  assert m30k["settings"]["dtype"] == "bfloat16" and m30k["settings"]["learning_rate_cooldown_steps"] == 0
  assert m30k["killed_run"]["killed_by"] == "SIGKILL" and 3 in m30k["killed_run"]["complete_checkpoints"]
  assert m30k["resumed_run"] == {**m30k["resumed_run"], "exit_code": 0, "resumed_from_step": 3}
  assert m30k["resume"]["status"] == "pass" and m30k["resume"]["resumed_from_expected_step"]
  assert m30k["final_step"] == 6 and sorted(map(int, m30k["train_loss"])) == list(range(1, 7))
  assert m30k["dev"]["step"] == 6 and 0 <= m30k["dev"]["dev_bleu"] <= 100 and m30k["dev_bleu_status"] == "pass"
  curve = m30k["loss_curve"]
  assert curve["status"] == "fail" and curve["compared_steps"] == 6 and curve["max_relative_difference"] > 1
  assert m30k["dev_loss_vs_reference"]["status"] == "fail" and m30k["passed"] is False
  rows = [json.loads(line) for line in (out / "multi30k_train_log.jsonl").read_text().splitlines()]
  assert {row["step"] for row in rows} == set(range(1, 7))
  train_log = (out / "multi30k_train.log").read_text()
  assert "Resumed from the checkpoint at step 3." in train_log and train_log.count("$ ") == 2

  # (c) and (d): the measured matmul as a second peak, both MFUs, PyTorch's same model, the table's rows.
  throughput, torch = report["parts"]["throughput"], report["parts"]["torch"]
  assert throughput["datasheet_peak_tflops"] is None and throughput["measured_matmul_tflops"] > 0
  tiny = throughput["workloads"]["tiny"]
  assert list(tiny["train"]) == ["xla_packed", "cudnn"]  # --tiny: the packed path, and cudnn to fail on a CPU
  packed = tiny["train"]["xla_packed"]
  assert packed["status"] == "ok" and packed["target_tokens_per_s"] > 0 and np.isfinite(packed["final_loss"])
  assert packed["mfu_vs_datasheet"] is None
  assert packed["mfu_vs_measured_matmul"] == pytest.approx(packed["model_tflops_per_s"] /
                                                           throughput["measured_matmul_tflops"])
  assert tiny["train"]["cudnn"]["status"] == "error" and "cuDNN" in tiny["train"]["cudnn"]["error"]
  assert throughput["matmul_first"]["status"] == throughput["matmul_last"]["status"] == "ok"
  budget = throughput_check.WORKLOADS["tiny"].real_tokens_per_batch
  tokens = (packed["real_source_tokens_per_step"] + packed["real_target_tokens_per_step"]) / 2
  assert 0.7 * budget < tokens < 1.3 * budget
  ours = torch["workloads"]["tiny"]
  assert torch["measured_matmul_tflops"] == throughput["measured_matmul_tflops"]
  assert ours["status"] == "ok" and ours["parameters"] == packed["parameters"]
  assert ours["mfu_vs_measured_matmul"] > 0
  rows = {(row["workload"], row["path"]): row for row in report["summary"]["throughput"]}
  assert rows[("tiny", "xla_packed")]["ours_over_torch"] > 0 and "mfu_vs_datasheet" in rows[("tiny", "torch")]


def test_part_b_is_refused_cleanly_without_the_multi30k_files(tmp_path):
  out = tmp_path / "out"
  run = subprocess.run([sys.executable, "-m", "benchmarks.device_check", "--parts=multi30k", f"--output_dir={out}",
                        f"--multi30k_dir={tmp_path / 'absent'}"], capture_output=True, text=True, cwd=ROOT,
                       env=dict(os.environ, PYTHONPATH=ROOT), timeout=300)
  assert run.returncode == 0, run.stderr[-3000:]
  part = json.loads((out / "device_check.json").read_text())["parts"]["multi30k"]
  assert part["status"] == "skipped" and "Multi30k files missing" in part["reason"] and "lacks" in part["reason"]
  assert part["thresholds"]["loss_relative_tolerance"] == multi30k_check.RELATIVE_TOLERANCE


def test_the_loss_curve_comparison_and_its_tolerance():
  reference = {step: 6.0 - step / 100 for step in range(10, 201, 10)}
  close = {step: loss * (1.015 if step % 20 else 0.985) for step, loss in reference.items()}
  verdict = multi30k_check.compare_curves(close, reference)
  assert verdict["status"] == "pass" and verdict["compared_steps"] == 15 and verdict["after_step"] == 50
  assert verdict["max_relative_difference"] == pytest.approx(0.015)
  early_only = {**close, 20: reference[20] * 1.5}  # before step 50: not compared
  assert multi30k_check.compare_curves(early_only, reference)["status"] == "pass"
  off = {**close, 150: reference[150] * 1.025}
  assert multi30k_check.compare_curves(off, reference)["status"] == "fail"
  missing = {step: loss for step, loss in close.items() if step != 200}
  assert multi30k_check.compare_curves(missing, reference)["missing_steps"] == [200]
  assert multi30k_check.compare_curves(missing, reference)["status"] == "fail"
  resumed = multi30k_check.compare_resumed({110: 5.0, 120: 4.9}, {110: 5.0, 120: 4.9, 130: 4.8})
  assert resumed["status"] == "pass" and [row["step"] for row in resumed["rows"]] == [110, 120]
  assert multi30k_check.compare_resumed({110: 5.0}, {110: 5.1})["status"] == "fail"


def test_the_committed_reference_matches_the_checks_settings():
  """The reference in the repository was made at the settings the accelerator command runs by default (only dtype
  and decoding differ), so the comparison happens there; and it holds every logged step."""
  reference, why_not = multi30k_check.read_reference(multi30k_check.DEFAULT_REFERENCE, multi30k_check.settings())
  assert why_not is None, why_not
  assert reference["settings"]["dtype"] == "float32" and reference["platform"] == "cpu"
  assert sorted(map(int, reference["train_loss"])) == list(range(10, 201, 10))
  assert reference["dev_loss"] > 0 and reference["tokenizer_md5"]
  changed = multi30k_check.settings(steps=100)
  assert "num_train_steps" in multi30k_check.read_reference(multi30k_check.DEFAULT_REFERENCE, changed)[1]


def test_a_killed_part_marks_what_it_left_running():
  result = {"status": "running", "workloads": {"base": {"train": {"xla_packed": {"status": "ok"},
                                                                  "cudnn": {"status": "running"}}}}}
  device_check.mark_unfinished(result, "timeout")
  assert result["workloads"]["base"]["train"] == {"xla_packed": {"status": "ok"}, "cudnn": {"status": "timeout"}}


def test_the_attention_reference_is_softmax_attention_and_its_gradient():
  """The float64 reference against a finite difference of itself and a direct softmax."""
  inputs = attention_check.case(6, 3, 2, 4, seed=1)
  query_lengths, key_lengths, causal = attention_check.mask_lengths(inputs, "decoder_self")
  q, k, v, g = (inputs[name].astype(np.float64) for name in "qkvg")
  output, d_q, _, _ = attention_check.reference(q, k, v, g, query_lengths, key_lengths, causal)
  row, position, head = 0, 4, 1  # the full row: keys 0..4 are visible to query 4
  scores = q[row, position, head] @ k[row, :position + 1, head].T / 2.0
  weights = np.exp(scores - scores.max())
  np.testing.assert_allclose(output[row, position, head], weights @ v[row, :position + 1, head] / weights.sum())
  loss = lambda q_: (attention_check.reference(q_, k, v, g, query_lengths, key_lengths, causal)[0] *
                     np.where((np.arange(6)[None, :] < query_lengths[:, None])[:, :, None, None], g, 0)).sum()
  bumped = q.copy()
  bumped[row, position, head, 2] += 1e-6
  assert (loss(bumped) - loss(q)) / 1e-6 == pytest.approx(d_q[row, position, head, 2], rel=1e-4, abs=1e-6)
  assert not d_q[-2:].any()  # the empty rows: nothing depends on them


def test_pair_lengths_count_each_sentence_of_a_packed_row():
  batch = {"source_segments": np.array([[1, 1, 1, 2, 2, 0], [1, 1, 0, 0, 0, 0], [0] * 6]),
           "target_segments": np.array([[1, 2, 2, 2, 0, 0], [1, 1, 1, 1, 1, 0], [0] * 6])}
  sources, targets = flops.pair_lengths(batch)
  assert sources.tolist() == [3, 2, 2] and targets.tolist() == [1, 3, 5]


def test_the_table_reports_skipped_and_failed_parts():
  report = {"parts": {"attention": {"status": "timeout", "error": "killed at the end of the part's 75 s"},
                      "multi30k": {"status": "skipped", "reason": "Multi30k files missing: ..."},
                      "throughput": {"status": "ok", "seconds": 100, "datasheet_peak_tflops": 989.0,
                                     "measured_matmul_tflops": 790.0,
                                     "workloads": {"base": {"train": {
                                         "cudnn": {"status": "error", "error": "XlaRuntimeError: no cuDNN"},
                                         "xla_packed": {"status": "ok", "target_tokens_per_s": 1e6,
                                                        "model_tflops_per_s": 400.0, "mfu_vs_datasheet": 400 / 989,
                                                        "mfu_vs_measured_matmul": 400 / 790,
                                                        "step_time": {"median_s": 0.02}}}}}},
                      "torch": {"status": "ok", "workloads": {"base": {"status": "ok", "target_tokens_per_s": 5e5}}}}}
  text = device_check.table(report)
  assert "killed at the end" in text and "Multi30k files missing" in text and "base | cudnn | error" in text
  assert "base | xla_packed | 1,000,000 | 20.0 | 400.0 | 40.4% | 50.6% | - | 2.00" in text


def test_the_pytorch_reference_computes_our_transformer():
  """With our weights copied in, PyTorch's loss and its gradient for the embedding equal ours (float32, no dropout)."""
  import dataclasses

  import flax.linen as nn
  import jax
  import torch

  from transformer_jax import losses
  from transformer_jax.data import batching
  from transformer_jax.model import Transformer

  workload = throughput_check.WORKLOADS["tiny"]
  sources, targets = throughput_check.synthetic_corpus(workload, seed=1)
  batcher = batching.BucketedBatcher(sources, targets, bucket_lengths=(32,), tokens_per_batch=0, seed=1,
                                     real_tokens_per_batch=256, bucket_count=3)
  batch = batcher.batch_at(0)
  cfg = throughput_check.model_config(workload, "naive")
  model = Transformer(dataclasses.replace(cfg, dtype="float32"))
  # Jitted: op by op, JAX would compile each operation's kernel on its own, several times slower on 2 cores.
  params = nn.unbox(jax.jit(model.init)(jax.random.PRNGKey(3), batch["source"], batch["decoder_inputs"],
                                        batch["targets"])["params"])
  valid = batch["targets"] > 0

  def our_loss(p):
    logits = model.apply({"params": p}, batch["source"], batch["decoder_inputs"], batch["targets"])
    return (losses.token_losses(logits, batch["targets"], 0.1)[0] * valid).sum() / valid.sum()

  want, want_grads = jax.jit(jax.value_and_grad(our_loss))(params)
  reference = throughput_check.torch_transformer(workload, "cpu").eval()
  throughput_check.load_our_params(reference, params)
  got = reference(*(torch.from_numpy(batch[k].astype(np.int64)) for k in ("source", "decoder_inputs", "targets")))
  got.backward()
  np.testing.assert_allclose(float(got.detach()), float(want), rtol=1e-5)
  np.testing.assert_allclose(reference.embedding.weight.grad.numpy(),
                             np.asarray(want_grads["embedder"]["token_embedding"]["embedding"]), rtol=1e-3, atol=1e-6)
