"""Joining a multi-process run: one process per host (or per GPU), all running the same command.

Each process sees its local devices; `jax.distributed.initialize` connects them into one set of global devices, over
which the mesh is built. Every process then reads only its own rows of each global batch (the batchers take
process_index / process_count) and `jax.make_array_from_process_local_data` assembles the global batch.
"""

from __future__ import annotations

import os

import jax
from absl import logging

MODES = ("auto", "on", "off")
# Launchers that start one process per task and say how many there are.
_CLUSTER_SIZE_VARIABLES = ("SLURM_NTASKS", "OMPI_COMM_WORLD_SIZE")


def wanted(mode: str, coordinator_address: str | None) -> bool:
  """auto: when a coordinator is given (flag or JAX_COORDINATOR_ADDRESS) or a SLURM / Open MPI launch has more than
  one task; on: always (TPU pods and other clusters JAX detects itself); off: never."""
  if mode not in MODES:
    raise ValueError(f"--jax_distributed={mode!r}: must be one of {MODES}")
  if mode != "auto":
    return mode == "on"
  if coordinator_address or os.environ.get("JAX_COORDINATOR_ADDRESS"):
    return True
  return any(int(os.environ.get(name, "1") or 1) > 1 for name in _CLUSTER_SIZE_VARIABLES)


def initialize(mode: str = "auto", coordinator_address: str | None = None, num_processes: int | None = None,
               process_id: int | None = None) -> bool:
  """Connects this process to the others (before any JAX computation); a no-op for a single process.

  Arguments left as None are filled in by JAX's cluster detection (SLURM, Open MPI, TPU pods, GKE, ...).
  Returns whether the process joined a distributed run."""
  if not wanted(mode, coordinator_address):
    return False
  # CPU-only processes need a collectives backend across hosts (accelerators bring their own: NCCL, ICI).
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  jax.distributed.initialize(coordinator_address=coordinator_address, num_processes=num_processes,
                             process_id=process_id)
  logging.info("Process %d of %d; %d local and %d global devices.", jax.process_index(), jax.process_count(),
               jax.local_device_count(), jax.device_count())
  return True
