"""Training by epochs, as fairseq does: checkpoints and dev evaluations at the ends of epochs of the training batches,
and early stopping once `early_stopping_patience` evaluations in a row have not lowered the best dev loss. The
decision is the same whether the run was interrupted or not, and a rerun of a run that stopped trains no further."""

import json
import os
import shutil

import jax
import numpy as np
import pytest

from configs import default
from helpers import TINY_RUN
from transformer_jax import sharding, train, workdir as workdir_lib
from transformer_jax.data import input_pipeline

PATIENCE = 2
# 600 pairs in one 32-token bucket: 5 batches an epoch, one compile. A learning rate 5 times the schedule's makes the
# dev loss stop falling within a few epochs, long before num_train_steps. The step schedules TINY_RUN sets
# (checkpoint_every_steps=6) are replaced by the epoch ones.
EPOCH_RUN = dict(TINY_RUN, embedded_num_train=600, pack_training_rows=False, bucket_lengths=(32,),
                 max_source_length=32, max_target_length=32, tokens_per_batch=2048, learning_rate_scale=5.0,
                 warmup_steps=10, num_train_steps=200, eval_every_steps=0, eval_every_epochs=1,
                 checkpoint_every_epochs=1, num_dev_bleu_sentences=0, early_stopping_patience=PATIENCE,
                 num_test_sentences=8, test_average_last=3, test_score_final_step=False, max_checkpoints_to_keep=20)


class Interrupted(Exception):
  """A run killed in the middle of an evaluation."""


@pytest.fixture(scope="module")
def tfds_dir(tmp_path_factory):
  return str(tmp_path_factory.mktemp("tfds"))


def epoch_config(tfds_dir):
  config = default.get_config()
  config.update(EPOCH_RUN, tfds_data_dir=tfds_dir)
  return config


@pytest.fixture(scope="module")
def reference(tfds_dir, tmp_path_factory):
  """The uninterrupted run: (config, workdir, results)."""
  config = epoch_config(tfds_dir)
  workdir = str(tmp_path_factory.mktemp("reference"))
  return config, workdir, train.train_and_evaluate(config, workdir)


def dev_curve(workdir) -> dict:
  """step -> dev_curve.jsonl row (a step evaluated again: its last row)."""
  rows = [json.loads(line) for line in open(workdir_lib.path(workdir, workdir_lib.DEV_CURVE))]
  return {row["step"]: row for row in rows}


def checkpoint_steps(workdir) -> list[int]:
  return sorted(int(name) for name in os.listdir(workdir_lib.path(workdir, workdir_lib.CHECKPOINTS)) if name.isdigit())


def trained_steps(workdir) -> list[int]:
  return [json.loads(line)["step"] for line in open(workdir_lib.path(workdir, workdir_lib.TRAIN_LOG))]


def fairseq_stop(losses: list[tuple[int, float]], patience: int) -> int | None:
  """fairseq's should_stop_early over (step, dev loss) in order: the step of the evaluation that ends training."""
  best, without_better = None, 0
  for step, loss in losses:
    if best is None or loss < best:
      best, without_better = loss, 0
    else:
      without_better += 1
      if without_better >= patience:
        return step
  return None


def test_checkpoints_and_dev_evaluations_land_on_epoch_ends(reference):
  """The epoch ends, found by counting the pairs the training batches hold (each epoch holds every pair once), are
  exactly the steps checkpointed and evaluated on dev."""
  config, workdir, results = reference
  data = input_pipeline.load_datasets(config, workdir_lib.path(workdir, workdir_lib.TOKENIZER),
                                      row_multiple=sharding.batch_shards(sharding.mesh_from_config(config)))
  pairs, seen, epoch_ends = data.train_filter_counts.kept, 0, []
  for step in range(results["step"]):
    seen += int((data.train.batch_at(step)["source"] > 0).any(axis=1).sum())
    if seen % pairs == 0:
      epoch_ends.append(step + 1)
  assert len(epoch_ends) >= 3 and epoch_ends[-1] == results["step"]
  assert checkpoint_steps(workdir) == epoch_ends
  assert sorted(dev_curve(workdir)) == epoch_ends
  assert all("dev_bleu" not in row for row in dev_curve(workdir).values())  # num_dev_bleu_sentences=0: loss only


