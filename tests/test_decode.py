"""Beam search against exhaustive search, greedy against beam 1, and decoding of padded batches."""

import dataclasses
import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from transformer_jax import decode, sharding
from transformer_jax.model import ModelConfig, Transformer

EOS = 1


def toy_logits_fn(table):
  """A language model whose next-token logits depend on (position, previous token): table [T, V, V]."""
  table = jnp.asarray(table)

  def logits_fn(tokens, position, cache):
    return table[position][tokens], cache

  return logits_fn


def penalty(length, alpha, form):
  """The length penalty as the papers write it: Wu et al. 2016 ("gnmt"), or length^alpha ("length", fairseq's
  (step + 1)**lenpen: the length counts EOS)."""
  return ((5 + length) / 6) ** alpha if form == "gnmt" else length ** alpha


def brute_force(table, limit, alpha, form="gnmt"):
  """All sequences of at most `limit` tokens that end in EOS (and only there), with their normalised scores."""
  logprobs = np.asarray(jax.nn.log_softmax(jnp.asarray(table), axis=-1))
  vocab = table.shape[-1]
  non_eos = [t for t in range(vocab) if t != EOS]
  results = []
  for length in range(1, limit + 1):
    for prefix in itertools.product(non_eos, repeat=length - 1):
      sequence = list(prefix) + [EOS]
      previous, total = EOS, 0.0
      for position, token in enumerate(sequence):
        total += logprobs[position, previous, token]
        previous = token
      results.append((total / penalty(length, alpha, form), sequence))
  return sorted(results, key=lambda r: -r[0])


ROW_BEAM, ROW_ALPHA = 27, 0.6  # beam 27 keeps every live prefix of 3 non-EOS tokens up to 3 tokens long


def search_rows_with_own_models(seed: int, n_best: int | None = None, form: str = "gnmt"):
  """16 sentences, each with its own toy model (4 tokens, 4 positions) and output limit, beam-searched as one batch:
  (tables, limits, tokens, scores)."""
  rows, vocab = 16, 4
  rng = np.random.default_rng(seed)
  limits = rng.integers(1, 5, size=rows)
  tables = rng.normal(scale=2.0, size=(rows, 4, vocab, vocab)).astype(np.float32)

  def logits_fn(tokens, position, cache):  # row b's next-token logits come from its own table
    return cache["shared"][jnp.arange(tokens.shape[0])[:, None], position, tokens], cache

  tokens, scores = decode.beam_search(logits_fn, {"per_beam": {}, "shared": jnp.asarray(tables)},
                                      jnp.asarray(limits), beam_size=ROW_BEAM, alpha=ROW_ALPHA, max_length=4,
                                      n_best=n_best, length_penalty_form=form)
  return tables, limits, np.asarray(tokens), np.asarray(scores)


def assert_exhaustive_best(tables, limits, tokens, scores, count: int, form: str = "gnmt") -> None:
  """Each row's first `count` hypotheses and scores are the exhaustive search's best for its own model."""
  for row in range(len(tables)):
    expected = brute_force(tables[row], int(limits[row]), ROW_ALPHA, form)
    for rank, (expected_score, expected_sequence) in enumerate(expected[:count]):
      assert scores[row, rank] == pytest.approx(expected_score, rel=1e-5, abs=1e-5), (row, rank)
      if rank == 0 or abs(expected[rank][0] - expected[rank - 1][0]) > 1e-5:
        got = [int(t) for t in tokens[row, rank, :len(expected_sequence)]]
        assert got == expected_sequence, (row, rank, got, expected_sequence)


@pytest.mark.parametrize("form,alpha", [("gnmt", 0.0), ("gnmt", 0.6), ("gnmt", 1.5), ("length", 0.6),
                                        ("length", 1.0), ("length", 1.5)])
