r"""How fast the input pipeline feeds training, and how large its batches really are.

  python -m benchmarks.input_bench --config=configs/default.py --workdir=/tmp/data_bench
  python -m benchmarks.input_bench --batch_report_configs=configs/wmt14_ende_base.py,configs/default.py

  python -m benchmarks.input_bench --compare_sources_pairs=1000000 --compare_dir=/tmp/source_bench

The first form prepares the config's data the way training does (vocabulary and token cache in the workdir, reused
if present), then times each stage on one process and prints JSON: text reading, SentencePiece encoding and batch
building (what runs every step; single-threaded numpy, so its rate is per CPU core), and the sizes of the config's
own training batches. The second form needs no data: for each config it builds the training batcher over synthetic
pairs with WMT-like lengths (benchmarks.common.synthetic_corpus) and reports, before (batches sized by
padded positions, fixed buckets) and as configured, the real source and target tokens per step, the padding and
the number of batch shapes. The third writes the same pairs (the embedded grammar's, N training pairs) once as a
Hugging Face dataset in the Hub's parquet layout, once as tfds' embedded_ende and once as local text files, and
measures each source in a fresh process: preparing it, one pass over the training text (pairs/s, peak memory,
and a hash showing that every source gives the same pairs in the same order), and the whole preparation a training
run does (vocabulary and token cache).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time

import numpy as np
from absl import flags

from benchmarks import common
from transformer_jax import cli, pyfile, tokenizer as tokenizer_lib, workdir as workdir_lib
from transformer_jax.data import input_pipeline, sources, token_cache


def _timed(fn, seconds: float) -> tuple[int, float]:
  """Calls fn(i) for i = 0, 1, ... until `seconds` have passed; returns the call count and the time taken."""
  started, calls = time.perf_counter(), 0
  while time.perf_counter() - started < seconds:
    fn(calls)
    calls += 1
  return calls, time.perf_counter() - started


def batch_sizes(batcher, max_steps: int = 2000) -> dict:
  """Real (non-padding) tokens per step on each side, padding and shapes, over the first epoch (at most max_steps)."""
  real = {"source": [], "target": []}
  padded = {"source": 0, "target": 0}
  shapes = set()
  for step in range(min(batcher.batches_per_epoch, max_steps)):
    batch = batcher.batch_at(step)
    for side in real:
      segments = batch[f"{side}_segments"]
      real[side].append(int((segments > 0).sum()))
      padded[side] += segments.size
    shapes.add((batch["source"].shape, batch["targets"].shape))
  out = {"steps_measured": len(real["source"]), "batches_per_epoch": batcher.batches_per_epoch,
         "num_shapes": len(shapes), "shapes": " ".join(f"{rows}x{length}" for rows, length in batcher.shapes())}
  for side, counts in real.items():
    out[f"real_{side}_tokens_per_step"] = {"mean": round(float(np.mean(counts))), "min": int(np.min(counts)),
                                           "max": int(np.max(counts))}
    out[f"{side}_padding_fraction"] = round(1 - sum(counts) / padded[side], 4)
  return out


def load_config(path: str):
  return pyfile.load_module(path).get_config()


def batch_report(config_paths: list[str], num_pairs: int, seed: int) -> dict:
  """Per config: its training batches on synthetic WMT-like pairs, before (padded-position budget, bucket_lengths,
  no packing) and as configured."""
  pairs = token_cache.TokenizedPairs(*common.synthetic_corpus(num_pairs, seed))  # placeholder ids: only lengths count
  report = {"lengths": "synthetic WMT-like: source log-normal (median 24, sigma 0.6, EOS included), target = source "
                       "x N(1.05, 0.1); pairs over max_source_length/max_target_length dropped as in training",
            "pairs": num_pairs, "seed": seed, "configs": {}}
  for path in config_paths:
    config = load_config(path)
    before = config.copy_and_resolve_references()
    before.real_tokens_per_batch, before.train_bucket_count = 0, 0
    before.pack_training_rows, before.pack_open_rows = False, 1
    entry = {}
    for name, variant in (("before", before), ("configured", config)):
      batcher, counts = input_pipeline.make_batcher(variant, pairs)
      entry[name] = {"tokens_per_batch": variant.tokens_per_batch,
                     "real_tokens_per_batch": variant.real_tokens_per_batch,
                     "pack_training_rows": variant.pack_training_rows, "pairs_kept": counts.kept,
                     **batch_sizes(batcher)}
    report["configs"][path] = entry
  return report


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

  tokenizer_path = workdir_lib.path(workdir, workdir_lib.TOKENIZER)
  data = input_pipeline.load_datasets(config, tokenizer_path)
  tokenizer = tokenizer_lib.Tokenizer.load(tokenizer_path)
  sample = read[:20_000]
  started = time.perf_counter()
  arrays, _ = token_cache.encode_pairs(sample, tokenizer)
  elapsed = time.perf_counter() - started
  results["encode"] = {"pairs": len(sample), "pairs_per_sec": round(len(sample) / elapsed),
                       "target_tokens_per_sec": round(int(arrays["target_lengths"].sum()) / elapsed),
                       "note": "SentencePiece's batch encoder uses all cores; done once per workdir"}
  results["batch_sizes_configured"] = batch_sizes(data.train)

  pairs = token_cache.TokenizedPairs(data.train.sources, data.train.targets)
  config = config.copy_and_resolve_references()
  config.tokens_per_batch = tokens_per_batch
  config.real_tokens_per_batch, config.train_bucket_count = 0, 0
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
        "batch_shapes": " ".join(f"{rows}x{length}" for rows, length in batcher.shapes()),
        "batches_per_sec": round(calls / elapsed, 1), "pairs_per_sec": round(totals["pairs"] / elapsed),
        "target_tokens_per_sec": round(totals["target_tokens"] / elapsed),
        "padding_fraction": round(1 - totals["target_tokens"] / max(totals["padded_target_tokens"], 1), 3)}
  return results


class _MemorySampler:
  """Peak resident memory of this process, sampled from /proc/self/status: anonymous (the heap: Python objects,
  numpy arrays) and file-backed (memory-mapped files, which the kernel can drop and which processes share)."""

  def __init__(self, interval: float = 0.05):
    self.interval, self.peak = interval, {"RssAnon": 0, "RssFile": 0, "VmRSS": 0}
    self._stop = threading.Event()
    self._thread = threading.Thread(target=self._run, daemon=True)

  @staticmethod
  def now() -> dict:
    values = {}
    with open("/proc/self/status") as f:
      for line in f:
        name, _, rest = line.partition(":")
        if name in ("RssAnon", "RssFile", "VmRSS"):
          values[name] = int(rest.split()[0]) * 1024
    return values

  def _run(self):
    while not self._stop.is_set():
      for name, value in self.now().items():
        self.peak[name] = max(self.peak[name], value)
      self._stop.wait(self.interval)

  def __enter__(self):
    self._thread.start()
    return self

  def __exit__(self, *exc):
    self._stop.set()
    self._thread.join()


def _mb(num_bytes: int) -> float:
  return round(num_bytes / 1e6, 1)


def source_stage(config_json: str, stage: str, workdir: str) -> dict:
  """One stage on one source, in this (fresh) process: "prepare", "read" or "pipeline"."""
  from ml_collections import config_dict  # pylint: disable=g-import-not-at-top
  config = config_dict.ConfigDict(json.loads(config_json))
  source = sources.get(config.dataset)
  before = _MemorySampler.now()
  with _MemorySampler() as memory:
    started = time.perf_counter()
    if stage == "prepare":
      result = {"prepared_now": bool(source.prepare(config)), "stored_mb": _mb(source.stored_bytes(config) or 0)}
    elif stage == "read":
      digest, count = hashlib.sha256(), 0
      for source_text, target_text in sources.iter_pairs(config, "train"):
        digest.update(f"{source_text}\t{target_text}\n".encode())
        count += 1
      result = {"pairs": count, "sha256": digest.hexdigest()[:16]}
    else:
      shutil.rmtree(workdir, ignore_errors=True)  # measured from nothing: the vocabulary and ids are built here
      prepared = input_pipeline.prepare_training(config, workdir_lib.path(workdir, workdir_lib.TOKENIZER))
      result = {"pairs": len(prepared.pairs), "target_tokens": int(prepared.pairs.targets.lengths.sum())}
    seconds = time.perf_counter() - started
  if "pairs" in result:
    result["pairs_per_sec"] = round(result["pairs"] / seconds)
  result.update(seconds=round(seconds, 1), rss_before_mb=_mb(before["VmRSS"]),
                peak_rss_mb=_mb(memory.peak["VmRSS"]), peak_anonymous_mb=_mb(memory.peak["RssAnon"]),
                peak_file_backed_mb=_mb(memory.peak["RssFile"]),
                anonymous_growth_mb=_mb(memory.peak["RssAnon"] - before["RssAnon"]))
  return result


def _write_compared_sources(directory: str, num_pairs: int, seed: int) -> dict:
  """The embedded grammar's splits for (seed, num_pairs), as a Hub-layout dataset and as local files; the configs
  of the three sources over them."""
  from transformer_jax.data.embedded import generator  # pylint: disable=g-import-not-at-top
  from transformer_jax.data.sources import huggingface  # pylint: disable=g-import-not-at-top
  base = load_config("configs/default.py")
  configs = {
      "huggingface": dict(dataset="huggingface", hf_dataset=os.path.join(directory, "hub"), hf_config="de-en",
                          hf_cache_dir=os.path.join(directory, "hf_cache")),
      "tfds": dict(dataset="embedded_ende", embedded_seed=seed, embedded_num_train=num_pairs,
                   tfds_data_dir=os.path.join(directory, "tfds")),
      "local": {"dataset": "local", "local_tsv_languages": ["en", "de"],
                **{f"local_{split}": os.path.join(directory, "local", f"{split}.{{lang}}")
                   for split in ("train", "validation", "test")}}}
  marker = os.path.join(directory, f"written-{seed}-{num_pairs}")
  if not os.path.exists(marker):
    started = time.perf_counter()
    splits = generator.make_splits(seed=seed, num_train=num_pairs)
    print(f"generated {num_pairs:,} training pairs in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    huggingface.write_hub_layout(configs["huggingface"]["hf_dataset"], "de-en",
                                 {name: [(de, en) for en, de in pairs] for name, pairs in splits.items()},
                                 ("de", "en"))
    os.makedirs(os.path.join(directory, "local"), exist_ok=True)
    for split, pairs in splits.items():
      for column, lang in enumerate(("en", "de")):
        with open(os.path.join(directory, "local", f"{split}.{lang}"), "w", encoding="utf-8") as f:
          f.writelines(pair[column] + "\n" for pair in pairs)
    open(marker, "w").close()
  out = {}
  for name, overrides in configs.items():
    config = base.copy_and_resolve_references()
    config.update(overrides)
    out[name] = config.to_json()
  return out


def compare_sources(directory: str, num_pairs: int, seed: int, names: list[str]) -> dict:
  """Each source's stages, each in a fresh process (so peak memory is that stage's own)."""
  os.makedirs(directory, exist_ok=True)
  configs = _write_compared_sources(directory, num_pairs, seed)
  report = {"pairs": num_pairs, "seed": seed, "cpu_count": os.cpu_count(), "sources": {}}
  for name in names:
    report["sources"][name] = {}
    for stage in ("prepare", "read", "pipeline"):
      workdir = os.path.join(directory, f"workdir_{name}")
      code = ("import json, sys; from benchmarks import input_bench; "
              "print(json.dumps(input_bench.source_stage(sys.argv[1], sys.argv[2], sys.argv[3])))")
      done = subprocess.run([sys.executable, "-c", code, configs[name], stage, workdir], capture_output=True,
                            text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
      if done.returncode:
        raise RuntimeError(f"{name} {stage} failed:\n{done.stderr[-3000:]}")
      result = json.loads(done.stdout.strip().splitlines()[-1])
      report["sources"][name][stage] = result
      print(f"{name} {stage}: {json.dumps(result)}", file=sys.stderr)
  digests = {name: stages["read"]["sha256"] for name, stages in report["sources"].items()}
  report["same_pairs_in_the_same_order"] = len(set(digests.values())) == 1
  return report


def _define_flags():
  # Defined when run as a command, not on import, so tests can import this module beside other commands.
  from ml_collections import config_flags  # pylint: disable=g-import-not-at-top
  config_flags.DEFINE_config_file("config", "configs/default.py", "Training config whose data to measure.")
  flags.DEFINE_string("workdir", "/tmp/transformer_jax_data_bench",
                      "Holds the vocabulary and token cache (created if absent, reused if present).")
  flags.DEFINE_float("seconds", 10.0, "Time spent on each measured stage.")
  flags.DEFINE_integer("tokens_per_batch", 25_000,
                       "Padded target positions per batch for the bucketed/packed build-rate stage.")
  flags.DEFINE_list("batch_report_configs", [], "If set: only the batch-size report, for these config files, on "
                    "synthetic WMT-like pairs (no data needed).")
  flags.DEFINE_integer("synthetic_pairs", 500_000, "Pairs in the synthetic corpus of the batch-size report.")
  flags.DEFINE_integer("seed", 0, "Seed of the synthetic corpus, or of the compared sources' pairs.")
  flags.DEFINE_integer("compare_sources_pairs", 0, "If set: the source comparison on this many training pairs.")
  flags.DEFINE_string("compare_dir", "/tmp/transformer_jax_source_bench",
                      "Holds the compared sources' data and workdirs (written once, reused).")
  flags.DEFINE_list("compare_sources", ["huggingface", "tfds", "local"], "The sources the comparison measures.")


def main(argv):
  del argv
  f = flags.FLAGS
  if f.compare_sources_pairs:
    results = compare_sources(f.compare_dir, f.compare_sources_pairs, f.seed, f.compare_sources)
  elif f.batch_report_configs:
    results = batch_report(f.batch_report_configs, f.synthetic_pairs, f.seed)
  else:
    results = measure(f.config, f.workdir, f.seconds, f.tokens_per_batch)
  json.dump(results, sys.stdout, indent=2)
  print()


if __name__ == "__main__":
  _define_flags()
  cli.run(main)
