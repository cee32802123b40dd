"""Orbax checkpoints of the train state: asynchronous saves, the newest N kept, restore of the latest."""

from __future__ import annotations

import os

import jax
import orbax.checkpoint as ocp


def _as_tree(state) -> dict:
  # Saved as a plain dict so the on-disk layout does not depend on the TrainState class.
  return {"step": state.step, "params": state.params, "opt_state": state.opt_state}


class Checkpointer:
  def __init__(self, directory: str, max_to_keep: int, asynchronous: bool = True):
    self.directory = os.path.abspath(directory)
    self.manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True,
                                             enable_async_checkpointing=asynchronous))

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def save(self, state) -> None:
    """Starts writing the state at its step (in the background when asynchronous)."""
    step = int(jax.device_get(state.step))
    if step not in self.manager.all_steps():
      self.manager.save(step, args=ocp.args.StandardSave(_as_tree(state)), force=True)

  def restore(self, template_state, step: int | None = None):
    """The state saved at `step` (default: latest), with the shardings and dtypes of `template_state`."""
    step = self.latest_step() if step is None else step
    abstract = jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, _as_tree(template_state))
    restored = self.manager.restore(step, args=ocp.args.StandardRestore(abstract))
    return template_state.replace(step=restored["step"], params=restored["params"],
                                  opt_state=restored["opt_state"])

  def wait(self) -> None:
    self.manager.wait_until_finished()

  def close(self) -> None:
    self.manager.close()
