"""An interactive translation and attention explorer: a local web page over a trained workdir.

  python -m transformer_jax.explore --workdir=runs/demo [--port=8000] [--compare_workdir=DIR2 | --compare_step=N]

Type a sentence (or pick a dev sentence with its reference) and see the beam-search translation with its n-best list
and scores, then heatmaps of every layer and head of encoder self-attention, decoder self-attention and cross-
attention for that translation, labelled with the SentencePiece pieces. Hovering a piece outlines what it attends to
(its row) and what attends to it (its column) in every heatmap. A per-head summary (entropy, mean distance, weight on
the previous position, on itself, on </s>, mean largest weight) points at the heads that look far, look back one
piece, or align. With --compare_workdir or --compare_step a second checkpoint is shown beside the first; the dev
BLEU and loss of each run against training time come from its dev_curve.jsonl.

The model is loaded once; each request is decoded with the project's jitted beam search (decode.translate_beam,
through visualize.decode_with_attention, which also reads the attention weights). One request is decoded at a time:
a second one gets a "busy" answer. Served by the standard library's ThreadingHTTPServer on 127.0.0.1 unless --host
says otherwise; the page is hand-written HTML/JS/SVG in explore_static/, nothing is fetched from the internet.
"""

from __future__ import annotations

import http.server
import json
import math
import os
import threading
import urllib.parse

import numpy as np
from absl import app, flags, logging

from transformer_jax import cli, model as model_lib, visualize, workdir as workdir_lib

STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "explore_static")
STATIC_FILES = {"/": ("index.html", "text/html; charset=utf-8"),
                "/explore.js": ("explore.js", "text/javascript; charset=utf-8"),
                "/explore.css": ("explore.css", "text/css; charset=utf-8")}
MAX_SENTENCE_CHARS = 1000
MAX_REQUEST_BYTES = 16 * 1024
MAX_BEAM_SIZE = 16
MAX_ALPHA = 5.0


class InputError(ValueError):
  """A request the page must explain (HTTP 400): names the problem and the fix."""


class Busy(RuntimeError):
  """Another request is being decoded (HTTP 503)."""


def head_summary(weights: np.ndarray, kind: str) -> list[list[dict]]:
  """Per layer, per head of weights [layers, heads, queries, keys] (no padding): the mean over queries of
  entropy (bits), distance (sum_k w |k - q|, self-attention only), previous (w[q, q-1], self-attention only),
  self (w[q, q], self-attention only), eos (weight on the last key, </s>; encoder self and cross), max (largest
  weight)."""
  layers, heads, queries, keys = weights.shape
  w = weights.astype(np.float64)
  entropy = -(w * np.log2(np.where(w > 0, w, 1.0))).sum(-1).mean(-1)
  largest = w.max(-1).mean(-1)
  is_self = kind != "cross"
  if is_self:
    positions = np.arange(keys)
    distance = (w * np.abs(positions[None, :] - np.arange(queries)[:, None])).sum(-1).mean(-1)
    diagonal = np.diagonal(w, axis1=2, axis2=3).mean(-1)
    previous = (np.diagonal(w, offset=-1, axis1=2, axis2=3).mean(-1) if queries > 1
                else np.zeros((layers, heads)))
  eos = w[..., -1].mean(-1)
  summary = []
  for layer in range(layers):
    row = []
    for head in range(heads):
      stats = {"entropy": entropy[layer, head], "max": largest[layer, head]}
      if is_self:
        stats.update(distance=distance[layer, head], previous=previous[layer, head], self=diagonal[layer, head])
      if kind != "decoder_self":
        stats["eos"] = eos[layer, head]
      row.append({k: round(float(v), 4) for k, v in stats.items()})
    summary.append(row)
  return summary


def read_dev_curve(workdir: str) -> list[dict]:
  """The rows of workdir/dev_curve.jsonl (step, train_seconds, dev_bleu, dev_loss, ...), each with "seconds": the
  training time since the run's start. train_seconds restarts at each resume (each invocation has its own clock), so
  a row whose train_seconds falls below the previous row's continues from the previous row's total (the training time
  between an invocation's last evaluation and its stop is not recorded, so this is a lower bound). [] when there is
  no file."""
  path = workdir_lib.path(workdir, workdir_lib.DEV_CURVE)
  if not os.path.exists(path):
    return []
  rows = []
  with open(path, encoding="utf-8") as f:
    for line in f:
      if line.strip():
        try:
          rows.append(json.loads(line))
        except json.JSONDecodeError:
          logging.warning("%s: skipped a line that is not JSON (a run stopped while writing it?)", path)
  offset, previous = 0.0, 0.0
  for row in rows:
    if row["train_seconds"] < previous:
      offset += previous
    previous = row["train_seconds"]
    row["seconds"] = round(offset + row["train_seconds"], 1)
  return rows