def test_beam_search_equals_exhaustive_search(form, alpha):
  """Either length penalty: "gnmt" (the paper's) or "length" (log P / length^alpha, fairseq's --lenpen)."""
  vocab, limit = 4, 4  # 3 non-EOS tokens: 27 live prefixes at most, so beam 27 keeps every one of them
  rng = np.random.default_rng(int(alpha * 10))
  tables = rng.normal(scale=2.0, size=(2, limit, vocab, vocab)).astype(np.float32)
  beam = 27
  for batch_row in range(2):
    table = tables[batch_row]
    expected = brute_force(table, limit, alpha, form)
    tokens, scores = decode.beam_search(toy_logits_fn(table), {"per_beam": {}, "shared": None},
                                        jnp.array([limit]), beam_size=beam, alpha=alpha, max_length=limit,
                                        length_penalty_form=form)
    tokens, scores = np.asarray(tokens[0]), np.asarray(scores[0])
    for rank in range(beam):
      expected_score, expected_sequence = expected[rank]
      got = [int(t) for t in tokens[rank][:len(expected_sequence)]]
      assert scores[rank] == pytest.approx(expected_score, rel=1e-5, abs=1e-5)
      if rank == 0 or abs(expected[rank][0] - expected[rank - 1][0]) > 1e-5:
        assert got == expected_sequence, (rank, got, expected_sequence)


@pytest.mark.parametrize("n_best", [1, 3])
def test_asking_for_fewer_hypotheses_stops_sooner_with_the_same_best_ones(n_best):
  """A search asked for its n_best best stops once those are certain: they are still the exhaustive search's best,
  for 16 sentences with their own models and limits; and where the first hypothesis to finish is already certain to
  be the best (EOS far likelier than anything else), asking for one stops right there, with nothing else finished."""
  assert_exhaustive_best(*search_rows_with_own_models(seed=12, n_best=n_best), count=n_best)

  eager = np.zeros((6, 4, 4), np.float32)  # 6 positions, 4 tokens
  eager[:, :, EOS] = 12.0
  _, scores = decode.beam_search(toy_logits_fn(eager), {"per_beam": {}, "shared": None}, jnp.array([6]),
                                 beam_size=4, alpha=ROW_ALPHA, max_length=6, n_best=n_best)
  finished = int((np.asarray(scores[0]) > decode.DEAD / 2).sum())
  # One step finishes only the hypothesis [EOS]; the next 3 best need a second step.
  assert finished == (1 if n_best == 1 else 4)

  # The bound must divide by the penalty of the longest output allowed: at alpha 1.5, [EOS] (log-probability -1)
  # finishes first, and the beam at -1.5 still beats it by going on to 4 tokens (-1.5 / lp(4) = -0.82).
  late = np.zeros((4, 4, 4), np.float32)
  late[0, EOS] = np.log([0.2045, np.exp(-1.0), np.exp(-1.5), 0.2045])
  late[1:3, :, 2] = 20.0  # then token 2, almost surely
  late[3, :, EOS] = 20.0
  alpha = 1.5
  expected_score, expected_sequence = brute_force(late, 4, alpha)[0]
  assert len(expected_sequence) == 4
  tokens, scores = decode.beam_search(toy_logits_fn(late), {"per_beam": {}, "shared": None}, jnp.array([4]),
                                      beam_size=4, alpha=alpha, max_length=4, n_best=n_best)
  assert [int(t) for t in tokens[0, 0]] == expected_sequence
  assert float(scores[0, 0]) == pytest.approx(expected_score, rel=1e-5)


