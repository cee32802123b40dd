"""Token-budget bucketed batching: budget, shapes, determinism by step, process shards, filtering."""

import numpy as np

from transformer_jax import tokenizer as tokenizer_lib
from transformer_jax.data import batching

BUCKETS = (8, 16, 32)


def packed_batch_reference(sources: list[list[int]], targets: list[list[int]], rows: list[list[int]], num_rows: int,
                           length: int) -> dict:
  """batching.assemble_batch written row by row: [num_rows, length] arrays; the pairs of a row are segments 1, 2,
  ... with positions restarting at 0."""
  batch = {k: np.zeros((num_rows, length), np.int32) for k in (
      "source", "source_segments", "source_positions", "decoder_inputs", "targets", "target_segments",
      "target_positions")}
  for row, members in enumerate(rows):
    source_at = target_at = 0
    for segment, i in enumerate(members, start=1):
      source, target = sources[i], targets[i]
      s, t = slice(source_at, source_at + len(source)), slice(target_at, target_at + len(target))
      batch["source"][row, s] = source
      batch["source_segments"][row, s] = segment
      batch["source_positions"][row, s] = np.arange(len(source))
      batch["targets"][row, t] = target
      batch["target_segments"][row, t] = segment
      batch["target_positions"][row, t] = np.arange(len(target))
      batch["decoder_inputs"][row, target_at] = tokenizer_lib.EOS_ID
      batch["decoder_inputs"][row, target_at + 1:target_at + len(target)] = target[:len(target) - 1]
      source_at += len(source)
      target_at += len(target)
  return batch


def corpus(n=500, seed=0):
  rng = np.random.default_rng(seed)
  sources = [list(rng.integers(3, 50, size=rng.integers(1, 30))) + [1] for _ in range(n)]
  targets = [list(rng.integers(3, 50, size=rng.integers(1, 30))) + [1] for _ in range(n)]
  return sources, targets


def batcher(**kwargs):
  sources, targets = corpus()
  args = dict(bucket_lengths=BUCKETS, tokens_per_batch=256, seed=3)
  args.update(kwargs)
  return batching.BucketedBatcher(sources, targets, **args)


def test_budget_and_shapes():
  b = batcher()
  shapes = set()
  for step in range(b.batches_per_epoch):
    batch = b.batch_at(step)
    rows, length = batch["source"].shape
    shapes.add((rows, length))
    assert rows * length <= 256 and length in BUCKETS
    # Every real pair fits its bucket: nothing is cut off.
    assert batch["targets"][:, -1].max() in (0, 1)
  assert len(shapes) <= len(BUCKETS)


def test_one_epoch_covers_every_pair_once():
  b = batcher()
  sources, _ = corpus()
  seen = []
  for step in range(b.batches_per_epoch):
    batch = b.batch_at(step)
    for row in batch["source"]:
      if row.any():
        seen.append(tuple(row[row > 0]))
  assert sorted(seen) == sorted(tuple(s) for s in sources)


def test_batch_is_a_function_of_seed_and_step():
  a, b = batcher(), batcher()
  for step in [5, 0, 123, 5, 7 * a.batches_per_epoch + 2]:  # any order: no iterator state
    for key, value in a.batch_at(step).items():
      np.testing.assert_array_equal(value, b.batch_at(step)[key])
  assert not np.array_equal(a.batch_at(0)["source"], batcher(seed=4).batch_at(0)["source"])
  # Epochs differ in order.
  assert not np.array_equal(a.batch_at(0)["source"], a.batch_at(a.batches_per_epoch)["source"])


def test_process_shards_are_disjoint_and_cover_the_global_batch():
  whole = batcher(row_multiple=2)
  halves = [batcher(row_multiple=2, process_index=i, process_count=2) for i in range(2)]
  for step in range(10):
    full = whole.batch_at(step)["source"]
    parts = [h.batch_at(step)["source"] for h in halves]
    np.testing.assert_array_equal(np.concatenate(parts), full)


def test_decoder_inputs_are_targets_shifted_right_after_eos():
  batch = batching.make_batch([[5, 6, 1]], [[7, 8, 9, 1]], rows=2, length=6)
  np.testing.assert_array_equal(batch["decoder_inputs"][0], [1, 7, 8, 9, 0, 0])
  np.testing.assert_array_equal(batch["target_segments"][0], [1, 1, 1, 1, 0, 0])
  assert not batch["source_segments"][1].any()


def test_filter_counts_every_dropped_pair():
  sources = [[5, 1], [1], [5] * 10 + [1], [6, 1]]
  targets = [[7, 1], [7, 1], [7, 1], [8] * 20 + [1]]
  kept_s, kept_t, counts = batching.filter_pairs(sources, targets, max_source_length=8, max_target_length=8)
  assert kept_s == [[5, 1]] and kept_t == [[7, 1]]
  assert (counts.kept, counts.empty, counts.too_long) == (1, 1, 2)