class ExplorerRun:
  """One loaded checkpoint: (config, tokenizer, model, params) of workdir.load, with its label."""

  def __init__(self, workdir: str, step: int | None = None):
    self.workdir = workdir
    self.loaded = workdir_lib.load(workdir, step)
    config, _, model, params = self.loaded
    self.step = int(step) if step is not None else None
    self.label = os.path.basename(os.path.normpath(workdir))
    self.dev_curve = read_dev_curve(workdir)
    self.num_params = model_lib.count_parameters(params)
    self.max_pieces = min(config.bucket_lengths[-1], model.config.max_position) - 1

  def info(self) -> dict:
    config, _, model, _ = self.loaded
    return {"label": self.label, "workdir": self.workdir, "step": self.step, "dev_curve": self.dev_curve,
            "num_layers": model.config.num_layers, "num_heads": model.config.num_heads,
            "d_model": model.config.d_model, "parameters": self.num_params, "max_pieces": self.max_pieces,
            "beam_size": config.beam_size, "alpha": config.length_penalty_alpha}


def _checkpoint_step(workdir: str, step: int | None) -> int:
  """The step an ExplorerRun loads: `step`, or the latest one; ValueError naming the steps there when `step` is not
  one."""
  from transformer_jax import checkpoint  # pylint: disable=g-import-not-at-top
  directory = os.path.join(workdir, "checkpoints")
  if not os.path.isdir(directory):
    raise FileNotFoundError(f"no checkpoint in {directory}: train first, or check --workdir")
  checkpointer = checkpoint.Checkpointer(directory, max_to_keep=1, asynchronous=False)
  steps = sorted(checkpointer.manager.all_steps())
  checkpointer.close()
  if not steps:
    raise FileNotFoundError(f"no checkpoint in {directory}: train first, or check --workdir")
  if step is None:
    return steps[-1]
  if step not in steps:
    raise ValueError(f"{workdir} has no checkpoint of step {step}; it has steps {', '.join(map(str, steps))}. "
                     "Choose one of those (--step / --compare_step).")
  return step