@pytest.mark.parametrize("n_best", [1, 3])
def test_length_normalised_search_stops_only_when_the_best_is_certain(n_best):
  """length_penalty_form="length" at alpha 1 (fairseq's --lenpen 1): 16 sentences with their own models and limits
  get the exhaustive search's best; and the stopping bound divides by the limit's length^alpha, not by the GNMT
  penalty nor by the next position's: [EOS] (log-probability -0.51) finishes first, and the beam at -1.2 still beats
  it by going on to 4 tokens (-1.2 / 4 = -0.3), which ((5 + 4) / 6)^1 (-0.8) or 2^1 (-0.6) would have ruled out."""
  assert_exhaustive_best(*search_rows_with_own_models(seed=13, n_best=n_best, form="length"), count=n_best,
                         form="length")

  late = np.zeros((4, 4, 4), np.float32)
  late[0, EOS] = np.log([0.05, 0.6, 0.3, 0.05])
  late[1:3, :, 2] = 20.0  # then token 2, almost surely
  late[3, :, EOS] = 20.0
  expected_score, expected_sequence = brute_force(late, 4, 1.0, "length")[0]
  assert expected_sequence == [2, 2, 2, EOS]
  tokens, scores = decode.beam_search(toy_logits_fn(late), {"per_beam": {}, "shared": None}, jnp.array([4]),
                                      beam_size=4, alpha=1.0, max_length=4, n_best=n_best,
                                      length_penalty_form="length")
  assert [int(t) for t in tokens[0, 0]] == expected_sequence
  assert float(scores[0, 0]) == pytest.approx(expected_score, rel=1e-5)


def test_negative_alpha_is_refused():
  """A penalty that shrinks with the length would break the stopping bound (the largest penalty is at the limit)."""
  with pytest.raises(ValueError, match="alpha"):
    decode.beam_search(toy_logits_fn(np.zeros((2, 3, 3), np.float32)), {"per_beam": {}, "shared": None},
                       jnp.array([2]), beam_size=2, alpha=-0.5, max_length=2, length_penalty_form="length")


def test_small_beam_best_is_exhaustive_on_peaked_model():
  """With a peaked model, beam 4 finds the exhaustive optimum too (and its score)."""
  vocab, limit = 5, 5
  rng = np.random.default_rng(7)
  table = rng.normal(scale=4.0, size=(limit, vocab, vocab)).astype(np.float32)
  expected_score, expected_sequence = brute_force(table, limit, 0.6)[0]
  tokens, scores = decode.beam_search(toy_logits_fn(table), {"per_beam": {}, "shared": None}, jnp.array([limit]),
                                      beam_size=4, alpha=0.6, max_length=limit)
  assert float(scores[0, 0]) == pytest.approx(expected_score, rel=1e-5)
  assert [int(t) for t in tokens[0, 0, :len(expected_sequence)]] == expected_sequence


@pytest.mark.parametrize("n", [4800, 4801, 1000, 70])
def test_top_k_by_blocks_picks_what_a_full_sort_picks(n):
  """Against a stable sort of each row (value descending, then index ascending), with many ties: small integers,
  whole rows of one value, a row length that is not a multiple of the block, and rows too short for blocks."""
  rng = np.random.default_rng(n)
  k = 8
  values = rng.integers(-6, 6, (24, n)).astype(np.float32)
  values[::5] = decode.DEAD
  values[1::7, -3:] = 100.0  # the best values in the last, partial block
  top_values, top_index = decode.top_k_by_blocks(jnp.asarray(values), k)
  for row, row_values in enumerate(values):
    order = np.lexsort((np.arange(n), -row_values))[:k]
    np.testing.assert_array_equal(np.asarray(top_index[row]), order)
    np.testing.assert_array_equal(np.asarray(top_values[row]), row_values[order])


def test_output_never_exceeds_its_limit():
  vocab, max_length = 6, 9
  table = np.zeros((max_length, vocab, vocab), np.float32)
  table[:, :, EOS] = -30.0  # the model never wants to stop: only the limit ends each hypothesis
  limits = jnp.array([3, 7])
  tokens, _ = decode.beam_search(toy_logits_fn(table), {"per_beam": {}, "shared": None}, limits, beam_size=2,
                                 alpha=0.6, max_length=max_length)
  tokens = np.asarray(tokens)
  for row, limit in enumerate([3, 7]):
    for hypothesis in tokens[row]:
      eos_at = list(hypothesis).index(EOS)
      assert eos_at == limit - 1 and not hypothesis[eos_at + 1:].any()


