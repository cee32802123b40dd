"""Our train step side by side with the Flax WMT example's (flax/examples/wmt), on the same workload, in one process.

  pip download --no-deps --no-binary :all: flax==0.12.8 && tar xzf flax-0.12.8.tar.gz
  python -m benchmarks.flax_example_bench --flax_wmt_dir=flax-0.12.8/examples/wmt --output=flax_example.json

The example's own `models.py` and `train.train_step` are imported from --flax_wmt_dir (nothing of it is copied
here; its train.py needs clu, ml_collections and TensorFlow, which requirements.txt has; its input pipeline, which
needs tensorflow_text, is not loaded). Both steps get the
`cpu_small` workload of benchmarks/bench.py: vocabulary 8192, d_model 256, 4 heads, 3 + 3 layers, d_ff 1024,
dropout 0.1 on the residuals and embeddings only (the paper's; the example's attention dropout is set to 0 to match),
label smoothing 0.1, shared embeddings and pre-softmax weights, Adam, float32, one batch of 32 pairs padded to 48
tokens, on one JAX device (the example's pmap over one device; ours a one-device mesh) using the process's cores
as intra-op threads. After a compile and warm-up steps, rounds alternate A B A B, --steps each, so a noisy
machine slows both alike; reported: each side's median step, the ratio, and each model's parameter count.
"""

from __future__ import annotations

import functools
import json
import os
import statistics
import sys
import time
import types

# One JAX device, as the example's single-device run has, unless the caller chose a count.
if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
  os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=1").strip()
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # the example's train.py imports TensorFlow

from absl import app, flags  # noqa: E402

from benchmarks.common import logger, versions  # noqa: E402

FLAGS = flags.FLAGS
log = logger("flax_example_bench")
EXAMPLE_FILES = ("models.py", "train.py")


def _define_flags():
  flags.DEFINE_string("flax_wmt_dir", None, "The Flax WMT example's directory (flax-<version>/examples/wmt of flax's "
                      "source distribution).", required=True)
  flags.DEFINE_integer("rounds", 4, "Timed rounds per side, alternating.")
  flags.DEFINE_integer("steps", 3, "Timed steps per round.")
  flags.DEFINE_integer("warmup", 2, "Untimed steps per side after compiling.")
  flags.DEFINE_integer("seed", 0, "Seed of the parameters and the batch.")
  flags.DEFINE_string("output", None, "Write the results as JSON here.")


def check_example_dir(path: str) -> str:
  """The example's directory, or a UsageError that says what is missing and where to get it."""
  missing = [name for name in EXAMPLE_FILES if not os.path.isfile(os.path.join(path, name))]
  if missing:
    raise app.UsageError(
        f"--flax_wmt_dir={path}: no {' or '.join(missing)} there. It must be the Flax WMT example's directory: "
        "`pip download --no-deps --no-binary :all: flax==<version>` and unpack it; the example is "
        "flax-<version>/examples/wmt.")
  return os.path.abspath(path)


def _our_step(workload, batch: dict, seed: int):
  """step() -> runs one of our train steps on `batch` and waits for it; and our parameter count."""
  import jax  # pylint: disable=g-import-not-at-top
  from benchmarks import common  # pylint: disable=g-import-not-at-top
  from transformer_jax import sharding, train_step  # pylint: disable=g-import-not-at-top
  from transformer_jax.model import Transformer, count_parameters  # pylint: disable=g-import-not-at-top
  cfg = common.model_config(workload, dtype="float32", packed_rows=False)
  mesh = sharding.make_mesh(devices=jax.devices()[:1])
  model = Transformer(cfg)
  optimizer, schedule = common.make_optimizer(cfg.d_model)
  state = train_step.create_train_state(model, optimizer, jax.random.PRNGKey(seed), mesh)
  placed = train_step.put_batch(batch, mesh)
  dropout_rng = jax.device_put(jax.random.PRNGKey(seed + 1), sharding.replicated(mesh))
  compiled = train_step.jit_train_step(model, mesh, 0.1, schedule).lower(state, placed, dropout_rng).compile()
  holder = {"state": state}

  def step():
    holder["state"], metrics = compiled(holder["state"], placed, dropout_rng)
    jax.block_until_ready((holder["state"], metrics))

  return step, count_parameters(state.params)


