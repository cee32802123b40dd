"""Where a jitted step's time goes, from a jax.profiler trace: XLA CPU thunk times summed by part of the step.

On CPU, a trace written with jax.profiler.trace(dir, create_perfetto_trace=True) holds one complete event per
executed thunk, named after its HLO instruction; the optimized HLO text (compiled.as_text()) gives each
instruction's opcode and op_name metadata, which names the model module and whether it runs in the forward pass
(jvp(...)), the backward pass (transpose(...)) or neither (the optimizer). Used by the train step's profile
(`profile_start_step`), benchmarks/bench.py and benchmarks/decode_bench.py.
"""

from __future__ import annotations

import collections
import glob
import gzip
import json
import os
import re
import time
from typing import Callable

import jax
import numpy as np

from transformer_jax import flops, sharding


def hlo_ops(hlo_text: str) -> dict[str, tuple[str, str]]:
  """Instruction name -> (opcode, op_name metadata) for every instruction of an optimized HLO module's text."""
  ops = {}
  for line in hlo_text.splitlines():
    match = re.match(r"\s*(?:ROOT )?%?([\w.\-]+) = .*? ([a-z][\w\-]*)\(", line)
    if match:
      op_name = re.search(r'op_name="([^"]*)"', line)
      ops[match.group(1)] = (match.group(2), op_name.group(1) if op_name else "")
  return ops


CONTROL_FLOW = ("while", "conditional", "call")
RENDEZVOUS = "rendezvous"  # the opcode category() gets for a collective's wait for the other devices


def thunk_microseconds(trace_dir: str, hlo_text: str,
                       category: Callable[[str, str], str]) -> collections.Counter:
  """Microseconds per category over the XLA CPU thunks of the newest perfetto trace in `trace_dir` (written by
  jax.profiler.trace(..., create_perfetto_trace=True)); `category(opcode, op_name)` names each op's category.
  Each executed thunk is one complete ("X") event named after its HLO instruction. Of the runtime's own spans only
  a collective's rendezvous (a device waiting for the others to arrive) is counted, as category(RENDEZVOUS, ""):
  the rest (executor spans, the host waiting for a launch, Python frames) are not device work. Control flow (while,
  conditional, call) is not counted either: its span holds the thunks of its body, which are."""
  paths = sorted(glob.glob(os.path.join(trace_dir, "**", "perfetto_trace.json.gz"), recursive=True),
                 key=os.path.getmtime)
  with gzip.open(paths[-1]) as f:
    events = json.load(f)
  events = events["traceEvents"] if isinstance(events, dict) else events
  ops = hlo_ops(hlo_text)
  totals = collections.Counter()
  for event in events:
    if event.get("ph") != "X":
      continue
    name = event["name"]
    if name in ops:
      if ops[name][0] not in CONTROL_FLOW:
        totals[category(*ops[name])] += event.get("dur", 0)
    elif name.startswith(("Rendezvous", "Wait: pending_threads")):
      totals[category(RENDEZVOUS, "")] += event.get("dur", 0)
  return totals


def train_category(opcode: str, op_name: str) -> str:
  """Which part of a train step an HLO op belongs to, from its opcode and op_name metadata (jax names the forward
  pass jvp(...) and the backward pass transpose(...); what has neither is the optimizer's update)."""
  if opcode.startswith(("all-reduce", "reduce-scatter", "all-gather", "collective")):
    return "gradient all-reduce"
  if opcode == RENDEZVOUS:
    return "gradient all-reduce: waiting for the other devices"
  if not op_name:
    return "no metadata (copies, parameter and buffer moves)"
  if "jvp(" not in op_name and "transpose(" not in op_name:
    return "optimizer update (Adam, clipping, schedule)"
  if opcode in ("dot", "convolution") or op_name.endswith("dot_general"):
    return "matmuls"
  if any(key in op_name for key in ("Dropout", "threefry", "random_bits", "bernoulli")) or opcode.startswith("rng"):
    return "dropout (random bits, masks)"
  if "token_losses" in op_name:
    return "output softmax and cross-entropy (losses.token_losses)"
  # Each sub-layer's LayerNorm is ".../norm/...", pre-norm's final ones ".../encoder_norm/...", ".../decoder_norm/...".
  if any(f"/{name}/" in op_name for name in ("norm", "encoder_norm", "decoder_norm")) or "LayerNorm" in op_name:
    return "layer norms"
  if "softmax" in op_name or "attention" in op_name:
    return "attention softmax and masks"
  return "other elementwise (residuals, ReLU, embeddings, loss sums)"


def train_profile(trace_dir: str, hlo_text: str, steps: int, seconds: float, devices: int) -> dict:
  """Per category: milliseconds of XLA thunk time per step, summed over the devices, and its share; beside them
  the wall time the devices spent outside any thunk (dispatch, host work, waiting)."""
  totals = thunk_microseconds(trace_dir, hlo_text, train_category)
  busy = sum(totals.values())
  wall = seconds * 1e6 * devices  # device-microseconds of the traced steps
  parts = {name: {"ms_per_step": round(us / steps / 1e3, 2), "share_of_thunk_time": round(us / busy, 4)}
           for name, us in totals.most_common()}
  return {"traced_steps": steps, "devices": devices, "wall_ms_per_step": round(seconds / steps * 1e3, 1),
          "thunk_ms_per_step_all_devices": round(busy / steps / 1e3, 1),
          "outside_thunks_share_of_device_time": round(max(wall - busy, 0) / wall, 4), "parts": parts}


