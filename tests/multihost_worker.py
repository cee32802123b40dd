"""One process of a multi-process training run on CPU, started by tests/test_distributed.py.

  python tests/multihost_worker.py PROCESS_ID NUM_PROCESSES PORT OUTPUT_JSON

Each process forces 2 CPU devices, joins the run through transformer_jax.distributed, feeds only its own rows of a
fixed synthetic global batch, trains a tiny model for a few steps on a mesh spanning all processes, and writes the
per-step global metrics. `train` is also what the test runs in one process for the reference.
"""

import json
import os
import sys

import numpy as np

ROWS, LENGTH, STEPS = 16, 8, 2


def global_batch(step: int) -> dict:
  from transformer_jax.data.batching import make_batch  # pylint: disable=import-outside-toplevel
  rng = np.random.default_rng(step)
  pairs = [[list(rng.integers(3, 32, size=rng.integers(2, LENGTH))) + [1] for _ in range(ROWS - 2)] for _ in "st"]
  return make_batch(pairs[0], pairs[1], ROWS, LENGTH)


def train(mesh_shape) -> list[dict]:
  """Per-step (loss_sum, tokens, grad_norm) of training on a mesh of that shape over all global devices."""
  import jax  # pylint: disable=import-outside-toplevel
  from transformer_jax import config_base, optim, sharding, train_step  # pylint: disable=import-outside-toplevel
  from transformer_jax.model import ModelConfig, Transformer  # pylint: disable=import-outside-toplevel
  cfg = ModelConfig(vocab_size=32, num_layers=1, d_model=16, d_ff=32, num_heads=4, d_k=4, d_v=4, dropout_rate=0.1,
                    max_position=32)
  config = config_base.base_config()
  config.d_model, config.warmup_steps = cfg.d_model, 10
  mesh = sharding.make_mesh(*mesh_shape)
  model = Transformer(cfg)
  optimizer, schedule = optim.make_optimizer(config)
  state = train_step.create_train_state(model, optimizer, jax.random.PRNGKey(0), mesh)
  step = train_step.jit_train_step(model, mesh, 0.1, schedule, sharding.shardings_of(state))
  rng = jax.device_put(jax.random.PRNGKey(1), sharding.replicated(mesh))
  local_rows = ROWS // jax.process_count()
  mine = slice(jax.process_index() * local_rows, (jax.process_index() + 1) * local_rows)
  results = []
  for k in range(STEPS):
    batch = {key: value[mine] for key, value in global_batch(k).items()}
    state, metrics = step(state, train_step.put_batch(batch, mesh), rng)
    metrics = jax.device_get(metrics)
    results.append({key: float(metrics[key]) for key in ("loss_sum", "tokens", "grad_norm")})
  return results


def main(process_id: int, num_processes: int, port: int, output: str) -> None:
  os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
  os.environ["JAX_PLATFORMS"] = "cpu"
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  from transformer_jax import distributed  # pylint: disable=import-outside-toplevel
  assert distributed.initialize("auto", f"127.0.0.1:{port}", num_processes, process_id)
  # Parameters and moments sharded over all 4 devices of both processes: all-gathers cross processes.
  results = train((1, 4, 1))
  with open(output, "w") as f:
    json.dump(results, f)


if __name__ == "__main__":
  main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
