"""The benchmark: imports no TensorFlow-side package, its FLOP formula against counts taken from the parameter tree
and the attention masks, and a tiny end-to-end run."""

import dataclasses
import json
import os
import subprocess
import sys

import flax.linen as nn
import jax
import numpy as np
import pytest

from benchmarks import bench, common
from transformer_jax import flops as flops_lib
from transformer_jax.attention import attention_mask
from transformer_jax.model import ModelConfig, Transformer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# d_k != d_v != d_model / h, so that a formula that assumed d_k = d_v = d / h would fail.
CFG = ModelConfig(vocab_size=50, num_layers=2, d_model=16, d_ff=24, num_heads=2, d_k=8, d_v=4, max_position=64)


def test_import_leaves_out_tensorflow_side_packages():
  code = ("import sys, benchmarks.bench; "
          "print([m for m in ('tensorflow', 'tensorflow_datasets', 'clu', 'ml_collections', 'sentencepiece') "
          "if m in sys.modules])")
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
  assert out.stdout.strip().splitlines()[-1] == "[]"


def kernel_sizes(cfg):
  """Multiply-adds per token of every matmul kernel, split by the side whose tokens it runs over."""
  shapes = jax.eval_shape(lambda: Transformer(cfg).init(jax.random.PRNGKey(0), *[np.ones((1, 2), np.int32)] * 3))
  per_source, per_target = 0, 0
  for path, leaf in jax.tree_util.tree_leaves_with_path(nn.unbox(shapes["params"])):
    name = jax.tree_util.keystr(path)
    if not name.endswith("['kernel']"):
      continue
    size = int(np.prod(leaf.shape))
    # The encoder, and the cross-attention keys/values of the encoder output, run once per source token.
    if "encoder_" in name or ("cross_attention" in name and ("['key']" in name or "['value']" in name)):
      per_source += size
    else:
      per_target += size
  return per_source, per_target


def test_parameter_flops_match_the_parameter_tree():
  per_source, per_target = kernel_sizes(CFG)
  source_lengths, target_lengths = np.array([3, 7, 12]), np.array([5, 6, 9])
  flops = flops_lib.train_flops(CFG, source_lengths, target_lengths)
  logits = CFG.d_model * CFG.vocab_size  # the tied embedding as the pre-softmax projection
  expected = 6 * (source_lengths.sum() * per_source + target_lengths.sum() * (per_target + logits))
  assert flops["parameter_matmuls"] == expected
  # With equal lengths: 6 x (all matmul parameters + d*V) per target token.
  same = flops_lib.train_flops(CFG, target_lengths, target_lengths)
  assert same["parameter_matmuls"] == 6 * target_lengths.sum() * (per_source + per_target + logits)


def test_attention_flops_count_the_allowed_query_key_pairs():
  # By hand: one pair with S = 3, T = 2 has 3*3 + 2*3/2 + 2*3 = 18 query-key pairs per layer, each h*(d_k + d_v)
  # multiply-adds: 6 * 2 layers * 2 heads * 12 * 18 = 5184.
  assert flops_lib.train_flops(CFG, [3], [2])["attention"] == 5184
  # Against the model's own masks: the allowed entries of the encoder, causal decoder and cross-attention masks.
  rng = np.random.default_rng(0)
  source_lengths, target_lengths = rng.integers(1, 10, size=5), rng.integers(1, 10, size=5)
  segments = lambda lengths: (np.arange(10)[None, :] < lengths[:, None]).astype(np.int32)
  src, tgt = segments(source_lengths), segments(target_lengths)
  pairs = sum(int(np.asarray(m).sum()) for m in (attention_mask(src, src), attention_mask(tgt, tgt, causal=True),
                                                  attention_mask(tgt, src)))
  expected = 6 * CFG.num_layers * CFG.num_heads * (CFG.d_k + CFG.d_v) * pairs
  assert flops_lib.train_flops(CFG, source_lengths, target_lengths)["attention"] == expected


@pytest.mark.parametrize("name,design_gflop", [("base", 0.37), ("big", 1.27)])
def test_paper_models_match_design_estimate(name, design_gflop):
  cfg, _ = bench.model_config(bench.WORKLOADS[name], "bfloat16", {})
  lengths = np.full(4, 30)
  flops = flops_lib.train_flops(cfg, lengths, lengths)
  per_token = flops["parameter_matmuls"] / lengths.sum()
  assert per_token == flops_lib.design_flops_per_target_token(cfg)
  assert per_token / 1e9 == pytest.approx(design_gflop, rel=0.03)