def profile_table(profile: dict) -> str:
  """train_profile's result as text: a header line, then one line per part."""
  lines = [f"train step profile ({profile['traced_steps']} traced steps, {profile['devices']} device(s), "
           f"{profile['wall_ms_per_step']:.0f} ms wall per step"
           + (f" ({profile['untraced_ms_per_step']:.0f} ms untraced)" if profile.get("untraced_ms_per_step") else "")
           + f", {profile['thunk_ms_per_step_all_devices']:.0f} ms of thunks per step over all devices, "
           f"{profile['outside_thunks_share_of_device_time']:.0%} of device time outside thunks):"]
  for part, value in profile["parts"].items():
    lines.append(f"  {value['ms_per_step']:8.1f} ms  {value['share_of_thunk_time']:6.1%}  {part}")
  if profile.get("mfu") is not None:
    lines.append(f"untraced: {profile['model_gflops_per_step']:.2f} GFLOP of model FLOPs a step, "
                 f"{profile['model_gflops_per_s']:.1f} GFLOP/s = {profile['mfu']:.1%} of the matmul peak measured "
                 f"after the trace ({profile['matmul_peak_gflops_per_s']:.1f} GFLOP/s, 2048^2, all devices at once)")
  return "\n".join(lines)


UNTRACED_STEPS = 10  # timed without the trace just before it (fewer where the run starts later)


class StepProfiler:
  """Traces the training loop's steps [start, start + count) and sums them by part (train_profile).

  Up to UNTRACED_STEPS steps before them (never the first, which compiles) are timed untraced, so the trace's own
  cost shows beside the untraced step time. The model FLOPs of those steps (flops.train_flops, over this process's
  rows) against the matmul speed of this process's devices, measured right after the trace (flops.MFU_FORMULA),
  give the achieved FLOP/s and MFU. Each call blocks on the state only at the window's edges; everywhere else the
  loop runs as it always does.
  """

  def __init__(self, directory: str, start: int, count: int, mesh, model_config, dtype: str):
    self.directory, self.start, self.count = directory, start, count
    self.local_devices = [d for d in mesh.devices.flat if d.process_index == jax.process_index()]
    self.model_config, self.dtype = model_config, dtype
    self.untraced_from = max(start - UNTRACED_STEPS, 1)
    self.marks: dict[str, float] = {}
    self.untraced_flops: list[float] = []
    self.result: dict | None = None

  def before_step(self, step: int, state, batch: dict) -> None:
    if step == self.untraced_from and step < self.start:
      jax.block_until_ready(state)
      self.marks["untraced"] = time.perf_counter()
    if self.untraced_from <= step < self.start:
      local = {key: np.concatenate([np.asarray(shard.data) for shard in batch[key].addressable_shards])
               for key in ("source_segments", "target_segments")}
      self.untraced_flops.append(flops.train_flops(self.model_config, *flops.pair_lengths(local))["total"])
    if step == self.start:
      jax.block_until_ready(state)
      self.marks["traced"] = time.perf_counter()
      jax.profiler.start_trace(self.directory, create_perfetto_trace=True)

  def after_step(self, step: int, state, lower: Callable[[], object]) -> dict | None:
    """At the window's last step: stops the trace and returns the profile (`lower()` gives the step's Lowered)."""
    if step != self.start + self.count - 1 or "traced" not in self.marks:
      return None
    jax.block_until_ready(state)
    seconds = time.perf_counter() - self.marks["traced"]
    jax.profiler.stop_trace()
    hlo = lower().compile().as_text()
    with open(os.path.join(self.directory, "train_step.hlo.txt"), "w") as f:
      f.write(hlo)
    local_mesh = sharding.make_mesh(devices=self.local_devices)
    devices = local_mesh.devices.size
    self.result = train_profile(self.directory, hlo, self.count, seconds, devices)
    if "untraced" in self.marks:
      step_seconds = (self.marks["traced"] - self.marks["untraced"]) / len(self.untraced_flops)
      peak = flops.measured_matmul_tflops(self.dtype, local_mesh) * 1e12
      achieved = float(np.mean(self.untraced_flops)) / step_seconds
      self.result.update(untraced_ms_per_step=round(step_seconds * 1e3, 1),
                         model_gflops_per_step=round(float(np.mean(self.untraced_flops)) / 1e9, 2),
                         model_gflops_per_s=round(achieved / 1e9, 1),
                         matmul_peak_gflops_per_s=round(peak * devices / 1e9, 1),
                         mfu=round(achieved / (peak * devices), 4))
    with open(os.path.join(self.directory, "train_step_profile.json"), "w") as f:
      json.dump(self.result, f, indent=2)
    return self.result
