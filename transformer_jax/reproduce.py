r"""Reproduce a row of the paper's Table 2: train, average the last K checkpoints, decode newstest2014, score.

  python -m transformer_jax.reproduce --config=configs/wmt14_ende_base.py --workdir=runs/paper_ende_base
  python -m transformer_jax.reproduce --config=configs/wmt14_ende_big.py --workdir=runs/paper_ende_big
  python -m transformer_jax.reproduce --config=configs/wmt14_enfr_base.py --workdir=runs/paper_enfr_base
  python -m transformer_jax.reproduce --config=configs/wmt14_enfr_big.py --workdir=runs/paper_enfr_big

The paper's procedure (section 6.1): train (base 100k steps, big 300k), average the last 5 (base) or 20 (big)
checkpoints, beam search with beam 4, alpha 0.6 and maximum output length = source length + 50. Training's final
test is that procedure (test_average_last), so newstest2014 is decoded once. Rerunning after an interruption
continues training where it stopped, then scores again.
Writes <workdir>/reproduction.json and reproduction.md (sacreBLEU and the paper's tokenized, compound-split BLEU,
with the paper's number beside them) and the test translations, one line per source line.
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

# Table 2 of the paper: BLEU on newstest2014.
PAPER_BLEU = {("wmt14_translate/de-en", "en", "de", "base"): 27.3, ("wmt14_translate/de-en", "en", "de", "big"): 28.4,
              ("wmt14_translate/fr-en", "en", "fr", "base"): 38.1, ("wmt14_translate/fr-en", "en", "fr", "big"): 41.8}

def model_size(config) -> str:
  return "big" if config.d_model >= 1024 else "base"


def paper_bleu(config) -> float | None:
  return PAPER_BLEU.get((config.dataset, config.source_lang, config.target_lang, model_size(config)))


def reproduce(config, workdir: str, average_last: int | None = None, skip_training: bool = False) -> dict:
  """Trains, then scores the whole test set once with the mean of the last `average_last` checkpoints (default the
  config's test_average_last: 5 for the base configs, 20 for big). Also writes that average as a workdir of its own
  (WORKDIR/averaged_lastK), for translate."""
  config.test_average_last = average_last or config.test_average_last
  config.num_test_sentences = 0  # the paper scores all of newstest2014, once: with the average
  config.test_score_final_step = False
  config_base.validate(config)
  # Imported here, not at the top: TensorFlow loads in seconds, and --help or a bad flag should not wait.
  from transformer_jax import train  # pylint: disable=g-import-not-at-top
  if not skip_training:
    final = train.train_and_evaluate(config, workdir)
  averaged_dir = workdir_lib.averaged(workdir, config.test_average_last)
  averaged = average_checkpoints.average_last(workdir, config.test_average_last, output_workdir=averaged_dir,
                                              overwrite=True)
  logging.info("Averaged the checkpoints of steps %s into %s (translate --workdir=%s decodes it).",
               averaged["averaged_steps"], averaged_dir, averaged_dir)
  if skip_training:  # score the checkpoints already there: decode their average
    test = _score_average(config, workdir, averaged_dir, averaged["averaged_steps"])
  else:
    test = {"averaged_steps": final["test_averaged_steps"], "sacrebleu": final["test_sacrebleu"],
            "sacrebleu_signature": final["sacrebleu_signature"], "tokenized_bleu": final["test_tokenized_bleu"],
            "hypotheses": final["test_hypotheses"]}
  with open(test["hypotheses"], encoding="utf-8") as f:
    test_sentences = sum(1 for _ in f)
  results = {"dataset": config.dataset, "direction": f"{config.source_lang}-{config.target_lang}",
             "model": model_size(config), "beam_size": config.beam_size, "alpha": config.length_penalty_alpha,
             "max_length": f"source + {config.decode_extra_length} (at most {config.max_decode_length})",
             "test_sentences": test_sentences, "paper_bleu": paper_bleu(config), **test}
  if jax.process_index() == 0:
    with open(os.path.join(workdir, "reproduction.json"), "w") as f:
      json.dump(results, f, indent=2)
    with open(os.path.join(workdir, "reproduction.md"), "w") as f:
      f.write(_markdown(results))
  logging.info("\n%s", _markdown(results))
  return results


def _score_average(config, workdir: str, averaged_dir: str, averaged_steps: list[int]) -> dict:
  """The test score of the averaged workdir `averaged_dir`, without training."""
  from transformer_jax import evaluation  # pylint: disable=g-import-not-at-top
  from transformer_jax.data import input_pipeline  # pylint: disable=g-import-not-at-top
  run = workdir_lib.load(averaged_dir)
  test = input_pipeline.load_text_split(config, "test")
  mesh = sharding.make_mesh()  # sources are split over every device
  with tqdm(total=len(test.sources), desc="newstest decoding", unit="sent") as bar:
    report = evaluation.bleu_of(run.model, inference.replicate(run.params, mesh), run.tokenizer,
                                evaluation.bleu_set(test, run.tokenizer), config, mesh, progress=bar.update)
  hypotheses = workdir_lib.test_hypotheses(workdir, config.target_lang)
  if jax.process_index() == 0:
    workdir_lib.write_lines(hypotheses, report["hypotheses"])
  return {"averaged_steps": averaged_steps, "sacrebleu": report["sacrebleu"],
          "sacrebleu_signature": report["signature"], "tokenized_bleu": report["tokenized_bleu"],
          "hypotheses": hypotheses}


def _markdown(r: dict) -> str:
  paper = "n/a (not a paper row)" if r["paper_bleu"] is None else f"{r['paper_bleu']:.1f}"
  signature = r["sacrebleu_signature"].replace("|", r"\|")  # a bare | would split the table cell
  return (f"| {r['dataset']} {r['direction']} {r['model']} | ours |  paper |\n|---|---|---|\n"
          f"| tokenized, compound-split BLEU (the paper's metric) | {r['tokenized_bleu']:.2f} | {paper} |\n"
          f"| sacreBLEU (`{signature}`) | {r['sacrebleu']:.2f} | |\n\n"
          f"Average of the checkpoints of steps {r['averaged_steps']}; beam {r['beam_size']}, alpha {r['alpha']}, "
          f"maximum length {r['max_length']}; {r['test_sentences']} test sentences.\n")


def _define_flags():
  # Defined when run as a command, not on import, so tests can import this module beside other commands.
  config_flags.DEFINE_config_file("config", None, "Paper config, e.g. configs/wmt14_ende_base.py; override keys with "
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
  launch.setup()
  f = flags.FLAGS
  reproduce(f.config, f.workdir, f.average_last, f.skip_training)


if __name__ == "__main__":
  _define_flags()
  cli.run(main)
