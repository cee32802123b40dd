"""One XLA CPU device per core the process may run on, unless XLA_FLAGS already sets a count; and freed memory kept
for reuse instead of handed back to the kernel.

Import it before JAX starts its backend (before the first jax.devices() or computation): the count is read then.
Accelerators are unaffected. Training splits each batch over these devices and decoding splits its sentences: on 2
cores that trained ~9% faster than one device using intra-op threads (d_model 128: 287 vs 314 ms/step; the
gradient all-reduce eats most of the rest) and beam-searched the demo's test set 1.5x faster (docs/benchmarks.md).

Memory: XLA's CPU runtime allocates each program run's temporaries afresh (48 MB for a demo beam-search batch).
glibc's malloc serves blocks that large with mmap and unmaps them on free, so every run page-faults its whole
working set back in: about 12,900 faults per beam-search call of 32 sentences. Raising glibc's mmap and trim
thresholds keeps the memory in the heap for the next run (about 500 faults per call, and the call ~12% faster;
docs/benchmarks.md). The process's resident memory then stays at its peak. TRANSFORMER_JAX_KEEP_FREED_MEMORY=0
turns this off; it does nothing where the C library is not glibc.
"""

import ctypes
import ctypes.util
import os

if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
  os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                             f" --xla_force_host_platform_device_count={len(os.sched_getaffinity(0))}").strip()

# mallopt's parameter numbers (glibc's malloc.h).
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
KEPT_BLOCK_BYTES = 1 << 30  # blocks up to this size come from (and return to) the heap


def keep_freed_memory() -> bool:
  """Makes glibc keep freed blocks up to KEPT_BLOCK_BYTES for reuse; True if it took effect."""
  name = ctypes.util.find_library("c")
  try:
    libc = ctypes.CDLL(name)
    mallopt = libc.mallopt
  except (OSError, AttributeError, TypeError):  # not glibc (musl, macOS): nothing to set
    return False
  return bool(mallopt(M_MMAP_THRESHOLD, KEPT_BLOCK_BYTES)) and bool(mallopt(M_TRIM_THRESHOLD, KEPT_BLOCK_BYTES))


if os.environ.get("TRANSFORMER_JAX_KEEP_FREED_MEMORY", "1") != "0":
  keep_freed_memory()