def _example_step(example_dir: str, workload, batch: dict, seed: int):
  """The same for the Flax example: its model and train_step, pmapped over one device as its train.py does."""
  sys.path.insert(0, example_dir)
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  import optax  # pylint: disable=g-import-not-at-top
  from flax import jax_utils  # pylint: disable=g-import-not-at-top
  import models  # pylint: disable=g-import-not-at-top,import-error
  # train.py imports its input pipeline, which needs tensorflow_text for its tokenizer; the step uses neither, so
  # an empty module stands in for it.
  sys.modules.setdefault("input_pipeline", types.ModuleType("input_pipeline"))
  import train  # pylint: disable=g-import-not-at-top,import-error
  config = models.TransformerConfig(
      vocab_size=workload.vocab_size, output_vocab_size=workload.vocab_size, share_embeddings=True,
      logits_via_embedding=True, emb_dim=workload.d_model, num_heads=workload.num_heads,
      num_layers=workload.num_layers, qkv_dim=workload.d_model, mlp_dim=workload.d_ff,
      max_len=workload.train_length, dropout_rate=workload.dropout_rate, attention_dropout_rate=0.0,
      deterministic=False, decode=False)
  shape = batch["source"].shape
  variables = jax.jit(models.Transformer(config.replace(deterministic=True)).init)(
      jax.random.key(seed), jnp.ones(shape, jnp.float32), jnp.ones(shape, jnp.float32))
  schedule = train.create_learning_rate_schedule(learning_rate=0.002, warmup_steps=1000)
  state = train.TrainState.create(apply_fn=models.Transformer(config).apply, params=variables["params"],
                                  tx=optax.adamw(schedule, b1=0.9, b2=0.98, eps=1e-9, weight_decay=0.0),
                                  dynamic_scale=None)
  parameters = sum(x.size for x in jax.tree_util.tree_leaves(state.params))
  state = jax_utils.replicate(state)
  p_train_step = jax.pmap(functools.partial(train.train_step, config=config, learning_rate_fn=schedule,
                                            label_smoothing=0.1), axis_name="batch", donate_argnums=(0,))
  example_batch = {"inputs": batch["source"][None], "targets": batch["targets"][None]}
  dropout_rngs = jax.random.split(jax.random.key(seed + 1), 1)
  holder = {"state": state}

  def step():
    holder["state"], metrics = p_train_step(holder["state"], example_batch, dropout_rng=dropout_rngs)
    jax.block_until_ready((holder["state"], metrics))

  return step, parameters


def main(argv):
  del argv
  example_dir = check_example_dir(FLAGS.flax_wmt_dir)
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from benchmarks import bench  # pylint: disable=g-import-not-at-top
  workload = bench.WORKLOADS["cpu_small"]
  rows = workload.batch_tokens // workload.train_length
  batch = bench.train_batch(np.random.default_rng(FLAGS.seed), rows, workload.train_length, workload.vocab_size)
  log(f"{rows} pairs x {workload.train_length} tokens, {int((batch['targets'] > 0).sum())} target tokens; "
      f"devices {jax.devices()}; compiling both steps")
  sides = {}
  for name, make in (("ours", lambda: _our_step(workload, batch, FLAGS.seed)),
                     ("flax_example", lambda: _example_step(example_dir, workload, batch, FLAGS.seed))):
    start = time.perf_counter()
    step, parameters = make()
    step()
    log(f"{name}: {parameters / 1e6:.3f}M parameters, compiled and first step {time.perf_counter() - start:.1f} s")
    for _ in range(FLAGS.warmup):
      step()
    sides[name] = dict(step=step, parameters=parameters, seconds=[])
  for round_ in range(FLAGS.rounds):
    for name, side in sides.items():
      for _ in range(FLAGS.steps):
        start = time.perf_counter()
        side["step"]()
        side["seconds"].append(time.perf_counter() - start)
      log(f"round {round_ + 1}/{FLAGS.rounds} {name}: "
          f"{', '.join(f'{s * 1e3:.0f}' for s in side['seconds'][-FLAGS.steps:])} ms")
  medians = {name: statistics.median(side["seconds"]) for name, side in sides.items()}
  ratio = medians["flax_example"] / medians["ours"]
  print("| train step | parameters | median ms | speed vs the Flax example |\n|---|---|---|---|")
  for name, side in sides.items():
    print(f"| {name} | {side['parameters']:,} | {medians[name] * 1e3:.1f} | "
          f"{medians['flax_example'] / medians[name]:.2f}x |")
  if FLAGS.output:
    with open(FLAGS.output, "w") as f:
      json.dump(dict(command=" ".join(sys.argv), workload="cpu_small", rows=rows, length=workload.train_length,
                     devices=[str(d) for d in jax.devices()], cpu_count=os.cpu_count(), versions=versions(),
                     example_dir=example_dir, speedup_over_example=ratio,
                     results={name: dict(parameters=side["parameters"], median_seconds=medians[name],
                                         seconds=side["seconds"]) for name, side in sides.items()}), f, indent=2)


if __name__ == "__main__":
  _define_flags()
  app.run(main)
