"""What a training run's dev evaluation spends its time on, first (compiling) and warm, for a trained workdir: the dev
loss over packed and over bucketed batches (in turn, in this one process), the dev BLEU beam search, and the
cross-attention pictures written to TensorBoard.

  python experiments/first_evaluation.py --workdir=runs/demo --rounds=3

Each round builds fresh jitted evaluation steps (so every round's first call compiles again) and calls each twice.
Prints the seconds of every part, per round, then the medians.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time

from absl import app, flags

flags.DEFINE_string("workdir", None, "Workdir of a trained run.", required=True)
flags.DEFINE_integer("rounds", 3, "Rounds of (compile, warm) calls.")
FLAGS = flags.FLAGS


def main(argv):
  del argv
  os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:2])
  from transformer_jax import cpu_devices  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
  import jax  # pylint: disable=g-import-not-at-top
  from clu import metric_writers  # pylint: disable=g-import-not-at-top
  from transformer_jax import cli, evaluation, inference, train_step, visualize  # pylint: disable=g-import-not-at-top
  from transformer_jax.data import input_pipeline  # pylint: disable=g-import-not-at-top
  cli.quiet_library_logs()
  config, tokenizer, model, params, mesh = inference.load_on_devices(FLAGS.workdir)
  dev = input_pipeline.load_text_split(config, "validation")
  batchings = {}
  for packed in (True, False):
    variant = config.copy_and_resolve_references()
    variant.pack_training_rows = packed
    batchings["packed" if packed else "buckets"] = evaluation.loss_batches(dev, tokenizer, variant, mesh)
  for name, batches in batchings.items():
    shapes = sorted({batch["targets"].shape for batch in batches.batches})
    print(f"dev loss, {name}: {len(batches.batches)} batches, shapes {shapes}")
  bleu_set = evaluation.bleu_set(dev, tokenizer, limit=config.num_dev_bleu_sentences)
  writer = metric_writers.create_default_writer(tempfile.mkdtemp(), just_logging=False)
  seconds: dict[str, list[float]] = {}

  def timed(name, fn):
    begin = time.perf_counter()
    result = fn()
    seconds.setdefault(name, []).append(time.perf_counter() - begin)
    return result

  for _ in range(FLAGS.rounds):
    jax.clear_caches()
    for name, batches in batchings.items():
      eval_step = train_step.jit_eval_step(model, mesh, config.label_smoothing)
      for call in ("first", "warm"):
        loss = timed(f"dev loss, {name}, {call}", lambda: evaluation.mean_loss(eval_step, params, batches, mesh))
      print(f"dev loss over {name} batches: {loss['loss']:.6f}")
    for call in ("first", "warm"):
      report = timed(f"dev BLEU, {call}",
                     lambda: evaluation.bleu_of(model, params, tokenizer, bleu_set, config, mesh))
    for call in ("first", "warm"):
      timed(f"attention pictures, {call}",
            lambda: visualize.write_attention_images(writer, 0, model, params, tokenizer, report["examples"]))
    print(f"dev sacreBLEU {report['sacrebleu']:.2f}", flush=True)
  print("| part | median s | per round |")
  print("|---|---|---|")
  for name, values in seconds.items():
    print(f"| {name} | {statistics.median(values):.2f} | {', '.join(f'{v:.2f}' for v in values)} |")


if __name__ == "__main__":
  app.run(main)