# ---- Packing ----

def test_packed_rows_fit_and_cover_every_pair_once():
  sources, targets = corpus()
  packer = batching.PackedBatcher(sources, targets, length=32, tokens_per_batch=256, seed=1)
  seen = []
  for step in range(packer.batches_per_epoch):
    batch = packer.batch_at(step)
    assert batch["source"].shape == (8, 32)
    for row in range(8):
      for segment in range(1, batch["source_segments"][row].max() + 1):
        source = batch["source"][row][batch["source_segments"][row] == segment]
        target = batch["targets"][row][batch["target_segments"][row] == segment]
        positions = batch["target_positions"][row][batch["target_segments"][row] == segment]
        np.testing.assert_array_equal(positions, np.arange(len(target)))
        seen.append((tuple(source), tuple(target)))
  assert sorted(seen) == sorted((tuple(s), tuple(t)) for s, t in zip(sources, targets))


def test_packed_batches_are_a_function_of_seed_and_step():
  sources, targets = corpus()
  make = lambda: batching.PackedBatcher(sources, targets, length=32, tokens_per_batch=256, seed=1)
  a, b = make(), make()
  far = 3 * a.batches_per_epoch + 1
  np.testing.assert_array_equal(a.batch_at(far)["targets"], b.batch_at(far)["targets"])
  np.testing.assert_array_equal(a.batch_at(2)["targets"], make().batch_at(2)["targets"])


def test_packed_segments_never_attend_to_each_other():
  """Through the model's masks: logits of pairs packed in one row equal their logits when run alone."""
  import jax

  from transformer_jax.model import ModelConfig, Transformer

  cfg = ModelConfig(vocab_size=50, num_layers=2, d_model=16, d_ff=32, num_heads=2, d_k=8, d_v=8, max_position=32)
  model = Transformer(cfg)
  sources = [[5, 6, 7, 1], [8, 9, 1], [10, 11, 12, 13, 1]]
  targets = [[20, 21, 1], [22, 23, 24, 25, 1], [26, 1]]
  packed = packed_batch_reference(sources, targets, [[0, 1, 2]], num_rows=1, length=16)
  run = lambda b: np.asarray(model.apply(
      {"params": params}, b["source"], b["decoder_inputs"], b["targets"], source_segments=b["source_segments"],
      target_segments=b["target_segments"], source_positions=b["source_positions"],
      target_positions=b["target_positions"]))
  params = model.init(jax.random.PRNGKey(0), packed["source"], packed["decoder_inputs"], packed["targets"])["params"]
  packed_logits = run(packed)[0]
  for segment, (source, target) in enumerate(zip(sources, targets), start=1):
    alone = run(batching.make_batch([source], [target], rows=1, length=8))[0, :len(target)]
    np.testing.assert_allclose(packed_logits[packed["target_segments"][0] == segment], alone, rtol=1e-4, atol=1e-4)


def test_vectorized_assembly_equals_the_row_by_row_reference():
  sources, targets = corpus(n=60, seed=2)
  rng = np.random.default_rng(0)
  order = rng.permutation(60)
  packed_rows = batching.pack_rows([len(s) for s in sources], [len(t) for t in targets], order, 64)[:7]
  flat_sources, flat_targets = batching._as_flat(sources), batching._as_flat(targets)
  got = batching.assemble_batch(flat_sources, flat_targets, packed_rows, num_rows=9, length=64)
  want = packed_batch_reference(sources, targets, packed_rows, num_rows=9, length=64)
  assert got.keys() == want.keys()
  for key in want:
    np.testing.assert_array_equal(got[key], want[key], err_msg=key)
  # Bucketed: one pair per row, rows beyond the pairs all padding.
  b = batcher()
  sources, targets = corpus()
  partial = next(k for k, (length, members) in enumerate(b._epoch_plan(0)) if len(members) < b.rows[length])
  for step in (0, partial):
    length, members = b._epoch_plan(0)[step]
    got = b.batch_at(step)
    want = batching.make_batch([sources[i] for i in members], [targets[i] for i in members], b.rows[length], length)
    for key in want:
      np.testing.assert_array_equal(got[key], want[key], err_msg=key)


# ---- Batches sized in real tokens, over fitted buckets ----

