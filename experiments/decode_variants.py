"""Beam search of one batch of a trained run's test set, the current decoder against the implementations it replaced,
each compiled in this one process and called in turn (A B C A B C ...), so a noisy machine slows all of them alike.

  python experiments/decode_variants.py --workdir=runs/demo --batch=middle --calls=20
  python experiments/decode_variants.py --workdir=runs/demo --batch=all --calls=5 --variants=current,before
  python experiments/decode_variants.py --workdir=runs/demo --batch=all --compile_rounds=3 --variants=current,before

Prints, per variant, the median and fastest call (--batch=all: pass over the whole test set, 32 sentences a batch,
every batch queued before the first is read back), the median of its per-round ratio to the first variant, whether
it produced the same best hypotheses, and the median time to lower and compile the programs of every source length
the batches need (what a run's first evaluation waits for). The earlier implementations live here only, as the
record of what was measured:
- lax_top_k: one jax.lax.top_k over beams x vocabulary instead of decode.top_k_by_blocks;
- switch_narrowing: the narrowing loop as a while loop whose body switches to the smallest size that holds the
  unfinished rows;
- every_segment: every cache segment entered (its cache extended) even once the search is over;
- short_last_segment: cache segments doubling from 32 up to the output limit, however few positions the last one
  holds (the current decode.cache_segments joins a short last segment to the one before it);
- every_hypothesis: the search runs until all beam_size hypotheses are certain instead of stopping once the best one
  is (the other variants ask for the best only, n_best=1, as every BLEU evaluation does);
- before: all five.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import time

from absl import app, flags

flags.DEFINE_string("workdir", None, "Workdir of a trained run.", required=True)
flags.DEFINE_enum("batch", "middle", ["early", "middle", "late", "last", "all"],
                  "Which batch of the length-sorted test set, or all of them.")
flags.DEFINE_integer("calls", 20, "Timed calls per variant.")
flags.DEFINE_integer("compile_rounds", 1, "Times each variant is lowered and compiled, in turn (the median is "
                     "printed).")
flags.DEFINE_list("variants", ["current", "lax_top_k", "switch_narrowing", "every_segment"], "Variants to time.")
FLAGS = flags.FLAGS


def _switch_narrowing(cond, body, state, *, row_done, sizes):
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from transformer_jax import decode  # pylint: disable=g-import-not-at-top

  def narrowed(size, next_size):
    def run(s):
      rows = None
      if size < sizes[0]:
        rows = jnp.argsort(row_done(s).astype(jnp.int32), stable=True)[:size]
        s, full = decode._map_rows(lambda x: x[rows], s), s  # pylint: disable=protected-access
      s = jax.lax.while_loop(lambda f: cond(f) & ((~row_done(f)).sum() > next_size), body, s)
      if rows is not None:
        s = decode._map_rows(lambda x, part: x.at[rows].set(part, unique_indices=True), full, s)  # pylint: disable=protected-access
      return s
    return run

  if len(sizes) == 1:
    return jax.lax.while_loop(cond, body, state)
  branches = [narrowed(size, next_size) for size, next_size in zip(sizes, sizes[1:] + (0,))]
  return jax.lax.while_loop(
      cond, lambda s: jax.lax.switch((jnp.array(sizes) >= (~row_done(s)).sum()).sum() - 1, branches, s), state)


def _every_segment(keep_going, step, state, segments, extend_cache, loop=None):
  import jax  # pylint: disable=g-import-not-at-top
  loop = loop or jax.lax.while_loop
  for i, end in enumerate(segments):
    if i:
      state = dict(state, cache=extend_cache(state["cache"], end))
    state = loop(lambda s, end=end: keep_going(s) & (s["position"] < end), step, state)
  return state


def _short_last_segment(max_length, first=32):
  ends = []
  while first < max_length:
    ends.append(first)
    first *= 2
  return tuple(ends) + (max_length,)


@contextlib.contextmanager
def _replaced(module, name, value):
  original = getattr(module, name)
  setattr(module, name, value)
  try:
    yield
  finally:
    setattr(module, name, original)


def _variant(name: str) -> contextlib.ExitStack:
  import jax  # pylint: disable=g-import-not-at-top
  from transformer_jax import decode  # pylint: disable=g-import-not-at-top
  replacements = {
      "lax_top_k": [(decode, "top_k_by_blocks", jax.lax.top_k)],
      "switch_narrowing": [(decode, "_narrowing_while", _switch_narrowing)],
      "every_segment": [(decode, "_segmented_while", _every_segment)],
      "short_last_segment": [(decode, "cache_segments", _short_last_segment)],
  }
  replacements["before"] = sum(replacements.values(), [])  # and every_hypothesis, by its n_best
  stack = contextlib.ExitStack()
  for replacement in replacements.get(name, []):
    stack.enter_context(_replaced(*replacement))
  return stack


def main(argv):
  del argv
  os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:2])
  from transformer_jax import cpu_devices  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from transformer_jax import cli, config_base, decode, inference, sharding  # pylint: disable=g-import-not-at-top
  from transformer_jax.data import input_pipeline  # pylint: disable=g-import-not-at-top
  cli.quiet_library_logs()
  config, tokenizer, model, params, mesh = inference.load_on_devices(FLAGS.workdir)
  sources = inference.encode_sources(tokenizer, input_pipeline.load_text_split(config, "test").sources,
                                     config.bucket_lengths[-1])
  order = np.argsort([len(ids) for ids in sources], kind="stable")
  size = int(config.decode_batch_size)
  starts = {"early": [2 * size], "middle": [len(order) // 2 - size // 2], "late": [len(order) - 2 * size],
            "last": [len(order) - size], "all": list(range(0, len(order), size))}[FLAGS.batch]
  batches = []
  for start in starts:
    chunk = [sources[i] for i in order[start:start + size]]
    source = np.zeros((size, inference.padded_length(max(map(len, chunk)), model.config.max_position)), np.int32)
    for row, ids in enumerate(chunk):
      source[row, :len(ids)] = ids
    batches.append(jax.device_put(source, sharding.batch_sharding(mesh)))
  options = dict(beam_size=config.beam_size, alpha=config.length_penalty_alpha,
                 extra_length=config.decode_extra_length, max_decode_length=config.max_decode_length, mesh=mesh,
                 length_penalty_form=config_base.length_penalty_form(config))
  n_best = {"every_hypothesis": config.beam_size, "before": config.beam_size}
  compiled, compile_seconds = {}, {name: [] for name in FLAGS.variants}
  for _ in range(FLAGS.compile_rounds):
    for name in FLAGS.variants:
      jax.clear_caches()  # the module functions a variant replaces are read when the search is traced
      with _variant(name):
        begin = time.perf_counter()
        by_length = {}
        for source in batches:
          if source.shape[1] not in by_length:
            by_length[source.shape[1]] = decode.translate_beam.lower(
                model, params, source, n_best=n_best.get(name, 1), **options).compile()
        compiled[name] = lambda by_length=by_length: [by_length[s.shape[1]](params, s) for s in batches]
        compile_seconds[name].append(time.perf_counter() - begin)
        print(f"{name}: lowered and compiled in {compile_seconds[name][-1]:.1f} s", flush=True)
  outputs = {name: jax.block_until_ready(run()) for name, run in compiled.items()}
  first = FLAGS.variants[0]
  seconds = {name: [] for name in compiled}
  for _ in range(FLAGS.calls):
    for name, run in compiled.items():
      begin = time.perf_counter()
      jax.block_until_ready(run())
      seconds[name].append(time.perf_counter() - begin)
  lengths = sorted({source.shape[1] for source in batches})
  print(f"batch {FLAGS.batch}: {len(batches)} batch(es) of {size} sentences, sources padded to {lengths}, "
        f"{FLAGS.calls} calls each")
  print(f"| variant | median ms | fastest ms | per-round ratio to {first} | same best hypotheses as {first} "
        "| median compile s |")
  print("|---|---|---|---|---|---|")
  for name, times in seconds.items():
    ratio = statistics.median(a / b for a, b in zip(times, seconds[first]))
    same = all((np.asarray(mine[0][:, 0]) == np.asarray(theirs[0][:, 0])).all()  # the best hypotheses
               for mine, theirs in zip(outputs[name], outputs[first]))
    print(f"| {name} | {1000 * statistics.median(times):.1f} | {1000 * min(times):.1f} | {ratio:.3f} | {same} | "
          f"{statistics.median(compile_seconds[name]):.1f} |")
  sys.stdout.flush()


if __name__ == "__main__":
  app.run(main)