def test_rows_that_finish_early_leave_the_batch_without_changing_any_result():
  """16 sentences with their own models and limits: they finish at different steps, so the search narrows to the
  unfinished ones (decode.front_sizes: 16, 8, 4 rows) and sorts them; each still gets the exhaustive search's
  hypotheses for its own model, in its own row."""
  assert decode.front_sizes(16) == (16, 8, 4)
  tables, limits, tokens, scores = search_rows_with_own_models(seed=11)
  assert_exhaustive_best(tables, limits, tokens, scores, count=ROW_BEAM)
  for row in range(len(tables)):  # fewer hypotheses exist than the beam holds
    assert (scores[row, len(brute_force(tables[row], int(limits[row]), ROW_ALPHA)):] == decode.DEAD).all()


# ---- With the real model ----

CFG = ModelConfig(vocab_size=30, num_layers=2, d_model=16, d_ff=32, num_heads=2, d_k=8, d_v=8, max_position=64)
MODEL = Transformer(CFG)
PRE_NORM_MODEL = Transformer(dataclasses.replace(CFG, norm_position="pre"))
SOURCES = [[5, 6, 7, 8, 9, 10, 1], [11, 12, 1], [13, 14, 15, 16, 1]]


def padded(sources, length):
  out = np.zeros((len(sources), length), np.int32)
  for row, s in enumerate(sources):
    out[row, :len(s)] = s
  return out


def scaled_params(model):
  source = padded(SOURCES, 8)
  # Scale the weights up so the random model is confident and its outputs vary by source.
  params = model.init(jax.random.PRNGKey(3), source, source, source)["params"]
  return jax.tree_util.tree_map(lambda p: p * 3.0, params)


@pytest.fixture(scope="module")
def params():
  return scaled_params(MODEL)


@pytest.fixture(scope="module")
def pre_norm_params():
  return scaled_params(PRE_NORM_MODEL)


def test_beam_one_equals_greedy(params):
  source = padded(SOURCES, 8)
  greedy_tokens, greedy_logprob = decode.translate_greedy(MODEL, params, source, extra_length=6)
  beam_tokens, beam_scores = decode.translate_beam(MODEL, params, source, beam_size=1, alpha=0.0, extra_length=6)
  np.testing.assert_array_equal(np.asarray(beam_tokens[:, 0]), np.asarray(greedy_tokens))
  np.testing.assert_allclose(np.asarray(beam_scores[:, 0]), np.asarray(greedy_logprob), rtol=1e-5)


def many_sources(count, seed=5):
  rng = np.random.default_rng(seed)
  return [list(rng.integers(2, CFG.vocab_size, size=rng.integers(1, 11))) + [EOS] for _ in range(count)]


@pytest.mark.parametrize("beam_size", [1, 3])
def test_padded_batch_decodes_like_single_sentences(params, beam_size):
  """A batch of 12 sentences (narrowed to 6 rows as they finish) gives each the hypotheses and scores it gets alone,
  padded differently."""
  sources = SOURCES + many_sources(9)
  search = functools.partial(decode.translate_beam, beam_size=beam_size) if beam_size > 1 else (
      lambda *args, **kwargs: [x[:, None] for x in decode.translate_greedy(*args, **kwargs)])
  batch_tokens, batch_scores = search(MODEL, params, padded(sources, 12), extra_length=5)
  for row, source in enumerate(sources):
    # Padded to 6 or 11, never the batch's 12 (each padded length compiles a search of its own).
    tokens, scores = search(MODEL, params, padded([source], 6 if len(source) <= 6 else 11), extra_length=5)
    length = tokens.shape[-1]
    np.testing.assert_array_equal(np.asarray(batch_tokens[row, :, :length]), np.asarray(tokens[0]))
    assert not np.asarray(batch_tokens[row, :, length:]).any()
    np.testing.assert_allclose(np.asarray(batch_scores[row]), np.asarray(scores[0]), rtol=1e-4, atol=1e-4)


