r"""Reproduce a published result: train with its recipe, average its checkpoints, decode its test set once, and
set its figure beside ours, under its protocol.

  python -m transformer_jax.reproduce --config=configs/multi30k_wu2021_tiny.py --config.multi30k_dir=DIR \
      --workdir=runs/multi30k_wu2021_tiny                                          # Wu et al. 2021: 41.02
  python -m transformer_jax.reproduce --config=configs/wmt14_ende_base.py --workdir=runs/paper_ende_base  # 27.3
  python -m transformer_jax.reproduce --config=configs/wmt14_ende_big.py --workdir=runs/paper_ende_big    # 28.4
  python -m transformer_jax.reproduce --config=configs/wmt14_enfr_base.py --workdir=runs/paper_enfr_base  # 38.1
  python -m transformer_jax.reproduce --config=configs/wmt14_enfr_big.py --workdir=runs/paper_enfr_big    # 41.8

The config says what it reproduces (published_bleu, published_metric, published_in) and how: its training recipe,
the checkpoints averaged at the end (test_average_last), its decoding and its text preprocessing. Training's final
test is that procedure, so the test set is decoded once. Rerunning after an interruption continues training where
it stopped, then scores again (a finished run is only scored again).
Writes <workdir>/reproduction.json and reproduction.md (the published figure beside ours, the protocol, the dev
curve, drawn in dev_curve.png) and the test translations, one line per source line.
"""

from __future__ import annotations

from transformer_jax import launch  # pylint: disable=g-bad-import-order  # first: sets the CPU device count

import json  # pylint: disable=g-import-not-at-top
import os  # pylint: disable=g-import-not-at-top

import jax  # pylint: disable=g-import-not-at-top
from absl import app, flags, logging  # pylint: disable=g-import-not-at-top
from ml_collections import config_flags  # pylint: disable=g-import-not-at-top
from tqdm import tqdm  # pylint: disable=g-import-not-at-top

from transformer_jax import average_checkpoints, cli, config_base, inference, sharding, workdir as workdir_lib

# What each published_metric is, in words, for the report.
METRIC_NAMES = {"tokenized_bleu": "tokenized, compound-split BLEU (the paper's get_ende_bleu.sh)",
                "protocol_bleu": "BLEU4 on the preprocessed (tokenized) text, as fairseq and multi-bleu.perl count",
                "sacrebleu": "sacreBLEU on detokenized text"}
DEV_CURVE_PLOT = "dev_curve.png"
# How each length_penalty_form divides a hypothesis' log-probability, n its tokens with EOS.
PENALTIES = {"gnmt": "log P / ((5 + n) / 6)^{alpha}", "length": "log P / n^{alpha}"}


