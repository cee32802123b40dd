"""The step profile: thunk times from a trace summed by part, checked on a hand-made trace and on a traced step."""

import gzip
import json
import os

import jax
import numpy as np

from transformer_jax import flops, optim, profiling, sharding, train_step
from transformer_jax.config_base import base_config
from transformer_jax.data.batching import make_batch
from transformer_jax.model import ModelConfig, Transformer

HLO = """
  %dot.1 = f32[4,4]{1,0} dot(%a, %b), metadata={op_name="jit(train_step)/jvp(Transformer)/ffn/wi/dot_general"}
  %fusion.2 = f32[4,4]{1,0} fusion(%dot.1), metadata={op_name="jit(train_step)/jvp(Transformer)/ffn/norm/mul"}
  %all-reduce.3 = f32[4,4]{1,0} all-reduce(%fusion.2), metadata={op_name="jit(train_step)/reduce_sum"}
  ROOT %fusion.4 = f32[4,4]{1,0} fusion(%all-reduce.3), metadata={op_name="jit(train_step)/add"}
  %while.5 = (f32[4,4]{1,0}) while(%tuple.1), condition=%cond, body=%body, metadata={op_name="jit(train_step)/while"}
"""


def write_trace(directory, events):
  os.makedirs(directory, exist_ok=True)
  with gzip.open(os.path.join(directory, "perfetto_trace.json.gz"), "wt") as f:
    json.dump({"traceEvents": events}, f)


def test_thunks_are_summed_by_part_and_runtime_spans_left_out(tmp_path):
  events = [{"ph": "X", "name": "dot.1", "dur": 100}, {"ph": "X", "name": "dot.1", "dur": 50},
            {"ph": "X", "name": "fusion.2", "dur": 30}, {"ph": "X", "name": "all-reduce.3", "dur": 20},
            {"ph": "X", "name": "fusion.4", "dur": 7}, {"ph": "X", "name": "Rendezvous", "dur": 5},
            {"ph": "X", "name": "Wait: pending_threads=1/2", "dur": 4},
            # a loop's span holds its body's thunks, counted on their own
            {"ph": "X", "name": "while.5", "dur": 500},
            # the host and the executor: not device work
            {"ph": "X", "name": "Wait for LaunchOnDevice completion", "dur": 1000},
            {"ph": "X", "name": "ThunkExecutor::Execute", "dur": 1000}, {"ph": "X", "name": "$api.py:1 f", "dur": 9},
            {"ph": "i", "name": "dot.1", "dur": 999}]
  write_trace(tmp_path / "trace", events)
  totals = profiling.thunk_microseconds(str(tmp_path / "trace"), HLO, profiling.train_category)
  assert totals == {"matmuls": 150, "layer norms": 30, "gradient all-reduce": 20,
                    "optimizer update (Adam, clipping, schedule)": 7,
                    "gradient all-reduce: waiting for the other devices": 9}
  profile = profiling.train_profile(str(tmp_path / "trace"), HLO, steps=2, seconds=0.001, devices=1)
  assert profile["thunk_ms_per_step_all_devices"] == round(216 / 2 / 1e3, 1)
  assert profile["parts"]["matmuls"] == {"ms_per_step": 0.07, "share_of_thunk_time": round(150 / 216, 4)}
  assert "matmuls" in profiling.profile_table(profile)


def test_a_traced_training_loop_names_its_matmuls_all_reduce_and_update(tmp_path):
  """Steps 3-4 of a 2-device data-parallel loop: every part shows, the untraced steps before them are timed."""
  cfg = ModelConfig(vocab_size=32, num_layers=1, d_model=16, d_ff=32, num_heads=2, d_k=8, d_v=8, dropout_rate=0.1,
                    max_position=32)
  mesh = sharding.make_mesh(2, devices=jax.devices()[:2])
  config = base_config()
  config.d_model = cfg.d_model
  model = Transformer(cfg)
  optimizer, schedule = optim.make_optimizer(config)
  state = train_step.create_train_state(model, optimizer, jax.random.PRNGKey(0), mesh)
  step_fn = train_step.jit_train_step(model, mesh, 0.1, schedule, sharding.shardings_of(state))
  rng = jax.device_put(jax.random.PRNGKey(1), sharding.replicated(mesh))
  data = np.random.default_rng(0)
  pairs = [list(data.integers(3, 32, size=5)) + [1] for _ in range(8)]
  batch = train_step.put_batch(make_batch(pairs, pairs, 8, 8), mesh)
  profiler = profiling.StepProfiler(str(tmp_path / "profile"), start=3, count=2, mesh=mesh, model_config=cfg,
                                      dtype="float32")
  results = []
  for step in range(6):
    profiler.before_step(step, state, batch)
    state, _ = step_fn(state, batch, rng)
    results.append(profiler.after_step(step, state, lambda: step_fn.lower(state, batch, rng)))
  assert [r is not None for r in results] == [False, False, False, False, True, False]
  profile = results[4]
  assert profile["traced_steps"] == 2 and profile["devices"] == 2
  assert profile["untraced_ms_per_step"] > 0  # steps 1-2 (step 0 compiles)
  lengths = [len(pair) for pair in pairs]
  assert profile["model_gflops_per_step"] == round(flops.train_flops(cfg, lengths, lengths)["total"] / 1e9, 2)
  assert abs(profile["mfu"] - profile["model_gflops_per_s"] / profile["matmul_peak_gflops_per_s"]) < 1e-3
  assert {"matmuls", "gradient all-reduce", "optimizer update (Adam, clipping, schedule)"} <= set(profile["parts"])
  assert abs(sum(p["share_of_thunk_time"] for p in profile["parts"].values()) - 1) < 1e-3
  assert json.loads((tmp_path / "profile" / "train_step_profile.json").read_text()) == profile
  # Every dot of the compiled step is a matmul by the categories, and nothing else is.
  ops = profiling.hlo_ops((tmp_path / "profile" / "train_step.hlo.txt").read_text())
  dots = {name for name, (opcode, op_name) in ops.items() if opcode == "dot" and "jvp(" in op_name}
  assert dots and all(profiling.train_category(*ops[name]) == "matmuls" for name in dots)
