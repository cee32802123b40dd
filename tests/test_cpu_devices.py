"""cpu_devices keeps freed memory for reuse: measured with the kernel's own count of page faults."""

import os
import subprocess
import sys

import pytest

# A 48 MB block (as large as a demo beam-search call's temporaries) allocated and freed 5 times after a first time:
# kept by malloc, it faults no page back in; unmapped on free, every allocation faults it all in again.
PROGRAM = """
import resource
import numpy as np
from transformer_jax import cpu_devices
np.ones(12 << 20, np.float32)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
  np.ones(12 << 20, np.float32)
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 5)
"""


def faults_per_allocation(keep: str) -> float:
  env = dict(os.environ, TRANSFORMER_JAX_KEEP_FREED_MEMORY=keep)
  result = subprocess.run([sys.executable, "-c", PROGRAM], env=env, capture_output=True, text=True, check=True)
  return float(result.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc settings")
def test_freed_memory_is_reused_without_page_faults():
  from transformer_jax import cpu_devices
  if not cpu_devices.keep_freed_memory():
    pytest.skip("the C library is not glibc")
  unmapped, kept = faults_per_allocation("0"), faults_per_allocation("1")
  # 48 MB is at least 24 faults even in 2 MB pages; kept, it is (nearly) none.
  assert unmapped >= 20
  assert kept <= unmapped / 10
