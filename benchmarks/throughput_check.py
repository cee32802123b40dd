"""Parts "throughput" and "torch" of the device check: Transformer-base and -big train steps at the paper's batch,
their speed, memory and MFU, and the same model in PyTorch.

throughput (JAX): first a bfloat16 matmul of MATMUL_SIZE^3 is timed (the chip's practical peak, measured in the same
run; again at the end, the faster counts), then train steps (bfloat16) at the paper's batch of 25,000 real tokens a
side over a synthetic corpus of WMT-like lengths (random ids), fed through the training loop's prefetcher. Paths:
"xla_packed" is what the paper configs train: the PackedBatcher's rows of 256 (8 open rows), one shape, attention
masked to each sentence. "cudnn" and "xla" take the BucketedBatcher's 16 fitted buckets of one sentence a row
(cudnn cannot take packed rows); to keep compiles within the time limit their timed steps use the bucket holding the
most tokens (several different batches of its shape; the JSON names the bucket and its share). Per path: real target
tokens/s, model TFLOP/s (benchmarks.flops.MFU_FORMULA, attention counted per sentence), MFU against the datasheet's
dense bf16 peak and against the measured matmul, peak memory, input wait. Then beam-4 decoding (alpha 0.6, limit
source + 50) where time is left.

torch (its own process, so that each framework has the device's memory to itself): the same Transformer and train
step written in PyTorch (post-norm, tied embeddings, bf16 autocast, scaled_dot_product_attention, fused Adam,
optionally torch.compile) on the bucketed batches; ours / PyTorch (real target tokens/s) is the headline.
"""

from __future__ import annotations

import dataclasses
import importlib
import statistics
import time

import jax
import numpy as np
from flax.linen import unbox as nn_unbox

from benchmarks import bench, common
from transformer_jax import flops, sharding, train_step
from transformer_jax.data import batching, prefetch, token_cache
from transformer_jax.model import ModelConfig, Transformer, count_parameters, sinusoidal_table

MATMUL_SIZE = 8192  # bf16 [8192, 8192] x [8192, 8192]: ~790-800 TFLOP/s on one H100/H200 (1.1 TFLOP a product)


@dataclasses.dataclass(frozen=True)
class CheckWorkload(common.Architecture):
  real_tokens_per_batch: int  # real tokens a side per step, as the paper counts
  bucket_count: int
  pack_open_rows: int  # the packed path's rows filled at once (the paper configs' pack_open_rows)
  max_length: int  # longest pair kept (the configs' max_source_length / max_target_length)
  corpus_pairs: int  # synthetic corpus the batcher draws from
  decode: bench.Workload  # the decoding benchmark's own settings


def _decode_workload(name: str, **changes) -> bench.Workload:
  return dataclasses.replace(bench.WORKLOADS[name], **changes)


WORKLOADS = {
    "base": CheckWorkload(37_000, 6, 512, 2048, 8, 0.1, 25_000, 16, 8, 256, 300_000,
                          _decode_workload("base", decode_batch=256, decode_repeats=2)),
    "big": CheckWorkload(37_000, 6, 1024, 4096, 16, 0.3, 25_000, 16, 8, 256, 300_000,
                         _decode_workload("big", decode_batch=256, decode_repeats=2)),
    # For the CPU test: every part end to end in seconds.
    "tiny": CheckWorkload(64, 1, 16, 32, 2, 0.1, 256, 4, 4, 32, 2_000, bench.WORKLOADS["tiny"]),
}

PACKED = "xla_packed"  # the train path on packed rows: attention_impl "xla" with the dense segment mask
TRAIN_PATHS = (PACKED, "cudnn", "xla")


def synthetic_corpus(workload: CheckWorkload, seed: int) -> tuple[token_cache.TokenSequences, ...]:
  """The workload's corpus: random ids, pairs longer than its max_length dropped."""
  return common.synthetic_corpus(workload.corpus_pairs, seed, workload.vocab_size, workload.max_length)


def bucketed_batcher(workload: CheckWorkload, corpus, seed: int) -> batching.BucketedBatcher:
  return batching.BucketedBatcher(*corpus, bucket_lengths=(workload.max_length,), tokens_per_batch=0, seed=seed,
                                  real_tokens_per_batch=workload.real_tokens_per_batch,
                                  bucket_count=workload.bucket_count)


