r"""The device check: one command that measures the paper's recipe on one accelerator, in one JSON.

  python -m benchmarks.device_check                       # on a GPU: about 6-8 minutes, JSON in docs/results/
  python -m benchmarks.device_check --workloads=tiny --torch_compile=false --output=/tmp/check.json   # CPU

Needs only jax, flax, optax, numpy, absl and (for the reference) torch: no TensorFlow, tfds, clu, ml_collections
or sentencepiece. Parts, in this order, each in its own try (a failing part records its error and the run goes on;
the JSON is rewritten after every part, so a run cut short keeps what it measured):

- train: Transformer-base and -big train steps (bfloat16) at the paper's batch of 25,000 real tokens a side, over a
  synthetic corpus of WMT-like lengths (random ids), fed through the training loop's prefetcher. Paths:
  "xla_packed" is what the paper configs train: the PackedBatcher's rows of 256 (8 open rows), one shape, attention
  masked to each sentence. "xla" and "cudnn" take the BucketedBatcher's 16 fitted buckets of one sentence a row
  (cudnn cannot take packed rows); to keep compiles within the time limit their timed steps use the bucket holding
  the most tokens (several different batches of its shape; the JSON names the bucket and its share). Target
  tokens/s, MFU (benchmarks.flops.MFU_FORMULA, counting attention per sentence), peak memory, input wait.
- torch: the same Transformer and train step written in PyTorch (post-norm, tied embeddings, bf16 autocast,
  scaled_dot_product_attention, Adam, optionally torch.compile) on the bucketed batches; ours / PyTorch (real
  target tokens/s) is the headline.
- decode: beam 4 (alpha 0.6, limit source + 50) for base and big on one batch of sorted real-length sentences
  (benchmarks.bench.bench_decode): target tokens/s and sentences/s.
- attention: the fused paths against the naive one on a real-shaped padded batch (base model, bfloat16): relative
  error of the logits and of the parameter gradients.
"""

from __future__ import annotations

import dataclasses
import datetime
import importlib
import json
import os
import re
import statistics
import sys
import time
import traceback

# JAX and PyTorch share the one device: JAX's allocator takes this share of its memory (instead of 75%), torch's
# caching allocator the rest. Set before JAX starts; an explicit setting in the environment wins.
os.environ.setdefault("XLA_PYTHON_CLIENT_MEM_FRACTION", "0.45")

import jax  # pylint: disable=g-import-not-at-top,wrong-import-position
import jax.numpy as jnp
import numpy as np
import optax
from absl import flags
from flax.linen import unbox as nn_unbox

from benchmarks import bench, common
from transformer_jax import cli, flops, losses, sharding, train_step
from transformer_jax.data import batching, prefetch, token_cache
from transformer_jax.model import ModelConfig, Transformer, count_parameters, sinusoidal_table


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
    # For the CPU test: every part end to end in well under a minute.
    "tiny": CheckWorkload(64, 1, 16, 32, 2, 0.1, 256, 4, 4, 32, 2_000, bench.WORKLOADS["tiny"]),
}


log = common.logger("device_check")


# ---- Inputs: the project's batcher over a synthetic corpus of WMT-like lengths ----

def synthetic_corpus(workload: CheckWorkload, seed: int) -> tuple[token_cache.TokenSequences, ...]:
  """The workload's corpus: random ids, pairs longer than its max_length dropped."""
  return common.synthetic_corpus(workload.corpus_pairs, seed, workload.vocab_size, workload.max_length)


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


PACKED = "xla_packed"  # the train path on packed rows: attention_impl "xla" with the dense segment mask
TRAIN_PATHS = (PACKED, "xla", "cudnn")


def model_config(workload: CheckWorkload, impl: str) -> ModelConfig:
  return common.model_config(workload, dtype="bfloat16", attention_impl="xla" if impl == PACKED else impl,
                             packed_rows=impl == PACKED)


def wait_summary(waits: list[float]) -> dict:
  return {"mean_ms": 1e3 * statistics.fmean(waits), "max_ms": 1e3 * max(waits)}


# ---- Our train step ----

