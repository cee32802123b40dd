"""Translate text with a trained workdir: one output line per input line, in order.

  python -m transformer_jax.translate --workdir=DIR [--input=FILE] [--output=FILE] [--beam_size=4] [--alpha=0.6]

Reads sentences from --input (default: stdin) and writes translations to --output (default: stdout). The workdir is
the one `transformer_jax.main` trained: it holds the resolved config, the SentencePiece model and checkpoints.
"""

from __future__ import annotations

import os
import sys

import tqdm
from absl import app, flags, logging

from transformer_jax import cli, inference, sharding, workdir as workdir_lib
from transformer_jax.errors import MissingFileError

FLAGS = flags.FLAGS


def _define_flags():
  # Defined when run as a command, not on import, like every command.
  flags.DEFINE_string("workdir", None, "Workdir of a training run (holds config.json, sentencepiece.model and "
                      "checkpoints/).", required=True)
  flags.DEFINE_string("input", "-", "File with one source sentence per line; '-' reads stdin.")
  flags.DEFINE_string("output", "-", "File to write one translation per line; '-' writes stdout.")
  flags.DEFINE_integer("beam_size", None, "Beam size (default: the run's config, 4 for the paper's settings).")
  flags.DEFINE_float("alpha", None, "Length penalty alpha in ((5+len)/6)^alpha (default: the run's config, 0.6).")
  flags.DEFINE_integer("batch_size", None, "Sentences per decoding batch (default: the run's decode_batch_size).")
  flags.DEFINE_integer("step", None, "Checkpoint step to load (default: the latest).")
  flags.DEFINE_integer("n_best", 1, "Hypotheses per sentence (<= beam size). Above 1, each output line holds them "
                       "best first as tab-separated 'translation ||| score' fields (score = log P / length penalty).")


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


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
  config, tokenizer, model, params = workdir_lib.load(FLAGS.workdir, FLAGS.step)
  mesh = sharding.make_mesh()  # sentences are split over the visible devices
  lines = read_lines(FLAGS.input)
  bar = tqdm.tqdm(total=len(lines), unit="sent", desc="translating", file=sys.stderr,
                  disable=FLAGS.input == "-" and not sys.stderr.isatty())
  beam_size = FLAGS.beam_size or config.beam_size
  # Blank lines translate to blank lines without decoding; everything else is decoded, and every input line gets
  # exactly one output line, in order.
  to_decode = [i for i, line in enumerate(lines) if line.strip()]
  bar.update(len(lines) - len(to_decode))
  decoded = inference.translate_with_config(model, inference.replicate(params, mesh), tokenizer,
                                            [lines[i] for i in to_decode], config, mesh, n_best=FLAGS.n_best,
                                            beam_size=beam_size, alpha=FLAGS.alpha, batch_size=FLAGS.batch_size,
                                            progress=bar.update)
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