def test_each_device_searching_its_own_rows_gives_every_sentence_its_own_result(params):
  """With a mesh, each of the 8 devices beam-searches its 2 rows of the batch on its own: every sentence still gets
  the hypotheses it gets decoded alone on one device."""
  mesh = sharding.make_mesh()
  sources = many_sources(2 * len(mesh.devices.flat), seed=8)
  source = jax.device_put(padded(sources, 12), sharding.batch_sharding(mesh))
  batch_tokens, batch_scores = decode.translate_beam(MODEL, params, source, beam_size=3, extra_length=5, mesh=mesh)
  assert batch_tokens.sharding.is_equivalent_to(sharding.batch_sharding(mesh), batch_tokens.ndim)
  for row, source in enumerate(sources):
    tokens, scores = decode.translate_beam(MODEL, params, padded([source], len(source)), beam_size=3, extra_length=5)
    length = tokens.shape[-1]
    np.testing.assert_array_equal(np.asarray(batch_tokens[row, :, :length]), np.asarray(tokens[0]))
    np.testing.assert_allclose(np.asarray(batch_scores[row]), np.asarray(scores[0]), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("form,norm_position", [("gnmt", "post"), ("length", "post"), ("gnmt", "pre")])
def test_scores_are_sorted_and_match_rescoring(params, pre_norm_params, form, norm_position):
  """n-best scores are in order, and each equals the model's own log-probability / length penalty: the cached
  decoding steps score as the full forward pass, under either norm_position."""
  model, params = (MODEL, params) if norm_position == "post" else (PRE_NORM_MODEL, pre_norm_params)
  source = padded(SOURCES[:1], 8)
  tokens, scores = decode.translate_beam(model, params, source, beam_size=4, alpha=0.6, extra_length=4,
                                         length_penalty_form=form)
  tokens, scores = np.asarray(tokens[0]), np.asarray(scores[0])
  assert np.all(np.diff(scores) <= 1e-6)
  for hypothesis, score in zip(tokens, scores):
    length = list(hypothesis).index(EOS) + 1
    target = hypothesis[:length][None]
    inputs = np.concatenate([[[EOS]], target[:, :-1]], axis=1)
    logits = model.apply({"params": params}, source, inputs, target)
    logprobs = np.asarray(jax.nn.log_softmax(logits[0]))
    total = sum(logprobs[i, t] for i, t in enumerate(target[0]))
    assert score == pytest.approx(total / penalty(length, 0.6, form), rel=1e-4, abs=1e-4)


def test_outputs_longer_than_the_first_cache_segment_score_as_the_full_model(params):
  """The decoding cache starts with room for 32 positions and grows (decode.cache_segments): hypotheses that run past
  it keep the scores the full forward pass gives them, and greedy search still equals beam 1."""
  source = padded(SOURCES[:2], 8)
  assert decode.cache_segments(decode.decode_length(8, 50, 256)) == (32, 58)
  # A last segment shorter than the one before it joins it: 64 -> 66 would compile step bodies for 2 positions.
  assert decode.cache_segments(66) == (32, 66) and decode.cache_segments(98) == (32, 64, 98)
  assert decode.cache_segments(20) == (20,)
  tokens, scores = decode.translate_beam(MODEL, params, source, beam_size=3, alpha=0.6, extra_length=50)
  tokens, scores = np.asarray(tokens), np.asarray(scores)
  lengths = [[list(h).index(EOS) + 1 for h in sentence] for sentence in tokens]
  assert max(max(row) for row in lengths) > 40  # past the first segment's 32 positions
  for row in range(len(tokens)):
    for hypothesis, score, length in zip(tokens[row], scores[row], lengths[row]):
      target = hypothesis[:length][None]
      inputs = np.concatenate([[[EOS]], target[:, :-1]], axis=1)
      logits = MODEL.apply({"params": params}, source[row:row + 1], inputs, target)
      logprobs = np.asarray(jax.nn.log_softmax(logits[0]))
      total = sum(logprobs[i, t] for i, t in enumerate(target[0]))
      assert score == pytest.approx(total / ((5 + length) / 6) ** 0.6, rel=1e-4, abs=1e-3)
  greedy, _ = decode.translate_greedy(MODEL, params, source, extra_length=50)
  beam_one, _ = decode.translate_beam(MODEL, params, source, beam_size=1, alpha=0.0, extra_length=50)
  np.testing.assert_array_equal(np.asarray(beam_one[:, 0]), np.asarray(greedy))
