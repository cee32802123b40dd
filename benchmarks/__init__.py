"""Benchmarks of the transformer_jax package, run from the repository root (not installed with the package):

  python -m benchmarks.bench          train-step and beam-search throughput, MFU and memory (docs/benchmarks.md)
  python -m benchmarks.device_check   the one GPU check: attention, Multi30k resume, MFU, PyTorch (docs/benchmarks.md)
  python -m benchmarks.input_bench    input pipeline speed and batch sizes (docs/data_pipeline.md)
"""
