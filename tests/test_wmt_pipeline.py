"""The real WMT14 EN-DE code path (tfds builder, vocabulary, token cache, batching, train steps, test decoding) under
tfds.testing.mock_data, and the same run on a local corpus written by the test.

The mock serves sentences of the embedded grammar under wmt14_translate's own feature names, German and English, so
the direction is checkable: EN->DE must put the English side in the source.
"""

import json
import os

import pytest
import sacrebleu
import tensorflow as tf
import tensorflow_datasets as tfds

from configs import wmt14_ende_base
from tests.test_data_pipeline import SPLITS, local_config
from transformer_jax import evaluation, reproduce, train
from transformer_jax.data import input_pipeline

TINY = dict(vocab_size=300, tokenizer_train_sentences=1000, num_layers=1, d_model=32, d_ff=64, num_heads=2,
            tokens_per_batch=512, bucket_lengths=(32, 64), max_source_length=64, max_target_length=64,
            max_position=64, pack_training_rows=True, num_train_steps=3, warmup_steps=10, log_every_steps=3,
            eval_every_steps=0, checkpoint_every_steps=3, max_decode_length=24, decode_extra_length=4,
            decode_batch_size=8, num_test_sentences=8, dropout_rate=0.0)


def mock_wmt(self, split, **kwargs):
  del kwargs
  assert self.name == "wmt14_translate" and self.info.supervised_keys == ("de", "en")
  pairs = SPLITS[str(split)]
  return tf.data.Dataset.from_tensor_slices({"de": [de for _, de in pairs], "en": [en for en, _ in pairs]})


def check_run(workdir, results):
  assert results["step"] == 3 and 0.0 <= results["test_sacrebleu"] <= 100.0
  assert results["train_pairs"]["kept"] > 1000
  assert json.load(open(os.path.join(workdir, "results.json"))) == results
  cached = os.listdir(os.path.join(workdir, input_pipeline.TOKEN_CACHE_DIRNAME))
  assert len([name for name in cached if name.startswith("train-")]) == 1  # one encoded training set
  if "packed_epoch_rows.json" in cached:  # packed rows: the epoch row counts for resume
    assert json.load(open(os.path.join(workdir, input_pipeline.TOKEN_CACHE_DIRNAME, "packed_epoch_rows.json")))
  assert os.path.exists(os.path.join(workdir, "checkpoints", "3"))


def test_wmt14_ende_reproduction_under_mock_data(tmp_path, monkeypatch):
  """The paper-reproduction command on the WMT path: train, average the last 2 checkpoints, decode the test set
  once, score."""
  decoded = []
  bleu_of = evaluation.bleu_of
  monkeypatch.setattr(evaluation, "bleu_of", lambda *args, **kwargs: decoded.append(1) or bleu_of(*args, **kwargs))
  config = wmt14_ende_base.get_config()
  config.update(TINY, checkpoint_every_steps=1, max_checkpoints_to_keep=3)
  config.tfds_data_dir = str(tmp_path / "tfds")
  workdir = str(tmp_path / "workdir")
  with tfds.testing.mock_data(as_dataset_fn=mock_wmt):
    dev = input_pipeline.load_text_split(config, "validation")
    validation = SPLITS["validation"]
    assert (dev.sources, dev.targets) == ([en for en, _ in validation], [de for _, de in validation])
    results = reproduce.reproduce(config, workdir, average_last=2)
  check_run(workdir, json.load(open(os.path.join(workdir, "results.json"))))
  assert results["averaged_steps"] == [2, 3] and results["published_bleu"] == 27.3
  assert results["ours"] == results["tokenized_bleu"] and results["published_metric"] == "tokenized_bleu"
  assert len(decoded) == 1  # no dev evaluation in this run, and the test set once
  assert results == json.load(open(os.path.join(workdir, "reproduction.json")))
  references = [de for _, de in SPLITS["test"]]
  hypotheses = open(results["hypotheses"], encoding="utf-8").read().splitlines()
  assert len(hypotheses) == len(references) == results["test_sentences"]
  assert results["sacrebleu"] == pytest.approx(sacrebleu.corpus_bleu(hypotheses, [references]).score)
  markdown = open(os.path.join(workdir, "reproduction.md")).read()
  row = f"| tokenized, compound-split BLEU (the paper's get_ende_bleu.sh) | {results['tokenized_bleu']:.2f} | 27.30 |"
  assert row in markdown
  # Without training, the average written beside the run is decoded on its own: the same score.
  with tfds.testing.mock_data(as_dataset_fn=mock_wmt):
    rescored = reproduce.reproduce(config, workdir, average_last=2, skip_training=True)
  assert rescored["averaged_steps"] == [2, 3]
  assert rescored["sacrebleu"] == pytest.approx(results["sacrebleu"], abs=1e-9)


def test_local_corpus_trains_end_to_end(tmp_path):
  config = local_config(tmp_path, **TINY)
  results = train.train_and_evaluate(config, str(tmp_path / "workdir"))
  check_run(str(tmp_path / "workdir"), results)


def test_wmt_without_prepared_data_says_how_to_prepare_it(tmp_path, monkeypatch):
  config = wmt14_ende_base.get_config()
  config.tfds_data_dir = str(tmp_path)

  def offline(self, *args, **kwargs):
    raise ConnectionError("no internet")

  monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", offline)
  with pytest.raises(ValueError, match=r"(?s)Could not prepare tfds dataset 'wmt14_translate/de-en'.*no internet.*"
                     r"tfds build wmt14_translate/de-en") as refused:
    input_pipeline.load_text_split(config, "validation")
  # Both other ways to the same data, with their exact flags.
  assert ("--config.dataset=huggingface --config.hf_dataset=wmt/wmt14 --config.hf_config=de-en" in
          str(refused.value))
  assert "--config=configs/wmt14_ende_base.py:hf" in str(refused.value)
  assert "--config.dataset=local --config.local_train=" in str(refused.value)
