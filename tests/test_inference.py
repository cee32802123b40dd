"""Batched text translation: order kept, same result as one sentence at a time, padding within the model's range."""

import jax
import numpy as np
import pytest

from transformer_jax import inference, tokenizer as tokenizer_lib
from transformer_jax.model import ModelConfig, Transformer

CORPUS = [f"the {a} {b} sees {n} {c}" for a in ("big", "small", "old") for b in ("dog", "cat", "man")
          for n in ("two", "three", "four") for c in ("houses", "trees", "birds")]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
  path = str(tmp_path_factory.mktemp("tok") / "sp.model")
  tokenizer = tokenizer_lib.train_tokenizer(CORPUS * 4, path, vocab_size=30)
  cfg = ModelConfig(vocab_size=30, num_layers=1, d_model=16, d_ff=32, num_heads=2, d_k=8, d_v=8, max_position=20)
  model = Transformer(cfg)
  dummy = np.ones((1, 4), np.int32)
  params = model.init(jax.random.PRNGKey(0), dummy, dummy, dummy)["params"]
  params = jax.tree_util.tree_map(lambda p: p * 3.0, params)  # a confident random model: outputs vary by input
  return model, params, tokenizer


OPTIONS = dict(beam_size=2, alpha=0.6, extra_length=2, max_decode_length=20, max_source_length=18, batch_size=4)


def test_padding_never_exceeds_the_positional_table(setup):
  """max_source_length 18 rounds up to 32 > max_position 20: padding must stop at 20, or embeddings are NaN."""
  model, params, tokenizer = setup
  results = inference.translate_n_best(model, params, tokenizer, CORPUS[:3], n_best=2, **OPTIONS)
  assert all(len(hypotheses) >= 1 for hypotheses in results)
  assert all(np.isfinite(score) for hypotheses in results for _, score in hypotheses)


def test_batched_equals_one_at_a_time_in_input_order(setup):
  model, params, tokenizer = setup
  sentences = [CORPUS[5], "the dog", CORPUS[17] + " " + CORPUS[3], CORPUS[40], "cat", CORPUS[2]]
  batched = inference.best(inference.translate_n_best(model, params, tokenizer, sentences, n_best=1, **OPTIONS))
  alone = [inference.best(inference.translate_n_best(model, params, tokenizer, [s], n_best=1, **OPTIONS))[0]
           for s in sentences]
  assert batched == alone
  assert len(set(batched)) > 1  # the check above means something only if outputs differ


def test_token_ids_encoded_once_decode_as_their_text(setup):
  model, params, tokenizer = setup
  sentences = [CORPUS[5], "the dog", CORPUS[17] + " " + CORPUS[3], CORPUS[40]]
  from_text = inference.translate_n_best(model, params, tokenizer, sentences, n_best=2, **OPTIONS)
  from_ids = inference.translate_n_best(model, params, tokenizer, tokenizer.encode_batch(sentences), n_best=2,
                                        **OPTIONS)
  assert from_ids == from_text
