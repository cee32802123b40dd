"""Translate text with a trained workdir: one output line per input line, in order.

  python -m transformer_jax.translate --workdir=DIR [--input=FILE] [--output=FILE] [--beam_size=4] [--alpha=0.6]
  python -m transformer_jax.translate --engine=ctranslate2 --model_dir=EXPORTED [--input=FILE] [--output=FILE]

Reads sentences from --input (default: stdin) and writes translations to --output (default: stdout). The workdir is
the one `transformer_jax.main` trained: it holds the resolved config, the SentencePiece model and checkpoints.
--engine=ctranslate2 decodes a model written by `python -m transformer_jax.export --format=ctranslate2` with the
same tokenizer, truncation, length limits and line-for-line output (export/ctranslate2_translator.py).
With --engine=jax, a run trained on preprocessed text (the config's lowercase_text, moses_tokenize, ...) gets its
input preprocessed the same way and its translations written Moses-detokenized (--preprocessed_output: as the model
writes them).
"""

from __future__ import annotations

import os
import sys

from transformer_jax import cpu_devices  # noqa: F401  (first: one CPU device per core; sentences split over them)

import tqdm
from absl import app, flags, logging

from transformer_jax import cli, inference
from transformer_jax.errors import ConfigError, MissingFileError

FLAGS = flags.FLAGS


def _define_flags():
  # Defined when run as a command, not on import, like every command.
  flags.DEFINE_string("workdir", None, "Workdir of a training run (holds config.json, sentencepiece.model and "
                      "checkpoints/); --engine=jax.")
  flags.DEFINE_enum("engine", "jax", ["jax", "ctranslate2"], "jax: this codebase's decoder on the workdir's "
                    "checkpoint; ctranslate2: an exported CTranslate2 model (--model_dir).")
  flags.DEFINE_string("model_dir", None, "--engine=ctranslate2: a directory written by python -m "
                      "transformer_jax.export --format=ctranslate2.")
  flags.DEFINE_string("device", "cpu", "--engine=ctranslate2: cpu, cuda or auto.")
  flags.DEFINE_string("compute_type", "default", "--engine=ctranslate2: default (the exported weights' type), "
                      "int8, int8_float32, float16, float32, ...")
  flags.DEFINE_integer("threads", 0, "--engine=ctranslate2: CPU threads per batch (0: CTranslate2's default).")
  flags.DEFINE_integer("workers", 1, "--engine=ctranslate2: batches translated at once (CTranslate2's "
                       "inter_threads); on a CPU, --workers=<cores> --threads=1 is fastest for a long input.")
  flags.DEFINE_string("input", "-", "File with one source sentence per line; '-' reads stdin.")
  flags.DEFINE_string("output", "-", "File to write one translation per line; '-' writes stdout.")
  flags.DEFINE_integer("beam_size", None, "Beam size (default: the run's config, 4 for the paper's settings).")
  flags.DEFINE_float("alpha", None, "Length penalty alpha: in ((5+len)/6)^alpha or len^alpha, as the run's "
                     "length_penalty_form says; len^alpha under --engine=ctranslate2 (default: the run's config, "
                     "0.6).")
  flags.DEFINE_integer("batch_size", None, "Sentences per decoding batch (default: the run's decode_batch_size).")
  flags.DEFINE_integer("step", None, "Checkpoint step to load (default: the latest).")
  flags.DEFINE_integer("n_best", 1, "Hypotheses per sentence (<= beam size). Above 1, each output line holds them "
                       "best first as tab-separated 'translation ||| score' fields (score = log P / length penalty).")
  flags.DEFINE_bool("preprocessed_output", False, "--engine=jax, a run with text preprocessing (lowercase_text, "
                    "moses_tokenize, ...): write translations as the model writes them (Moses-tokenized, with "
                    "Moses' escaping such as &apos;: the text protocol_bleu scores) instead of Moses-detokenized.")


def read_lines(path: str) -> list[str]:
  """Lines of the input without their newline; undecodable UTF-8 bytes become U+FFFD, counted and warned about."""
  if path != "-" and not os.path.isfile(path):
    raise MissingFileError(f"--input={path}: no such file")
  raw = sys.stdin.buffer.read() if path == "-" else open(path, "rb").read()
  lines, invalid = [], 0
  for number, line in enumerate(raw.split(b"\n"), start=1):
    try:
      lines.append(line.decode("utf-8").rstrip("\r"))
    except UnicodeDecodeError:
      invalid += 1
      lines.append(line.decode("utf-8", errors="replace").rstrip("\r"))
      if invalid <= 5:
        logging.warning("Input line %d is not valid UTF-8: undecodable bytes replaced by U+FFFD.", number)
  if lines and lines[-1] == "" and raw.endswith(b"\n"):
    lines.pop()  # the newline that ends the last line does not start another one
  if invalid:
    logging.warning("%d input line(s) had invalid UTF-8 (replaced).", invalid)
  return lines


def _translator():
  """translate(sentences, progress) -> n-best lists, for the chosen engine (loaded before the input is read)."""
  options = dict(n_best=FLAGS.n_best, beam_size=FLAGS.beam_size, alpha=FLAGS.alpha)
  if FLAGS.engine == "ctranslate2":
    if not FLAGS.model_dir or FLAGS.workdir:
      raise ConfigError("--engine=ctranslate2 takes --model_dir (an exported model), not --workdir")
    from transformer_jax.export import ctranslate2_translator  # pylint: disable=g-import-not-at-top
    engine = ctranslate2_translator.Ctranslate2Translator(FLAGS.model_dir, device=FLAGS.device,
                                                          compute_type=FLAGS.compute_type, threads=FLAGS.threads,
                                                          workers=FLAGS.workers)
    return lambda sentences, progress: engine.translate_n_best(
        sentences, batch_size=FLAGS.batch_size or 64, progress=progress, **options)
  if not FLAGS.workdir or FLAGS.model_dir:
    raise ConfigError("--engine=jax takes --workdir (a training run); --model_dir is for --engine=ctranslate2")
  config, tokenizer, model, params, mesh = inference.load_on_devices(FLAGS.workdir, FLAGS.step)
  return lambda sentences, progress: inference.translate_text(
      model, params, tokenizer, sentences, config, mesh, preprocessed_output=FLAGS.preprocessed_output,
      batch_size=FLAGS.batch_size, progress=progress, **options)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
  translate = _translator()
  lines = read_lines(FLAGS.input)
  bar = tqdm.tqdm(total=len(lines), unit="sent", desc="translating", file=sys.stderr,
                  disable=FLAGS.input == "-" and not sys.stderr.isatty())
  # Blank lines translate to blank lines without decoding; everything else is decoded, and every input line gets
  # exactly one output line, in order.
  to_decode = [i for i, line in enumerate(lines) if line.strip()]
  bar.update(len(lines) - len(to_decode))
  decoded = translate([lines[i] for i in to_decode], bar.update)
  bar.close()
  n_best_lists = [[] for _ in lines]
  for i, hypotheses in zip(to_decode, decoded):
    n_best_lists[i] = hypotheses
  output = sys.stdout if FLAGS.output == "-" else open(FLAGS.output, "w", encoding="utf-8")
  with output:
    for hypotheses in n_best_lists:
      if FLAGS.n_best == 1:
        line = hypotheses[0][0] if hypotheses else ""
      else:
        line = "\t".join(f"{text} ||| {score:.4f}" for text, score in hypotheses)
      output.write(line.replace("\n", " ") + "\n")
  logging.info("Translated %d lines.", len(lines))


if __name__ == "__main__":
  _define_flags()
  cli.run(main)