class Explorer:
  """What the page asks for: the runs' description and dev sentences, and translations with their attention."""

  def __init__(self, runs: list[ExplorerRun], dev_pairs: list[tuple[str, str]], dev_note: str = ""):
    self.runs = runs
    self.dev_pairs = dev_pairs
    self.dev_note = dev_note
    self._decoding = threading.Lock()

  @property
  def decoding(self) -> threading.Lock:
    """Held while a request decodes; a request that finds it held is answered "busy"."""
    return self._decoding

  def info(self) -> dict:
    first = self.runs[0].info()
    return {"runs": [run.info() for run in self.runs], "dev": [{"source": s, "reference": r} for s, r in
                                                               self.dev_pairs], "dev_note": self.dev_note,
            "defaults": {"beam_size": first["beam_size"], "alpha": first["alpha"]},
            "limits": {"max_chars": MAX_SENTENCE_CHARS, "max_beam_size": MAX_BEAM_SIZE, "max_alpha": MAX_ALPHA}}

  def parse_request(self, body: bytes) -> tuple[str, int, float]:
    """(sentence, beam_size, alpha) of a translate request body, or InputError saying what is wrong."""
    if len(body) > MAX_REQUEST_BYTES:
      raise InputError(f"The request is {len(body)} bytes; at most {MAX_REQUEST_BYTES} are accepted. Enter a "
                       f"sentence of at most {MAX_SENTENCE_CHARS} characters.")
    try:
      text = body.decode("utf-8")
    except UnicodeDecodeError as error:
      raise InputError(f"The request is not valid UTF-8 (byte {error.start}: {body[error.start:error.start + 1]!r}). "
                       "Send the sentence as UTF-8 text.") from None
    try:
      request = json.loads(text)
    except json.JSONDecodeError as error:
      raise InputError(f"The request is not JSON ({error.msg}). Send "
                       '{"sentence": "...", "beam_size": 4, "alpha": 0.6}.') from None
    if not isinstance(request, dict) or not isinstance(request.get("sentence"), str):
      raise InputError('The request needs a "sentence" string: {"sentence": "...", "beam_size": 4, "alpha": 0.6}.')
    sentence = " ".join(request["sentence"].split())
    if not sentence:
      raise InputError("The sentence is empty: type a sentence, or pick one from the dev sentences.")
    if len(sentence) > MAX_SENTENCE_CHARS:
      raise InputError(f"The sentence has {len(sentence)} characters; at most {MAX_SENTENCE_CHARS} are accepted. "
                       "Enter a shorter sentence.")
    config = self.runs[0].loaded[0]
    beam_size, alpha = request.get("beam_size", config.beam_size), request.get("alpha", config.length_penalty_alpha)
    if isinstance(beam_size, bool) or not isinstance(beam_size, int) or not 1 <= beam_size <= MAX_BEAM_SIZE:
      raise InputError(f"Beam size {beam_size!r} is not an integer from 1 to {MAX_BEAM_SIZE}: choose one in that "
                       "range (1 = greedy).")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not (
        math.isfinite(alpha) and 0.0 <= alpha <= MAX_ALPHA):
      raise InputError(f"Alpha {alpha!r} is not a number from 0 to {MAX_ALPHA}: choose one in that range (the "
                       "paper uses 0.6; 0 = no length penalty).")
    for run in self.runs:
      pieces = len(run.loaded[1].encode(sentence))
      if pieces > run.max_pieces:
        raise InputError(f"The sentence is {pieces} pieces long; the model of {run.label} reads at most "
                         f"{run.max_pieces}. Enter a shorter sentence.")
    return sentence, beam_size, float(alpha)

  def translate(self, body: bytes) -> dict:
    """The answer to a translate request: per run the n-best list, pieces, attention weights and head summary."""
    sentence, beam_size, alpha = self.parse_request(body)
    if not self._decoding.acquire(blocking=False):
      raise Busy("Busy: another translation is being decoded. Wait until it is shown, then submit again.")
    try:
      results = []
      for run in self.runs:
        try:
          decoded = visualize.decode_with_attention(run.loaded, sentence, beam_size=beam_size, alpha=alpha,
                                                    n_best=beam_size)
        except ValueError as error:
          raise InputError(f"{error}: enter a sentence with some text the vocabulary knows.") from None
        tokenizer = run.loaded[1]
        results.append({
            "label": run.label, "step": run.step, "translation": decoded["translation"],
            "n_best": [{"text": tokenizer.decode(ids), "score": round(score, 4),
                        "pieces": [tokenizer.id_to_piece(i) for i in ids]} for ids, score in decoded["hypotheses"]],
            "source_pieces": decoded["source_pieces"], "target_pieces": decoded["target_pieces"],
            "input_pieces": decoded["input_pieces"],
            "attention": {kind: np.round(w, 4).tolist() for kind, w in decoded["weights"].items()},
            "summary": {kind: head_summary(w, kind) for kind, w in decoded["weights"].items()}})
    finally:
      self._decoding.release()
    reference = next((r for s, r in self.dev_pairs if " ".join(s.split()) == sentence), None)
    return {"sentence": sentence, "beam_size": beam_size, "alpha": alpha, "reference": reference, "runs": results}


def make_handler(explorer: Explorer):
  class Handler(http.server.BaseHTTPRequestHandler):
    server_version = "transformer_jax-explore"

    def _send(self, status: int, body: bytes, content_type: str) -> None:
      self.send_response(status)
      self.send_header("Content-Type", content_type)
      self.send_header("Content-Length", str(len(body)))
      self.send_header("Cache-Control", "no-store")
      self.end_headers()
      self.wfile.write(body)

    def _json(self, status: int, payload: dict) -> None:
      self._send(status, json.dumps(payload, ensure_ascii=False).encode("utf-8"), "application/json; charset=utf-8")

    def do_GET(self):  # pylint: disable=invalid-name
      path = urllib.parse.urlparse(self.path).path
      if path == "/api/info":
        self._json(200, explorer.info())
      elif path in STATIC_FILES:
        name, content_type = STATIC_FILES[path]
        with open(os.path.join(STATIC_DIR, name), "rb") as f:
          self._send(200, f.read(), content_type)
      else:
        self._json(404, {"error": f"No page {path!r} here: open / for the explorer."})

    def do_POST(self):  # pylint: disable=invalid-name
      if urllib.parse.urlparse(self.path).path != "/api/translate":
        self._json(404, {"error": "POST only to /api/translate."})
        return
      try:
        length = int(self.headers.get("Content-Length") or 0)
      except ValueError:
        self._json(400, {"error": "Content-Length is not a number."})
        return
      if length > MAX_REQUEST_BYTES:
        self.close_connection = True  # the unread body would be taken for the next request
        self._json(413, {"error": f"The request is {length} bytes; at most {MAX_REQUEST_BYTES} are accepted. "
                                  f"Enter a sentence of at most {MAX_SENTENCE_CHARS} characters."})
        return
      body = self.rfile.read(length)
      try:
        self._json(200, explorer.translate(body))
      except InputError as error:
        self._json(400, {"error": str(error)})
      except Busy as error:
        self._json(503, {"error": str(error)})
      except Exception as error:  # pylint: disable=broad-except
        # Whatever went wrong decoding this request, the server keeps serving the next one.
        logging.exception("Request failed")
        self._json(500, {"error": f"Decoding failed: {type(error).__name__}: {error}. The server is still running; "
                                  "see its log for the traceback."})

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
      logging.info("%s %s", self.address_string(), format % args)

  return Handler


