"""How arrays are laid out on the devices: the mesh, logical axis names of parameters, and the batch layout.

The mesh has three axes (t5x/MaxText style):
- "data": plain data parallelism; parameters and optimiser state are replicated over it.
- "fsdp": data parallelism whose parameters and optimiser state are sharded too (ZeRO-3 / FSDP): XLA all-gathers
  a weight before its use and reduce-scatters its gradient.
- "tensor": Megatron-style model parallelism: heads, FFN width and vocabulary are split over it.

Batch rows are split over ("data", "fsdp"). Parameters carry logical axis names ("embed", "mlp", "heads", "kv",
"vocab", ...) that `logical_axis_rules` (a config key) maps to mesh axes; a name without a rule is not sharded.
Losses are sums over the global batch divided by its global token count, so every layout computes the same update.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from transformer_jax import config_base

MESH_AXES = ("data", "fsdp", "tensor")
BATCH_AXES = ("data", "fsdp")
DEFAULT_RULES = config_base.LOGICAL_AXIS_RULES  # logical parameter axis -> mesh axes


def param_init(init, *names: str | None):
  """A parameter initialiser whose result carries logical axis names, one per dimension."""
  return nn.with_logical_partitioning(init, names)


def mesh_shape(data: int, fsdp: int, tensor: int, num_devices: int) -> tuple[int, int, int]:
  """Sizes of ("data", "fsdp", "tensor"); one of them may be -1: the devices left over by the others."""
  return config_base.mesh_sizes(data, fsdp, tensor, num_devices)


def make_mesh(data: int = -1, fsdp: int = 1, tensor: int = 1, devices=None) -> Mesh:
  """A ("data", "fsdp", "tensor") mesh over the first data * fsdp * tensor devices.

  Devices keep jax.devices() order (process by process), so the batch rows a process feeds lie on its own devices.
  """
  devices = list(devices if devices is not None else jax.devices())
  shape = mesh_shape(data, fsdp, tensor, len(devices))
  return Mesh(np.array(devices[:int(np.prod(shape))]).reshape(shape), MESH_AXES)


def mesh_from_config(config) -> Mesh:
  return make_mesh(config.mesh_data, config.mesh_fsdp, config.mesh_tensor)


def batch_shards(mesh: Mesh) -> int:
  """How many parts the rows of a batch are split into (batch rows must be a multiple of it)."""
  return int(np.prod([mesh.shape[axis] for axis in BATCH_AXES]))


def batch_sharding(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P(BATCH_AXES))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def put_batch(batch: dict, mesh: Mesh, keys) -> dict:
  """Numpy batch (this process's rows) -> global arrays with rows sharded over ("data", "fsdp")."""
  sharding = batch_sharding(mesh)
  return {k: jax.make_array_from_process_local_data(sharding, batch[k]) for k in keys}


def normalize_rules(rules) -> tuple:
  """Rules as tuples (a config read back from JSON has lists): ((logical name, mesh axis | axes | None), ...)."""
  return tuple((name, tuple(axes) if isinstance(axes, (list, tuple)) else axes) for name, axes in rules)


def logical_shardings(boxed_tree, mesh: Mesh, rules) -> object:
  """NamedShardings for a (possibly abstract) tree whose parameters are boxed with logical names; leaves without
  names are replicated. The result has the structure of the unboxed tree."""
  return nn.logical_to_mesh_sharding(nn.get_partition_spec(boxed_tree), mesh, normalize_rules(rules))


def shardings_of(tree):
  """The shardings of a tree of placed arrays (e.g. a train state), to jit a function that keeps them."""
  return jax.tree_util.tree_map(lambda x: x.sharding, tree)
