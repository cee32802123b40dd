"""A run's workdir: the one place that names its files, and loading a trained run back from it.

Everything a run needs to resume or be decoded lives in its workdir:
  config.json            the resolved config (written by every invocation)
  sentencepiece.model    the shared vocabulary
  checkpoints/           Orbax checkpoints of the train state
  batch_settings.json    what decides which batch a step gets (compared on resume)
  train_log.jsonl        train metrics at full precision, appended across resumes
  dev_curve.jsonl        dev loss and BLEU against training time, appended across resumes
  results.json           the final metrics: present only when the run finished
  test.hyp.LANG          the test translations the final test scored, one line per source line
  run_info.json          code version, libraries, devices and command of every invocation (run_info.py)
  averaged_lastK/        a workdir of its own: the average of the last K checkpoints (average_checkpoints.py)
  averaged.json          (an averaged workdir only) which checkpoints average_checkpoints averaged
plus TensorBoard events.

The names and the JSON helpers import no JAX, so the sweep launcher can read workdirs on a machine without it.
"""

from __future__ import annotations

import json
import os
from typing import NamedTuple

from transformer_jax.errors import MissingFileError

CONFIG = "config.json"
TOKENIZER = "sentencepiece.model"
CHECKPOINTS = "checkpoints"
BATCH_SETTINGS = "batch_settings.json"
TRAIN_LOG = "train_log.jsonl"
DEV_CURVE = "dev_curve.jsonl"
RESULTS = "results.json"
RUN_INFO = "run_info.json"
AVERAGED_INFO = "averaged.json"


def test_hypotheses(workdir: str, target_lang: str) -> str:
  return os.path.join(workdir, f"test.hyp.{target_lang}")


def write_lines(file_path: str, lines: list[str]) -> None:
  """One line per entry (a newline inside an entry becomes a space), so line i is always entry i."""
  with open(file_path, "w", encoding="utf-8") as f:
    f.writelines(line.replace("\n", " ") + "\n" for line in lines)


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
  with open(path(workdir, name), "w") as f:
    json.dump(value, f, indent=2)


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