def check_train(name: str, workload: CheckWorkload, impl: str, batcher, steps: list[int], warmup: int, mesh,
                peak_tflops: float | None) -> dict:
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
  achieved = statistics.fmean(step_flops) / step_time
  result = {
      "attention_impl": cfg.attention_impl, "packed_rows": cfg.packed_rows, "batch_shape": list(host["targets"].shape),
      "parameters": count_parameters(state.params),
      "first_step_s": first_s, "total_s": time.perf_counter() - started,
      "step_time": bench.summary(times), "real_target_tokens_per_step": statistics.fmean(target_tokens),
      "real_source_tokens_per_step": statistics.fmean(source_tokens),
      "target_tokens_per_s": statistics.fmean(target_tokens) / step_time, "model_tflops_per_s": achieved / 1e12,
      "mfu": achieved / (peak_tflops * 1e12 * mesh.devices.size) if peak_tflops else None,
      "input_wait_after_warmup": wait_summary(waits[warmup:]), "final_loss": float(metrics["loss_sum"] /
                                                                                    metrics["tokens"]),
      **bench.peak_memory(peak_before)}
  log(f"{name}/{impl}: {result['target_tokens_per_s']:,.0f} target tok/s, step {step_time * 1e3:.1f} ms, MFU "
      f"{result['mfu'] if result['mfu'] is None else format(result['mfu'], '.1%')}, input wait "
      f"{result['input_wait_after_warmup']['mean_ms']:.2f} ms")
  return result, state.params


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
                peak_tflops: float | None) -> dict:
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
  result = {"device": device, "torch_compile": compile_model, "parameters": parameters,
            "step_time": bench.summary(times), "target_tokens_per_s": tokens / step_time,
            "model_tflops_per_s": model_flops / step_time / 1e12,
            "mfu": model_flops / step_time / (peak_tflops * 1e12) if peak_tflops else None,
            "peak_bytes_in_use": int(torch.cuda.max_memory_allocated()) if device == "cuda" else None,
            "final_loss": float(loss.detach())}
  log(f"{name}/torch: {result['target_tokens_per_s']:,.0f} target tok/s, step {step_time * 1e3:.1f} ms")
  return result


# ---- Fused attention against the naive path, through the model ----

def attention_check(workload: CheckWorkload, batcher, step: int):
  """check(impl): the fused path `impl` against the naive one through the model, on the batch of `step`. The weights
  and the naive reference are computed once, by the first call that gets that far, for every path."""
  batch = {k: jnp.asarray(v) for k, v in batcher.batch_at(step).items()}
  naive = Transformer(model_config(workload, "naive"))
  valid = batch["target_segments"] > 0
  computed = {}

  def loss_and_logits(model):
    def run(p):
      logits = model.apply({"params": p}, batch["source"], batch["decoder_inputs"], batch["targets"],
                           source_segments=batch["source_segments"], target_segments=batch["target_segments"])
      smoothed, _ = losses.token_losses(logits, batch["targets"], 0.1)
      return (smoothed * valid).sum() / valid.sum(), logits
    return jax.jit(jax.value_and_grad(run, has_aux=True))

  def check(impl: str) -> dict:
    if "params" not in computed:
      computed["params"] = jax.jit(lambda rng: naive.init(rng, batch["source"][:1], batch["decoder_inputs"][:1],
                                                          batch["targets"][:1])["params"])(jax.random.PRNGKey(0))
    params = computed["params"]
    # The fused path first: one that this device lacks fails before the reference is computed.
    (_, got_logits), got_grads = loss_and_logits(Transformer(model_config(workload, impl)))(params)
    if "reference" not in computed:
      (_, want_logits), want_grads = loss_and_logits(naive)(params)
      computed["reference"] = want_logits, want_grads
    errors = jax.device_get(_compare(got_logits, got_grads, *computed["reference"], valid))
    return {"attention_impl": impl, "against": "naive", "dtype": "bfloat16",
            "batch_shape": list(batch["targets"].shape),
            **{k: errors[k].item() for k in ("logits_relative_error", "grads_relative_error", "all_finite")}}

  return check


@jax.jit
def _compare(got_logits, got_grads, want_logits, want_grads, valid) -> dict:
  """Relative (L2) errors of the logits on real positions and of the gradients, and whether all of `got` is finite;
  in one computation (op by op, each array shape would compile its own kernels)."""
  f32 = lambda x: x.astype(jnp.float32)
  real = lambda x: jnp.where(valid[..., None], f32(x), 0.0)
  difference = jax.tree_util.tree_map(lambda got, want: f32(got) - f32(want), got_grads, want_grads)
  finite = [jnp.isfinite(x).all() for x in [got_logits, *jax.tree_util.tree_leaves(got_grads)]]
  return {"logits_relative_error": jnp.linalg.norm(real(got_logits) - real(want_logits)) /
                                   jnp.linalg.norm(real(want_logits)),
          "grads_relative_error": optax.global_norm(difference) / optax.global_norm(want_grads),
          "all_finite": jnp.stack(finite).all()}


# ---- Report ----

