"""Beam search and greedy decoding, jit-compiled, with the paper's settings as defaults.

The search is written against a step function `logits_fn(tokens [batch, beams], position, cache) -> (logits
[batch, beams, vocab], cache)` whose cache is a dict with "per_beam": leaves [batch, beams, ...], which the search
reorders when it picks the surviving beams, and anything else under other keys, which it passes along untouched; so
it can be tested against brute force with a toy model, and it never re-runs the encoder. The Transformer's cache
(`Transformer.init_decode_cache`) keeps its keys and values in fixed slots and, per beam, which slot holds its
history at each position: the reorder moves those indices, not the histories.

Scores follow Wu et al. 2016 as used by the paper: log P(y) / lp(|y|) with lp(n) = ((5 + n) / 6)^alpha, where |y|
counts the tokens including the final EOS; or, with length_penalty_form="length", lp(n) = n^alpha (fairseq's
--lenpen, which counts EOS too: alpha 1 ranks by the mean log-probability per token). Each sentence may produce at
most its source length + `extra_length` tokens (EOS included), and never more than the cache length.

The self-attention cache starts with room for 32 positions and doubles when the outputs reach its end
(`cache_segments`): every step attends over a history about as long as the outputs so far rather than the longest
output allowed (source + 50). On the demo model's test set that made beam search 1.5x
faster (docs/benchmarks.md).

Sentences that are done leave the computation: the loop narrows to the unfinished rows (halving the batch down to 4
rows, `_narrowing_while`), and with a mesh each device searches its own rows of the batch and stops on its own
(`translate_beam(..., mesh=)`). Neither changes a result. With them (and the slot attention's gathers, and
inference queueing the next batch) the demo's test set decodes 1.3x faster (docs/benchmarks.md).
"""

from __future__ import annotations

import functools
from typing import Callable

import jax
import jax.numpy as jnp
from jax.sharding import Mesh, PartitionSpec as P

from transformer_jax import sharding
from transformer_jax.model import Transformer, extend_decode_cache
from transformer_jax.special_ids import EOS_ID

Array = jax.Array
# A large finite negative instead of -inf keeps arithmetic on dead hypotheses free of NaN.
DEAD = -1.0e9


# "gnmt": ((5 + n) / 6)^alpha (Wu et al. 2016, the paper's); "length": n^alpha (fairseq, Marian, CTranslate2, Hugging
# Face). n counts the output's tokens, EOS included. Both grow with n for alpha >= 0, which the search's stopping
# bound relies on.
LENGTH_PENALTY_FORMS = ("gnmt", "length")


def length_penalty(length: Array, alpha: float, form: str = "gnmt") -> Array:
  if form == "gnmt":
    return ((5.0 + length) / 6.0) ** alpha
  if form == "length":
    return length ** alpha
  raise ValueError(f"length penalty form {form!r}: must be one of {LENGTH_PENALTY_FORMS}")


def _gather_beams(tree, beam_index: Array):
  """Picks beams [batch, new_beams] from every leaf shaped [batch, beams, ...]."""
  return jax.tree_util.tree_map(lambda x: jax.vmap(lambda leaf, idx: leaf[idx])(x, beam_index), tree)


