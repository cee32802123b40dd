"""Translate text with a trained workdir: one output line per input line, in order.

  python -m transformer_jax.translate --workdir=DIR [--input=FILE] [--output=FILE] [--beam_size=4] [--alpha=0.6]

Reads sentences from --input (default: stdin) and writes translations to --output (default: stdout). The workdir is
the one `transformer_jax.main` trained: it holds the resolved config, the SentencePiece model and checkpoints.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np
from absl import app, flags, logging

from transformer_jax import decode, tokenizer as tokenizer_lib

TOKENIZER_FILENAME = "sentencepiece.model"
CONFIG_FILENAME = "config.json"


def _bucket(length: int, multiple: int = 16) -> int:
  """Pads source lengths up to a multiple of 16, so a file compiles the decoder only a few times."""
  return -(-length // multiple) * multiple


def translate_sentences(model, params, tokenizer: tokenizer_lib.Tokenizer, sentences: list[str], *,
                        beam_size: int, alpha: float, extra_length: int, max_decode_length: int,
                        max_source_length: int, batch_size: int, place_source=None, progress=None) -> list[str]:
  """Beam-search translations (best hypothesis each) of `sentences`, returned in input order.

  Sources longer than max_source_length tokens (EOS included) are truncated. place_source, if given, puts the
  [batch, length] numpy source on devices (e.g. sharded over a mesh); progress(n) is called after each batch.
  """
  encoded = tokenizer.encode_batch(sentences)
  encoded = [ids[:max_source_length - 1] + [tokenizer_lib.EOS_ID] for ids in encoded]
  order = np.argsort([len(ids) for ids in encoded], kind="stable")
  translations = [""] * len(sentences)
  for start in range(0, len(order), batch_size):
    chunk = order[start:start + batch_size]
    length = min(_bucket(max(len(encoded[i]) for i in chunk)), _bucket(max_source_length))
    source = np.zeros((batch_size, length), np.int32)  # fixed row count: one compile per length
    for row, i in enumerate(chunk):
      source[row, :len(encoded[i])] = encoded[i]
    source = place_source(source) if place_source else source
    tokens, _ = decode.translate_beam(model, params, source, beam_size=beam_size, alpha=alpha,
                                      extra_length=extra_length, max_decode_length=max_decode_length)
    best = np.asarray(tokens[:, 0])
    for row, i in enumerate(chunk):
      translations[i] = tokenizer.decode(best[row].tolist())
    if progress:
      progress(len(chunk))
  return translations


# ---- Command line ----

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Workdir of a training run (holds config.json, sentencepiece.model and "
                    "checkpoints/).", required=True)
flags.DEFINE_string("input", "-", "File with one source sentence per line; '-' reads stdin.")
flags.DEFINE_string("output", "-", "File to write one translation per line; '-' writes stdout.")
flags.DEFINE_integer("beam_size", None, "Beam size (default: the run's config, 4 for the paper's settings).")
flags.DEFINE_float("alpha", None, "Length penalty alpha in ((5+len)/6)^alpha (default: the run's config, 0.6).")
flags.DEFINE_integer("batch_size", None, "Sentences per decoding batch (default: the run's decode_batch_size).")
flags.DEFINE_integer("step", None, "Checkpoint step to load (default: the latest).")


def load_workdir(workdir: str, step: int | None = None):
  """(config, tokenizer, model, params) of a training run's workdir."""
  import jax
  import ml_collections

  from transformer_jax import checkpoint, optim, train_step

  config_path = os.path.join(workdir, CONFIG_FILENAME)
  if not os.path.exists(config_path):
    raise FileNotFoundError(f"{config_path} not found: --workdir must be the workdir of a training run "
                            "(python -m transformer_jax.main --workdir=...)")
  with open(config_path) as f:
    config = ml_collections.ConfigDict(json.load(f))
  tokenizer = tokenizer_lib.Tokenizer.load(os.path.join(workdir, TOKENIZER_FILENAME))
  model = train_step.model_from_config(config, vocab_size=tokenizer.vocab_size)
  mesh = train_step.make_mesh(1)
  optimizer, _ = optim.make_optimizer(config)
  template = jax.eval_shape(lambda: train_step.create_train_state(model, optimizer, jax.random.PRNGKey(0), mesh))
  template = jax.tree_util.tree_map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=train_step.replicated(mesh)), template)
  checkpointer = checkpoint.Checkpointer(os.path.join(workdir, "checkpoints"), max_to_keep=1, asynchronous=False)
  if checkpointer.latest_step() is None:
    raise FileNotFoundError(f"no checkpoint in {workdir}/checkpoints: train first, or check --workdir")
  state = checkpointer.restore(template, step)
  checkpointer.close()
  return config, tokenizer, model, state.params


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
  import tqdm

  config, tokenizer, model, params = load_workdir(FLAGS.workdir, FLAGS.step)
  source_file = sys.stdin if FLAGS.input == "-" else open(FLAGS.input, encoding="utf-8", errors="replace")
  with source_file:
    lines = [line.rstrip("\n") for line in source_file]
  bar = tqdm.tqdm(total=len(lines), unit="sent", desc="translating", file=sys.stderr,
                  disable=FLAGS.input == "-" and not sys.stderr.isatty())
  translations = translate_sentences(
      model, params, tokenizer, lines,
      beam_size=FLAGS.beam_size or config.beam_size,
      alpha=config.length_penalty_alpha if FLAGS.alpha is None else FLAGS.alpha,
      extra_length=config.decode_extra_length, max_decode_length=config.max_decode_length,
      max_source_length=config.bucket_lengths[-1], batch_size=FLAGS.batch_size or config.decode_batch_size,
      progress=bar.update)
  bar.close()
  output = sys.stdout if FLAGS.output == "-" else open(FLAGS.output, "w", encoding="utf-8")
  with output:
    for translation in translations:
      output.write(translation.replace("\n", " ") + "\n")
  logging.info("Translated %d lines.", len(lines))


if __name__ == "__main__":
  app.run(main)
