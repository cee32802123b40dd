"""Pictures of a trained model: the attention weights of every layer and head for one sentence, and the positional
encodings.

  python -m transformer_jax.visualize --workdir=runs/demo --sentence="The old man has seen the dogs." \\
      --output_dir=runs/demo/pictures

The sentence is translated (beam search with the run's settings, or greedy with --beam_size=1), then the source and
that translation are run through the model once more, teacher-forced, to read the attention weights: encoder
self-attention, decoder self-attention and decoder-encoder (cross) attention. One PNG per kind and layer, one panel
per head, rows = queries, columns = keys, both labelled with their subword pieces (▁ starts a word). Also written:
positional_encoding.png (the table the model adds to its embeddings) and attention.npz + tokens.json (the numbers).

The weights come from `MultiHeadAttention`, which sows them into Flax's "intermediates" collection; training never
asks for that collection, so it costs nothing there.
"""

from __future__ import annotations

import functools
import json
import os

import jax
import numpy as np
from absl import app, flags, logging

from transformer_jax import cli, config_base, inference, model as model_lib, tokenizer as tokenizer_lib
from transformer_jax import workdir as workdir_lib

KINDS = {"encoder_self": ("encoder", "self_attention"), "decoder_self": ("decoder", "self_attention"),
         "cross": ("decoder", "cross_attention")}
TITLES = {"encoder_self": "encoder self-attention", "decoder_self": "decoder self-attention",
          "cross": "decoder-encoder (cross) attention"}


def teacher_forced_batch(sources: list[list[int]], targets: list[list[int]]) -> dict:
  """Padded [batch, length] arrays; each sequence ends with EOS; the decoder input is the target shifted right with
  EOS as the start symbol (as in training)."""
  rows, source_length, target_length = len(sources), max(map(len, sources)), max(map(len, targets))
  batch = {"source": np.zeros((rows, source_length), np.int32), "targets": np.zeros((rows, target_length), np.int32),
           "decoder_inputs": np.zeros((rows, target_length), np.int32)}
  for row, (source, target) in enumerate(zip(sources, targets)):
    batch["source"][row, :len(source)] = source
    batch["targets"][row, :len(target)] = target
    batch["decoder_inputs"][row, :len(target)] = [tokenizer_lib.EOS_ID] + list(target[:-1])
  return batch


@functools.partial(jax.jit, static_argnames="model")
def _sown_attention(model, params, source, decoder_inputs, targets) -> dict:
  _, state = model.apply({"params": params}, source, decoder_inputs, targets, deterministic=True,
                         mutable=["intermediates"])
  sown = state["intermediates"]
  return {kind: jax.numpy.stack([sown[f"{stack}_{i}"][attention]["attention_weights"][0]
                                 for i in range(model.config.num_layers)])
          for kind, (stack, attention) in KINDS.items()}


def attention_weights(model, params, batch: dict) -> dict[str, np.ndarray]:
  """{"encoder_self" | "decoder_self" | "cross": float32 [layers, batch, heads, queries, keys]} for a teacher-forced
  batch (see teacher_forced_batch); padded keys get weight 0."""
  # Jitted (eager, every op of a new shape compiled on its own: 26 s for one sentence on a busy 2-core machine),
  # with lengths padded to multiples of 16 so that sentences of similar length share a compile; padding is masked.
  source_length = batch["source"].shape[1]
  target_length = batch["targets"].shape[1]
  padded_source = inference.padded_length(source_length, model.config.max_position)
  padded_target = inference.padded_length(target_length, model.config.max_position)
  pad = lambda x, length: np.pad(np.asarray(x), ((0, 0), (0, length - x.shape[1])))
  weights = _sown_attention(model, params, pad(batch["source"], padded_source),
                            pad(batch["decoder_inputs"], padded_target), pad(batch["targets"], padded_target))
  lengths = {"encoder_self": (source_length, source_length), "decoder_self": (target_length, target_length),
             "cross": (target_length, source_length)}
  # In KINDS order (a jitted function returns its dict with the keys sorted).
  return {kind: np.asarray(jax.device_get(weights[kind]), np.float32)[..., :lengths[kind][0], :lengths[kind][1]]
          for kind in KINDS}