def test_early_stopping_stops_at_the_evaluation_that_exhausts_patience(reference):
  config, workdir, results = reference
  curve = dev_curve(workdir)
  stop = fairseq_stop([(step, curve[step]["dev_loss"]) for step in sorted(curve)], PATIENCE)
  assert stop is not None and stop < config.num_train_steps
  best = min((curve[step] for step in sorted(curve)), key=lambda row: row["dev_loss"])
  assert results["step"] == results["early_stop"]["step"] == stop
  assert (results["early_stop"]["best_step"], results["early_stop"]["best_dev_loss"]) == (best["step"],
                                                                                         best["dev_loss"])
  assert f"early_stopping_patience={PATIENCE}" in results["early_stop"]["reason"]
  assert max(trained_steps(workdir)) == stop  # not one step more
  # Then the final test, as at num_train_steps: the mean of the newest test_average_last checkpoints.
  assert results["test_averaged_steps"] == checkpoint_steps(workdir)[-3:]
  assert "test_sacrebleu" in results
  assert workdir_lib.read_json(workdir, workdir_lib.RESULTS) == results


def test_a_rerun_of_a_stopped_run_repeats_only_the_final_test(reference, tmp_path):
  config, workdir, results = reference
  again = str(shutil.copytree(workdir, tmp_path / "again"))
  logs = {name: open(workdir_lib.path(again, name)).read() for name in (workdir_lib.TRAIN_LOG, workdir_lib.DEV_CURVE)}
  rerun = train.train_and_evaluate(config, again)
  assert {name: open(workdir_lib.path(again, name)).read() for name in logs} == logs  # no step, no evaluation
  assert checkpoint_steps(again) == checkpoint_steps(workdir)
  different = {"train_seconds", "test_hypotheses"}  # this invocation's time; a path inside the workdir
  assert {k: v for k, v in rerun.items() if k not in different} == {
      k: v for k, v in results.items() if k not in different}
  assert open(rerun["test_hypotheses"]).read() == open(results["test_hypotheses"]).read()


@pytest.mark.parametrize("interruption", ["after_the_evaluation", "before_the_evaluation", "checkpoint_lost"])
def test_a_resumed_run_stops_where_the_uninterrupted_run_stopped(reference, tmp_path, monkeypatch, interruption):
  """Killed at the first evaluation that did not lower the best dev loss, so the resumed run must carry on counting
  from one: with that evaluation written to dev_curve.jsonl; before it was written (the resumed run evaluates the
  restored step again); or written, but its checkpoint lost (the resumed run restores the epoch before, ignores the
  later row and evaluates that step again)."""
  config, reference_dir, results = reference
  curve = dev_curve(reference_dir)
  steps = sorted(curve)
  interrupt_at = next(step for i, step in enumerate(steps)
                      if i and curve[step]["dev_loss"] >= min(curve[s]["dev_loss"] for s in steps[:i]))
  assert interrupt_at < results["step"]
  evaluate_dev = train.evaluate_dev

  def interrupted_evaluation(run, params, step, train_seconds):
    if step != interrupt_at:
      return evaluate_dev(run, params, step, train_seconds)
    if interruption != "before_the_evaluation":
      evaluate_dev(run, params, step, train_seconds)
    raise Interrupted(f"killed while evaluating step {step}")

  workdir = str(tmp_path / "interrupted")
  monkeypatch.setattr(train, "evaluate_dev", interrupted_evaluation)
  with pytest.raises(Interrupted):
    train.train_and_evaluate(config, workdir)
  monkeypatch.setattr(train, "evaluate_dev", evaluate_dev)
  assert checkpoint_steps(workdir)[-1] == interrupt_at
  if interruption == "checkpoint_lost":
    shutil.rmtree(os.path.join(workdir_lib.path(workdir, workdir_lib.CHECKPOINTS), str(interrupt_at)))

  resumed = train.train_and_evaluate(config, workdir)
  same = ("step", "early_stop", "test_sacrebleu", "test_tokenized_bleu", "test_averaged_steps")
  assert {k: resumed[k] for k in same} == {k: results[k] for k in same}
  assert {step: row["dev_loss"] for step, row in dev_curve(workdir).items()} == {
      step: row["dev_loss"] for step, row in curve.items()}
  for got, want in zip(jax.tree_util.tree_leaves(workdir_lib.load(workdir).params),
                       jax.tree_util.tree_leaves(workdir_lib.load(reference_dir).params)):
    np.testing.assert_array_equal(got, want)