def make_server(explorer: Explorer, host: str = "127.0.0.1", port: int = 8000) -> http.server.ThreadingHTTPServer:
  """A server for the explorer (port 0 picks a free one: server.server_address[1]); call serve_forever()."""
  server = http.server.ThreadingHTTPServer((host, port), make_handler(explorer))
  server.daemon_threads = True
  return server


def load_dev_pairs(config, limit: int) -> tuple[list[tuple[str, str]], str]:
  """(the first `limit` dev pairs, "") or ([], why there are none)."""
  if limit <= 0:
    return [], "dev sentences not loaded (--num_dev_sentences=0)"
  try:
    from transformer_jax.data import input_pipeline  # pylint: disable=g-import-not-at-top  (imports TensorFlow)
    split = input_pipeline.load_text_split(config, "validation")
  except Exception as error:  # pylint: disable=broad-except
    # The explorer is still useful without the list: say why it is missing instead of refusing to start.
    logging.warning("No dev sentences: %s", error)
    return [], f"no dev sentences: {type(error).__name__}: {error}"
  return list(zip(split.sources, split.targets))[:limit], ""


def build_explorer(workdir: str, step: int | None = None, compare_workdir: str | None = None,
                   compare_step: int | None = None, num_dev_sentences: int = 200) -> Explorer:
  if compare_workdir and compare_step is not None:
    raise ValueError("Give --compare_workdir or --compare_step, not both: --compare_step=N compares step N of "
                     "--workdir with its --step (default: latest).")
  runs = [ExplorerRun(workdir, _checkpoint_step(workdir, step))]
  if compare_workdir:
    runs.append(ExplorerRun(compare_workdir, _checkpoint_step(compare_workdir, None)))
  elif compare_step is not None:
    runs.append(ExplorerRun(workdir, _checkpoint_step(workdir, compare_step)))
  dev_pairs, note = load_dev_pairs(runs[0].loaded[0], num_dev_sentences)
  return Explorer(runs, dev_pairs, note)


def _define_flags(flag_values=flags.FLAGS):
  # Defined when run as a command only, so tests can import this module beside other commands.
  f = flag_values
  flags.DEFINE_string("workdir", None, "Workdir of a training run (config.json, sentencepiece.model, checkpoints/).",
                      required=True, flag_values=f)
  flags.DEFINE_integer("step", None, "Checkpoint step of --workdir to load (default: the latest).", flag_values=f)
  flags.DEFINE_string("compare_workdir", None, "A second run to show beside --workdir (its latest checkpoint), e.g. "
                      "a Table 3 row against base.", flag_values=f)
  flags.DEFINE_integer("compare_step", None, "Show this checkpoint step of --workdir beside --step, e.g. an early "
                       "step against the last.", flag_values=f)
  flags.DEFINE_string("host", "127.0.0.1", "Address to listen on; 127.0.0.1 keeps the page on this machine (0.0.0.0 "
                      "serves every network interface).", flag_values=f)
  flags.DEFINE_integer("port", 8000, "Port to listen on (0: any free port, printed at start).", flag_values=f)
  flags.DEFINE_integer("num_dev_sentences", 200, "Dev sentences (with references) listed on the page to pick from.",
                       flag_values=f)
  return f


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
  try:
    explorer = build_explorer(FLAGS.workdir, FLAGS.step, FLAGS.compare_workdir, FLAGS.compare_step,
                              FLAGS.num_dev_sentences)
  except (ValueError, FileNotFoundError) as error:
    raise app.UsageError(str(error)) from None
  server = make_server(explorer, FLAGS.host, FLAGS.port)
  host, port = server.server_address[:2]
  print(f"Explorer of {', '.join(f'{r.label} step {r.step}' for r in explorer.runs)}: http://{host}:{port}/ "
        "(Ctrl-C stops it)", flush=True)
  try:
    server.serve_forever()
  except KeyboardInterrupt:
    pass
  finally:
    server.server_close()


if __name__ == "__main__":
  FLAGS = _define_flags()
  cli.run(main)
