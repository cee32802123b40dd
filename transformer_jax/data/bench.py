r"""How fast the input pipeline feeds training: text reading, SentencePiece encoding, and batch building.

  python -m transformer_jax.data.bench --config=configs/default.py --workdir=/tmp/data_bench

Prepares the config's data the way training does (vocabulary and token cache in the workdir, reused if present), then
times each stage on one process and prints JSON. Batch building is what runs every step (the text is read and
encoded once per workdir); it is single-threaded numpy, so its rate is per CPU core.
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np
from absl import app, flags
from ml_collections import config_flags

from transformer_jax import tokenizer as tokenizer_lib
from transformer_jax.data import input_pipeline, sources, token_cache

def _timed(fn, seconds: float) -> tuple[int, float]:
  """Calls fn(i) for i = 0, 1, ... until `seconds` have passed; returns the call count and the time taken."""
  started, calls = time.perf_counter(), 0
  while time.perf_counter() - started < seconds:
    fn(calls)
    calls += 1
  return calls, time.perf_counter() - started


def measure(config, workdir: str, seconds: float, tokens_per_batch: int) -> dict:
  os.makedirs(workdir, exist_ok=True)
  results = {"dataset": config.dataset, "cpu_count": os.cpu_count()}

  started, read = time.perf_counter(), []
  for pair in sources.iter_pairs(config, "train"):
    read.append(pair)
    if len(read) >= 200_000 or time.perf_counter() - started > seconds:
      break
  elapsed = time.perf_counter() - started
  results["read_text"] = {"pairs": len(read), "pairs_per_sec": round(len(read) / elapsed)}

  data = input_pipeline.load_datasets(config, os.path.join(workdir, "sentencepiece.model"))
  tokenizer = tokenizer_lib.Tokenizer.load(os.path.join(workdir, "sentencepiece.model"))
  sample = read[:20_000]
  started = time.perf_counter()
  arrays, _ = token_cache.encode_pairs(sample, tokenizer)
  elapsed = time.perf_counter() - started
  results["encode"] = {"pairs": len(sample), "pairs_per_sec": round(len(sample) / elapsed),
                       "target_tokens_per_sec": round(int(arrays["target_lengths"].sum()) / elapsed),
                       "note": "SentencePiece's batch encoder uses all cores; done once per workdir"}

  pairs = token_cache.TokenizedPairs(data.train.sources, data.train.targets)
  config = config.copy_and_resolve_references()
  config.tokens_per_batch = tokens_per_batch
  for mode, packed in (("bucketed", False), ("packed", True)):
    config.pack_training_rows = packed
    batcher, _ = input_pipeline.make_batcher(config, pairs)
    batcher.batch_at(0)  # plans (shuffles and, when packing, packs) the first epoch outside the timing
    totals = {"pairs": 0, "target_tokens": 0, "padded_target_tokens": 0}

    def build(step):
      batch = batcher.batch_at(step % batcher.batches_per_epoch)
      segments = batch["target_segments"]
      totals["pairs"] += int(segments.max(axis=1).sum()) if packed else int(segments.any(axis=1).sum())
      totals["target_tokens"] += int((segments > 0).sum())
      totals["padded_target_tokens"] += segments.size

    calls, elapsed = _timed(build, seconds)
    results[f"batches_{mode}"] = {
        "batch_shapes": " ".join(f"{rows}x{length}" for rows, length in batcher.shapes()), "batches_per_sec": round(calls / elapsed, 1),
        "pairs_per_sec": round(totals["pairs"] / elapsed),
        "target_tokens_per_sec": round(totals["target_tokens"] / elapsed),
        "padding_fraction": round(1 - totals["target_tokens"] / max(totals["padded_target_tokens"], 1), 3)}
  return results


def _define_flags():
  # Defined when run as a command, not on import, so tests can import this module beside other commands.
  config_flags.DEFINE_config_file("config", "configs/default.py", "Training config whose data to measure.")
  flags.DEFINE_string("workdir", "/tmp/transformer_jax_data_bench",
                      "Holds the vocabulary and token cache (created if absent, reused if present).")
  flags.DEFINE_float("seconds", 10.0, "Time spent on each measured stage.")
  flags.DEFINE_integer("tokens_per_batch", 25_000, "Batch size for the batching stage (the paper's 25k by default).")


def main(argv):
  del argv
  f = flags.FLAGS
  results = measure(f.config, f.workdir, f.seconds, f.tokens_per_batch)
  json.dump(results, sys.stdout, indent=2)
  print()


if __name__ == "__main__":
  _define_flags()
  app.run(main)