def timed_steps(batcher: batching.BucketedBatcher, count: int) -> tuple[list[int], dict]:
  """`count` steps of the first epoch from the bucket holding the most real target tokens, and what it is."""
  plan = batcher._epoch_plan(0)  # pylint: disable=protected-access
  tokens = {}
  for length, members in plan:
    tokens[length] = tokens.get(length, 0) + int(batcher.targets.lengths[members].sum())
  length = max(tokens, key=tokens.get)
  steps = [step for step, (bucket, _) in enumerate(plan) if bucket == length]
  steps = (steps * -(-count // len(steps)))[:count]
  info = {"bucket_length": length, "rows": batcher.rows[length], "bucket_share_of_target_tokens":
          tokens[length] / sum(tokens.values()), "buckets": batcher.shapes()}
  return steps, info


def model_config(workload: CheckWorkload, impl: str) -> ModelConfig:
  return common.model_config(workload, dtype="bfloat16", attention_impl="xla" if impl == PACKED else impl,
                             packed_rows=impl == PACKED)


def wait_summary(waits: list[float]) -> dict:
  return {"mean_ms": 1e3 * statistics.fmean(waits), "max_ms": 1e3 * max(waits)}


def mfu(tflops_per_s: float, peak: float | None) -> float | None:
  return tflops_per_s / peak if peak else None


def environment() -> dict:
  """The device and the versions that decide the numbers."""
  device = jax.devices()[0]
  out = {"platform": device.platform, "device_kind": device.device_kind, "device_count": jax.device_count(),
         "versions": common.versions()}
  try:
    from jax._src.lib import cuda_versions  # pylint: disable=g-import-not-at-top
    out["versions"]["cudnn_jax"] = cuda_versions.cudnn_get_version() if cuda_versions else None
    out["versions"]["cuda_runtime_jax"] = cuda_versions.cuda_runtime_get_version() if cuda_versions else None
  except Exception:  # pylint: disable=broad-except
    out["versions"]["cudnn_jax"] = None
  return out


def torch_versions() -> dict:
  try:
    torch = importlib.import_module("torch")
  except ImportError:
    return {"torch": None}
  return {"torch": torch.__version__, "torch_cuda": torch.version.cuda,
          "cudnn_torch": torch.backends.cudnn.version() if torch.cuda.is_available() else None}


# ---- Our train step ----

def check_train(name: str, workload: CheckWorkload, impl: str, batcher, steps: list[int], warmup: int, mesh,
                peaks: dict, log) -> tuple[dict, object]:
  cfg = model_config(workload, impl)
  model = Transformer(cfg)
  optimizer, schedule = common.make_optimizer(cfg.d_model)
  state = train_step.create_train_state(model, optimizer, jax.random.PRNGKey(0), mesh)
  dropout_rng = jax.device_put(jax.random.PRNGKey(1), sharding.replicated(mesh))
  step_fn = train_step.jit_train_step(model, mesh, 0.1, schedule)
  peak_before = bench.peak_memory_bytes()
  times, waits, step_flops, target_tokens, source_tokens = [], [], [], [], []
  started = time.perf_counter()
  make = lambda i: train_step.put_batch(batcher.batch_at(steps[i]), mesh)
  with prefetch.Prefetcher(make, 0, len(steps)) as batches:
    for i in range(len(steps)):
      tick = time.perf_counter()
      batch = batches.get(i)
      waits.append(batches.last_wait_s)
      state, metrics = step_fn(state, batch, dropout_rng)
      jax.block_until_ready((state, metrics))
      elapsed = time.perf_counter() - tick
      if i == 0:
        log(f"{name}/{impl}: compiled and ran the first step in {elapsed:.1f} s")
        first_s = elapsed
      if i >= warmup:
        host = batcher.batch_at(steps[i])
        times.append(elapsed)
        step_flops.append(flops.train_flops(cfg, *flops.pair_lengths(host))["total"])
        target_tokens.append(int((host["target_segments"] > 0).sum()))
        source_tokens.append(int((host["source_segments"] > 0).sum()))
  step_time = statistics.median(times)
  achieved = statistics.fmean(step_flops) / step_time / 1e12
  result = {
      "status": "ok", "attention_impl": cfg.attention_impl, "packed_rows": cfg.packed_rows,
      "batch_shape": list(host["targets"].shape), "parameters": count_parameters(state.params),
      "first_step_s": first_s, "total_s": time.perf_counter() - started,
      "step_time": bench.summary(times), "real_target_tokens_per_step": statistics.fmean(target_tokens),
      "real_source_tokens_per_step": statistics.fmean(source_tokens),
      "target_tokens_per_s": statistics.fmean(target_tokens) / step_time, "model_tflops_per_s": achieved,
      "mfu_vs_datasheet": mfu(achieved, peaks["datasheet"]),
      "mfu_vs_measured_matmul": mfu(achieved, peaks["measured"]),
      "input_wait_after_warmup": wait_summary(waits[warmup:]),
      "final_loss": float(metrics["loss_sum"] / metrics["tokens"]), **bench.peak_memory(peak_before)}
  log(f"{name}/{impl}: {result['target_tokens_per_s']:,.0f} target tok/s, step {step_time * 1e3:.1f} ms, "
      f"{achieved:.1f} TFLOP/s, MFU {format_mfu(result)}, input wait "
      f"{result['input_wait_after_warmup']['mean_ms']:.2f} ms")
  return result, state.params


def format_mfu(result: dict) -> str:
  show = lambda x: "-" if x is None else f"{x:.1%}"
  return (f"{show(result.get('mfu_vs_datasheet'))} of the datasheet peak, "
          f"{show(result.get('mfu_vs_measured_matmul'))} of the measured matmul")


def measure_matmul(size: int, log) -> float:
  """bf16 [size, size] x [size, size] on the one device, float32 accumulation, best of 10 (TFLOP/s)."""
  started = time.perf_counter()
  tflops = flops.measured_matmul_tflops("bfloat16", sharding.make_mesh(1), size=size, repeats=10)
  log(f"measured bf16 matmul ({size}^3): {tflops:.1f} TFLOP/s ({time.perf_counter() - started:.1f} s)")
  return tflops


def run_jax(workloads: list[str], impls: list[str], steps: int, warmup: int, seed: int, matmul_size: int,
            peak_override: float, decode: bool, deadline: float, min_item_s: float, record, log) -> dict:
  """The JAX side of part (c). `record(result)` after each item; an item starts only while min_item_s is left."""
  mesh = sharding.make_mesh(1)  # one chip: the check is per device
  device = mesh.devices.flat[0]
  datasheet = bench.peak_tflops_per_device(device.device_kind, peak_override or None)
  result = {"environment": environment(), "mfu_formula": flops.MFU_FORMULA, "datasheet_peak_tflops": datasheet,
            "datasheet_note": "dense bf16 peak by device kind (benchmarks.bench.PEAK_BF16_TFLOPS); null where "
                              "unknown (CPUs)",
            "matmul_size": matmul_size, "measured_matmul_tflops": None, "workloads": {}}
  peaks = {"datasheet": datasheet, "measured": None}

  def attempt(entry: dict, key: str, label: str, fn) -> object:
    if time.time() + min_item_s > deadline:
      entry[key] = {"status": "skipped", "reason": "the part's time is spent"}
      log(f"{label}: skipped (the part's time is spent)")
      record(result)
      return None
    entry[key] = {"status": "running"}  # left so if the process is killed at the deadline
    record(result)
    try:
      out = fn()  # a result dict, or (result dict, trained parameters)
      entry[key] = out[0] if isinstance(out, tuple) else out
    except Exception as error:  # pylint: disable=broad-except
      log(f"{label} failed: {type(error).__name__}: {str(error)[:500]}")
      entry[key] = {"status": "error", "error": f"{type(error).__name__}: {str(error)[:2000]}"}
      out = None
    finally:
      jax.clear_caches()
    record(result)
    return out

  measured = attempt(result, "matmul_first", "matmul", lambda: {"status": "ok",
                                                                "tflops": measure_matmul(matmul_size, log)})
  if measured:
    peaks["measured"] = result["measured_matmul_tflops"] = measured["tflops"]

  corpora, batchers, packers, params = {}, {}, {}, {}
  for name in workloads:
    workload = WORKLOADS[name]
    result["workloads"][name] = {"workload": dataclasses.asdict(workload), "train": {}}

  def bucketed(name):
    if name not in batchers:
      corpora.setdefault(name, synthetic_corpus(WORKLOADS[name], seed))
      batchers[name] = bucketed_batcher(WORKLOADS[name], corpora[name], seed)
      result["workloads"][name]["bucketed_batches"] = timed_steps(batchers[name], warmup + steps)[1]
    return batchers[name]

  def packed(name):
    if name not in packers:
      workload = WORKLOADS[name]
      corpora.setdefault(name, synthetic_corpus(workload, seed))
      packers[name] = batching.PackedBatcher(*corpora[name], length=workload.max_length, tokens_per_batch=0,
                                             seed=seed, real_tokens_per_batch=workload.real_tokens_per_batch,
                                             open_rows=workload.pack_open_rows)
      result["workloads"][name]["packed_batches"] = {"rows": packers[name].rows, "length": packers[name].length,
                                                     "open_rows": packers[name].open_rows}
    return packers[name]

  for impl in impls:
    for name in workloads:
      workload = WORKLOADS[name]

      def train_path():
        if impl == PACKED:
          return check_train(name, workload, impl, packed(name), list(range(warmup + steps)), warmup, mesh, peaks,
                             log)
        batcher = bucketed(name)
        return check_train(name, workload, impl, batcher, timed_steps(batcher, warmup + steps)[0], warmup, mesh,
                           peaks, log)

      out = attempt(result["workloads"][name]["train"], impl, f"{name}/{impl}", train_path)
      if out:
        params.setdefault(name, out[1])  # any path's trained weights serve the decoder
  if decode:
    for name in workloads:
      workload = WORKLOADS[name]

      def decode_workload():
        cfg = model_config(workload, "xla")
        init = lambda rng: Transformer(cfg).init(rng, *[np.ones((1, 2), np.int32)] * 3)["params"]
        weights = params[name] if name in params else jax.jit(init)(jax.random.PRNGKey(seed))
        return {"status": "ok", **bench.bench_decode(name, workload.decode, cfg, weights, mesh, seed)}

      attempt(result["workloads"][name], "decode", f"{name}/decode", decode_workload)
      params.pop(name, None)
  again = attempt(result, "matmul_last", "matmul again", lambda: {"status": "ok",
                                                                  "tflops": measure_matmul(matmul_size, log)})
  if again:
    best = max(peaks["measured"] or 0.0, again["tflops"])
    peaks["measured"] = result["measured_matmul_tflops"] = best
    for entry in result["workloads"].values():
      for path in entry["train"].values():
        if "model_tflops_per_s" in path:
          path["mfu_vs_measured_matmul"] = mfu(path["model_tflops_per_s"], best)
    record(result)
  return result


# ---- The PyTorch reference ----

def torch_transformer(workload: CheckWorkload, device: str):
  """The paper's Transformer in PyTorch, as its users would write it: post-norm layers, tied input/output
  embeddings scaled by sqrt(d_model), sinusoidal positions, scaled_dot_product_attention, no key bias (as ours)."""
  import torch  # pylint: disable=g-import-not-at-top
  from torch import nn  # pylint: disable=g-import-not-at-top
  functional = torch.nn.functional
  d, heads = workload.d_model, workload.num_heads

  class Attention(nn.Module):
    def __init__(self):
      super().__init__()
      self.query, self.key = nn.Linear(d, d), nn.Linear(d, d, bias=False)
      self.value, self.out = nn.Linear(d, d), nn.Linear(d, d)

    def forward(self, x, memory, mask=None, causal=False):
      split = lambda t: t.view(t.shape[0], t.shape[1], heads, d // heads).transpose(1, 2)
      context = functional.scaled_dot_product_attention(split(self.query(x)), split(self.key(memory)),
                                                        split(self.value(memory)), attn_mask=mask, is_causal=causal)
      return self.out(context.transpose(1, 2).reshape(x.shape))

  class Layer(nn.Module):
    def __init__(self, cross: bool):
      super().__init__()
      self.self_attention = Attention()
      # Flax's LayerNorm epsilon (1e-6), so that both compute the same function.
      self.norms = nn.ModuleList([nn.LayerNorm(d, eps=1e-6) for _ in range(3 if cross else 2)])
      self.cross_attention = Attention() if cross else None
      self.ffn = nn.Sequential(nn.Linear(d, workload.d_ff), nn.ReLU(), nn.Linear(workload.d_ff, d))
      self.dropout = nn.Dropout(workload.dropout_rate)

    def forward(self, x, self_mask, causal, memory=None, memory_mask=None):
      x = self.norms[0](x + self.dropout(self.self_attention(x, x, self_mask, causal)))
      if self.cross_attention is not None:
        x = self.norms[1](x + self.dropout(self.cross_attention(x, memory, memory_mask)))
      return self.norms[-1](x + self.dropout(self.ffn(x)))

  class Model(nn.Module):
    def __init__(self):
      super().__init__()
      self.embedding = nn.Embedding(workload.vocab_size, d)
      nn.init.normal_(self.embedding.weight, std=d ** -0.5)
      self.register_buffer("positions", torch.from_numpy(sinusoidal_table(512, d)))
      self.encoder = nn.ModuleList([Layer(False) for _ in range(workload.num_layers)])
      self.decoder = nn.ModuleList([Layer(True) for _ in range(workload.num_layers)])
      self.dropout = nn.Dropout(workload.dropout_rate)

    def embed(self, tokens):
      return self.dropout(self.embedding(tokens) * d ** 0.5 + self.positions[:tokens.shape[1]])

    def forward(self, source, decoder_inputs, targets):
      # Rows hold one sentence from position 0: padding keys are masked, and the causal mask alone is exact for
      # the decoder's real queries (their padding keys all lie in the future). Position 0 stays visible so that a
      # row of batch padding never takes a softmax over no key.
      source_valid = source > 0
      source_valid[:, 0] = True
      key_mask = source_valid[:, None, None, :]
      x = self.embed(source)
      for layer in self.encoder:
        x = layer(x, key_mask, False)
      y = self.embed(decoder_inputs)
      for layer in self.decoder:
        y = layer(y, None, True, x, key_mask)
      logits = (y @ self.embedding.weight.t()).float()
      loss = functional.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1), ignore_index=0,
                                      label_smoothing=0.1, reduction="sum")
      return loss / (targets > 0).sum()

  return Model().to(device)


def load_our_params(torch_model, params) -> None:
  """Copies our parameter tree into the PyTorch model (in place): both then compute the same function."""
  import torch  # pylint: disable=g-import-not-at-top
  params = jax.tree_util.tree_map(lambda x: np.asarray(x, np.float32), jax.device_get(nn_unbox(params)))

  def set_(tensor, value):
    with torch.no_grad():
      tensor.copy_(torch.from_numpy(np.array(value, np.float32)).reshape(tensor.shape))

  def attention(module, ours):
    for name in ("query", "key", "value"):
      kernel = ours[name]["kernel"]
      set_(getattr(module, name).weight, kernel.reshape(kernel.shape[0], -1).T)
      if getattr(module, name).bias is not None:
        set_(getattr(module, name).bias, ours[name]["bias"].reshape(-1))
    set_(module.out.weight, ours["out"]["kernel"].reshape(-1, ours["out"]["kernel"].shape[-1]).T)
    set_(module.out.bias, ours["out"]["bias"])

  def layer(module, ours, norms):
    attention(module.self_attention, ours["self_attention"])
    if module.cross_attention is not None:
      attention(module.cross_attention, ours["cross_attention"])
    for norm, name in zip(module.norms, norms):
      set_(norm.weight, ours[name]["norm"]["scale"])
      set_(norm.bias, ours[name]["norm"]["bias"])
    for index, name in ((0, "wi"), (2, "wo")):
      set_(module.ffn[index].weight, ours["ffn"][name]["kernel"].T)
      set_(module.ffn[index].bias, ours["ffn"][name]["bias"])

  set_(torch_model.embedding.weight, params["embedder"]["token_embedding"]["embedding"])
  for i, module in enumerate(torch_model.encoder):
    layer(module, params[f"encoder_{i}"], ("self_attention_norm", "ffn_norm"))
  for i, module in enumerate(torch_model.decoder):
    layer(module, params[f"decoder_{i}"], ("self_attention_norm", "cross_attention_norm", "ffn_norm"))


def check_torch(name: str, workload: CheckWorkload, batcher, steps: list[int], warmup: int, compile_model: bool,
                peaks: dict, log) -> dict:
  import torch  # pylint: disable=g-import-not-at-top
  device = "cuda" if torch.cuda.is_available() else "cpu"
  torch.manual_seed(0)
  model = torch_transformer(workload, device)
  parameters = sum(p.numel() for p in model.parameters())
  optimizer = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.9, 0.98), eps=1e-9,
                               fused=device == "cuda")
  forward = torch.compile(model, dynamic=False) if compile_model else model
  keys = ("source", "decoder_inputs", "targets")
  # Placed on the device before timing: the reference gets no input pipeline to pay for.
  host = [batcher.batch_at(step) for step in steps]
  placed = [{k: torch.from_numpy(b[k].astype(np.int64)).to(device) for k in keys} for b in host]
  sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
  if device == "cuda":
    torch.cuda.reset_peak_memory_stats()

  times = []
  for i, batch in enumerate(placed):
    tick = time.perf_counter()
    with torch.autocast(device_type=device, dtype=torch.bfloat16):
      loss = forward(batch["source"], batch["decoder_inputs"], batch["targets"])
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    sync()
    elapsed = time.perf_counter() - tick
    if i == 0:
      log(f"{name}/torch: {'compiled and ' if compile_model else ''}ran the first step in {elapsed:.1f} s")
    if i >= warmup:
      times.append(elapsed)
  cfg = model_config(workload, "naive")
  timed = host[warmup:]
  model_flops = statistics.fmean(flops.train_flops(cfg, *flops.pair_lengths(b))["total"] for b in timed)
  tokens = statistics.fmean(int((b["target_segments"] > 0).sum()) for b in timed)
  step_time = statistics.median(times)
  achieved = model_flops / step_time / 1e12
  result = {"status": "ok", "device": device, "torch_compile": compile_model, "parameters": parameters,
            "step_time": bench.summary(times), "target_tokens_per_s": tokens / step_time,
            "model_tflops_per_s": achieved, "mfu_vs_datasheet": mfu(achieved, peaks["datasheet"]),
            "mfu_vs_measured_matmul": mfu(achieved, peaks["measured"]),
            "peak_bytes_in_use": int(torch.cuda.max_memory_allocated()) if device == "cuda" else None,
            "final_loss": float(loss.detach())}
  log(f"{name}/torch: {result['target_tokens_per_s']:,.0f} target tok/s, step {step_time * 1e3:.1f} ms, "
      f"MFU {format_mfu(result)}")
  return result


