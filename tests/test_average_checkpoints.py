"""Checkpoint averaging: the average of the last K checkpoints, checked against each checkpoint read independently
with Orbax, and decodable like any workdir."""

import os

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

import tiny_sweep
from transformer_jax import average_checkpoints, inference, workdir as workdir_lib


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
  _, root = tiny_sweep.trained_sweep(tmp_path_factory)
  return os.path.join(root, tiny_sweep.RUN_NAMES[0])


def read_params(step_dir: str) -> dict:
  """The params of one checkpoint directory as numpy arrays, straight from Orbax (no project code)."""
  checkpointer = ocp.PyTreeCheckpointer()
  path = os.path.join(step_dir, "default")
  metadata = checkpointer.metadata(path)
  metadata = getattr(metadata, "item_metadata", metadata)
  metadata = getattr(metadata, "tree", metadata)
  restore_args = jax.tree_util.tree_map(lambda _: ocp.RestoreArgs(restore_type=np.ndarray), metadata)
  return checkpointer.restore(path, args=ocp.args.PyTreeRestore(restore_args=restore_args))["params"]


def test_average_is_the_elementwise_mean_and_decodes(workdir, tmp_path):
  output = str(tmp_path / "averaged")
  info = average_checkpoints.average_last(workdir, 2, output_workdir=output)
  assert info["averaged_steps"] == [4, 8] and info["step"] == 8
  checkpoints = [read_params(os.path.join(workdir, "checkpoints", str(step))) for step in (4, 8)]
  averaged = read_params(os.path.join(output, "checkpoints", "8"))
  expected = jax.tree_util.tree_map(lambda a, b: (a.astype(np.float64) + b) / 2, *checkpoints)
  flat_expected, flat_averaged = (jax.tree_util.tree_flatten_with_path(t)[0] for t in (expected, averaged))
  assert [path for path, _ in flat_expected] == [path for path, _ in flat_averaged]
  for (path, want), (_, got) in zip(flat_expected, flat_averaged):
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6, err_msg=jax.tree_util.keystr(path))
  # The two checkpoints differ, so a copy of either one would fail the comparison above.
  assert max(float(np.abs(a - b).max()) for a, b in zip(*map(jax.tree_util.tree_leaves, checkpoints))) > 1e-5

  config, tokenizer, model, params = workdir_lib.load(output)
  translations = inference.best(inference.translate_n_best(
      model, params, tokenizer, ["The dog sees the cat.", "A woman laughs."], n_best=1, beam_size=1, alpha=0.6,
      extra_length=4, max_decode_length=config.max_decode_length, max_source_length=config.bucket_lengths[-1],
      batch_size=2))
  assert len(translations) == 2 and all(isinstance(t, str) for t in translations)
  # The training workdir is untouched: the average is not one of its checkpoints.
  assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == ["4", "8"]


def test_refuses_more_checkpoints_than_there_are_and_an_existing_average(workdir, tmp_path):
  with pytest.raises(ValueError, match=r"2 complete checkpoint\(s\) \(steps \[4, 8\]\), fewer than --last=3"):
    average_checkpoints.average_last(workdir, 3, output_workdir=str(tmp_path / "a"))
  with pytest.raises(ValueError, match="must differ from --workdir"):
    average_checkpoints.average_last(workdir, 1, output_workdir=workdir)


def test_an_average_is_replaced_only_when_asked_and_never_over_a_run(workdir, tmp_path):
  import shutil  # pylint: disable=import-outside-toplevel
  from transformer_jax.errors import WorkdirError  # pylint: disable=import-outside-toplevel
  workdir = str(shutil.copytree(workdir, tmp_path / "runs" / "copy"))  # the shared run stays as other tests expect
  output = workdir_lib.averaged(workdir, 2)  # inside the run: its own workdir, which training never touches
  average_checkpoints.average_last(workdir, 2, output_step=100)
  with pytest.raises(WorkdirError, match="already holds an average; pass --overwrite"):
    average_checkpoints.average_last(workdir, 2)
  average_checkpoints.average_last(workdir, 2, overwrite=True)
  assert os.listdir(os.path.join(output, "checkpoints")) == ["8"]  # the new one, in place of step 100
  assert not [name for name in os.listdir(workdir) if name.endswith((".partial", ".replaced"))]
  for target, message in [(os.path.dirname(workdir), "holds the workdir of a run"),
                          (os.path.join(workdir, "checkpoints", "avg"), "or its checkpoints folder")]:
    with pytest.raises(WorkdirError, match=message):
      average_checkpoints.average_last(workdir, 1, output_workdir=target, overwrite=True)
  assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == ["4", "8"]


def test_mismatched_trees_are_refused_naming_the_parameter():
  tree = {"encoder": {"kernel": np.ones((2, 3), np.float32)}, "bias": np.zeros(3, np.float32)}
  reshaped = {"encoder": {"kernel": np.ones((3, 2), np.float32)}, "bias": np.zeros(3, np.float32)}
  renamed = {"decoder": {"kernel": np.ones((2, 3), np.float32)}, "bias": np.zeros(3, np.float32)}
  with pytest.raises(ValueError, match=r"\['encoder'\]\['kernel'\] has shape \(3, 2\), tree 0 has \(2, 3\)"):
    average_checkpoints.average_trees([tree, reshaped])
  with pytest.raises(ValueError, match="decoder"):
    average_checkpoints.average_trees([tree, renamed])
  mean = average_checkpoints.average_trees([tree, jax.tree_util.tree_map(lambda x: x + 1.0, tree)])
  np.testing.assert_array_equal(mean["encoder"]["kernel"], np.full((2, 3), 1.5, np.float32))
  assert mean["bias"].dtype == np.float32
