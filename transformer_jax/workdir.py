"""A run's workdir: the one place that names its files, and loading a trained run back from it.

Everything a run needs to resume or be decoded lives in its workdir:
  config.json            the resolved config (written by every invocation)
  sentencepiece.model    the shared vocabulary
  checkpoints/           Orbax checkpoints of the train state
  batch_settings.json    what decides which batch a step gets (compared on resume)
  train_log.jsonl        train metrics at full precision, appended across resumes
  dev_curve.jsonl        dev loss (and BLEU) against training time, appended across resumes
  results.json           the final metrics: present only when the run finished
  test.hyp.LANG          the test translations the final test scored, one line per source line
  test.hyp.model.LANG    with text preprocessing: the same, as the model wrote them (what protocol BLEU scores)
  run_info.json          code version, libraries, devices and command of every invocation (run_info.py)
  averaged_lastK/        a workdir of its own: the average of the last K checkpoints (average_checkpoints.py)
  averaged.json          (an averaged workdir only) which checkpoints average_checkpoints averaged
plus TensorBoard events.

Several processes of a multi-host run share the workdir: one of them (process 0) writes each shared file, always
whole (`write_atomically`: a temporary file beside it, then a rename), so a reader sees the old file or the new one,
never half of one. Commands that replace a directory ask `refuse_to_replace_a_run` first.

The names and the JSON helpers import no JAX, so the sweep launcher can read workdirs on a machine without it.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from typing import NamedTuple

from transformer_jax.errors import MissingFileError, WorkdirError

CONFIG = "config.json"
TOKENIZER = "sentencepiece.model"
CHECKPOINTS = "checkpoints"
BATCH_SETTINGS = "batch_settings.json"
TRAIN_LOG = "train_log.jsonl"
DEV_CURVE = "dev_curve.jsonl"
RESULTS = "results.json"
RUN_INFO = "run_info.json"
AVERAGED_INFO = "averaged.json"


def test_hypotheses(workdir: str, target_lang: str, form: str = "") -> str:
  """The final test's translations; form "model": as the model wrote them, before the output postprocessing (the
  preprocessed text the protocol BLEU scores)."""
  return os.path.join(workdir, f"test.hyp.{form + '.' if form else ''}{target_lang}")


def write_atomically(file_path: str, text: str) -> None:
  """Writes the whole file or nothing: a reader (another process, a resumed run) never sees it half-written."""
  handle, temporary = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(file_path)),
                                       prefix=f".{os.path.basename(file_path)}.")
  try:
    with os.fdopen(handle, "w", encoding="utf-8") as f:
      f.write(text)
    os.chmod(temporary, 0o644)  # mkstemp's 0600 would hide the file from other users of a shared workdir
    os.replace(temporary, file_path)
  except BaseException:
    os.remove(temporary)
    raise


def write_lines(file_path: str, lines: list[str]) -> None:
  """One line per entry (a newline inside an entry becomes a space), so line i is always entry i."""
  write_atomically(file_path, "".join(line.replace("\n", " ") + "\n" for line in lines))


def path(workdir: str, name: str) -> str:
  return os.path.join(workdir, name)


def averaged(workdir: str, last: int) -> str:
  """Where average_checkpoints writes the average of the last `last` checkpoints by default."""
  return os.path.join(workdir, f"averaged_last{last}")


def append_jsonl(workdir: str, name: str, record: dict) -> None:
  """Appends one JSON line: logs and curves keep the entries of earlier invocations of a resumed run."""
  with open(path(workdir, name), "a") as f:
    f.write(json.dumps(record) + "\n")


def write_json(workdir: str, name: str, value) -> None:
  write_atomically(path(workdir, name), json.dumps(value, indent=2))


def read_json(workdir: str, name: str):
  """The JSON file, or None when it is not there."""
  if not os.path.exists(path(workdir, name)):
    return None
  with open(path(workdir, name)) as f:
    return json.load(f)


def load_config(workdir: str):
  """The run's resolved config, as an ml_collections.ConfigDict."""
  import ml_collections  # pylint: disable=g-import-not-at-top
  config = read_json(workdir, CONFIG)
  if config is None:
    raise MissingFileError(f"{path(workdir, CONFIG)} not found: --workdir must be the workdir of a training run "
                           "(python -m transformer_jax.main --workdir=...)")
  return ml_collections.ConfigDict(config)


def load_tokenizer(workdir: str):
  from transformer_jax import tokenizer as tokenizer_lib  # pylint: disable=g-import-not-at-top
  return tokenizer_lib.Tokenizer.load(path(workdir, TOKENIZER))


