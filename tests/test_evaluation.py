"""The evaluation module: token-weighted summaries, dev loss batches built once (bucketed, or packed like packed
training rows) that equal a direct evaluation, and the BLEU set's ids equal to encoding its text."""

import jax
import numpy as np
import pytest

from transformer_jax import config_base, evaluation, sharding, tokenizer as tokenizer_lib, train_step
from transformer_jax.data import input_pipeline
from transformer_jax.model import ModelConfig, Transformer

SENTENCES = [f"the {a} {b} sees {n} {c}" for a in ("big", "small", "old") for b in ("dog", "cat", "man")
             for n in ("two", "three", "four") for c in ("houses", "trees", "birds")]


def test_summarize_is_token_weighted():
  summary = evaluation.summarize({"loss_sum": 6.0, "nll_sum": 3.0, "correct_sum": 2.0, "tokens": 4.0})
  assert summary == pytest.approx({"loss": 1.5, "nll": 0.75, "perplexity": np.exp(0.75), "accuracy": 0.5})


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
  tokenizer = tokenizer_lib.train_tokenizer(SENTENCES * 4, str(tmp_path_factory.mktemp("tok") / "sp.model"),
                                            vocab_size=30)
  config = config_base.base_config()
  config.update(vocab_size=30, num_layers=1, d_model=16, d_ff=32, num_heads=2, bucket_lengths=(16, 32),
                tokens_per_batch=64, max_position=32)
  # Two short pairs among the long ones: a bucket of their own, or room beside a long pair in a packed row.
  split = input_pipeline.TextSplit(sources=SENTENCES[:20] + ["the dog", "old cat"],
                                   targets=SENTENCES[20:40] + ["two trees", "the man"])
  return tokenizer, config, split


@pytest.mark.parametrize("packed", [False, True], ids=["buckets", "packed"])
def test_dev_loss_of_prebuilt_batches_equals_the_loss_of_every_pair(setup, packed):
  tokenizer, config, split = setup
  config = config.copy_and_resolve_references()
  config.pack_training_rows = packed
  mesh = sharding.make_mesh(2)
  model = Transformer(ModelConfig.from_config(config))
  dummy = np.ones((1, 4), np.int32)
  params = model.init(jax.random.PRNGKey(0), dummy, dummy, dummy)["params"]
  eval_step = train_step.jit_eval_step(model, mesh, config.label_smoothing)
  batches = evaluation.loss_batches(split, tokenizer, config, mesh)
  assert sum(int((b["target_segments"] > 0).sum()) for b in batches.batches) == sum(
      len(ids) + 1 for ids in tokenizer.encode_batch(split.targets))  # every target token (EOS too), once
  shapes = {b["targets"].shape for b in batches.batches}
  if packed:  # several pairs a row, one shape for every batch: one compile
    assert shapes == {(2, 32)} and any(b["target_segments"].max() > 1 for b in batches.batches)
  else:
    assert len(shapes) > 1
  dev = evaluation.mean_loss(eval_step, params, batches, mesh)
  # Reference: each pair alone, on one device, summed.
  one = sharding.make_mesh(1)
  single = train_step.jit_eval_step(model, one, config.label_smoothing)
  from transformer_jax.data import batching  # pylint: disable=import-outside-toplevel
  totals = {"loss_sum": 0.0, "nll_sum": 0.0, "correct_sum": 0.0, "tokens": 0.0}
  for source, target in zip(tokenizer.encode_batch(split.sources), tokenizer.encode_batch(split.targets)):
    batch = batching.make_batch([source + [1]], [target + [1]], 1, 32)
    sums = jax.device_get(single(params, train_step.put_batch(batch, one)))
    totals = {k: totals[k] + float(sums[k]) for k in totals}
  assert dev == pytest.approx(evaluation.summarize(totals), rel=1e-5)


def test_bleu_set_holds_the_ids_of_its_sources(setup):
  tokenizer, _, split = setup
  encoded = evaluation.bleu_set(split, tokenizer, limit=5)
  assert encoded.sources == split.sources[:5] and encoded.references == split.targets[:5]
  assert [list(ids) for ids in encoded.source_ids] == [tokenizer.encode(s) for s in split.sources[:5]]
