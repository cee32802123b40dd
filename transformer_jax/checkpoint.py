"""Orbax checkpoints of the train state: asynchronous saves, the newest N kept, restore of the latest."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time

import jax
import orbax.checkpoint as ocp
from absl import logging

from transformer_jax.errors import CheckpointMismatchError, MissingFileError, WorkdirError


def _as_tree(state) -> dict:
  # Saved as a plain dict so the on-disk layout does not depend on the TrainState class.
  return {"step": state.step, "params": state.params, "opt_state": state.opt_state}


class CheckpointWriteError(WorkdirError):
  """A checkpoint could not be written (full disk, quota, permissions); the previous complete one is intact."""


class Checkpointer:
  def __init__(self, directory: str, max_to_keep: int, asynchronous: bool = True):
    self.directory = os.path.abspath(directory)
    self._writing: int | None = None  # step of the save in flight, to name it if the write fails
    self.manager = ocp.CheckpointManager(
        self.directory,
        # Named up front, so reading a checkpoint's metadata before the first save or restore (_check_fits) knows
        # how the item was written (else Orbax warns twice per load that it cannot restore "default").
        item_handlers=ocp.StandardCheckpointHandler(),
        options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True,
                                             enable_async_checkpointing=asynchronous))

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def save(self, state) -> None:
    """Starts writing the state at its step (in the background when asynchronous)."""
    step = int(jax.device_get(state.step))
    if step not in self.manager.all_steps():
      with self._reporting_write_errors():  # a failed background write surfaces at the next save or wait
        self.manager.save(step, args=ocp.args.StandardSave(_as_tree(state)), force=True)
      self._writing = step

  @contextlib.contextmanager
  def _reporting_write_errors(self):
    try:
      yield
    except Exception as error:  # pylint: disable=broad-except
      # Orbax writes into a temporary directory and renames it only when complete, so a failed write leaves the
      # previous checkpoints untouched; pruning happens only after a newer one is complete.
      failed, self._writing = self._writing, None
      # The manager's own step list is not trustworthy after a failed write; the directory is.
      complete = [int(name) for name in os.listdir(self.directory) if name.isdigit() and int(name) != failed]
      previous = (f"the previous complete checkpoint (step {max(complete)}) is intact and rerunning the same "
                  "command resumes from it" if complete else "there is no earlier complete checkpoint")
      os_error = re.search(r"os_error_code='(\d+)'", str(error))
      reason = os.strerror(int(os_error.group(1))) if os_error else f"{type(error).__name__}: {str(error)[:300]}"
      raise CheckpointWriteError(
          f"Writing the checkpoint of step {failed} to {self.directory} failed: {reason}. Nothing was lost: "
          f"{previous}. Free disk space or fix the workdir's permissions (or use another --workdir) and rerun."
      ) from error

  def restore(self, template_state, step: int | None = None):
    """The state saved at `step`, with the shardings and dtypes of `template_state`.

    Without `step`, the newest checkpoint that reads back completely: an unreadable one (truncated or missing
    files) is skipped with a warning naming it. A checkpoint whose parameters do not fit the model is refused.
    """
    abstract = jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, _as_tree(template_state))
    candidates = [step] if step is not None else sorted(self.manager.all_steps(), reverse=True)
    if not candidates:
      raise MissingFileError(f"no checkpoint in {self.directory}: train first, or check --workdir")
    for candidate in candidates:
      self._check_fits(candidate, abstract["params"])
      try:
        restored = self.manager.restore(candidate, args=ocp.args.StandardRestore(abstract))
      except Exception as error:  # pylint: disable=broad-except
        if step is not None or candidate == candidates[-1]:
          raise
        logging.warning("Checkpoint %s/%d cannot be read (%s: %s); moving it to %s and trying the previous one.",
                        self.directory, candidate, type(error).__name__, str(error)[:300], self._set_aside_dir)
        self._set_aside(candidate)
        continue
      return template_state.replace(step=restored["step"], params=restored["params"],
                                    opt_state=restored["opt_state"])

  @property
  def _set_aside_dir(self) -> str:
    return self.directory + "_unreadable"

  def _set_aside(self, step: int) -> None:
    """Moves an unreadable step out of the manager's sight (kept for inspection, not deleted), so the run can
    write that step again when it gets there."""
    if jax.process_index() == 0:
      os.makedirs(self._set_aside_dir, exist_ok=True)
      target = os.path.join(self._set_aside_dir, f"{step}.{int(time.time())}")
      shutil.move(os.path.join(self.directory, str(step)), target)
    self.manager.reload()

  def _check_fits(self, step: int, expected_params) -> None:
    """Raises ValueError naming the first parameter whose name or shape differs between checkpoint and model."""
    try:
      stored = self.manager.item_metadata(step).tree["params"]
    except Exception:  # pylint: disable=broad-except
      return  # unreadable metadata: the restore itself reports it (and the caller may fall back)
    shapes = lambda tree: {jax.tree_util.keystr(path): tuple(leaf.shape)
                           for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]}
    stored_shapes, expected_shapes = shapes(stored), shapes(expected_params)
    hint = ("Restore with the config this checkpoint was trained with (its workdir's config.json), or use a new "
            "workdir.")
    for name, shape in expected_shapes.items():
      if name not in stored_shapes:
        raise CheckpointMismatchError(f"Checkpoint {self.directory}/{step} does not fit the model: parameter {name} "
                                      f"{shape} is missing from it. {hint}")
      if stored_shapes[name] != shape:
        raise CheckpointMismatchError(f"Checkpoint {self.directory}/{step} does not fit the model: parameter {name} "
                                      f"has shape {stored_shapes[name]} in the checkpoint but {shape} in the model. "
                                      f"{hint}")
    extra = sorted(set(stored_shapes) - set(expected_shapes))
    if extra:
      raise CheckpointMismatchError(f"Checkpoint {self.directory}/{step} does not fit the model: it has parameter "
                                    f"{extra[0]} {stored_shapes[extra[0]]}, which the model lacks. {hint}")

  def wait(self) -> None:
    with self._reporting_write_errors():
      self.manager.wait_until_finished()
    self._writing = None

  def close(self) -> None:
    self.manager.close()

  def __enter__(self) -> "Checkpointer":
    return self

  def __exit__(self, error_type, error, traceback) -> None:
    """Finishes the save in flight, then closes: a run that raises still completes the checkpoint it started. A
    write error is raised unless another error is already on its way out (then it is logged)."""
    try:
      self.wait()
    except CheckpointWriteError as write_error:
      if error is None:
        raise
      logging.error("%s", write_error)
    finally:
      self.close()
