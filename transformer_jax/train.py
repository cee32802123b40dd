"""train_and_evaluate(config, workdir): the training loop, read top to bottom.

Sections: workdir and config record · mesh · input · model, optimiser and state · checkpoint restore · steps ·
loop (log, evaluate, checkpoint) · final test evaluation.
"""

from __future__ import annotations

import dataclasses
import json
import os

import jax
import numpy as np
from absl import logging
from jax.experimental import multihost_utils
from clu import metric_writers

from transformer_jax import bleu, checkpoint, config_base, optim, run_info, sharding, train_step, visualize
from transformer_jax.run_guards import StopSignal, Stopwatch, check_finite, ensure_writable
from transformer_jax.data import batching, input_pipeline
from transformer_jax.inference import CONFIG_FILENAME, TOKENIZER_FILENAME, translate_sentences


def _format_duration(seconds: float) -> str:
  if seconds != seconds:  # NaN: no timed step yet
    return "?"
  seconds = int(max(seconds, 0))
  hours, rest = divmod(seconds, 3600)
  return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


def summarize(sums: dict) -> dict:
  """Token-weighted means from summed metrics."""
  tokens = max(float(sums["tokens"]), 1.0)
  nll = float(sums["nll_sum"]) / tokens
  return {"loss": float(sums["loss_sum"]) / tokens, "nll": nll, "perplexity": float(np.exp(min(nll, 50.0))),
          "accuracy": float(sums["correct_sum"]) / tokens}


def evaluate_loss(eval_step, params, dev, tokenizer, config, mesh) -> dict:
  sources = batching.with_eos(tokenizer.encode_batch(dev.sources))
  targets = batching.with_eos(tokenizer.encode_batch(dev.targets))
  longest = config.bucket_lengths[-1]
  sources, targets, counts = batching.filter_pairs(sources, targets, longest, longest)
  if counts.too_long or counts.empty:
    logging.warning("Dev loss leaves out %d pairs longer than %d tokens and %d empty ones.", counts.too_long,
                    longest, counts.empty)
  totals = None
  for batch in batching.eval_batches(sources, targets, bucket_lengths=config.bucket_lengths,
                                     tokens_per_batch=config.tokens_per_batch,
                                     row_multiple=sharding.batch_shards(mesh)):
    sums = jax.device_get(eval_step(params, train_step.put_batch(batch, mesh)))
    totals = sums if totals is None else {k: totals[k] + sums[k] for k in totals}
  return summarize(totals)


