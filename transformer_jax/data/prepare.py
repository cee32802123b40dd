"""Prepare a run's data once, before training: download the dataset (tfds or Hugging Face), train the vocabulary
and write the training token ids, with progress bars.

  python -m transformer_jax.data.prepare --config=configs/wmt14_ende_base.py:hf --workdir=runs/wmt14_ende_base

Takes the same --config, overrides and --workdir as training, and leaves exactly what training would have built
there (the vocabulary and token cache in the workdir, or in token_cache_dir; the dataset in tfds_data_dir or
hf_cache_dir). A training run with the same flags then only reads it, so the hosts of a multi-host run never
download or encode anything; each of them needs the workdir and the data directory on a filesystem they share.
Rerunning is a no-op that says everything is prepared.
"""

from __future__ import annotations

import os
import sys
import time

from transformer_jax import cli, config_base, workdir as workdir_lib
from transformer_jax.data import sources


def _size(num_bytes: int | None) -> str:
  if num_bytes is None:
    return "size unknown"
  for unit in ("B", "KB", "MB", "GB"):
    if num_bytes < 1000 or unit == "GB":
      return f"{num_bytes:.0f} {unit}" if unit == "B" else f"{num_bytes:.1f} {unit}"
    num_bytes /= 1000
  return ""


def _directory_bytes(path: str) -> int:
  return sum(os.path.getsize(os.path.join(root, name)) for root, _, names in os.walk(path) for name in names)


def _progress_bar(iterable, description: str, total: int | None):
  from tqdm import tqdm  # pylint: disable=g-import-not-at-top
  return tqdm(iterable, desc=description, total=total, unit=" pairs", unit_scale=True, mininterval=1.0,
              file=sys.stderr)


def prepare_run(config, workdir: str, progress=_progress_bar, say=print) -> dict:
  """Prepares everything training `config` in `workdir` reads; returns what was done ("prepared now" or "ready")."""
  config_base.validate(config)
  os.makedirs(workdir, exist_ok=True)
  started = time.perf_counter()
  source = sources.get(config.dataset)
  # The dataset first, without TensorFlow: a download or data error is reported in seconds.
  prepared_dataset = source.prepare(config)
  from transformer_jax.data import input_pipeline  # pylint: disable=g-import-not-at-top  (TensorFlow)
  tokenizer_path = workdir_lib.path(workdir, workdir_lib.TOKENIZER)
  prepared = input_pipeline.prepare_training(config, tokenizer_path, progress=progress)
  state = lambda done: "prepared now" if done else "ready (already prepared)"
  counts = {split: source.num_pairs(config, split) for split in sources.SPLITS if source.has_split(config, split)}
  report = {
      "dataset": {"name": config.dataset, "state": state(prepared_dataset), "bytes": source.stored_bytes(config),
                  "pairs": counts},
      "vocabulary": {"path": tokenizer_path, "state": state(prepared.trained_vocabulary),
                     "pieces": prepared.tokenizer.vocab_size, "bytes": os.path.getsize(tokenizer_path)},
      "token_cache": {"path": prepared.entry, "state": state(prepared.encoded_ids), "pairs": len(prepared.pairs),
                      "target_tokens": int(prepared.pairs.targets.lengths.sum()),
                      "bytes": _directory_bytes(prepared.entry)},
      "seconds": round(time.perf_counter() - started, 1)}
  dataset, vocabulary, cache = report["dataset"], report["vocabulary"], report["token_cache"]
  pairs = ", ".join(f"{split} {count:,}" if count is not None else split for split, count in counts.items())
  say(f"Dataset {dataset['name']}: {dataset['state']}; {_size(dataset['bytes'])} on disk; pairs: {pairs}.")
  say(f"Vocabulary {vocabulary['path']}: {vocabulary['state']}; {vocabulary['pieces']:,} pieces, "
      f"{_size(vocabulary['bytes'])}.")
  say(f"Token cache {cache['path']}: {cache['state']}; {cache['pairs']:,} pairs, {cache['target_tokens']:,} target "
      f"tokens, {_size(cache['bytes'])}.")
  done = prepared_dataset or prepared.trained_vocabulary or prepared.encoded_ids
  say(f"{'Prepared' if done else 'Nothing to do: everything was prepared'} in {report['seconds']:.1f} s. Training "
      f"with this config and --workdir={workdir} reads it without preparing again.")
  return report


def main(argv) -> None:
  from absl import app, flags  # pylint: disable=g-import-not-at-top
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
  prepare_run(flags.FLAGS.config, flags.FLAGS.workdir)


if __name__ == "__main__":
  from absl import flags  # pylint: disable=g-import-not-at-top
  from ml_collections import config_flags  # pylint: disable=g-import-not-at-top
  flags.DEFINE_string("workdir", None, "The training run's workdir: the vocabulary and token cache are written "
                      "there, as training would.", required=True)
  config_flags.DEFINE_config_file("config", None, "Config file, as for training (e.g. "
                                  "configs/wmt14_ende_base.py:hf); override keys with --config.KEY=VALUE.",
                                  lock_config=True)
  flags.mark_flags_as_required(["config"])
  cli.run(main)
