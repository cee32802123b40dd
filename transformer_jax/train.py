"""train_and_evaluate(config, workdir): set-up, loop and final test, read top to bottom.

set_up: workdir and config record · mesh · input · model, optimiser and state · checkpoint restore · steps.
run_loop: the step's batch, train step, non-finite check, log, stop vote, checkpoint, dev evaluation, early stop.
final_test: the test set with the mean of the last checkpoints. The writer, checkpointer, prefetcher and signal
handlers are closed on every path out, an exception's included.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os

import jax
import numpy as np
from absl import logging
from jax.experimental import multihost_utils

from transformer_jax import average_checkpoints, config_base, distributed, evaluation, optim, profiling, run_info
from transformer_jax import metric_writers  # clu's where TensorFlow is installed, else one that needs none
from transformer_jax import sharding
from transformer_jax import train_step
from transformer_jax import visualize
from transformer_jax import workdir as workdir_lib
from transformer_jax.data import input_pipeline, prefetch
from transformer_jax.model import count_parameters, model_from_config
from transformer_jax.run_guards import FiniteGuard, StopSignal, Stopwatch, ensure_writable


def _format_duration(seconds: float) -> str:
  if seconds != seconds:  # NaN: no timed step yet
    return "?"
  seconds = int(max(seconds, 0))
  hours, rest = divmod(seconds, 3600)
  return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


class TrainLog:
  """Train metrics of the steps since the last log step: kept on the devices until then (no per-step sync), then
  summarised into TensorBoard, train_log.jsonl and one console line."""

  def __init__(self, writer, workdir: str, clock: Stopwatch, config):
    self.writer, self.workdir, self.clock, self.config = writer, workdir, clock, config
    self.pending: list = []  # (step, metrics on device)
    self._reset()

  def _reset(self) -> None:
    self.pending, self.interval_start, self.interval_steps, self.untimed = [], self.clock.seconds(), 0, 0
    self.input_wait_s: list[float] = []  # per step: how long it waited for its prefetched batch

  def add(self, done: int, metrics: dict, compiled_now: bool, input_wait_s: float) -> None:
    self.pending.append((done, metrics))
    self.input_wait_s.append(input_wait_s)
    self.interval_steps += 1
    if compiled_now:  # throughput is measured from the end of the step that compiled
      jax.block_until_ready(metrics)
      self.interval_start, self.interval_steps, self.untimed = self.clock.seconds(), 0, 1

  def write(self, done: int, skipped_steps: int) -> None:
    fetched = [m for _, m in jax.device_get(self.pending)]
    host = [m for m in fetched if m["finite"]]
    elapsed = self.clock.seconds() - self.interval_start
    steps_per_sec = self.interval_steps / elapsed if self.interval_steps else float("nan")
    timed_tokens = sum(float(m["tokens"]) for m in fetched[self.untimed:])
    summary = evaluation.summarize({k: sum(m[k] for m in host) for k in ("loss_sum", "nll_sum", "correct_sum",
                                                                          "tokens")})
    scalars = {f"train/{k}": v for k, v in summary.items()}
    scalars.update({"train/learning_rate": float(host[-1]["learning_rate"]) if host else float("nan"),
                    "train/grad_norm": float(np.mean([m["grad_norm"] for m in host])) if host else float("nan"),
                    "train/tokens_per_sec": timed_tokens / elapsed if self.interval_steps else float("nan"),
                    "train/steps_per_sec": steps_per_sec, "train/skipped_steps": skipped_steps,
                    "train/input_wait_ms": 1e3 * float(np.mean(self.input_wait_s)),
                    "train/input_wait_max_ms": 1e3 * float(np.max(self.input_wait_s))})
    self.writer.write_scalars(done, scalars)
    if jax.process_index() == 0:  # full precision, appended across resumes (sweeps and exact-resume tests read it)
      workdir_lib.append_jsonl(self.workdir, workdir_lib.TRAIN_LOG, {"step": done, **scalars})
    total_steps = self.config.num_train_steps
    remaining = (total_steps - done) / steps_per_sec if self.interval_steps else float("nan")
    if self.config.max_train_seconds > 0:
      remaining = min(remaining, self.config.max_train_seconds - self.clock.seconds())
    logging.info("step %d/%d | loss %.3f | ppl %.2f | acc %.3f | %.0f target tok/s | %.2f steps/s | input wait "
                 "%.1f ms | ETA %s", done, total_steps, summary["loss"], summary["perplexity"], summary["accuracy"],
                 scalars["train/tokens_per_sec"], steps_per_sec, scalars["train/input_wait_ms"],
                 _format_duration(remaining))
    self._reset()


def stop_vote(stop_signal: StopSignal, clock: Stopwatch, config, is_log_step: bool) -> tuple[str | None, bool]:
  """(what asks the run to stop, or None; whether the time budget is spent), agreed by every host.

  A host acting on its own signal or clock would leave the others waiting in the next collective forever: the
  hosts agree at log steps (one small all-gather; the log has synced with the devices anyway)."""
  stop_by, out_of_time = stop_signal.received, 0 < config.max_train_seconds <= clock.seconds()
  if jax.process_count() == 1:
    return stop_by, out_of_time
  if not is_log_step:
    return None, False
  votes = multihost_utils.process_allgather(np.array([stop_by is not None, out_of_time]))
  votes = np.asarray(votes).reshape(-1, 2).any(axis=0)
  return (stop_by or "a stop signal to another host") if votes[0] else None, bool(votes[1])


def compare_batch_settings(workdir: str, batches: dict, start_step: int) -> None:
  """The data position is the step; these settings decide which batch a step gets. A resume that changes them
  trains on, but no longer on the batches the uninterrupted run would have seen: say so. Then record them.
  Process 0 alone reads and writes the file (every process has the same settings): no process ever reads it while
  another rewrites it."""
  if jax.process_index() != 0:
    return
  before = workdir_lib.read_json(workdir, workdir_lib.BATCH_SETTINGS) if start_step else None
  if before is not None:
    changed = sorted(k for k in set(before) | set(batches) if before.get(k) != batches.get(k))
    if changed:
      logging.warning("Resuming with different batch settings (%s): from step %d on, batches differ from those "
                      "the uninterrupted run would have read.", ", ".join(
                          f"{k}: {before.get(k)} -> {batches.get(k)}" for k in changed), start_step)
  workdir_lib.write_json(workdir, workdir_lib.BATCH_SETTINGS, batches)


def last_checkpoint_steps(checkpointer, count: int) -> list[int]:
  """The newest `count` complete checkpoints (fewer if the run kept fewer), oldest first."""
  checkpointer.wait()
  return sorted(checkpointer.manager.all_steps())[-count:]


@dataclasses.dataclass
class TrainingSetup:
  """What the loop and the final test share: built once by `set_up`, closed by its ExitStack."""
  config: object
  workdir: str
  writer: object
  mesh: object
  data: object  # input_pipeline.Datasets
  model: object
  state: object  # the train state, restored when the workdir has a checkpoint
  start_step: int
  checkpointer: object
  p_train_step: object
  p_eval_step: object
  dropout_rng: object
  dev_loss_batches: object
  dev_bleu_set: object


def set_up(config, workdir: str, resources: contextlib.ExitStack) -> TrainingSetup:
  """Workdir record, mesh, input, model, optimiser, state, restore and compiled steps. The TensorBoard writer and
  the checkpointer are entered into `resources`, so they are closed (saves finished) however the run ends."""
  # ---- Workdir and config record: everything needed to resume or decode lives in the workdir ----
  ensure_writable(workdir)
  if jax.process_index() == 0:
    workdir_lib.write_atomically(workdir_lib.path(workdir, workdir_lib.CONFIG), config.to_json_best_effort(indent=2))
    run_info.append(workdir)  # code version, library versions, devices, command: one entry per invocation
  writer = metric_writers.create_default_writer(workdir, just_logging=jax.process_index() > 0)
  resources.callback(writer.close)
  writer.write_hparams({k: v for k, v in config.items() if isinstance(v, (int, float, str, bool))})

  # ---- Mesh: ("data", "fsdp", "tensor"); batch rows split over data * fsdp ----
  mesh = sharding.mesh_from_config(config)
  logging.info("Mesh: %s over %d devices (%s), %d process(es).", dict(mesh.shape), mesh.size,
               jax.devices()[0].platform, jax.process_count())

  # ---- Input ----
  # Rows split evenly over the batch shards, and (for gradient accumulation) each shard's rows over micro-batches.
  # Process 0 trains the vocabulary and caches the token ids; the others wait at these barriers, then read them.
  barrier = multihost_utils.sync_global_devices if jax.process_count() > 1 else lambda name: None
  data = input_pipeline.load_datasets(config, workdir_lib.path(workdir, workdir_lib.TOKENIZER),
                                      row_multiple=sharding.batch_shards(mesh) * config.grad_accum_steps,
                                      process_index=jax.process_index(), process_count=jax.process_count(),
                                      wait_for_process_0=barrier)
  tokenizer = data.tokenizer
  # Dev encoded once, for every evaluation: batches for the loss, token ids of the sources for BLEU.
  dev_loss_batches = evaluation.loss_batches(data.dev, tokenizer, config, mesh)
  dev_bleu_set = evaluation.bleu_set(data.dev, tokenizer, limit=config.num_dev_bleu_sentences)
  logging.info("Vocabulary %d; %d batches per epoch with shapes %s.", tokenizer.vocab_size,
               data.train.batches_per_epoch, data.train.shapes())

  # ---- Model, optimiser and state ----
  model = model_from_config(config, vocab_size=tokenizer.vocab_size)
  optimizer, learning_rate_fn = optim.make_optimizer(config)
  init_rng, dropout_rng = jax.random.split(jax.random.PRNGKey(config.seed))
  # Created abstractly, then initialised straight into the shardings its logical axis names ask for.
  state = train_step.create_train_state(model, optimizer, init_rng, mesh, config.logical_axis_rules)
  state_sharding = sharding.shardings_of(state)
  logging.info("Parameters: %d.", count_parameters(state.params))

  # ---- Checkpoint restore ----
  checkpointer = resources.enter_context(
      workdir_lib.checkpointer(workdir, config.max_checkpoints_to_keep, asynchronous=True))
  if checkpointer.latest_step() is not None:
    state = checkpointer.restore(state)
    logging.info("Resumed from the checkpoint at step %d.", int(state.step))
  start_step = int(jax.device_get(state.step))
  compare_batch_settings(workdir, dict(data.batch_settings, global_rows_multiple_of=sharding.batch_shards(mesh) *
                                       config.grad_accum_steps, processes=jax.process_count()), start_step)

  # ---- Steps ----
  return TrainingSetup(
      config=config, workdir=workdir, writer=writer, mesh=mesh, data=data, model=model, state=state,
      start_step=start_step, checkpointer=checkpointer,
      p_train_step=train_step.jit_train_step(model, mesh, config.label_smoothing, learning_rate_fn, state_sharding,
                                             config.grad_accum_steps),
      p_eval_step=train_step.jit_eval_step(model, mesh, config.label_smoothing, state_sharding.params),
      dropout_rng=jax.device_put(dropout_rng, sharding.replicated(mesh)), dev_loss_batches=dev_loss_batches,
      dev_bleu_set=dev_bleu_set)


def evaluate_dev(run: TrainingSetup, params, step: int, train_seconds: float) -> dict:
  """Dev loss and dev BLEU: TensorBoard, dev_curve.jsonl, sample translations, one console line. With
  num_dev_bleu_sentences=0, the dev loss alone (nothing is decoded). Returns the dev loss metrics."""
  tokenizer, writer = run.data.tokenizer, run.writer
  dev = evaluation.mean_loss(run.p_eval_step, params, run.dev_loss_batches, run.mesh)
  dev_bleu = None
  if run.config.num_dev_bleu_sentences > 0:
    dev_bleu = evaluation.bleu_of(run.model, params, tokenizer, run.dev_bleu_set, run.config, run.mesh)
  scalars = {"dev/loss": dev["loss"], "dev/nll": dev["nll"], "dev/perplexity": dev["perplexity"],
             "dev/accuracy": dev["accuracy"]}
  record = {"step": step, "train_seconds": round(train_seconds, 1)}
  if dev_bleu is not None:  # a loss-only row has no BLEU keys: readers of the curve skip it for BLEU
    scalars.update({"dev/bleu": dev_bleu["sacrebleu"], "dev/tokenized_bleu": dev_bleu["tokenized_bleu"]})
    record.update(dev_bleu=dev_bleu["sacrebleu"], dev_tokenized_bleu=dev_bleu["tokenized_bleu"])
    if "protocol_bleu" in dev_bleu:
      scalars["dev/protocol_bleu"] = record["dev_protocol_bleu"] = dev_bleu["protocol_bleu"]
  writer.write_scalars(step, dict(scalars, **{"train/seconds": train_seconds}))
  if jax.process_index() == 0:  # Appended, so a resumed run keeps the curve of the runs before it.
    workdir_lib.append_jsonl(run.workdir, workdir_lib.DEV_CURVE,
                             dict(record, dev_loss=dev["loss"], dev_perplexity=dev["perplexity"]))
  if dev_bleu is None:
    logging.info("dev at step %d (%.0f s of training): loss %.3f, ppl %.2f", step, train_seconds, dev["loss"],
                 dev["perplexity"])
    return dev
  # Sample translations beside their references in TensorBoard's Text tab, one table per evaluation.
  writer.write_texts(step, {"dev/translations": "| source | hypothesis | reference |\n|---|---|---|\n" + "\n".join(
      "| " + " | ".join(text.replace("|", "\\|") for text in example) + " |" for example in dev_bleu["examples"])})
  if metric_writers.attention_images_possible():  # matplotlib draws them; TensorFlow or tensorboard stores them
    visualize.write_attention_images(writer, step, run.model, params, tokenizer, dev_bleu["examples"])
  source, hypothesis, reference = dev_bleu["examples"][0]
  logging.info("dev at step %d (%.0f s of training): loss %.3f, ppl %.2f, sacreBLEU %.2f, tokenized BLEU %.2f\n"
               "  source:     %s\n  hypothesis: %s\n  reference:  %s", step, train_seconds, dev["loss"],
               dev["perplexity"], dev_bleu["sacrebleu"], dev_bleu["tokenized_bleu"], source, hypothesis, reference)
  return dev


def period_in_steps(epochs: int, steps: int, batches_per_epoch: int) -> int:
  """A schedule's period in steps: `epochs` epochs of the training batches when > 0, else `steps` (0 = never)."""
  return epochs * batches_per_epoch if epochs > 0 else steps


