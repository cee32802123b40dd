"""Every test runs on 8 forced CPU devices, so sharding tests can compare 1 device with 8 in one process.

Compiled programs go to a persistent cache shared by this run's tests and the subprocesses they start (which
inherit the environment): many tests compile the same tiny model, and on 2 CPU cores compiling dominates.
"""

import os
import tempfile

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", tempfile.mkdtemp(prefix="jax_compilation_cache_"))
# Nothing the tests prepare lands in the user's directories: tfds' default data dir and matplotlib's cache are
# temporary (a test that needs its own data dir passes tfds_data_dir).
os.environ["TFDS_DATA_DIR"] = tempfile.mkdtemp(prefix="tfds_")
os.environ.setdefault("MPLCONFIGDIR", tempfile.mkdtemp(prefix="matplotlib_"))
# The export tests load Hugging Face models from local directories only: no cache in HOME, no network.
os.environ["HF_HOME"] = tempfile.mkdtemp(prefix="huggingface_")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")
