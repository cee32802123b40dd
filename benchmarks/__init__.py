"""Benchmarks of the transformer_jax package, run from the repository root (not installed with the package):

  python -m benchmarks.bench          train-step and beam-search throughput, MFU and memory (docs/benchmarks.md)
  python -m benchmarks.device_check   the paper's recipe on one accelerator, against PyTorch (docs/benchmarks.md)
  python -m benchmarks.input_bench    input pipeline speed and batch sizes (docs/data_pipeline.md)
"""
