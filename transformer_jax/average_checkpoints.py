"""Average the parameters of a run's last K checkpoints into a checkpoint that translate decodes (the paper: last 5
for base, last 20 for big).

  python -m transformer_jax.average_checkpoints --workdir=runs/wmt14_ende_base --last=5
  python -m transformer_jax.translate --workdir=runs/wmt14_ende_base/averaged_last5 --input=in.txt

The average is written to a workdir of its own (default WORKDIR/averaged_lastK) holding copies of config.json and
sentencepiece.model, so translate and workdir.load read it like any run. Training's checkpoint manager only
looks at WORKDIR/checkpoints: it never prunes the average, and a resumed run never continues from it. The averaged
checkpoint carries the newest checkpoint's optimiser state, so it is a complete train state.
"""

from __future__ import annotations

import os
import shutil
from typing import Iterable

import jax
import numpy as np
from absl import app, flags, logging

from transformer_jax import cli, sharding, workdir as workdir_lib
from transformer_jax.errors import ConfigError, WorkdirError

def average_trees(trees: Iterable) -> object:
  """Element-wise mean of pytrees of arrays with one structure and shapes, accumulated in float32 and returned in
  each leaf's dtype. Reads the trees one at a time (only the running sum is kept). Numpy leaves are averaged on the
  host; jax.Array leaves on their devices, in their shardings, so sharded and many-host runs average as they train.
  Raises ValueError naming the first leaf where a tree differs from the first one."""
  total, count, first = None, 0, None
  for tree in trees:
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    if first is None:
      first = (jax.tree_util.tree_structure(tree), [(path, np.shape(x), x.dtype) for path, x in leaves])
      total = [x.astype(np.float32) for _, x in leaves]
    else:
      names = [jax.tree_util.keystr(path) for path, _ in leaves]
      expected = [jax.tree_util.keystr(path) for path, _, _ in first[1]]
      if names != expected:
        differing = next((a, b) for a, b in zip(names + [None], expected + [None]) if a != b)
        raise ValueError(f"tree {count} does not match tree 0: parameter {differing[0]} where tree 0 has "
                         f"{differing[1]}")
      for (path, shape, _), (_, x) in zip(first[1], leaves):
        if np.shape(x) != shape:
          raise ValueError(f"tree {count} does not match tree 0: parameter {jax.tree_util.keystr(path)} has shape "
                           f"{np.shape(x)}, tree 0 has {shape}")
      total = [acc + x.astype(np.float32) for acc, (_, x) in zip(total, leaves)]
    count += 1
  if not count:
    raise ValueError("nothing to average")
  means = [(acc / count).astype(dtype) for acc, (_, _, dtype) in zip(total, first[1])]
  return jax.tree_util.tree_unflatten(first[0], means)


def average_last(workdir: str, last: int, output_workdir: str | None = None, output_step: int | None = None,
                 overwrite: bool = False) -> dict:
  """Averages the parameters of the newest `last` complete checkpoints of `workdir` into `output_workdir`
  (default workdir/averaged_last{last}). Returns what was done (also written to output_workdir/averaged.json)."""
  if last < 1:
    raise ConfigError(f"--last={last}: must be >= 1")
  output_workdir = output_workdir or workdir_lib.averaged(workdir, last)
  if os.path.realpath(output_workdir) == os.path.realpath(workdir):
    raise ConfigError("--output_workdir must differ from --workdir: the average would mix with (and be pruned "
                     "with) the training checkpoints")
  config = workdir_lib.load_config(workdir)
  source = workdir_lib.checkpointer(workdir)
  steps = sorted(source.manager.all_steps())  # complete ones only: Orbax never lists half-written checkpoints
  if len(steps) < last:
    source.close()
    raise ConfigError(f"{workdir}/checkpoints has {len(steps)} complete checkpoint(s) (steps {steps}), fewer than "
                     f"--last={last}. Lower --last, or keep more (config max_checkpoints_to_keep="
                     f"{config.get('max_checkpoints_to_keep')}).")
  steps = steps[-last:]
  try:
    workdir_lib.refuse_to_replace_a_run(output_workdir, "--output_workdir", inside=workdir)
  except WorkdirError:
    source.close()
    raise
  if os.path.exists(output_workdir) and os.listdir(output_workdir) and not overwrite:
    source.close()
    raise WorkdirError(f"{output_workdir} already holds an average; pass --overwrite to delete it and write the new "
                       "one there (once complete), or choose another --output_workdir")

  template = workdir_lib.template_state(config, workdir_lib.load_tokenizer(workdir).vocab_size)
  newest = None

  def restored_params():
    nonlocal newest
    for step in steps:  # oldest first; a checkpoint that does not fit the model raises, naming the parameter
      state = source.restore(template, step)
      logging.info("Read the checkpoint of step %d.", step)
      if step == steps[-1]:
        newest = state
      yield jax.device_get(state.params)

  averaged = average_trees(restored_params())
  source.close()

  output_step = steps[-1] if output_step is None else output_step
  # Written beside the output, then swapped in: an earlier average stays whole until the new one is complete.
  partial = output_workdir.rstrip(os.sep) + ".partial"
  shutil.rmtree(partial, ignore_errors=True)
  os.makedirs(partial)
  for name in (workdir_lib.CONFIG, workdir_lib.TOKENIZER):
    shutil.copyfile(workdir_lib.path(workdir, name), workdir_lib.path(partial, name))
  one_device = sharding.replicated(sharding.make_mesh(1))
  state = newest.replace(step=jax.device_put(np.asarray(output_step, np.asarray(newest.step).dtype), one_device),
                         params=jax.device_put(averaged, one_device))
  target = workdir_lib.checkpointer(partial)
  target.save(state)
  target.wait()
  target.close()
  info = {"source_workdir": os.path.abspath(workdir), "averaged_steps": steps, "step": output_step,
          "output_workdir": os.path.abspath(output_workdir)}
  workdir_lib.write_json(partial, workdir_lib.AVERAGED_INFO, info)
  workdir_lib.replace_directory(partial, output_workdir)
  return info


def _define_flags(flag_values=flags.FLAGS):
  # Defined when run as a command only, so tests and other modules can import average_trees without flag clashes.
  f = flag_values
  flags.DEFINE_string("workdir", None, "Workdir of a training run (config.json, sentencepiece.model, checkpoints/).",
                      required=True, flag_values=f)
  flags.DEFINE_integer("last", 5, "How many of the newest complete checkpoints to average (the paper: 5 for base, "
                       "20 for big; needs max_checkpoints_to_keep >= this).", flag_values=f)
  flags.DEFINE_string("output_workdir", None, "Workdir to write the average to (with copies of the config and "
                      "tokenizer); default WORKDIR/averaged_lastK. Decode it with translate --workdir=THIS.",
                      flag_values=f)
  flags.DEFINE_integer("output_step", None, "Step number of the averaged checkpoint (default: the newest averaged "
                       "step).", flag_values=f)
  flags.DEFINE_bool("overwrite", False, "Delete an average already in --output_workdir and write the new one there "
                    "(once complete). Never allowed for a training run's workdir.", flag_values=f)
  return f


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
  info = average_last(FLAGS.workdir, FLAGS.last, FLAGS.output_workdir, FLAGS.output_step, FLAGS.overwrite)
  print(f"Averaged the parameters of steps {info['averaged_steps']} into {info['output_workdir']} (step "
        f"{info['step']}). Translate with: python -m transformer_jax.translate --workdir={info['output_workdir']}")


if __name__ == "__main__":
  FLAGS = _define_flags()
  cli.run(main)
