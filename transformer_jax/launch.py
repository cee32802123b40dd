"""What every training command does first: one XLA CPU device per core, then join a multi-process run.

Import this module before anything that imports JAX: the CPU device count must be set before JAX starts.
"""

from transformer_jax import cpu_devices  # noqa: F401  (first: sets the CPU device count before JAX starts)

from absl import flags

from transformer_jax import distributed

_MODE = flags.DEFINE_enum("jax_distributed", "auto", distributed.MODES, "Join a multi-process run with "
                          "jax.distributed.initialize: auto = when a coordinator address is given or SLURM / Open "
                          "MPI launched more than one task; on = always (TPU pods); off = never.")
_COORDINATOR = flags.DEFINE_string("coordinator_address", None, "host:port of process 0 (default: "
                                   "JAX_COORDINATOR_ADDRESS, or detected from the cluster).")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "Processes in the run (default: detected from the "
                                      "cluster).")
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "This process's index, 0 .. num_processes - 1 (default: "
                                   "detected).")



def setup(config) -> None:
  """Call at the start of main(), after flags are parsed, with the run's config (its peer_timeout_seconds)."""
  distributed.initialize(_MODE.value, _COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value,
                         config.peer_timeout_seconds)