def versions() -> dict:
  out = common.versions()
  try:
    from jax._src.lib import cuda_versions  # pylint: disable=g-import-not-at-top
    out["cudnn_jax"] = cuda_versions.cudnn_get_version() if cuda_versions else None
  except Exception:  # pylint: disable=broad-except
    out["cudnn_jax"] = None
  try:
    torch = importlib.import_module("torch")
    out["torch"] = torch.__version__
    out["cudnn_torch"] = torch.backends.cudnn.version() if torch.cuda.is_available() else None
  except Exception:  # pylint: disable=broad-except
    out["torch"] = None
  return out


def default_output(device_kind: str) -> str:
  name = re.sub(r"[^A-Za-z0-9]+", "_", device_kind).strip("_").lower() or "device"
  return os.path.join("docs", "results", f"{name}_{datetime.date.today().isoformat()}.json")


def table(report: dict) -> str:
  lines = ["workload | path | target tok/s | step ms | MFU | peak GiB | input wait ms | ours / torch"]
  for name, parts in report["workloads"].items():
    torch_rate = (parts.get("torch") or {}).get("target_tokens_per_s")
    for path, result in [(impl, r) for impl, r in parts.get("train", {}).items()] + [("torch", parts.get("torch"))]:
      if not result:
        continue
      if "error" in result or "skipped" in result:
        lines.append(f"{name} | {path} | {result.get('error') or result.get('skipped')}"[:200])
        continue
      rate, mfu, peak = result["target_tokens_per_s"], result.get("mfu"), result.get("peak_bytes_in_use")
      wait = (result.get("input_wait_after_warmup") or {}).get("mean_ms")
      ratio = rate / torch_rate if torch_rate and path != "torch" else None
      lines.append(" | ".join((name, path, f"{rate:,.0f}", f"{result['step_time']['median_s'] * 1e3:.1f}",
                               "-" if mfu is None else f"{mfu:.1%}", "-" if peak is None else f"{peak / 2 ** 30:.1f}",
                               "-" if wait is None else f"{wait:.2f}", "-" if ratio is None else f"{ratio:.2f}")))
    decode = parts.get("decode") or {}
    if "target_tokens_per_s" in decode:
      lines.append(f"{name} | beam 4 | {decode['target_tokens_per_s']:,.0f} target tok/s, "
                   f"{decode['sentences_per_s']:,.1f} sentences/s")
  for impl, result in report.get("attention_check", {}).items():
    lines.append(f"attention {impl} vs naive | " + (result.get("error") or result.get("skipped") or
                 f"logits rel err {result['logits_relative_error']:.2e}, grads {result['grads_relative_error']:.2e}"))
  return "\n".join(lines)


def _define_flags():
  flags.DEFINE_list("workloads", ["base", "big"], f"From {sorted(WORKLOADS)}.")
  flags.DEFINE_list("impls", list(TRAIN_PATHS), f"Paths of our train step: {PACKED} (packed rows, as the "
                    "paper configs train), xla and cudnn (bucketed rows; these two are also checked against the "
                    "naive attention).")
  flags.DEFINE_list("parts", ["train", "torch", "decode", "attention"], "Which parts to run.")
  flags.DEFINE_integer("steps", 10, "Timed train steps per path.")
  flags.DEFINE_integer("warmup", 3, "Untimed train steps (the first compiles).")
  flags.DEFINE_bool("torch_compile", True, "torch.compile the PyTorch reference (slow to compile on CPU).")
  flags.DEFINE_float("peak_tflops", 0.0, "Peak TFLOP/s per device for MFU; 0 = dense bf16 peak by device kind.")
  flags.DEFINE_float("time_budget_s", 400.0, "Parts that would start after this many seconds are skipped "
                     "(recorded as skipped), so the run ends within the device's time limit.")
  flags.DEFINE_string("output", "", "JSON path; default docs/results/<device kind>_<date>.json.")
  flags.DEFINE_integer("seed", 0, "Seed of the synthetic corpus.")