@dataclasses.dataclass
class EarlyStopping:
  """fairseq's --patience: training stops once `patience` dev evaluations in a row have not lowered the best dev loss
  (an equal loss is no better; a NaN never is)."""
  patience: int
  best_loss: float = math.inf
  best_step: int = 0
  evaluations_without_better: int = 0

  def update(self, step: int, loss: float) -> None:
    if loss < self.best_loss:
      self.best_loss, self.best_step, self.evaluations_without_better = loss, step, 0
    else:
      self.evaluations_without_better += 1

  @property
  def stops(self) -> bool:
    return self.patience > 0 and self.evaluations_without_better >= self.patience

  def record(self, step: int) -> dict:
    """What results.json says about the stop at `step`."""
    return {"step": step, "reason": f"early_stopping_patience={self.patience}: {self.evaluations_without_better} dev "
            f"evaluations in a row without a dev loss below {self.best_loss:.6g} (step {self.best_step})",
            "best_dev_loss": self.best_loss, "best_step": self.best_step}


def replay_dev_curve(workdir: str, patience: int, restored_step: int, eval_every: int) -> tuple[EarlyStopping, bool]:
  """The early-stopping state after the scheduled dev evaluations up to the restored step, and whether the restored
  step's own evaluation is among them.

  The state is derived from dev_curve.jsonl rather than stored in the checkpoint: the train state (and so every
  checkpoint, old ones included, and what average_checkpoints and export read) keeps its tree, and the curve holds
  each dev loss at full precision (JSON writes a float exactly). Rows after the restored step were written by an
  invocation killed before its next checkpoint and are left out (the resumed run evaluates those steps again; the
  last row of a step wins), as are rows off the schedule (the evaluation a time budget adds at its last step): the
  resumed run then counts exactly the evaluations the uninterrupted run counted. Process 0 reads the file and the
  others receive the result, so every host makes the same decision."""
  values = np.zeros(4, np.float64)  # best loss, best step, evaluations without a better loss, restored step's row
  if jax.process_index() == 0:
    rows = {}
    if os.path.exists(workdir_lib.path(workdir, workdir_lib.DEV_CURVE)):
      with open(workdir_lib.path(workdir, workdir_lib.DEV_CURVE)) as f:
        for line in f:
          try:  # a row appended after one that a kill cut short shares its line: read from the row's start
            row = json.loads(line[line.rfind('{"step"'):])
          except ValueError:  # a line cut short by a kill
            continue
          step = row.get("step")
          if isinstance(step, int) and 0 < step <= restored_step and step % eval_every == 0 and "dev_loss" in row:
            rows[step] = row["dev_loss"]
    state = EarlyStopping(patience)
    for step in sorted(rows):
      state.update(step, rows[step])
    values[:] = state.best_loss, state.best_step, state.evaluations_without_better, restored_step in rows
  if jax.process_count() > 1:  # as int32 pairs: a float64 would pass through float32 and lose bits
    values = np.asarray(multihost_utils.broadcast_one_to_all(values.view(np.int32))).view(np.float64)
  return EarlyStopping(patience, float(values[0]), int(values[1]), int(values[2])), bool(values[3])