def test_unknown_model_overrides_are_reported_not_passed():
  cfg, ignored = bench.model_config(bench.WORKLOADS["tiny"], "float32", {"no_such_field": "x", "d_ff": 40})
  assert cfg.d_ff == 40 and ignored == {"no_such_field": "x"}


def test_the_optimizer_is_the_configs_default():
  """The benchmarks' optimiser settings (a plain object: no ml_collections on an accelerator machine) are the ones a
  config gets from config_base.base_config()."""
  from transformer_jax import config_base

  config = config_base.base_config()
  settings = common.OptimizerConfig(d_model=config.d_model)
  assert {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)} == {
      f.name: config[f.name] for f in dataclasses.fields(settings)}


def test_tiny_end_to_end(tmp_path):
  """The command a user types, on 8 CPU devices; XLA's backend optimisations are off to halve the compile time."""
  output = tmp_path / "bench.json"
  env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS="--xla_force_host_platform_device_count=8 "
             "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true")
  run = subprocess.run([sys.executable, "-m", "benchmarks.bench", "--workloads=tiny", "--dtype=float32",
                        "--steps=2", "--warmup=0", "--decode_repeats=1", f"--output={output}", "--set=no_such_field=1"],
                       capture_output=True, text=True, env=env, cwd=ROOT)
  assert run.returncode == 0, run.stderr[-3000:]
  report = json.loads(run.stdout)
  assert report == json.loads(output.read_text())
  assert "train tok/s" in run.stderr  # the table
  assert report["device_count"] == 8 and report["platform"] == "cpu" and report["mfu_formula"]
  assert {"jax", "jaxlib", "flax", "optax"} <= set(report["versions"])
  result = report["workloads"]["tiny"]
  assert result["ignored_overrides"] == {"no_such_field": "1"}
  train, decode = result["train"], result["decode"]
  for key in ("target_tokens_per_s", "step_time", "mfu", "model_flops_per_target_token", "peak_bytes_in_use",
              "xla_flops_per_step"):
    assert key in train, key
  assert train["mfu"] is None and train["peak_bytes_in_use"] is None  # CPU: no known peak, no memory stats
  assert train["rows"] == 16 and train["step_time"]["count"] == 2
  assert train["target_tokens_per_s"] == pytest.approx(
      train["target_tokens_per_step"] / train["step_time"]["median_s"])
  # Every sentence decodes to its limit, min(source length + 50, cache 12) = 12 tokens, EOS included.
  assert decode["cache_length"] == 12 and decode["eos_before_limit"] == 0
  assert decode["generated_target_tokens"] == 12 * decode["sentences"]
  assert decode["target_tokens_per_s"] == pytest.approx(
      decode["generated_target_tokens"] / decode["call_time"]["median_s"])


def test_packed_rows_and_the_measured_peak(tmp_path):
  """Packed rows: several sentences a row, MFU over the sentences' own lengths; the peak is the faster of the two
  matmul measurements, on all devices at once."""
  env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS="--xla_force_host_platform_device_count=2 "
             "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true")
  run = subprocess.run([sys.executable, "-m", "benchmarks.bench", "--workloads=tiny,tiny_packed", "--dtype=float32",
                        "--phases=train", "--steps=2", "--warmup=0", "--measure_peak"],
                       capture_output=True, text=True, env=env, cwd=ROOT)
  assert run.returncode == 0, run.stderr[-3000:]
  report = json.loads(run.stdout)
  first, again = report["measured_matmul_tflops_each"]
  assert report["peak_tflops_per_device"] == max(first, again) > 0
  bucketed, packed = (report["workloads"][name]["train"] for name in ("tiny", "tiny_packed"))
  assert packed["packed_rows"] and not bucketed["packed_rows"]
  assert packed["target_padding_fraction"] < bucketed["target_padding_fraction"]
  assert packed["rows"] * packed["train_length"] == 2 * 64
  for train in (bucketed, packed):
    assert train["mfu"] == pytest.approx(train["model_flops_per_step"] / train["step_time"]["median_s"]
                                         / (report["peak_tflops_per_device"] * 1e12 * 2))


def test_flax_example_bench_names_a_wrong_example_dir_and_where_to_get_it(tmp_path):
  (tmp_path / "models.py").write_text("")  # train.py is missing
  out = subprocess.run([sys.executable, "-m", "benchmarks.flax_example_bench", f"--flax_wmt_dir={tmp_path}"],
                       capture_output=True, text=True, cwd=ROOT)
  assert out.returncode != 0
  assert "no train.py there" in out.stderr and "pip download" in out.stderr
  assert "Traceback" not in out.stderr