def reproduce(config, workdir: str, average_last: int | None = None, skip_training: bool = False) -> dict:
  """Trains, then scores the whole test set once with the mean of the last `average_last` checkpoints (default the
  config's test_average_last). Also writes that average as a workdir of its own (WORKDIR/averaged_lastK), for
  translate."""
  config.test_average_last = average_last or config.test_average_last
  config.num_test_sentences = 0  # the whole test set, once: with the average
  config.test_score_final_step = False
  config_base.validate(config)
  # Imported here, not at the top: TensorFlow loads in seconds, and --help or a bad flag should not wait.
  from transformer_jax import train  # pylint: disable=g-import-not-at-top
  final = None if skip_training else train.train_and_evaluate(config, workdir)
  if final and final.get("stopped_by"):  # a signal stopped training: nothing to score yet
    logging.info("Training stopped by %s at step %d; rerun the same command to continue and then score.",
                 final["stopped_by"], final["step"])
    return final
  averaged_dir = workdir_lib.averaged(workdir, config.test_average_last)
  averaged = average_checkpoints.average_last(workdir, config.test_average_last, output_workdir=averaged_dir,
                                              overwrite=True)
  logging.info("Averaged the checkpoints of steps %s into %s (translate --workdir=%s decodes it).",
               averaged["averaged_steps"], averaged_dir, averaged_dir)
  if skip_training:  # score the checkpoints already there: decode their average
    test = _score_average(config, workdir, averaged_dir, averaged["averaged_steps"])
    final = workdir_lib.read_json(workdir, workdir_lib.RESULTS) or {}
  else:
    test = {"averaged_steps": final["test_averaged_steps"], "sacrebleu": final["test_sacrebleu"],
            "sacrebleu_lowercase": final["test_sacrebleu_lowercase"],
            "sacrebleu_signature": final["sacrebleu_signature"], "tokenized_bleu": final["test_tokenized_bleu"],
            "hypotheses": final["test_hypotheses"]}
    if "test_protocol_bleu" in final:
      test["protocol_bleu"] = final["test_protocol_bleu"]
  with open(test["hypotheses"], encoding="utf-8") as f:
    test_sentences = sum(1 for _ in f)
  steps_per_epoch = final.get("batches_per_epoch")
  results = {"dataset": config.dataset, "direction": f"{config.source_lang}-{config.target_lang}",
             "published_bleu": config.published_bleu or None, "published_metric": config.published_metric,
             "published_in": config.published_in, "ours": test.get(config.published_metric),
             "beam_size": config.beam_size, "length_penalty": PENALTIES[config_base.length_penalty_form(config)].format(
                 alpha=config.length_penalty_alpha),
             "max_length": f"source + {config.decode_extra_length} (at most {config.max_decode_length})",
             "preprocessing": [key for key in ("moses_normalize_punctuation", "lowercase_text", "moses_tokenize")
                               if config.get(key)],
             "test_sentences": test_sentences, "final_step": final.get("step"), "steps_per_epoch": steps_per_epoch,
             "train_seconds": final.get("train_seconds"), "early_stop": final.get("early_stop"), **test}
  if jax.process_index() == 0:
    curve = _dev_curve(workdir)
    if curve:
      _plot_dev_curve(curve, os.path.join(workdir, DEV_CURVE_PLOT), steps_per_epoch)
    workdir_lib.write_json(workdir, "reproduction.json", results)
    workdir_lib.write_atomically(os.path.join(workdir, "reproduction.md"), _markdown(results, curve))
  logging.info("\n%s", _markdown(results, []))
  return results


def _score_average(config, workdir: str, averaged_dir: str, averaged_steps: list[int]) -> dict:
  """The test score of the averaged workdir `averaged_dir`, without training."""
  from transformer_jax import evaluation  # pylint: disable=g-import-not-at-top
  from transformer_jax.data import input_pipeline  # pylint: disable=g-import-not-at-top
  run = workdir_lib.load(averaged_dir)
  test = input_pipeline.load_text_split(config, "test")
  mesh = sharding.make_mesh()  # sources are split over every device
  with tqdm(total=len(test.sources), desc="test decoding", unit="sent") as bar:
    report = evaluation.bleu_of(run.model, inference.replicate(run.params, mesh), run.tokenizer,
                                evaluation.bleu_set(test, run.tokenizer), config, mesh, progress=bar.update)
  hypotheses = workdir_lib.test_hypotheses(workdir, config.target_lang)
  if jax.process_index() == 0:
    workdir_lib.write_lines(hypotheses, report["hypotheses"])
  scores = {"averaged_steps": averaged_steps, "sacrebleu": report["sacrebleu"],
            "sacrebleu_lowercase": report["sacrebleu_lowercase"], "sacrebleu_signature": report["signature"],
            "tokenized_bleu": report["tokenized_bleu"], "hypotheses": hypotheses}
  if "protocol_bleu" in report:
    scores["protocol_bleu"] = report["protocol_bleu"]
  return scores


def _dev_curve(workdir: str) -> list[dict]:
  """The dev evaluations of the run, one per step (a resumed run's repeat of a step replaces the earlier row)."""
  path = workdir_lib.path(workdir, workdir_lib.DEV_CURVE)
  if not os.path.exists(path):
    return []
  rows = {}
  with open(path) as f:
    for line in f:
      if line.strip():
        row = json.loads(line)
        rows[row["step"]] = row
  return [rows[step] for step in sorted(rows)]


def _plot_dev_curve(curve: list[dict], output: str, steps_per_epoch: int | None) -> None:
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  figure, loss_axis = plt.subplots(figsize=(7, 4))
  x = [row["step"] / steps_per_epoch if steps_per_epoch else row["step"] for row in curve]
  loss_axis.plot(x, [row["dev_loss"] for row in curve], marker=".", color="tab:blue", label="dev loss")
  loss_axis.set_xlabel("epoch" if steps_per_epoch else "step")
  loss_axis.set_ylabel("dev loss (label-smoothed cross-entropy)", color="tab:blue")
  bleu_rows = [(xi, row) for xi, row in zip(x, curve) if "dev_bleu" in row]
  if bleu_rows:
    bleu_axis = loss_axis.twinx()
    bleu_axis.plot([xi for xi, _ in bleu_rows], [row.get("dev_protocol_bleu", row["dev_bleu"]) for _, row in bleu_rows],
                   marker="o", color="tab:red")
    bleu_axis.set_ylabel("dev BLEU", color="tab:red")
  loss_axis.grid(alpha=0.3)
  loss_axis.set_title("Dev set during training")
  figure.tight_layout()
  figure.savefig(output, dpi=110)
  plt.close(figure)