@dataclasses.dataclass(frozen=True)
class LoopEnd:
  state: object
  train_seconds: float
  stopped_by: str | None  # a signal that asked the run to stop (its checkpoint is complete), or None
  early_stop: dict | None = None  # EarlyStopping.record of a run that stopped early, for results.json


def run_loop(run: TrainingSetup, stop_signal: StopSignal) -> LoopEnd:
  """The steps from the restored one to num_train_steps (or the time budget, a stop signal, or early stopping)."""
  config, checkpointer, state = run.config, run.checkpointer, run.state
  total_steps = config.num_train_steps
  # Checkpoints and dev evaluations every so many steps, or at the end of every so many epochs (the steps that
  # complete an epoch of the training batches: batch k is in epoch k // batches_per_epoch).
  batches_per_epoch = run.data.train.batches_per_epoch
  checkpoint_every = period_in_steps(config.checkpoint_every_epochs, config.checkpoint_every_steps, batches_per_epoch)
  eval_every = period_in_steps(config.eval_every_epochs, config.eval_every_steps, batches_per_epoch)
  if config.checkpoint_every_epochs or config.eval_every_epochs:
    logging.info("An epoch is %d steps: checkpoints every %d steps, dev evaluations every %d.", batches_per_epoch,
                 checkpoint_every, eval_every)
  early_stopping = None
  if config.early_stopping_patience:
    early_stopping, evaluated = replay_dev_curve(run.workdir, config.early_stopping_patience, run.start_step,
                                                 eval_every)
    if run.start_step and run.start_step % eval_every == 0 and not evaluated:
      # The invocation before saved this step but was stopped before its evaluation was written: the uninterrupted
      # run counted it, so it is done now.
      early_stopping.update(run.start_step, evaluate_dev(run, state.params, run.start_step, 0.0)["loss"])
    if early_stopping.stops and run.start_step < total_steps:  # at num_train_steps the run simply ended
      record = early_stopping.record(run.start_step)
      logging.info("This run stopped early at step %d (%s): no further training.", run.start_step, record["reason"])
      return LoopEnd(state, 0.0, None, record)
  clock = Stopwatch()  # training time: runs during steps (compiles included), paused during evaluation
  clock.start()
  train_log = TrainLog(run.writer, run.workdir, clock, config)
  guard = FiniteGuard(config.nonfinite_policy, checkpointer)
  profiler = None
  if config.profile_start_step and jax.process_index() == 0:
    profiler = profiling.StepProfiler(os.path.join(run.workdir, "profile"), config.profile_start_step,
                                      config.profile_num_steps, run.mesh, run.model.config,
                                      config.dtype)
  early_stop = None
  # The step's batch: a pure function of the seed, the step and the batch settings, built and placed on the devices
  # on a background thread two steps ahead (prefetching changes when a batch is made, never which).
  with prefetch.Prefetcher(
      lambda k: train_step.put_batch(run.data.train.batch_at(k), run.mesh), run.start_step, total_steps) as batches:
    for step in range(run.start_step, total_steps):
      done = step + 1
      batch = batches.get(step)
      if profiler:
        profiler.before_step(step, state, batch)
      state, metrics = run.p_train_step(state, batch, run.dropout_rng)
      if profiler and profiler.after_step(step, state, lambda: run.p_train_step.lower(state, batch, run.dropout_rng)):
        logging.info("Steps %d-%d traced into %s\n%s", profiler.start + 1, done, profiler.directory,
                     profiling.profile_table(profiler.result))
      train_log.add(done, metrics, compiled_now=step == run.start_step, input_wait_s=batches.last_wait_s)

      is_log_step = done % config.log_every_steps == 0 or done == total_steps
      save_now = done % checkpoint_every == 0 or done == total_steps
      stop_by, out_of_time = stop_vote(stop_signal, clock, config, is_log_step)
      # No checkpoint or log line ever includes an unchecked non-finite step.
      if save_now or is_log_step or stop_by or out_of_time:
        guard.check(train_log.pending)
      if is_log_step:
        train_log.write(done, guard.skipped)

      if stop_by:
        checkpointer.save(state)
        checkpointer.wait()
        logging.info("Stopped by %s after step %d; the checkpoint of step %d is complete. Rerun the same command "
                     "to resume.", stop_by, done, done)
        return LoopEnd(state, clock.seconds(), stop_by)
      if save_now or out_of_time:
        checkpointer.save(state)
      if eval_every and (done % eval_every == 0 or done == total_steps or out_of_time):
        jax.block_until_ready(state)
        clock.pause()
        dev = evaluate_dev(run, state.params, done, clock.seconds())
        clock.start()
        # Only the scheduled evaluations count: a resumed run replays exactly these (replay_dev_curve).
        if early_stopping and done % eval_every == 0:
          early_stopping.update(done, dev["loss"])
          if early_stopping.stops and done < total_steps:
            early_stop = early_stopping.record(done)
            guard.check(train_log.pending)
            if train_log.pending:
              train_log.write(done, guard.skipped)
            checkpointer.save(state)  # nothing new when this step was saved already
            logging.info("Early stopping after step %d: the best dev loss is %.4f, at step %d, and the %d "
                         "evaluations since have not lowered it (early_stopping_patience=%d).", done,
                         early_stopping.best_loss, early_stopping.best_step,
                         early_stopping.evaluations_without_better, config.early_stopping_patience)
            break
      if out_of_time:
        logging.info("max_train_seconds=%s reached at step %d: stopping.", config.max_train_seconds, done)
        if config.learning_rate_cooldown_steps and done < total_steps:
          logging.warning("The learning-rate cooldown to step %d did not finish (the rate is still %.3g of its "
                          "uncooled value): lower num_train_steps to what fits in max_train_seconds.", total_steps,
                          float(optim.cooldown_factor(done, total_steps, config.learning_rate_cooldown_steps)))
        break
  checkpointer.wait()
  run.writer.flush()
  return LoopEnd(state, clock.seconds(), None, early_stop)