def checkpointer(workdir: str, max_to_keep: int = 1, asynchronous: bool = False):
  """The Orbax checkpoint manager of the run's checkpoints/ (checkpoint.Checkpointer)."""
  from transformer_jax import checkpoint  # pylint: disable=g-import-not-at-top
  return checkpoint.Checkpointer(path(workdir, CHECKPOINTS), max_to_keep, asynchronous=asynchronous)


def template_state(config, vocab_size: int):
  """The abstract train state of a run (shapes, dtypes, one-device shardings), to restore its checkpoints into."""
  import jax  # pylint: disable=g-import-not-at-top
  from transformer_jax import optim, sharding, train_step  # pylint: disable=g-import-not-at-top
  from transformer_jax.model import model_from_config  # pylint: disable=g-import-not-at-top
  model = model_from_config(config, vocab_size=vocab_size)
  mesh = sharding.make_mesh(1)
  optimizer, _ = optim.make_optimizer(config)
  template = jax.eval_shape(lambda: train_step.create_train_state(model, optimizer, jax.random.PRNGKey(0), mesh))
  return jax.tree_util.tree_map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding.replicated(mesh)), template)


class LoadedRun(NamedTuple):
  config: object  # ml_collections.ConfigDict
  tokenizer: object  # tokenizer.Tokenizer
  model: object  # model.Transformer
  params: object


def load(workdir: str, step: int | None = None) -> LoadedRun:
  """(config, tokenizer, model, params) of a trained run; the newest readable checkpoint unless `step` is given."""
  from transformer_jax.model import model_from_config  # pylint: disable=g-import-not-at-top
  config = load_config(workdir)
  tokenizer = load_tokenizer(workdir)
  model = model_from_config(config, vocab_size=tokenizer.vocab_size)
  manager = checkpointer(workdir)
  if manager.latest_step() is None:
    manager.close()
    raise MissingFileError(f"no checkpoint in {path(workdir, CHECKPOINTS)}: train first, or check --workdir")
  state = manager.restore(template_state(config, tokenizer.vocab_size), step)
  manager.close()
  return LoadedRun(config, tokenizer, model, state.params)


def is_run(directory: str) -> bool:
  """Whether `directory` is a workdir of a training run or of an average (what a delete would lose)."""
  # Not config.json alone: exported CTranslate2 and Hugging Face models have one too.
  return any(os.path.exists(path(directory, name)) for name in (CHECKPOINTS, RUN_INFO, AVERAGED_INFO))


def _runs_inside(directory: str):
  for root, subdirectories, _ in os.walk(directory):
    if is_run(root):
      yield root
      subdirectories.clear()  # a run's own folders hold nothing more to find


def refuse_to_replace_a_run(output: str, flag: str, *, inside: str | None = None) -> None:
  """Raises WorkdirError when writing `output` could delete or mix with a run: `output` is a workdir, holds one, or
  lies inside one. `inside`: a run the output belongs in (an average of it, in its own subfolder); the output may
  then also be an earlier average (it has averaged.json), which is what replacing it means."""
  output = os.path.realpath(output)
  owner = os.path.realpath(inside) if inside else None
  if owner is not None and (output == owner or (output + os.sep).startswith(path(owner, CHECKPOINTS) + os.sep)):
    raise WorkdirError(f"{flag}={output} is the run {owner} or its checkpoints folder: choose a folder of its own.")
  if owner is not None and os.path.isfile(path(output, AVERAGED_INFO)):
    return
  parent = output
  while True:
    if parent != owner and is_run(parent):
      where = "is" if parent == output else "lies inside"
      raise WorkdirError(f"{flag}={output} {where} the workdir of a run ({parent}): writing there could delete or "
                         "mix with its checkpoints and logs. Choose a directory outside every run.")
    if os.path.dirname(parent) == parent:
      break
    parent = os.path.dirname(parent)
  held = next(_runs_inside(output), None) if os.path.isdir(output) else None
  if held is not None:
    raise WorkdirError(f"{flag}={output} holds the workdir of a run ({held}): replacing it would delete that run. "
                       "Choose a directory outside every run.")


def replace_directory(new: str, output: str) -> None:
  """Puts the complete directory `new` at `output`, deleting what `output` held only once `new` is in its place:
  an interruption leaves the old output (or, between the two renames, the old one beside as OUTPUT.replaced)."""
  output = output.rstrip(os.sep)
  old = output + ".replaced"
  shutil.rmtree(old, ignore_errors=True)
  if os.path.exists(output):
    os.replace(output, old)
  os.replace(new, output)
  shutil.rmtree(old, ignore_errors=True)
