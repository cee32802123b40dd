"""Training and beam-search throughput, MFU and memory of the Transformer, on whatever devices JAX finds.

  python -m benchmarks.bench --workloads=base,big --dtype=bfloat16          # on a GPU
  python -m benchmarks.bench --workloads=cpu_small --dtype=float32 --output=bench.json

Needs only jax, flax, optax and numpy (no TensorFlow, tfds, clu, ml_collections or sentencepiece), so it runs on an
accelerator machine that has nothing else. Prints one JSON object on stdout (also written to --output) and a
table on stderr. Method, formula and results: docs/benchmarks.md.

Inputs are random token ids with WMT-like lengths (benchmarks.common, fixed seed) and the model has random weights:
- Training: a batch is one length bucket, as the length-bucketed batcher feeds it: `rows` pairs padded to
  `train_length`, each pair's lengths drawn from the sentence-length distribution restricted to
  (train_length / 2, train_length]. Throughput counts target non-padding tokens (EOS included).
- Decoding: beam 4, alpha 0.6, output limit source length + 50 (the paper's settings, `decode.translate_beam`),
  one batch of sentences from one source-length bucket (inference.py sorts sentences by length before batching).
  A random model's occasional early EOS would win the length-normalised ranking at once, so the EOS row of the
  embedding is zeroed: its logit is then 0, far below the top logits, and every sentence decodes to its length
  limit, where EOS is forced. Target tokens/s counts the tokens of each sentence's best hypothesis up to and
  including its EOS (the tokens generated); `eos_before_limit` counts sentences that ended earlier anyway.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import statistics
import sys
import time

import jax
import numpy as np
from absl import app, flags

from benchmarks import common
from benchmarks.common import TARGET_RATIO, TARGET_RATIO_SD, sample_lengths
from transformer_jax import cli, decode, flops, profiling, sharding, train_step
from transformer_jax.data import batching
from transformer_jax.model import ModelConfig, Transformer, count_parameters
from transformer_jax.special_ids import EOS_ID

BEAM_SIZE, ALPHA, DECODE_EXTRA_LENGTH = 4, 0.6, 50
PACKED_CORPUS_PAIRS, PACKED_OPEN_ROWS = 20_000, 8  # packed workloads: the corpus packed, rows filled at once

# Dense (no sparsity) bf16 peak per device in TFLOP/s, by a substring of device_kind; the first match wins.
PEAK_BF16_TFLOPS = (("H100 PCIe", 756.0), ("H100 NVL", 835.0), ("H100", 989.0), ("H200", 989.0), ("A100", 312.0),
                    ("L40S", 362.0), ("L4", 121.0), ("TPU v4", 275.0), ("TPU v5 lite", 197.0), ("TPU v5e", 197.0),
                    ("TPU v5p", 459.0), ("TPU v6", 918.0))

@dataclasses.dataclass(frozen=True)
class Workload(common.Architecture):
  train_length: int  # padded length of the training bucket
  batch_tokens: int  # padded target positions per training step (rows = batch_tokens // train_length)
  decode_batch: int  # sentences per beam-search call
  decode_length: int  # padded source length of the decoding batch
  max_decode_length: int  # cap on the output length (and the cache)
  steps: int  # timed training steps
  warmup: int  # untimed training steps after the compile
  decode_repeats: int  # timed beam-search calls
  # Training rows as the configs that set pack_training_rows fill them: the PackedBatcher's rows of train_length
  # over a WMT-like corpus (several sentences a row, segment ids), not one length bucket.
  packed: bool = False


WORKLOADS = {
    # The paper's Transformer-base and -big at a 37k vocabulary, ~25k padded target tokens per step.
    "base": Workload(37_000, 6, 512, 2048, 8, 0.1, 64, 25_000, 128, 32, 256, steps=20, warmup=3, decode_repeats=3),
    "big": Workload(37_000, 6, 1024, 4096, 16, 0.3, 64, 25_000, 128, 32, 256, steps=20, warmup=3, decode_repeats=3),
    # Sized for 2 CPU cores: 32 pairs of up to 48 tokens; decoding runs up to 64 tokens.
    "cpu_small": Workload(8192, 3, 256, 1024, 4, 0.1, 48, 32 * 48, 32, 48, 64, steps=10, warmup=2,
                          decode_repeats=3),
    # The same model and padded batch size in packed rows of 96, as configs/default.py and multi30k train.
    "cpu_small_packed": Workload(8192, 3, 256, 1024, 4, 0.1, 96, 16 * 96, 32, 48, 64, steps=10, warmup=2,
                                 decode_repeats=3, packed=True),
    # Smoke test only (tests/test_bench.py).
    "tiny": Workload(64, 1, 16, 32, 2, 0.1, 8, 16 * 8, 8, 8, 12, steps=2, warmup=1, decode_repeats=1),
    "tiny_packed": Workload(64, 1, 16, 32, 2, 0.1, 64, 2 * 64, 8, 8, 12, steps=2, warmup=1, decode_repeats=1,
                            packed=True),
}


log = common.logger("bench")


# ---- Inputs ----

def random_tokens(rng: np.random.Generator, lengths: np.ndarray, width: int, vocab_size: int) -> np.ndarray:
  """Rows of random ids in [3, vocab) ending with EOS at length - 1, then padding (0)."""
  tokens = rng.integers(3, vocab_size, size=(len(lengths), width), dtype=np.int32)
  columns = np.arange(width)[None, :]
  tokens = np.where(columns == lengths[:, None] - 1, EOS_ID, tokens)
  return np.where(columns < lengths[:, None], tokens, 0).astype(np.int32)


def train_batch(rng: np.random.Generator, rows: int, length: int, vocab_size: int) -> dict:
  """One bucket of `rows` pairs padded to `length`, in the train step's batch format."""
  low = length // 2 + 1
  source_lengths = sample_lengths(rng, rows, low, length)
  ratio = rng.normal(TARGET_RATIO, TARGET_RATIO_SD, size=rows)
  target_lengths = np.clip(np.rint(source_lengths * ratio), low, length).astype(np.int64)
  source = random_tokens(rng, source_lengths, length, vocab_size)
  targets = random_tokens(rng, target_lengths, length, vocab_size)
  decoder_inputs = np.concatenate([np.full((rows, 1), EOS_ID, np.int32), targets[:, :-1]], axis=1)
  decoder_inputs = np.where(targets > 0, decoder_inputs, 0)  # EOS is the start symbol; padding stays 0
  positions = np.broadcast_to(np.arange(length, dtype=np.int32), (rows, length)).copy()
  return {"source": source, "source_segments": (source > 0).astype(np.int32), "source_positions": positions,
          "decoder_inputs": decoder_inputs.astype(np.int32), "targets": targets,
          "target_segments": (targets > 0).astype(np.int32), "target_positions": positions.copy()}