def top_k_by_blocks(values: Array, k: int, block: int = 32) -> tuple[Array, Array]:
  """jax.lax.top_k(values [rows, n], k), the same values and indices (ties to the lower index), in about a third of
  the time for the beam search's rows (docs/benchmarks.md).

  The row is cut into blocks of `block`; the k best values lie in the k blocks with the best maxima (ties: lower
  block first), because every block ranked above an element's own holds a distinct element ranked above it. So one
  max per block, a top_k over the block maxima and one over k * block values replace a top_k over the whole row,
  which XLA's CPU kernel does at about 2 ns per element.
  """
  rows, n = values.shape
  blocks = -(-n // block)
  if blocks <= k:
    return jax.lax.top_k(values, k)
  # Padding sorts below every real value and after it, so it is never picked.
  padded = jnp.pad(values, ((0, 0), (0, blocks * block - n)), constant_values=-jnp.inf).reshape(rows, blocks, block)
  _, best_blocks = jax.lax.top_k(padded.max(axis=2), k)
  best_blocks = jnp.sort(best_blocks, axis=1)  # in row order, so ties still go to the lower index
  picked = jnp.take_along_axis(padded, best_blocks[:, :, None], axis=1, mode="promise_in_bounds")
  top_values, at = jax.lax.top_k(picked.reshape(rows, k * block), k)
  return top_values, jnp.take_along_axis(best_blocks, at // block, axis=1) * block + at % block


def _segmented_while(keep_going: Callable, step: Callable, state: dict, segments: tuple[int, ...],
                     extend_cache: Callable | None, loop: Callable = jax.lax.while_loop) -> dict:
  """loop(keep_going, step, state) run in segments, returning the final state without its cache: positions below
  segments[0] with the cache as given, then, once a position reaches a segment's end, the cache extended to the
  next segment's end (extend_cache(cache, length)). Each decoding step then reads a history about as long as the
  longest output so far, not the longest output allowed; most batches finish inside the first segment, and then
  the later segments, their cache extensions included, are skipped (a cond whose skip branch returns no cache, so
  it copies none; up to 7% of a call, docs/benchmarks.md)."""
  def without_cache(s):
    return {k: v for k, v in s.items() if k != "cache"}

  def run_from(s, i):
    if i:
      s = dict(s, cache=extend_cache(s["cache"], segments[i]))
    s = loop(lambda f, end=segments[i]: keep_going(f) & (f["position"] < end), step, s)
    if i + 1 == len(segments):
      return without_cache(s)
    return jax.lax.cond(keep_going(s), lambda s: run_from(s, i + 1), without_cache, s)

  return run_from(state, 0)


def cache_segments(max_length: int, first: int = 32) -> tuple[int, ...]:
  """Ends of the decoding segments: first, doubling, then max_length (one segment for short limits). A last segment
  shorter than the one before it (max_length - end < end / 2) joins that one: each segment compiles its own step
  bodies, and a few extra cache positions cost less than another compile."""
  ends = []
  while first < max_length:
    ends.append(first)
    first *= 2
  if len(ends) > 1 and max_length - ends[-1] < ends[-1] // 2:
    ends.pop()
  return tuple(ends) + (max_length,)


def front_sizes(batch: int, smallest: int = 4) -> tuple[int, ...]:
  """The row counts a search narrows to as its sentences finish: the batch, then halves down to `smallest` rows."""
  sizes = [batch]
  while sizes[-1] // 2 >= smallest:
    sizes.append(sizes[-1] // 2)
  return tuple(sizes)


def _map_rows(fn: Callable, state: dict, *others: dict) -> dict:
  """fn applied to every leaf of the state but the scalar position (all of them lead with the batch axis)."""
  rows = {k: jax.tree_util.tree_map(fn, v, *(o[k] for o in others)) for k, v in state.items() if k != "position"}
  return dict(rows, position=(others[-1] if others else state)["position"])


def _narrowing_while(cond: Callable, body: Callable, state: dict, *, row_done: Callable,
                     sizes: tuple[int, ...]) -> dict:
  """lax.while_loop(cond, body, state) on fewer rows as rows finish, with the same result.

  The loop runs on all rows until no more than sizes[1] are unfinished; then the unfinished rows are gathered into
  sizes[1] rows (filled up with finished ones) and the loop goes on there until no more than sizes[2] are, and so
  on; at the end the rows go back where they came from, innermost first. A finished row never changes again
  (row_done(state) [rows] must only ever turn true, and body must leave such rows as they are), so leaving it out
  changes nothing but the time: a batch's short sentences stop costing steps while its longest one is still
  decoding. cond must stay false once it is (it ends the whole loop: a level that stops on it still narrows, but
  runs no step, so the rows it leaves out are put back as they were). The sizes follow each other in a fixed
  order, because the count of unfinished rows only falls: a while loop choosing the size at each turn (a switch)
  made XLA copy every cache buffer at each turn, 2-14% of a call (docs/benchmarks.md).
  """
  size_after = dict(zip(sizes, sizes[1:] + (0,)))

  def run(s, size):
    next_size = size_after[size]
    s = jax.lax.while_loop(lambda f: cond(f) & ((~row_done(f)).sum() > next_size), body, s)
    if not next_size:
      return s
    rows = jnp.argsort(row_done(s).astype(jnp.int32), stable=True)[:next_size]  # the unfinished rows first
    part = run(_map_rows(lambda x: x[rows], s), next_size)
    return _map_rows(lambda x, narrowed: x.at[rows].set(narrowed, unique_indices=True), s, part)

  return run(state, sizes[0])


def _search_loop(keep_going: Callable, step: Callable, state: dict, *, row_done: Callable, narrow: bool,
                 segments: tuple[int, ...], extend_cache: Callable | None) -> dict:
  """The search's loop: segmented, and narrowed to the unfinished rows when `narrow`."""
  loop = jax.lax.while_loop
  if narrow:
    loop = functools.partial(_narrowing_while, row_done=row_done,
                             sizes=front_sizes(state["output_limits"].shape[0]))
  return _segmented_while(keep_going, step, state, segments, extend_cache, loop)


def beam_search(logits_fn: Callable, cache: dict, output_limits: Array, *, beam_size: int, alpha: float,
                max_length: int, n_best: int | None = None, eos_id: int = EOS_ID,
                segments: tuple[int, ...] | None = None, extend_cache: Callable | None = None,
                narrow: bool = True, length_penalty_form: str = "gnmt") -> tuple[Array, Array]:
  """Returns (tokens [batch, beam_size, max_length], scores [batch, beam_size]), best first.

  output_limits [batch]: the most tokens (EOS included) each sentence may produce; at that length EOS is forced.
  Finished hypotheses end with EOS and are padded with 0. A sentence is done once no live beam can beat the n_best-th
  best of its finished ones (log-probabilities only fall, and the best a live beam can reach is its current
  log-probability divided by the largest penalty it can still get: both forms grow with the length for alpha >= 0,
  so that is the penalty at the sentence's limit); the loop stops when every sentence is. Its
  first n_best hypotheses are then those of a search that ran on (n_best defaults to beam_size: all of them): asking
  for the best only stops as soon as the best is certain, and the rest of the list is what finished by then.
  segments / extend_cache: the cache covers segments[0] positions and grows at each segment's end
  (_segmented_while); default one segment, the cache as given for all max_length positions.
  narrow: leave done sentences out of the steps (_narrowing_while); every leaf of the cache must then lead with the
  batch axis. The results are the same either way.
  length_penalty_form: one of LENGTH_PENALTY_FORMS.
  """
  n_best = beam_size if n_best is None else n_best
  if not 1 <= n_best <= beam_size:
    raise ValueError(f"n_best={n_best} must be between 1 and beam_size={beam_size}")
  if alpha < 0:  # a penalty that shrinks with the length would make the stopping bound below wrong
    raise ValueError(f"alpha={alpha} must be >= 0")
  penalty = functools.partial(length_penalty, alpha=alpha, form=length_penalty_form)
  batch = output_limits.shape[0]
  # Only the first beam is alive at the start; the others would duplicate it.
  live_logprob = jnp.tile(jnp.array([0.0] + [DEAD] * (beam_size - 1)), (batch, 1))
  state = dict(
      position=jnp.array(0), cache=cache, live_logprob=live_logprob,
      output_limits=jnp.minimum(output_limits, max_length),
      last_token=jnp.full((batch, beam_size), eos_id, jnp.int32),
      live_tokens=jnp.zeros((batch, beam_size, max_length), jnp.int32),
      finished_tokens=jnp.zeros((batch, beam_size, max_length), jnp.int32),
      finished_score=jnp.full((batch, beam_size), DEAD),
  )

  def sentence_done(s):
    limits = s["output_limits"]
    best_possible = s["live_logprob"].max(axis=1) / penalty(limits.astype(jnp.float32))
    cannot_improve = best_possible < s["finished_score"][:, n_best - 1]  # finished scores are kept best first
    return cannot_improve | (s["position"] >= limits)

  def keep_going(s):
    return (s["position"] < max_length) & ~jnp.all(sentence_done(s))

  def step(s):
    position = s["position"]
    rows = s["live_logprob"].shape[0]
    logits, cache = logits_fn(s["last_token"], position, s["cache"])
    vocab = logits.shape[-1]
    logprobs = jax.nn.log_softmax(logits.astype(jnp.float32))
    at_limit = (position + 1 >= s["output_limits"])[:, None, None]
    logprobs = jnp.where(at_limit & (jnp.arange(vocab) != eos_id), DEAD, logprobs)
    candidates = (s["live_logprob"][:, :, None] + logprobs).reshape(rows, -1)
    # A done sentence's candidates are all dead: its finished hypotheses never change again.
    candidates = jnp.where(sentence_done(s)[:, None], DEAD, candidates)
    # 2k candidates guarantee k that do not end here, whatever the k EOS candidates do.
    top_logprob, top_index = top_k_by_blocks(candidates, 2 * beam_size)
    top_beam, top_token = top_index // vocab, top_index % vocab
    top_tokens = jnp.take_along_axis(s["live_tokens"], top_beam[:, :, None], axis=1)
    top_tokens = top_tokens.at[:, :, position].set(top_token)
    alive = top_logprob > DEAD / 2
    ends = (top_token == eos_id) & alive

    new_score = jnp.where(ends, top_logprob / penalty(position + 1.0), DEAD)
    pool_score = jnp.concatenate([s["finished_score"], new_score], axis=1)
    pool_tokens = jnp.concatenate([s["finished_tokens"], top_tokens], axis=1)
    finished_score, keep = jax.lax.top_k(pool_score, beam_size)
    finished_tokens = jnp.take_along_axis(pool_tokens, keep[:, :, None], axis=1)

    continuing = jnp.where(ends | ~alive, DEAD, top_logprob)
    live_logprob, keep = jax.lax.top_k(continuing, beam_size)
    source_beam = jnp.take_along_axis(top_beam, keep, axis=1)
    cache = dict(cache, per_beam=_gather_beams(cache["per_beam"], source_beam))
    return dict(
        s, position=position + 1, cache=cache, live_logprob=live_logprob,
        last_token=jnp.take_along_axis(top_token, keep, axis=1),
        live_tokens=jnp.take_along_axis(top_tokens, keep[:, :, None], axis=1),
        finished_tokens=finished_tokens, finished_score=finished_score,
    )

  state = _search_loop(keep_going, step, state, row_done=sentence_done, narrow=narrow,
                       segments=segments or (max_length,), extend_cache=extend_cache)
  return state["finished_tokens"], state["finished_score"]


def greedy_search(logits_fn: Callable, cache: dict, output_limits: Array, *, max_length: int,
                  eos_id: int = EOS_ID, segments: tuple[int, ...] | None = None,
                  extend_cache: Callable | None = None, narrow: bool = True) -> tuple[Array, Array]:
  """Returns (tokens [batch, max_length], log-probabilities [batch]); tokens end with EOS, then 0. segments,
  extend_cache and narrow as in beam_search."""
  batch = output_limits.shape[0]

  def keep_going(s):
    return (s["position"] < max_length) & ~jnp.all(s["done"])

  def step(s):
    position = s["position"]
    logits, cache = logits_fn(s["last_token"][:, None], position, s["cache"])
    logprobs = jax.nn.log_softmax(logits[:, 0].astype(jnp.float32))
    at_limit = (position + 1 >= s["output_limits"])[:, None]
    logprobs = jnp.where(at_limit & (jnp.arange(logprobs.shape[-1]) != eos_id), DEAD, logprobs)
    token = jnp.argmax(logprobs, axis=-1).astype(jnp.int32)
    token_logprob = jnp.take_along_axis(logprobs, token[:, None], axis=1)[:, 0]
    token = jnp.where(s["done"], 0, token)
    return dict(s, position=position + 1, cache=cache, last_token=token,
                tokens=s["tokens"].at[:, position].set(token),
                logprob=s["logprob"] + jnp.where(s["done"], 0.0, token_logprob),
                done=s["done"] | (token == eos_id))

  state = dict(position=jnp.array(0), cache=cache, output_limits=jnp.minimum(output_limits, max_length),
               last_token=jnp.full((batch,), eos_id, jnp.int32), tokens=jnp.zeros((batch, max_length), jnp.int32),
               logprob=jnp.zeros((batch,)), done=jnp.zeros((batch,), bool))
  state = _search_loop(keep_going, step, state, row_done=lambda s: s["done"], narrow=narrow,
                       segments=segments or (max_length,), extend_cache=extend_cache)
  return state["tokens"], state["logprob"]


def decode_length(source_length: int, extra_length: int, max_decode_length: int) -> int:
  """The most tokens (EOS included) an output may have after a source this long: the static cache length for sources
  padded to source_length, and each sentence's own limit (export.DecodingSettings.output_limit)."""
  return min(source_length + extra_length, max_decode_length)


def _model_search_inputs(model: Transformer, params, source: Array, num_beams: int, extra_length: int,
                         max_decode_length: int) -> dict:
  """Encodes source [batch, length] once and returns beam_search/greedy_search's arguments for the model. The
  source's padding mask travels in the cache, so that narrowing the batch narrows it too."""
  max_length = decode_length(source.shape[1], extra_length, max_decode_length)
  variables = {"params": params}
  source_valid = source > 0
  encoded = model.apply(variables, source, method=Transformer.encode)
  segments = cache_segments(max_length)
  cache = model.apply(variables, encoded, num_beams, segments[0], method=Transformer.init_decode_cache)

  def logits_fn(tokens, position, cache):
    logits, new_cache = model.apply(variables, tokens, position, cache, cache["source_valid"],
                                    method=Transformer.decode_step)
    return logits, dict(new_cache, source_valid=cache["source_valid"])

  return dict(logits_fn=logits_fn, cache=dict(cache, source_valid=source_valid),
              output_limits=source_valid.sum(axis=1) + extra_length, max_length=max_length, segments=segments,
              extend_cache=extend_decode_cache)


def _per_device(search: Callable, mesh: Mesh | None) -> Callable:
  """search(params, source) as one independent search per device's rows of the batch, when a mesh is given: no
  device waits at every step for the others to agree on stopping, and each narrows its own rows."""
  if mesh is None:
    return search
  rows = P(sharding.BATCH_AXES)
  return jax.shard_map(search, mesh=mesh, in_specs=(P(), rows), out_specs=rows, check_vma=False)


@functools.partial(jax.jit, static_argnames=("model", "beam_size", "alpha", "extra_length", "max_decode_length",
                                             "n_best", "mesh", "length_penalty_form"))
def translate_beam(model: Transformer, params, source: Array, *, beam_size: int = 4, alpha: float = 0.6,
                   extra_length: int = 50, max_decode_length: int = 256, n_best: int | None = None,
                   mesh: Mesh | None = None, length_penalty_form: str = "gnmt") -> tuple[Array, Array]:
  """Beam-search translations of source [batch, length] (0 = padding): the n_best (default beam_size) best,
  (tokens [batch, n_best, T], scores [batch, n_best]); the search stops once these are certain (beam_search).
  mesh: search each device's rows of the batch (split over sharding.BATCH_AXES) on its own. length_penalty_form:
  one of LENGTH_PENALTY_FORMS."""
  def search(params, source):
    tokens, scores = beam_search(
        **_model_search_inputs(model, params, source, beam_size, extra_length, max_decode_length),
        beam_size=beam_size, alpha=alpha, n_best=n_best, length_penalty_form=length_penalty_form)
    return tokens[:, :n_best], scores[:, :n_best]  # n_best None: all beam_size
  return _per_device(search, mesh)(params, source)


@functools.partial(jax.jit, static_argnames=("model", "extra_length", "max_decode_length", "mesh"))
def translate_greedy(model: Transformer, params, source: Array, *, extra_length: int = 50,
                     max_decode_length: int = 256, mesh: Mesh | None = None) -> tuple[Array, Array]:
  """Greedy translations of source [batch, length]: (tokens [batch, T], log-probabilities [batch]). mesh as in
  translate_beam."""
  def search(params, source):
    return greedy_search(**_model_search_inputs(model, params, source, 1, extra_length, max_decode_length))
  return _per_device(search, mesh)(params, source)