def _markdown(r: dict, curve: list[dict]) -> str:
  published = "n/a" if r["published_bleu"] is None else f"{r['published_bleu']:.2f}"
  signature = r["sacrebleu_signature"].replace("|", r"\|")  # a bare | would split the table cell
  rows = [f"| {METRIC_NAMES['protocol_bleu']} | {r['protocol_bleu']:.2f} | "
          f"{published if r['published_metric'] == 'protocol_bleu' else ''} |"] if "protocol_bleu" in r else []
  rows += [f"| {METRIC_NAMES['tokenized_bleu']} | {r['tokenized_bleu']:.2f} | "
           f"{published if r['published_metric'] == 'tokenized_bleu' else ''} |",
           f"| sacreBLEU (`{signature}`) | {r['sacrebleu']:.2f} | "
           f"{published if r['published_metric'] == 'sacrebleu' else ''} |",
           f"| sacreBLEU, lowercased | {r['sacrebleu_lowercase']:.2f} | |"]
  stop = r.get("early_stop")
  epochs = f" (epoch {r['final_step'] / r['steps_per_epoch']:.1f})" if r.get("steps_per_epoch") else ""
  ended = (f"Training stopped early at step {stop['step']}{epochs}: {stop['reason']}." if stop else
           f"Training ended at step {r['final_step']}{epochs}." if r.get("final_step") else "")
  if r.get("train_seconds"):
    ended += f" {r['train_seconds'] / 3600:.2f} h of training (evaluations excluded)."
  text = (f"# Reproduction: {r['dataset']} {r['direction']}\n\n"
          f"Published: {r['published_in'] or 'no published figure set in the config'}.\n\n"
          f"| test ({r['test_sentences']} sentences) | ours | published |\n|---|---|---|\n" + "\n".join(rows) + "\n\n"
          f"Protocol: text preprocessing {', '.join(r['preprocessing']) or 'none'}; the average of the checkpoints of "
          f"steps {r['averaged_steps']}; beam {r['beam_size']}, scores {r['length_penalty']}, maximum "
          f"length {r['max_length']}. {ended}\n")
  if curve:
    has_bleu = any("dev_bleu" in row for row in curve)
    text += (f"\n## Dev curve\n\n![dev curve]({DEV_CURVE_PLOT})\n\n| step | training time (s) | dev loss |"
             + (" dev BLEU |" if has_bleu else "") + "\n|---|---|---|" + ("---|" if has_bleu else "") + "\n")
    shown = curve if len(curve) <= 40 else curve[::max(1, len(curve) // 30)] + [curve[-1]]
    for row in shown:
      bleu = f" {row.get('dev_protocol_bleu', row.get('dev_bleu', float('nan'))):.2f} |" if has_bleu else ""
      text += f"| {row['step']} | {row['train_seconds']:.0f} | {row['dev_loss']:.4f} |{bleu}\n"
  return text


def _define_flags():
  # Defined when run as a command, not on import, so tests can import this module beside other commands.
  config_flags.DEFINE_config_file("config", None, "A config that sets published_bleu, e.g. "
                                  "configs/multi30k_wu2021_tiny.py or configs/wmt14_ende_base.py; override keys with "
                                  "--config.KEY=VALUE.", lock_config=True)
  flags.DEFINE_string("workdir", None, "Training workdir (resumed if it exists).")
  flags.DEFINE_integer("average_last", None, "Checkpoints to average: default the config's test_average_last (the "
                       "paper's 5 for base, 20 for big; at most max_checkpoints_to_keep).")
  flags.DEFINE_bool("skip_training", False, "Average and decode the checkpoints already in the workdir without "
                    "training further.")
  flags.adopt_module_key_flags(launch)  # --help lists the multi-host flags too
  flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
  f = flags.FLAGS
  launch.setup(f.config)
  reproduce(f.config, f.workdir, f.average_last, f.skip_training)


if __name__ == "__main__":
  _define_flags()
  cli.run(main)