def peak_tflops_per_device(device_kind: str, override: float | None) -> float | None:
  if override:
    return override
  for name, tflops in PEAK_BF16_TFLOPS:
    if name.lower() in device_kind.lower():
      return tflops
  return None  # CPU and unknown devices: MFU is reported as null unless --peak_tflops is given


# ---- Helpers around the device ----

def peak_memory_bytes() -> int | None:
  peaks = []
  for device in jax.local_devices():
    stats = device.memory_stats() if hasattr(device, "memory_stats") else None
    if stats and "peak_bytes_in_use" in stats:
      peaks.append(int(stats["peak_bytes_in_use"]))
  return max(peaks) if peaks else None


def peak_memory(before: int | None) -> dict:
  """The process-wide peak (JAX cannot reset it) and whether it rose during this phase, i.e. is this phase's own."""
  after = peak_memory_bytes()
  return {"peak_bytes_in_use": after, "peak_rose_in_phase": None if after is None else after > (before or 0)}


def xla_cost(compiled) -> dict:
  """XLA's own flop count and buffer sizes for a compiled computation (None where the backend has none)."""
  out = {"xla_flops": None, "xla_memory": None}
  try:
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    out["xla_flops"] = float(cost["flops"]) if cost and "flops" in cost else None
  except Exception:  # pylint: disable=broad-except
    pass
  try:
    memory = compiled.memory_analysis()
    out["xla_memory"] = {k: int(getattr(memory, k)) for k in (
        "argument_size_in_bytes", "output_size_in_bytes", "temp_size_in_bytes", "generated_code_size_in_bytes")}
  except Exception:  # pylint: disable=broad-except
    pass
  return out