def run(workloads: list[str], impls: list[str], parts: list[str], steps: int, warmup: int, torch_compile: bool,
        peak_tflops: float, time_budget_s: float, output: str, seed: int) -> dict:
  started = time.perf_counter()
  unknown = sorted(set(workloads) - set(WORKLOADS))
  if unknown:
    raise ValueError(f"--workloads: unknown {unknown}; choose from {sorted(WORKLOADS)}")
  mesh = sharding.make_mesh(1)  # one chip: the check is per device
  device = mesh.devices.flat[0]
  peak = bench.peak_tflops_per_device(device.device_kind, peak_tflops or None)
  output = output or default_output(device.device_kind)
  report = {"check": "benchmarks.device_check", "argv": sys.argv,
            "time_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "platform": device.platform, "device_kind": device.device_kind, "versions": versions(),
            "xla_flags": os.environ.get("XLA_FLAGS", ""), "peak_tflops_per_device": peak,
            "xla_python_client_mem_fraction": os.environ.get("XLA_PYTHON_CLIENT_MEM_FRACTION"),
            "mfu_formula": flops.MFU_FORMULA, "workloads": {}, "attention_check": {}}
  log(f"{device.device_kind} ({device.platform}); writing {output}")

  def save():
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    with open(output, "w") as f:
      json.dump(report, f, indent=2)
      f.write("\n")

  def attempt(label: str, fn):
    if time.perf_counter() - started > time_budget_s:
      log(f"{label}: skipped (time budget {time_budget_s:.0f} s spent)")
      return {"skipped": f"time budget of {time_budget_s:.0f} s spent"}
    try:
      return fn()
    except Exception as error:  # pylint: disable=broad-except
      log(f"{label} failed: {type(error).__name__}: {str(error)[:500]}")
      return {"error": f"{type(error).__name__}: {str(error)[:2000]}", "traceback": traceback.format_exc()[-3000:]}
    finally:
      jax.clear_caches()

  unknown = sorted(set(impls) - set(TRAIN_PATHS))
  if unknown:
    raise ValueError(f"--impls: unknown {unknown}; choose from {list(TRAIN_PATHS)}")
  batchers = {}
  for name in workloads:
    workload = WORKLOADS[name]
    corpus = synthetic_corpus(workload, seed)
    batchers[name] = batcher = batching.BucketedBatcher(
        *corpus, bucket_lengths=(workload.max_length,), tokens_per_batch=0, seed=seed,
        real_tokens_per_batch=workload.real_tokens_per_batch, bucket_count=workload.bucket_count)
    timed, info = timed_steps(batcher, warmup + steps)
    entry = report["workloads"][name] = {"workload": dataclasses.asdict(workload), "batches": info, "train": {}}
    params = None
    if "train" in parts:
      for impl in impls:
        def train_path():
          if impl != PACKED:
            return check_train(name, workload, impl, batcher, timed, warmup, mesh, peak)
          packed = batching.PackedBatcher(*corpus, length=workload.max_length, tokens_per_batch=0, seed=seed,
                                          real_tokens_per_batch=workload.real_tokens_per_batch,
                                          open_rows=workload.pack_open_rows)
          info["packed_rows"] = {"rows": packed.rows, "length": packed.length, "open_rows": packed.open_rows}
          return check_train(name, workload, impl, packed, list(range(warmup + steps)), warmup, mesh, peak)
        result = attempt(f"{name}/{impl} train", train_path)
        if isinstance(result, tuple):
          result, path_params = result
          params = path_params if params is None else params  # any path's trained weights serve the decoder
        entry["train"][impl] = result
        save()
    if "torch" in parts:
      entry["torch"] = attempt(f"{name}/torch", lambda: check_torch(name, workload, batcher, timed, warmup,
                                                                    torch_compile, peak))
      save()
    if "decode" in parts:
      def decode():
        cfg = model_config(workload, "xla")
        init = lambda rng: Transformer(cfg).init(rng, *[np.ones((1, 2), np.int32)] * 3)["params"]
        weights = params if params is not None else jax.jit(init)(jax.random.PRNGKey(seed))
        return bench.bench_decode(name, workload.decode, cfg, weights, mesh, seed)
      entry["decode"] = attempt(f"{name}/decode", decode)
      save()
    params = None  # frees the weights before the next workload
  if "attention" in parts:
    name = "base" if "base" in workloads else workloads[0]
    check = attention_check(WORKLOADS[name], batchers[name], timed_steps(batchers[name], 1)[0][0])
    for impl in [impl for impl in impls if impl != PACKED]:
      report["attention_check"][impl] = attempt(f"attention {impl}", lambda: check(impl))
      report["attention_check"][impl]["workload"] = name
      save()
  report["total_s"] = time.perf_counter() - started
  save()
  print(table(report), file=sys.stderr, flush=True)
  log(f"done in {report['total_s']:.0f} s: {output}")
  return report


def main(argv):
  del argv
  f = flags.FLAGS
  run(f.workloads, f.impls, f.parts, f.steps, f.warmup, f.torch_compile, f.peak_tflops, f.time_budget_s, f.output,
      f.seed)


if __name__ == "__main__":
  _define_flags()
  cli.run(main)