def positional_table(model, params, length: int) -> np.ndarray:
  """The first `length` rows of the positional encodings the model adds ([length, d_model])."""
  cfg = model.config
  if cfg.positional_encoding == "learned":
    return np.asarray(params["embedder"]["position_embedding"])[:length]
  return model_lib.sinusoidal_table(cfg.max_position, cfg.d_model)[:length]


def _heads_figure(weights: np.ndarray, queries: list[str], keys: list[str], title: str, query_label: str,
                  key_label: str, dpi: int = 110):
  """A matplotlib figure with one panel per head of weights [heads, queries, keys]; the caller closes it."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  heads = weights.shape[0]
  columns = min(heads, 4)
  rows = -(-heads // columns)
  cell = 0.22  # inches per token, so labels stay readable for sentences of any length
  panel_w, panel_h = max(2.5, cell * len(keys) + 1.0), max(2.5, cell * len(queries) + 1.0)
  figure, axes = plt.subplots(rows, columns, figsize=(panel_w * columns + 1.0, panel_h * rows + 0.6), squeeze=False,
                              layout="constrained", dpi=dpi)
  vmax = max(float(weights.max()), 1e-6)  # one colour scale for all heads of the layer, up to its largest weight
  font = 7 if max(len(keys), len(queries)) <= 40 else 5
  for head in range(rows * columns):
    axis = axes[head // columns][head % columns]
    if head >= heads:
      axis.axis("off")
      continue
    image = axis.imshow(weights[head], cmap="viridis", vmin=0.0, vmax=vmax, aspect="auto", interpolation="nearest")
    axis.set_title(f"head {head}", fontsize=9)
    # Only the outer panels (the left column, each column's lowest) name the pieces: every panel has the same ones,
    # and laying out every tick's text made a dev evaluation's 9 figures take 6.7 s instead of 4.0 s.
    bottom, left = head + columns >= heads, head % columns == 0
    axis.set_xticks(range(len(keys)), keys if bottom else [], rotation=90, fontsize=font)
    axis.set_yticks(range(len(queries)), queries if left else [], fontsize=font)
    if left:
      axis.set_ylabel(query_label, fontsize=8)
    if bottom:
      axis.set_xlabel(key_label, fontsize=8)
  figure.colorbar(image, ax=axes, shrink=0.6, label="attention weight")
  figure.suptitle(title, fontsize=11)
  return figure


def _plot_heads(weights: np.ndarray, queries: list[str], keys: list[str], title: str, path: str,
                query_label: str, key_label: str) -> None:
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  figure = _heads_figure(weights, queries, keys, title, query_label, key_label)
  figure.savefig(path)
  plt.close(figure)


def heads_image(weights: np.ndarray, queries: list[str], keys: list[str], title: str, query_label: str,
                key_label: str, dpi: int = 80) -> np.ndarray:
  """The panels of _heads_figure as a uint8 RGB array [height, width, 3] (for TensorBoard)."""
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  figure = _heads_figure(weights, queries, keys, title, query_label, key_label, dpi=dpi)
  figure.canvas.draw()
  image = np.asarray(figure.canvas.buffer_rgba())[..., :3].copy()
  plt.close(figure)
  return image


def _plot_positions(table: np.ndarray, path: str) -> None:
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  figure, axis = plt.subplots(figsize=(8, 4.5))
  image = axis.imshow(table, cmap="RdBu", vmin=-1.0, vmax=1.0, aspect="auto", interpolation="nearest")
  axis.set_xlabel("dimension")
  axis.set_ylabel("position")
  axis.set_title("positional encoding added to the embeddings")
  figure.colorbar(image, ax=axis)
  figure.tight_layout()
  figure.savefig(path, dpi=110)
  plt.close(figure)


def visualize(workdir: str, sentence: str, output_dir: str, step: int | None = None,
              beam_size: int | None = None, positions: int = 100) -> dict:
  """Translates `sentence` with the workdir's model and writes the pictures to output_dir. Returns
  {"translation", "source_pieces", "target_pieces", "files"}."""
  return draw(workdir_lib.load(workdir, step), sentence, output_dir, beam_size, positions)


def decode_with_attention(loaded, sentence: str, beam_size: int | None = None, alpha: float | None = None,
                          n_best: int = 1) -> dict:
  """Translates `sentence` with the jitted beam search (greedy when beam_size is 1), then reads the attention of the
  best translation, teacher-forced. loaded = (config, tokenizer, model, params) of workdir.load.

  Returns {"source_ids", "hypotheses": [(target ids ending with EOS, score)] best first (at most n_best),
  "weights": attention_weights() of the best one, [layers, heads, queries, keys] per kind (batch row dropped),
  "source_pieces", "target_pieces" (what each decoder position predicts), "input_pieces" (what it reads: the
  target shifted right, EOS first), "translation"}. Raises ValueError for a sentence with no pieces.
  """
  config, tokenizer, model, params = loaded
  pieces = tokenizer.encode(sentence)
  if not pieces:
    raise ValueError("the sentence is empty after tokenization")
  source = inference.encode_sources(tokenizer, [pieces], min(config.bucket_lengths[-1], model.config.max_position))[0]
  hypotheses = inference.search(
      model, params, [source], n_best=n_best, beam_size=beam_size or config.beam_size,
      alpha=config.length_penalty_alpha if alpha is None else alpha, extra_length=config.decode_extra_length,
      max_decode_length=config.max_decode_length, batch_size=1,
      length_penalty_form=config_base.length_penalty_form(config))[0]
  target = hypotheses[0][0]
  weights = attention_weights(model, params, teacher_forced_batch([source], [target]))
  target_pieces = [tokenizer.id_to_piece(i) for i in target]
  return {"source_ids": source, "hypotheses": hypotheses, "weights": {k: v[:, 0] for k, v in weights.items()},
          "source_pieces": [tokenizer.id_to_piece(i) for i in source], "target_pieces": target_pieces,
          "input_pieces": [tokenizer.id_to_piece(tokenizer_lib.EOS_ID)] + target_pieces[:-1],
          "translation": tokenizer.decode(target)}


def draw(loaded, sentence: str, output_dir: str, beam_size: int | None = None, positions: int = 100) -> dict:
  """visualize() for a run already loaded: loaded = (config, tokenizer, model, params) of workdir.load."""
  _, _, model, params = loaded
  try:
    decoded = decode_with_attention(loaded, sentence, beam_size)
  except ValueError as error:
    raise ValueError(f"--sentence: {error}") from None
  weights = decoded["weights"]
  source_pieces, target_pieces = decoded["source_pieces"], decoded["target_pieces"]
  # Decoder position i reads input_pieces[i] (the target shifted right, EOS first) and predicts target_pieces[i]:
  # queries are labelled with what they predict, decoder keys with what they read.
  input_pieces = decoded["input_pieces"]
  labels = {"encoder_self": (source_pieces, source_pieces), "decoder_self": (target_pieces, input_pieces),
            "cross": (target_pieces, source_pieces)}
  os.makedirs(output_dir, exist_ok=True)
  files = []
  for kind, per_layer in weights.items():
    for layer, layer_weights in enumerate(per_layer):
      path = os.path.join(output_dir, f"{kind}_layer{layer}.png")
      queries, keys = labels[kind]
      _plot_heads(layer_weights, queries, keys, f"{TITLES[kind]}, layer {layer}", path,
                  "query (source)" if kind == "encoder_self" else "query (predicts)",
                  "key (reads)" if kind == "decoder_self" else "key (source)")
      files.append(path)
  path = os.path.join(output_dir, "positional_encoding.png")
  _plot_positions(positional_table(model, params, positions), path)
  files.append(path)
  np.savez_compressed(os.path.join(output_dir, "attention.npz"), **weights)
  translation = decoded["translation"]
  result = {"sentence": sentence, "translation": translation, "source_pieces": source_pieces,
            "target_pieces": target_pieces, "files": [os.path.basename(f) for f in files]}
  with open(os.path.join(output_dir, "tokens.json"), "w", encoding="utf-8") as f:
    json.dump(result, f, indent=2, ensure_ascii=False)
  return result


def cross_attention_images(model, params, tokenizer, pairs: list[tuple[str, str]]) -> dict[str, np.ndarray]:
  """{"dev_attention/sentence{i}/cross_layer{l}": uint8 [height, width, 3]}: the cross-attention of every head of
  every layer for each (source, translation) pair, teacher-forced on the translation's pieces."""
  longest = model.config.max_position
  images = {}
  for index, (source, translation) in enumerate(pairs):
    source_ids = tokenizer.encode(source)[:longest - 1] + [tokenizer_lib.EOS_ID]
    target_ids = tokenizer.encode(translation)[:longest - 1] + [tokenizer_lib.EOS_ID]
    weights = attention_weights(model, params, teacher_forced_batch([source_ids], [target_ids]))["cross"][:, 0]
    for layer, layer_weights in enumerate(weights):
      images[f"dev_attention/sentence{index}/cross_layer{layer}"] = heads_image(
          layer_weights, [tokenizer.id_to_piece(i) for i in target_ids],
          [tokenizer.id_to_piece(i) for i in source_ids], f"cross-attention, layer {layer}: {translation[:80]}",
          "query (predicts)", "key (source)")
  return images