def wmt_like(n=3000, seed=0):
  """Pairs whose lengths follow the benchmark's WMT-like distribution, capped at 64 tokens a side."""
  from benchmarks.common import wmt_like_pair_lengths

  source_lengths, target_lengths = wmt_like_pair_lengths(np.random.default_rng(seed), n)
  keep = (source_lengths <= 64) & (target_lengths <= 64)
  rng = np.random.default_rng(seed + 1)
  make = lambda lengths: [list(rng.integers(3, 50, size=n - 1)) + [1] for n in lengths[keep]]
  return make(source_lengths), make(target_lengths)


def test_fitted_bucket_lengths_are_the_brute_force_optimum():
  import itertools

  rng = np.random.default_rng(0)
  pair_lengths = rng.integers(2, 41, size=300)
  candidates = [c for c in range(4, 41, 4)]
  padded = lambda lengths: sum(min(b for b in lengths if b >= x) for x in pair_lengths)
  for count in (1, 2, 3, 4):
    best = min((subset + (40,) for k in range(count) for subset in itertools.combinations(candidates[:-1], k)),
               key=padded)
    fitted = batching.fit_bucket_lengths(pair_lengths, count, longest=40)
    assert len(fitted) <= count and fitted[-1] == 40
    assert padded(fitted) == padded(best), (count, fitted, best)


def test_real_token_batches_hold_the_budget_on_both_sides():
  sources, targets = wmt_like()
  b = batching.BucketedBatcher(sources, targets, bucket_lengths=(8, 16, 32, 64), tokens_per_batch=10 ** 9, seed=1,
                               real_tokens_per_batch=2000, bucket_count=6, row_multiple=4)
  assert len(b.shapes()) <= 6 and max(b.bucket_lengths) <= 64
  real = []
  for step in range(b.batches_per_epoch):
    batch = b.batch_at(step)
    rows, length = batch["source"].shape
    assert rows % 4 == 0 and length in b.bucket_lengths
    assert not (batch["source_segments"] == 0).all(axis=1).any()  # every row holds a pair: full last batches
    real.append(((batch["source_segments"] > 0).sum() + (batch["target_segments"] > 0).sum()) / 2)
  assert abs(np.mean(real) - 2000) < 0.05 * 2000, np.mean(real)
  assert 0.7 * 2000 < min(real) and max(real) < 1.3 * 2000, (min(real), max(real))
  # Each pair is in an epoch (the pairs repeated to fill a bucket's last batch come from the same epoch).
  seen = {tuple(s) for step in range(b.batches_per_epoch) for s, seg in zip(b.batch_at(step)["source"],
                                                                           b.batch_at(step)["source_segments"])
          for s in [s[seg > 0]]}
  assert seen == {tuple(s) for s in sources}


def test_real_token_batches_are_a_function_of_seed_and_step_and_split_by_process():
  sources, targets = wmt_like(n=1500)
  args = dict(bucket_lengths=(64,), tokens_per_batch=0, seed=2, real_tokens_per_batch=1500, bucket_count=5,
              row_multiple=2)
  whole = batching.BucketedBatcher(sources, targets, **args)
  halves = [batching.BucketedBatcher(sources, targets, process_index=i, process_count=2, **args) for i in (0, 1)]
  for step in (3, 0, 2 * whole.batches_per_epoch + 1, 3):
    again = batching.BucketedBatcher(sources, targets, **args).batch_at(step)
    full = whole.batch_at(step)
    for key in full:
      np.testing.assert_array_equal(full[key], again[key])
      np.testing.assert_array_equal(np.concatenate([h.batch_at(step)[key] for h in halves]), full[key])


def test_packed_rows_sized_in_real_tokens_hold_the_budget():
  sources, targets = wmt_like(n=4000, seed=3)
  packer = batching.PackedBatcher(sources, targets, length=64, tokens_per_batch=0, seed=1, row_multiple=4,
                                  real_tokens_per_batch=3000)
  assert packer.rows % 4 == 0
  real = [((b["source_segments"] > 0).sum() + (b["target_segments"] > 0).sum()) / 2
          for b in map(packer.batch_at, range(packer.batches_per_epoch))]
  assert abs(np.mean(real) - 3000) < 0.05 * 3000, np.mean(real)
  assert min(real) > 0.9 * 3000, min(real)  # the epoch's last batch is filled up too


def first_fit_reference(source_lengths, target_lengths, order, length, open_rows):
  """First fit over the `open_rows` most recently opened rows, written as a scan over every row so far."""
  rows, used = [], []
  for i in order:
    for r in range(max(0, len(rows) - open_rows), len(rows)):
      if used[r][0] + source_lengths[i] <= length and used[r][1] + target_lengths[i] <= length:
        rows[r].append(i)
        used[r] = (used[r][0] + source_lengths[i], used[r][1] + target_lengths[i])
        break
    else:
      rows.append([i])
      used.append((source_lengths[i], target_lengths[i]))
  return rows