def final_test(run: TrainingSetup, end: LoopEnd) -> dict:
  """The test set's BLEU with the mean of the last test_average_last checkpoints (the paper's procedure), and, with
  test_score_final_step, with the final step's parameters alone when those differ."""
  config, state = run.config, end.state
  final_step = int(jax.device_get(state.step))
  results = {"step": final_step, "train_seconds": round(end.train_seconds, 1),
             "batches_per_epoch": run.data.train.batches_per_epoch,
             "train_pairs": dataclasses.asdict(run.data.train_filter_counts)}
  if end.early_stop:
    results["early_stop"] = end.early_stop
  if run.data.test is None:
    logging.info("No test split (local_test is empty): training ends at step %d without a test score.", final_step)
    return results
  if config.num_test_sentences < 0:
    logging.info("num_test_sentences=%d: training ends at step %d without a test score.", config.num_test_sentences,
                 final_step)
    return results
  tokenizer = run.data.tokenizer
  test_set = evaluation.bleu_set(run.data.test, tokenizer, limit=config.num_test_sentences or None)
  averaged_steps = last_checkpoint_steps(run.checkpointer, config.test_average_last)
  if len(averaged_steps) > 1 and config.test_score_final_step:
    final_alone = evaluation.bleu_of(run.model, state.params, tokenizer, test_set, config, run.mesh)
    results["test_final_step"] = {key: final_alone[key] for key in ("sacrebleu", "sacrebleu_lowercase",
                                                                     "tokenized_bleu", "protocol_bleu")
                                  if key in final_alone}
    logging.info("Test after step %d alone: sacreBLEU %.2f; now the mean of the checkpoints of steps %s.",
                 final_step, final_alone["sacrebleu"], averaged_steps)
  params = state.params if len(averaged_steps) <= 1 else average_checkpoints.average_trees(
      run.checkpointer.restore(state, step).params for step in averaged_steps)
  test = evaluation.bleu_of(run.model, params, tokenizer, test_set, config, run.mesh)
  results.update(test_sacrebleu=test["sacrebleu"], test_sacrebleu_lowercase=test["sacrebleu_lowercase"],
                 test_tokenized_bleu=test["tokenized_bleu"], test_averaged_steps=averaged_steps,
                 sacrebleu_signature=test["signature"],
                 test_hypotheses=workdir_lib.test_hypotheses(run.workdir, config.target_lang))
  scalars = {"test/bleu": test["sacrebleu"], "test/tokenized_bleu": test["tokenized_bleu"]}
  protocol = ""
  if "protocol_bleu" in test:  # preprocessed text: the model's own output, scored as the protocol scores it
    results.update(test_protocol_bleu=test["protocol_bleu"],
                   test_model_hypotheses=workdir_lib.test_hypotheses(run.workdir, config.target_lang, "model"))
    scalars["test/protocol_bleu"] = test["protocol_bleu"]
    protocol = f"  |  protocol BLEU {test['protocol_bleu']:.2f} (preprocessed text)"
  if jax.process_index() == 0:
    workdir_lib.write_lines(results["test_hypotheses"], test["hypotheses"])
    if "protocol_bleu" in test:
      workdir_lib.write_lines(results["test_model_hypotheses"], test["model_hypotheses"])
  run.writer.write_scalars(final_step, scalars)
  logging.info("Test (%d sentences, parameters of steps %s): sacreBLEU %.2f  [%s]  |  tokenized BLEU %.2f  |  "
               "lowercased sacreBLEU %.2f%s", len(test["hypotheses"]), averaged_steps, test["sacrebleu"],
               test["signature"], test["tokenized_bleu"], test["sacrebleu_lowercase"], protocol)
  return results


def train_and_evaluate(config, workdir: str) -> dict:
  """Trains (resuming from the latest checkpoint in workdir), evaluates on dev, and finally scores the test set.
  Returns the final metrics (also written to workdir/results.json)."""
  config_base.validate(config, num_devices=jax.device_count())
  # fail_together inside the ExitStack: a failing process reports to the others before closing anything (closing
  # the checkpointer waits on them).
  with contextlib.ExitStack() as resources, distributed.fail_together():
    # Caught from before set-up: a SIGTERM while the data is prepared or the step compiles stops the run at its first
    # step with a checkpoint (in a multi-host run, JAX's preemption notifier would otherwise swallow it unseen).
    stop_signal = resources.enter_context(StopSignal())
    run = set_up(config, workdir, resources)
    end = run_loop(run, stop_signal)
    stop_signal.restore()  # a signal during the final test ends the process at once
    if end.stopped_by:
      return {"step": int(jax.device_get(end.state.step)), "stopped_by": end.stopped_by}
    results = final_test(run, end)
  if jax.process_index() == 0:
    workdir_lib.write_json(workdir, workdir_lib.RESULTS, results)
  return results