def run_torch(workloads: list[str], steps: int, warmup: int, seed: int, torch_compile: bool, datasheet: float | None,
              measured: float | None, deadline: float, min_item_s: float, record, log) -> dict:
  """The PyTorch side of part (c), on the bucketed batches of the bucket the JAX paths time: eager for every
  workload first (its compile is quick), then torch.compile'd where time is left (`compiled`)."""
  result = {"versions": torch_versions(), "workloads": {}, "compiled": {}}
  if result["versions"]["torch"] is None:
    result.update(status="skipped", reason="torch is not installed")
    return result
  import torch  # pylint: disable=g-import-not-at-top
  if datasheet is None and torch.cuda.is_available():  # part (c) gave none: by the device's name
    result["device_name"] = torch.cuda.get_device_name(0)
    datasheet = bench.peak_tflops_per_device(result["device_name"], None)
  result.update(datasheet_peak_tflops=datasheet, measured_matmul_tflops=measured)
  peaks = {"datasheet": datasheet, "measured": measured}
  batchers = {}
  for key, compile_model in [("workloads", False)] + ([("compiled", True)] if torch_compile else []):
    for name in workloads:
      entry = result[key]
      if time.time() + min_item_s > deadline:
        entry[name] = {"status": "skipped", "reason": "the part's time is spent"}
        record(result)
        continue
      entry[name] = {"status": "running"}
      record(result)
      try:
        workload = WORKLOADS[name]
        if name not in batchers:
          batchers[name] = bucketed_batcher(workload, synthetic_corpus(workload, seed), seed)
        timed, _ = timed_steps(batchers[name], warmup + steps)
        entry[name] = check_torch(name, workload, batchers[name], timed, warmup, compile_model, peaks, log)
      except Exception as error:  # pylint: disable=broad-except
        log(f"{name}/torch{' compiled' if compile_model else ''} failed: {type(error).__name__}: {str(error)[:500]}")
        entry[name] = {"status": "error", "error": f"{type(error).__name__}: {str(error)[:2000]}"}
      record(result)
  return result