def next_fit_reference(source_lengths, target_lengths, order, length):
  """Next fit: a row closes at the first pair that does not fit it."""
  rows = [[]]
  for i in order:
    row = rows[-1]
    if row and (sum(source_lengths[j] for j in row) + source_lengths[i] > length or
                sum(target_lengths[j] for j in row) + target_lengths[i] > length):
      rows.append([])
    rows[-1].append(i)
  return rows


def test_first_fit_packing_equals_the_reference_and_next_fit_with_one_open_row():
  rng = np.random.default_rng(4)
  source_lengths, target_lengths = rng.integers(1, 30, 400), rng.integers(1, 30, 400)
  order = rng.permutation(400)
  assert batching.pack_rows(source_lengths, target_lengths, order, 40) == next_fit_reference(
      source_lengths, target_lengths, order, 40)
  for open_rows in (1, 2, 3, 8):
    assert batching.pack_rows(source_lengths, target_lengths, order, 40, open_rows) == first_fit_reference(
        source_lengths, target_lengths, order, 40, open_rows)


def test_first_fit_packing_keeps_both_sides_under_ten_percent_padding():
  """On WMT-like lengths, rows of 256 filled 8 at a time (the paper configs): padding <= 10% on each side, where
  next fit leaves more than 10% on the shorter (source) side."""
  sources, targets = wmt_like(n=20000, seed=5)
  padding = {}
  for open_rows in (1, 8):
    packer = batching.PackedBatcher(sources, targets, length=256, tokens_per_batch=0, seed=1, open_rows=open_rows,
                                    real_tokens_per_batch=25_000)
    batches = [packer.batch_at(step) for step in range(packer.batches_per_epoch)]
    padding[open_rows] = [1 - np.mean([(b[f"{side}_segments"] > 0).mean() for b in batches])
                          for side in ("source", "target")]
  assert padding[1][0] > 0.10, padding
  assert max(padding[8]) <= 0.10, padding


def test_epoch_row_counts_are_remembered_so_a_resume_packs_only_its_own_epoch(tmp_path, monkeypatch):
  sources, targets = corpus()
  cache = str(tmp_path / "packed_epoch_rows.json")
  make = lambda seed=1, **kwargs: batching.PackedBatcher(sources, targets, length=32, tokens_per_batch=256, seed=seed,
                                                         open_rows=4, **kwargs)
  uncached = make()
  far = 4 * uncached.batches_per_epoch + 2  # in epoch 4 or later: epochs pack into different numbers of rows
  want = uncached.batch_at(far)
  make(epoch_rows_cache=cache).batch_at(far)  # the first run writes the counts of the epochs it passes

  packed = []
  real_pack_rows = batching.pack_rows
  monkeypatch.setattr(batching, "pack_rows", lambda *a, **k: packed.append(1) or real_pack_rows(*a, **k))
  resumed = make(epoch_rows_cache=cache)
  got = resumed.batch_at(far)
  assert len(packed) == 1  # the epoch holding step `far`, not the ones before it
  for key in want:
    np.testing.assert_array_equal(got[key], want[key])
  # Another seed packs differently: it does not take the first run's counts.
  packed.clear()
  other = make(seed=2, epoch_rows_cache=cache).batch_at(far)
  np.testing.assert_array_equal(other["targets"], make(seed=2).batch_at(far)["targets"])
  assert len(packed) > 1
  # An unreadable file is only a cache: the batches are the same.
  (tmp_path / "packed_epoch_rows.json").write_text("{not json")
  np.testing.assert_array_equal(make(epoch_rows_cache=cache).batch_at(far)["targets"], want["targets"])


def test_a_stale_epoch_row_count_is_caught_and_an_unwritable_cache_is_skipped(tmp_path):
  import json

  import pytest

  from transformer_jax.errors import DataError
  sources, targets = corpus()
  cache = tmp_path / "packed_epoch_rows.json"
  make = lambda path: batching.PackedBatcher(sources, targets, length=32, tokens_per_batch=256, seed=1, open_rows=4,
                                             epoch_rows_cache=str(path))
  want = make(tmp_path / "elsewhere.json").batch_at(5)
  make(cache).batch_at(5)
  (key, counts), = json.loads(cache.read_text()).items()
  cache.write_text(json.dumps({key: [counts[0] + 1]}))  # a count the packing no longer gives
  with pytest.raises(DataError, match="stale"):
    make(cache).batch_at(5)
  # A cache path nothing can be written to (its "directory" is a file, which stops root too): the batches are the
  # same, without the cache.
  not_a_directory = tmp_path / "not_a_directory"
  not_a_directory.write_text("")
  got = make(not_a_directory / "packed_epoch_rows.json").batch_at(5)
  np.testing.assert_array_equal(got["targets"], want["targets"])