def evaluate_bleu(model, params, tokenizer, split, config, mesh, limit: int | None = None) -> dict:
  sources, references = split.sources[:limit], split.targets[:limit]
  shards = sharding.batch_shards(mesh)
  rows = -(-config.decode_batch_size // shards) * shards
  rows_sharding = sharding.batch_sharding(mesh)
  hypotheses = translate_sentences(
      model, params, tokenizer, sources, beam_size=config.beam_size, alpha=config.length_penalty_alpha,
      extra_length=config.decode_extra_length, max_decode_length=config.max_decode_length,
      max_source_length=config.bucket_lengths[-1], batch_size=rows,
      place_source=lambda source: jax.device_put(source, rows_sharding))
  report = bleu.bleu_report(hypotheses, references, lang=config.target_lang)
  report["examples"] = list(zip(sources[:3], hypotheses[:3], references[:3]))
  return report


def train_and_evaluate(config, workdir: str) -> dict:
  """Trains (resuming from the latest checkpoint in workdir), evaluates on dev, and finally scores the test set.
  Returns the final metrics (also written to workdir/results.json)."""
  config_base.validate(config, num_devices=jax.device_count())

  # ---- Workdir and config record: everything needed to resume or decode lives in the workdir ----
  ensure_writable(workdir)
  if jax.process_index() == 0:
    with open(os.path.join(workdir, CONFIG_FILENAME), "w") as f:
      f.write(config.to_json_best_effort(indent=2))
    run_info.append(workdir)  # code version, library versions, devices, command: one entry per invocation
  writer = metric_writers.create_default_writer(workdir, just_logging=jax.process_index() > 0)
  writer.write_hparams({k: v for k, v in config.items() if isinstance(v, (int, float, str, bool))})

  # ---- Mesh: ("data", "fsdp", "tensor"); batch rows split over data * fsdp ----
  mesh = sharding.mesh_from_config(config)
  logging.info("Mesh: %s over %d devices (%s), %d process(es).", dict(mesh.shape), mesh.size,
               jax.devices()[0].platform, jax.process_count())

  # ---- Input ----
  # Rows split evenly over the batch shards, and (for gradient accumulation) each shard's rows over micro-batches.
  # Process 0 trains the vocabulary and caches the token ids; the others wait at these barriers, then read them.
  barrier = multihost_utils.sync_global_devices if jax.process_count() > 1 else lambda name: None
  data = input_pipeline.load_datasets(config, os.path.join(workdir, TOKENIZER_FILENAME),
                                      row_multiple=sharding.batch_shards(mesh) * config.grad_accum_steps,
                                      process_index=jax.process_index(), process_count=jax.process_count(),
                                      wait_for_process_0=barrier)
  tokenizer = data.tokenizer
  logging.info("Vocabulary %d; %d batches per epoch with shapes %s.", tokenizer.vocab_size,
               data.train.batches_per_epoch, data.train.shapes())

  # ---- Model, optimiser and state ----
  model = train_step.model_from_config(config, vocab_size=tokenizer.vocab_size)
  optimizer, learning_rate_fn = optim.make_optimizer(config)
  rng = jax.random.PRNGKey(config.seed)
  init_rng, dropout_rng = jax.random.split(rng)
  # Created abstractly, then initialised straight into the shardings its logical axis names ask for.
  state = train_step.create_train_state(model, optimizer, init_rng, mesh, config.logical_axis_rules)
  state_sharding = sharding.shardings_of(state)
  logging.info("Parameters: %d.", sum(x.size for x in jax.tree_util.tree_leaves(state.params)))

  # ---- Checkpoint restore ----
  checkpointer = checkpoint.Checkpointer(os.path.join(workdir, "checkpoints"), config.max_checkpoints_to_keep)
  if checkpointer.latest_step() is not None:
    state = checkpointer.restore(state)
    logging.info("Resumed from the checkpoint at step %d.", int(state.step))
  start_step = int(jax.device_get(state.step))
  # The data position is the step; these settings decide which batch a step gets. A resume that changes them
  # trains on, but no longer on the batches the uninterrupted run would have seen: say so.
  batches = dict(data.batch_settings, global_rows_multiple_of=sharding.batch_shards(mesh) * config.grad_accum_steps,
                 processes=jax.process_count())
  batches_path = os.path.join(workdir, "batch_settings.json")
  if start_step and os.path.exists(batches_path):
    with open(batches_path) as f:
      before = json.load(f)
    changed = sorted(k for k in set(before) | set(batches) if before.get(k) != batches.get(k))
    if changed:
      logging.warning("Resuming with different batch settings (%s): from step %d on, batches differ from those "
                      "the uninterrupted run would have read.", ", ".join(
                          f"{k}: {before.get(k)} -> {batches.get(k)}" for k in changed), start_step)
  if jax.process_index() == 0:
    with open(batches_path, "w") as f:
      json.dump(batches, f, indent=2)

  # ---- Steps ----
  p_train_step = train_step.jit_train_step(model, mesh, config.label_smoothing, learning_rate_fn, state_sharding,
                                           config.grad_accum_steps)
  p_eval_step = train_step.jit_eval_step(model, mesh, config.label_smoothing, state_sharding.params)
  dropout_rng = jax.device_put(dropout_rng, train_step.replicated(mesh))

  def evaluate_dev(params, step: int, train_seconds: float) -> None:
    dev = evaluate_loss(p_eval_step, params, data.dev, tokenizer, config, mesh)
    dev_bleu = evaluate_bleu(model, params, tokenizer, data.dev, config, mesh,
                             limit=config.num_dev_bleu_sentences)
    writer.write_scalars(step, {"dev/loss": dev["loss"], "dev/nll": dev["nll"], "dev/perplexity": dev["perplexity"],
                                "dev/accuracy": dev["accuracy"], "dev/bleu": dev_bleu["sacrebleu"],
                                "dev/tokenized_bleu": dev_bleu["tokenized_bleu"], "train/seconds": train_seconds})
    if jax.process_index() == 0:  # Appended, so a resumed run keeps the curve of the runs before it.
      with open(os.path.join(workdir, "dev_curve.jsonl"), "a") as f:
        f.write(json.dumps({"step": step, "train_seconds": round(train_seconds, 1),
                            "dev_bleu": dev_bleu["sacrebleu"], "dev_tokenized_bleu": dev_bleu["tokenized_bleu"],
                            "dev_loss": dev["loss"], "dev_perplexity": dev["perplexity"]}) + "\n")
    # Sample translations beside their references in TensorBoard's Text tab, one table per evaluation.
    writer.write_texts(step, {"dev/translations": "| source | hypothesis | reference |\n|---|---|---|\n" + "\n".join(
        "| " + " | ".join(text.replace("|", "\\|") for text in example) + " |" for example in dev_bleu["examples"])})
    visualize.write_attention_images(writer, step, model, params, tokenizer, dev_bleu["examples"])
    source, hypothesis, reference = dev_bleu["examples"][0]
    logging.info("dev at step %d (%.0f s of training): loss %.3f, ppl %.2f, sacreBLEU %.2f, tokenized BLEU %.2f\n"
                 "  source:     %s\n  hypothesis: %s\n  reference:  %s", step, train_seconds, dev["loss"],
                 dev["perplexity"], dev_bleu["sacrebleu"], dev_bleu["tokenized_bleu"], source, hypothesis, reference)

  # ---- Loop ----
  total_steps = config.num_train_steps
  clock = Stopwatch()  # training time: runs during steps (compiles included), paused during evaluation
  clock.start()
  pending, interval_start, interval_steps, untimed, skipped_steps = [], clock.seconds(), 0, 0, 0
  stop_signal = StopSignal()
  for step in range(start_step, total_steps):
    state, metrics = p_train_step(state, train_step.put_batch(data.train.batch_at(step), mesh), dropout_rng)
    pending.append((done := step + 1, metrics))
    interval_steps += 1
    if step == start_step:  # Throughput is measured from the end of the step that compiled.
      jax.block_until_ready(metrics)
      interval_start, interval_steps, untimed = clock.seconds(), 0, 1
    save_now = done % config.checkpoint_every_steps == 0 or done == total_steps
    if pending and (save_now or done % config.log_every_steps == 0):
      skipped_steps += check_finite(pending, config.nonfinite_policy, checkpointer)
    if pending and (done % config.log_every_steps == 0 or done == total_steps):
      fetched = [m for _, m in jax.device_get(pending)]
      host = [m for m in fetched if m["finite"]]
      elapsed = clock.seconds() - interval_start
      steps_per_sec = interval_steps / elapsed if interval_steps else float("nan")
      timed_tokens = sum(float(m["tokens"]) for m in fetched[untimed:])
      sums = {k: sum(m[k] for m in host) for k in ("loss_sum", "nll_sum", "correct_sum", "tokens")}
      summary = summarize(sums)
      scalars = {f"train/{k}": v for k, v in summary.items()}
      scalars.update({"train/learning_rate": float(host[-1]["learning_rate"]) if host else float("nan"),
                      "train/grad_norm": float(np.mean([m["grad_norm"] for m in host])) if host else float("nan"),
                      "train/tokens_per_sec": timed_tokens / elapsed if interval_steps else float("nan"),
                      "train/steps_per_sec": steps_per_sec, "train/skipped_steps": skipped_steps})
      writer.write_scalars(done, scalars)
      if jax.process_index() == 0:  # full precision, appended across resumes (sweeps and exact-resume tests read it)
        with open(os.path.join(workdir, "train_log.jsonl"), "a") as f:
          f.write(json.dumps({"step": done, **scalars}) + "\n")
      remaining = (total_steps - done) / steps_per_sec if interval_steps else float("nan")
      if config.max_train_seconds > 0:
        remaining = min(remaining, config.max_train_seconds - clock.seconds())
      logging.info("step %d/%d | loss %.3f | ppl %.2f | acc %.3f | %.0f target tok/s | %.2f steps/s | ETA %s",
                   done, total_steps, summary["loss"], summary["perplexity"], summary["accuracy"],
                   scalars["train/tokens_per_sec"], steps_per_sec, _format_duration(remaining))
      pending, interval_start, interval_steps, untimed = [], clock.seconds(), 0, 0
    stop_by, out_of_time = stop_signal.received, 0 < config.max_train_seconds <= clock.seconds()
    if jax.process_count() > 1:
      # A host acting on its own signal or clock would leave the others waiting in the next collective forever:
      # the hosts agree at log steps (one small all-gather; the log has synced with the devices anyway).
      if done % config.log_every_steps == 0 or done == total_steps:
        votes = multihost_utils.process_allgather(np.array([stop_by is not None, out_of_time]))
        votes = np.asarray(votes).reshape(-1, 2).any(axis=0)
        stop_by = (stop_by or "a stop signal to another host") if votes[0] else None
        out_of_time = bool(votes[1])
      else:
        stop_by, out_of_time = None, False
    if stop_by:
      skipped_steps += check_finite(pending, config.nonfinite_policy, checkpointer)
      checkpointer.save(state)
      checkpointer.wait()
      checkpointer.close()
      writer.close()
      logging.info("Stopped by %s after step %d; the checkpoint of step %d is complete. Rerun the same command to "
                   "resume.", stop_by, done, done)
      return {"step": done, "stopped_by": stop_by}
    if out_of_time and pending and not save_now:
      skipped_steps += check_finite(pending, config.nonfinite_policy, checkpointer)
    if save_now or out_of_time:
      checkpointer.save(state)
    if config.eval_every_steps and (done % config.eval_every_steps == 0 or done == total_steps or out_of_time):
      jax.block_until_ready(state)
      clock.pause()
      evaluate_dev(state.params, done, clock.seconds())
      clock.start()
    if out_of_time:
      logging.info("max_train_seconds=%s reached at step %d: stopping.", config.max_train_seconds, done)
      break
  stop_signal.restore()
  checkpointer.wait()
  writer.flush()

  # ---- Final: the test set, decoded once ----
  final_step = int(jax.device_get(state.step))
  results = {"step": final_step, "train_seconds": round(clock.seconds(), 1),
             "train_pairs": dataclasses.asdict(data.train_filter_counts)}
  if data.test is None:
    logging.info("No test split (local_test is empty): training ends at step %d without a test score.", final_step)
  else:
    test = evaluate_bleu(model, state.params, tokenizer, data.test, config, mesh,
                         limit=config.num_test_sentences or None)
    results.update(test_sacrebleu=test["sacrebleu"], test_tokenized_bleu=test["tokenized_bleu"],
                   sacrebleu_signature=test["signature"])
    writer.write_scalars(final_step, {"test/bleu": test["sacrebleu"], "test/tokenized_bleu": test["tokenized_bleu"]})
    logging.info("Test (%d sentences) after %d steps: sacreBLEU %.2f  [%s]  |  tokenized BLEU %.2f",
                 len(data.test.sources[:config.num_test_sentences or None]), final_step, test["sacrebleu"],
                 test["signature"], test["tokenized_bleu"])
  writer.close()
  checkpointer.close()
  if jax.process_index() == 0:
    with open(os.path.join(workdir, "results.json"), "w") as f:
      json.dump(results, f, indent=2)
  return results