def summary(times: list[float]) -> dict:
  return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times),
          "mean_s": statistics.fmean(times), "count": len(times)}


def model_config(workload: Workload, dtype: str, overrides: dict) -> tuple[ModelConfig, dict]:
  """The ModelConfig of a workload; overrides for fields this ModelConfig lacks are returned as ignored."""
  fields = {f.name for f in dataclasses.fields(ModelConfig)}
  known = {k: v for k, v in overrides.items() if k in fields}
  ignored = {k: v for k, v in overrides.items() if k not in fields}
  # One pair per row: the fused attention paths take sequence lengths.
  cfg = common.model_config(workload, dtype=dtype, packed_rows=False)
  return dataclasses.replace(cfg, **known), ignored


# ---- Benchmarks ----

def bench_train(name: str, workload: Workload, cfg: ModelConfig, mesh, peak_tflops: float | None,
                seed: int, profile_dir: str | None = None) -> tuple[dict, dict]:
  """Times the jitted, data-parallel train step; returns (results, params for the decoding benchmark)."""
  devices, shards = mesh.devices.size, sharding.batch_shards(mesh)
  peak_before = peak_memory_bytes()
  rows = max(shards, workload.batch_tokens // workload.train_length // shards * shards)
  model = Transformer(cfg)
  optimizer, schedule = common.make_optimizer(cfg.d_model)
  state = train_step.create_train_state(model, optimizer, jax.random.PRNGKey(seed), mesh)
  params_count = count_parameters(state.params)
  rng = np.random.default_rng(seed)
  # A few different batches of the same shape, on the devices before timing (a real input pipeline prefetches).
  if workload.packed:
    corpus = common.synthetic_corpus(PACKED_CORPUS_PAIRS, seed, cfg.vocab_size, workload.train_length)
    packer = batching.PackedBatcher(*corpus, length=workload.train_length, seed=seed, row_multiple=shards,
                                    tokens_per_batch=rows * workload.train_length, open_rows=PACKED_OPEN_ROWS)
    host_batches = [packer.batch_at(i) for i in range(4)]
    rows = len(host_batches[0]["targets"])
  else:
    host_batches = [train_batch(rng, rows, workload.train_length, cfg.vocab_size) for _ in range(4)]
  batches = [train_step.put_batch(b, mesh) for b in host_batches]
  step_flops = [flops.train_flops(cfg, *flops.pair_lengths(b)) for b in host_batches]
  tokens = [int((b["target_segments"] > 0).sum()) for b in host_batches]
  dropout_rng = jax.device_put(jax.random.PRNGKey(seed + 1), sharding.replicated(mesh))

  log(f"{name}: train step, {rows} rows x {workload.train_length} tokens, {params_count / 1e6:.2f}M params, "
      f"dtype {cfg.dtype}, {devices} device(s): compiling")
  step = train_step.jit_train_step(model, mesh, 0.1, schedule)
  start = time.perf_counter()
  compiled = step.lower(state, batches[0], dropout_rng).compile()
  compile_s = time.perf_counter() - start
  cost = xla_cost(compiled)

  times = []
  for i in range(workload.warmup + workload.steps):
    start = time.perf_counter()
    state, metrics = compiled(state, batches[i % len(batches)], dropout_rng)
    jax.block_until_ready((state, metrics))
    elapsed = time.perf_counter() - start
    if i >= workload.warmup:
      times.append(elapsed)
    phase = "warmup" if i < workload.warmup else "timed"
    log(f"{name}: train step {i + 1}/{workload.warmup + workload.steps} ({phase}) {elapsed * 1e3:.1f} ms, "
        f"loss {float(metrics['loss_sum'] / metrics['tokens']):.3f}")

  profile = None
  if profile_dir:  # after the timed steps, so the trace never slows them down
    traced, trace_dir = 3, os.path.join(profile_dir, f"{name}_train")
    started = time.perf_counter()
    with jax.profiler.trace(trace_dir, create_perfetto_trace=True):
      for i in range(traced):
        state, metrics = compiled(state, batches[i % len(batches)], dropout_rng)
        jax.block_until_ready((state, metrics))
    traced_seconds = time.perf_counter() - started
    with open(os.path.join(profile_dir, f"{name}_train.hlo.txt"), "w") as f:
      f.write(compiled.as_text())
    profile = profiling.train_profile(trace_dir, compiled.as_text(), traced, traced_seconds, devices)

  timed = [i % len(batches) for i in range(workload.warmup, workload.warmup + workload.steps)]
  mean_tokens = statistics.fmean(tokens[i] for i in timed)
  mean_flops = {k: statistics.fmean(step_flops[i][k] for i in timed) for k in step_flops[0]}
  step_time = statistics.median(times)
  achieved = mean_flops["total"] / step_time
  padded = rows * workload.train_length
  results = {
      "rows": rows, "train_length": workload.train_length, "padded_target_tokens_per_step": padded,
      "target_tokens_per_step": mean_tokens, "target_padding_fraction": 1 - mean_tokens / padded,
      "source_tokens_per_step": statistics.fmean(int((host_batches[i]["source_segments"] > 0).sum())
                                                 for i in timed),
      "packed_rows": workload.packed,
      "parameters": params_count, "compile_s": compile_s, "step_time": summary(times),
      "target_tokens_per_s": mean_tokens / step_time,
      "model_flops_per_step": mean_flops["total"],
      "model_flops_per_target_token": mean_flops["total"] / mean_tokens,
      "attention_flops_fraction": mean_flops["attention"] / mean_flops["total"],
      "design_flops_per_target_token_no_attention": flops.design_flops_per_target_token(cfg),
      "model_tflops_per_s": achieved / 1e12,
      "mfu": achieved / (peak_tflops * 1e12 * devices) if peak_tflops else None,
      "xla_flops_per_step": cost["xla_flops"],
      "xla_flops_over_model_flops": cost["xla_flops"] / mean_flops["total"] if cost["xla_flops"] else None,
      "xla_memory": cost["xla_memory"],
      **peak_memory(peak_before),
      "final_loss": float(metrics["loss_sum"] / metrics["tokens"]),
  }
  if profile:
    results["profile"] = profile
  params = state.params
  del state, compiled, batches
  return results, params


def without_eos(params, vocab_size: int):
  """Zeroes the EOS row of the (vocab, d_model) embedding, so that a random model never ends a sentence early."""

  def zero_eos(path, leaf):
    is_embedding = "embed" in jax.tree_util.keystr(path).lower() and leaf.ndim == 2 and leaf.shape[0] == vocab_size
    return leaf.at[EOS_ID].set(0) if is_embedding else leaf

  return jax.tree_util.tree_map_with_path(zero_eos, params)


def bench_decode(name: str, workload: Workload, cfg: ModelConfig, params, mesh, seed: int,
                 profile_dir: str | None = None) -> dict:
  """Times decode.translate_beam (beam 4, alpha 0.6, limit source length + 50) on one batch of sentences."""
  shards = sharding.batch_shards(mesh)
  peak_before = peak_memory_bytes()
  batch = max(shards, workload.decode_batch // shards * shards)
  rng = np.random.default_rng(seed + 2)
  lengths = sample_lengths(rng, batch, workload.decode_length // 2 + 1, workload.decode_length)
  source = random_tokens(rng, lengths, workload.decode_length, cfg.vocab_size)
  source_on_devices = jax.device_put(source, sharding.batch_sharding(mesh))
  model = Transformer(cfg)
  options = dict(beam_size=BEAM_SIZE, alpha=ALPHA, extra_length=DECODE_EXTRA_LENGTH,
                 max_decode_length=workload.max_decode_length, mesh=mesh)
  cache_length = min(workload.decode_length + DECODE_EXTRA_LENGTH, workload.max_decode_length)
  limits = np.minimum(lengths + DECODE_EXTRA_LENGTH, cache_length)

  log(f"{name}: beam search, {batch} sentences of {lengths.min()}-{lengths.max()} tokens, beam {BEAM_SIZE}, "
      f"up to {cache_length} output tokens: compiling")
  params = without_eos(params, cfg.vocab_size)
  start = time.perf_counter()
  compiled = decode.translate_beam.lower(model, params, source_on_devices, **options).compile()
  compile_s = time.perf_counter() - start
  jax.block_until_ready(compiled(params, source_on_devices))  # the first run may still allocate

  times = []
  for i in range(workload.decode_repeats):
    start = time.perf_counter()
    tokens, _ = compiled(params, source_on_devices)
    tokens = jax.block_until_ready(tokens)
    times.append(time.perf_counter() - start)
    log(f"{name}: beam search {i + 1}/{workload.decode_repeats} {times[-1]:.3f} s")

  if profile_dir:
    with jax.profiler.trace(os.path.join(profile_dir, f"{name}_decode")):
      jax.block_until_ready(compiled(params, source_on_devices))
    with open(os.path.join(profile_dir, f"{name}_decode.hlo.txt"), "w") as f:
      f.write(compiled.as_text())

  best = np.asarray(jax.device_get(tokens))[:, 0]
  generated = (best > 0).sum(axis=1)  # tokens up to and including EOS; finished hypotheses are padded with 0
  seconds = statistics.median(times)
  return {
      "sentences": batch, "beam_size": BEAM_SIZE, "alpha": ALPHA, "extra_length": DECODE_EXTRA_LENGTH,
      "source_tokens": int(lengths.sum()), "cache_length": cache_length, "compile_s": compile_s,
      "call_time": summary(times),
      "generated_target_tokens": int(generated.sum()),
      "decode_steps": int(generated.max()),
      "eos_before_limit": int((generated < limits).sum()),
      "sentences_per_s": batch / seconds,
      "target_tokens_per_s": int(generated.sum()) / seconds,
      **peak_memory(peak_before),
  }


# ---- Report ----

def _fmt(value, spec: str, scale: float = 1.0) -> str:
  return "-" if value is None else format(value * scale, spec)


def table(report: dict) -> str:
  header = ("workload", "dtype", "train tok/s", "step ms (med [min-max])", "MFU", "GFLOP/tok", "peak GiB",
            "dec sent/s", "dec tok/s")
  lines = [" | ".join(header)]
  for name, result in report["workloads"].items():
    train = result.get("train") or {}
    dec = result.get("decode") or {}
    step = train.get("step_time") or {}
    step_ms = "-" if not step else (f"{step['median_s'] * 1e3:.1f} [{step['min_s'] * 1e3:.1f}-"
                                     f"{step['max_s'] * 1e3:.1f}]")
    lines.append(" | ".join((
        name, report["dtype"], _fmt(train.get("target_tokens_per_s"), ",.0f"), step_ms,
        _fmt(train.get("mfu"), ".1%"), _fmt(train.get("model_flops_per_target_token"), ".3f", 1e-9),
        _fmt(train.get("peak_bytes_in_use"), ".2f", 2.0 ** -30), _fmt(dec.get("sentences_per_s"), ",.1f"),
        _fmt(dec.get("target_tokens_per_s"), ",.0f"))))
    for phase in ("train", "decode"):
      if result.get(phase, {}) and "error" in result[phase]:
        lines.append(f"  {name} {phase} failed: {result[phase]['error']}")
    if train.get("profile"):
      lines.append(f"  {name} " + profiling.profile_table(train["profile"]).replace("\n", "\n  "))
  return "\n".join(lines)


def parse_overrides(items: list[str]) -> dict:
  """KEY=VALUE strings -> values typed by ModelConfig's field (unknown keys stay strings)."""
  types_ = {f.name: f.type for f in dataclasses.fields(ModelConfig)}
  out = {}
  for item in items:
    key, sep, value = item.partition("=")
    if not sep:
      raise app.UsageError(f"--set={item!r}: expected KEY=VALUE")
    kind = str(types_.get(key, "str"))
    if kind in ("int", "<class 'int'>"):
      out[key] = int(value)
    elif kind in ("float", "<class 'float'>"):
      out[key] = float(value)
    elif kind in ("bool", "<class 'bool'>"):
      out[key] = value.lower() in ("1", "true", "yes")
    else:
      out[key] = value
  return out


def _define_flags():
  # Defined when run as a command, not on import, so tests can import this module beside other commands.
  flags.DEFINE_list("workloads", ["cpu_small"], "Comma-separated, from: " + ", ".join(WORKLOADS) + ".")
  flags.DEFINE_enum("dtype", "bfloat16", ["bfloat16", "float32"], "Activation/matmul dtype (parameters stay float32).")
  flags.DEFINE_list("phases", ["train", "decode"], "train, decode or both.")
  flags.DEFINE_integer("steps", None, "Timed train steps (default: per workload).")
  flags.DEFINE_integer("warmup", None, "Untimed train steps after the compile (default: per workload).")
  flags.DEFINE_integer("decode_repeats", None, "Timed beam-search calls (default: per workload).")
  flags.DEFINE_integer("batch_tokens", None, "Padded target tokens per train step (default: per workload).")
  flags.DEFINE_integer("decode_batch", None, "Sentences per beam-search call (default: per workload).")
  flags.DEFINE_float("peak_tflops", None, "Peak TFLOP/s per device for MFU (default: dense bf16 peak by device "
                     "kind; none on CPU).")
  flags.DEFINE_bool("measure_peak", False, "Measure this device's matmul TFLOP/s (2048^2 in --dtype, best of 10, "
                    "all devices at once, before and after the workloads: the faster), report it and use it as the "
                    "peak for MFU where --peak_tflops and the table give none.")
  flags.DEFINE_string("attention_impl", None, "Passed to ModelConfig.attention_impl.")
  flags.DEFINE_multi_string("set", [], "KEY=VALUE: any other ModelConfig field (repeatable); unknown fields are "
                            "reported and ignored.")
  flags.DEFINE_integer("num_devices", -1, "Devices on the data axis (default: all).")
  flags.DEFINE_integer("seed", 0, "Seed of the random inputs and weights.")
  flags.DEFINE_string("output", None, "Also write the JSON report to this path.")
  flags.DEFINE_string("profile_dir", None, "Also trace 3 train steps and 1 beam search (after timing) into this "
                      "directory for TensorBoard/Perfetto, with the optimized HLO beside them.")


def check_args(args) -> None:
  unknown = [w for w in args.workloads if w not in WORKLOADS]
  if unknown:
    raise app.UsageError(f"--workloads: unknown {unknown}; choose from {list(WORKLOADS)}")
  if not set(args.phases) <= {"train", "decode"}:
    raise app.UsageError(f"--phases={','.join(args.phases)}: use train, decode or train,decode")


def main(argv) -> None:
  del argv
  args = flags.FLAGS
  check_args(args)
  overrides = parse_overrides(args.set)
  if args.attention_impl:
    overrides["attention_impl"] = args.attention_impl
  mesh = sharding.make_mesh(args.num_devices)
  devices = list(mesh.devices.flat)
  device_kind = devices[0].device_kind
  peak = peak_tflops_per_device(device_kind, args.peak_tflops)
  measured = flops.measured_matmul_tflops(args.dtype, mesh) if args.measure_peak else None
  if measured is not None:
    log(f"measured matmul: {measured * 1e3:.1f} GFLOP/s per device ({args.dtype}, 2048^2, {len(devices)} "
        "device(s) at once, best of 10)")
    peak = peak or measured
  report = {
      "benchmark": "benchmarks.bench",
      "time_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
      "platform": devices[0].platform, "device_kind": device_kind, "device_count": len(devices),
      "versions": common.versions(), "xla_flags": os.environ.get("XLA_FLAGS", ""), "dtype": args.dtype,
      "peak_tflops_per_device": peak, "measured_matmul_tflops": measured,
      "peak_note": None if peak else "MFU is null: no known peak for this device (pass --peak_tflops)",
      "mfu_formula": flops.MFU_FORMULA,
      "peak_memory_note": "peak_bytes_in_use: max over devices of memory_stats()['peak_bytes_in_use'], the process "
                          "peak so far (null on CPU); where peak_rose_in_phase is false the phase stayed below an "
                          "earlier phase's peak. xla_memory: the compiler's buffer sizes for the train step.",
      "model_overrides": overrides, "workloads": {},
  }
  log(f"{len(devices)} x {device_kind} ({devices[0].platform}), jax {jax.__version__}, peak "
      f"{peak or 'unknown'} TFLOP/s per device")
  phases = args.phases
  for name in args.workloads:
    defaults = WORKLOADS[name]
    workload = dataclasses.replace(defaults, **{k: getattr(args, k) for k in (
        "steps", "warmup", "decode_repeats", "batch_tokens", "decode_batch") if getattr(args, k) is not None})
    cfg, ignored = model_config(workload, args.dtype, overrides)
    if ignored:
      log(f"{name}: ModelConfig has no field(s) {sorted(ignored)}: ignored")
    result = {"model": dataclasses.asdict(cfg), "ignored_overrides": ignored, "workload": dataclasses.asdict(workload)}
    report["workloads"][name] = result
    params = None
    if "train" in phases:
      try:
        result["train"], params = bench_train(name, workload, cfg, mesh, peak, args.seed, args.profile_dir)
      except Exception as error:  # pylint: disable=broad-except
        log(f"{name}: train failed: {type(error).__name__}: {error}")  # e.g. out of memory: go on with the rest
        result["train"] = {"error": f"{type(error).__name__}: {str(error)[:2000]}"}
    if "decode" in phases:
      try:
        if params is None:
          init = lambda rng: Transformer(cfg).init(rng, *[np.ones((1, 2), np.int32)] * 3)["params"]
          params = jax.jit(init, out_shardings=sharding.replicated(mesh))(jax.random.PRNGKey(args.seed))
        result["decode"] = bench_decode(name, workload, cfg, params, mesh, args.seed, args.profile_dir)
      except Exception as error:  # pylint: disable=broad-except
        log(f"{name}: decode failed: {type(error).__name__}: {error}")
        result["decode"] = {"error": f"{type(error).__name__}: {str(error)[:2000]}"}
    del params
    jax.clear_caches()

  if measured is not None and report["peak_note"] is None and peak == measured:
    # Measured again after the workloads: the faster of the two is the peak, so a slow moment on a shared machine
    # during the first measurement cannot inflate the MFU.
    again = flops.measured_matmul_tflops(args.dtype, mesh)
    log(f"measured matmul again: {again * 1e3:.1f} GFLOP/s per device")
    peak = max(measured, again)
    report.update(peak_tflops_per_device=peak, measured_matmul_tflops_each=[measured, again])
    for result in report["workloads"].values():
      if "model_tflops_per_s" in result.get("train", {}):
        result["train"]["mfu"] = result["train"]["model_tflops_per_s"] / (peak * len(devices))

  text = json.dumps(report, indent=2)
  if args.output:
    with open(args.output, "w") as f:
      f.write(text + "\n")
  print(table(report), file=sys.stderr, flush=True)
  print(text, flush=True)


if __name__ == "__main__":
  _define_flags()
  cli.run(main)