def write_attention_images(writer, step: int, model, params, tokenizer, examples) -> None:
  """Writes cross_attention_images of the dev examples [(source, hypothesis, reference)] to a clu metric writer
  (TensorBoard's Images tab): the training loop's fixed first dev sentences with their current translations, so
  the alignment can be watched sharpening from one evaluation to the next. Call it on every process: parameters
  sharded over several hosts are gathered first."""
  params = jax.tree_util.tree_map(inference.to_host, params)
  if jax.process_index() != 0:
    return
  pairs = [(source, hypothesis) for source, hypothesis, _ in examples if source.strip()]
  writer.write_images(step, cross_attention_images(model, params, tokenizer, pairs))


def _define_flags(flag_values=flags.FLAGS):
  # Defined when run as a command only, so tests can import this module beside other commands.
  f = flag_values
  flags.DEFINE_string("workdir", None, "Workdir of a training run (config.json, sentencepiece.model, checkpoints/).",
                      required=True, flag_values=f)
  flags.DEFINE_string("sentence", None, "Source sentence to translate and draw.", required=True, flag_values=f)
  flags.DEFINE_string("output_dir", None, "Directory for the PNGs, attention.npz and tokens.json.", required=True,
                      flag_values=f)
  flags.DEFINE_integer("step", None, "Checkpoint step to load (default: the latest).", flag_values=f)
  flags.DEFINE_integer("beam_size", None, "Beam size for the translation that is drawn (default: the run's "
                       "config); 1 = greedy.", flag_values=f)
  flags.DEFINE_integer("positions", 100, "Positions shown in positional_encoding.png.", flag_values=f)
  return f


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
  result = visualize(FLAGS.workdir, FLAGS.sentence, FLAGS.output_dir, FLAGS.step, FLAGS.beam_size,
                     FLAGS.positions)
  logging.info("Translation: %s", result["translation"])
  print(f"Wrote {len(result['files'])} pictures to {FLAGS.output_dir}: {', '.join(result['files'])}")


if __name__ == "__main__":
  FLAGS = _define_flags()
  cli.run(main)
