"""dataset="huggingface" on a parquet dataset in the Hub's WMT layout, written by the test with `datasets` (offline):
the same pairs as the same text given as local files, end to end in both directions, `python -m
transformer_jax.data.prepare` once and then a no-op, a rewritten dataset never reading stale token ids, every bad
state as one error line, and a two-process run reading what prepare wrote without preparing again."""

import json
import os
import subprocess
import sys
import time

import pytest

from configs import default, wmt14_ende_base, wmt14_ende_big, wmt14_enfr_base, wmt14_enfr_big
from tests.helpers import ROOT, env as command_env
from tests.test_data_pipeline import SPLITS, local_config
from tests.test_distributed import free_port
from tests.test_wmt_pipeline import TINY, check_run
from transformer_jax import config_base, train
from transformer_jax.data import input_pipeline, prepare, sources
from transformer_jax.data.sources import huggingface

LANGUAGES = ("de", "en")  # the Hub's wmt/wmt14 de-en lists German first, as tfds does


def write_fixture(directory, splits=SPLITS, rows_per_shard=700):
  """SPLITS (English, German pairs) as the Hub's wmt14 de-en: {"translation": {"de": ..., "en": ...}}, train in
  three parquet shards."""
  huggingface.write_hub_layout(str(directory), "de-en",
                               {name: [None if pair is None else (pair[1], pair[0]) for pair in pairs]
                                for name, pairs in splits.items()}, LANGUAGES, rows_per_shard=rows_per_shard)
  return str(directory)


def hf_config(tmp_path, fixture, source_lang="en", target_lang="de", **overrides):
  config = default.get_config()
  config.update(dataset="huggingface", hf_dataset=fixture, hf_config="de-en", hf_cache_dir=str(tmp_path / "hf_cache"),
                source_lang=source_lang, target_lang=target_lang, vocab_size=300, tokenizer_train_sentences=1000)
  config.update(overrides)
  return config


def flags_of(config, keys=("dataset", "hf_dataset", "hf_config", "hf_cache_dir", "source_lang", "target_lang",
                           "vocab_size", "tokenizer_train_sentences")) -> list[str]:
  return [f"--config.{key}={config[key]}" for key in keys]


def test_reads_the_same_pairs_in_the_same_order_as_local_files_in_both_directions(tmp_path):
  fixture = write_fixture(tmp_path / "hub")
  for source_lang, target_lang in (("en", "de"), ("de", "en")):
    from_hub = hf_config(tmp_path, fixture, source_lang, target_lang)
    from_files = local_config(tmp_path, source_lang=source_lang, target_lang=target_lang)
    for split in sources.SPLITS:
      pairs = list(sources.iter_pairs(from_hub, split))
      assert pairs == list(sources.iter_pairs(from_files, split))
      english_first = [tuple(pair) for pair in SPLITS[split]]
      assert pairs == (english_first if source_lang == "en" else [(de, en) for en, de in english_first])
  assert len(os.listdir(tmp_path / "hub" / "de-en")) == 5  # train in 3 shards, read in order


@pytest.mark.parametrize("source_lang,target_lang", [("en", "de"), ("de", "en")])
def test_prepare_then_train_and_decode_in_both_directions(tmp_path, source_lang, target_lang):
  config = hf_config(tmp_path, write_fixture(tmp_path / "hub"), source_lang, target_lang)
  config.update(TINY)
  workdir = str(tmp_path / "workdir")
  report = prepare.prepare_run(config, workdir, say=lambda line: None)
  assert report["dataset"]["pairs"] == {"train": 1500, "validation": 20, "test": 20}
  assert report["token_cache"]["pairs"] == 1500 and report["vocabulary"]["pieces"] == 300
  vocabulary_written = os.stat(report["vocabulary"]["path"]).st_mtime_ns
  results = train.train_and_evaluate(config, workdir)
  check_run(workdir, results)  # 3 steps, one token cache entry, the test set decoded and scored
  assert os.stat(report["vocabulary"]["path"]).st_mtime_ns == vocabulary_written
  dev = input_pipeline.load_text_split(config, "validation")
  english = [en for en, _ in SPLITS["validation"]]
  assert (dev.sources if source_lang == "en" else dev.targets) == english


def _written(report) -> dict:
  """Modification times of everything prepare wrote."""
  paths = [report["vocabulary"]["path"]] + [os.path.join(report["token_cache"]["path"], name)
                                            for name in os.listdir(report["token_cache"]["path"])]
  return {path: os.stat(path).st_mtime_ns for path in paths}


def test_prepare_twice_is_a_no_op_and_a_rewritten_dataset_never_reuses_stale_ids(tmp_path):
  fixture = write_fixture(tmp_path / "hub")
  config = hf_config(tmp_path, fixture)
  workdir = str(tmp_path / "workdir")
  first = prepare.prepare_run(config, workdir, say=lambda line: None)
  assert {first[part]["state"] for part in ("dataset", "vocabulary", "token_cache")} == {"prepared now"}
  manifest = huggingface.manifest_path(config)
  before = dict(_written(first), **{manifest: os.stat(manifest).st_mtime_ns})
  said = []
  second = prepare.prepare_run(config, workdir, say=said.append)
  assert {second[part]["state"] for part in ("dataset", "vocabulary", "token_cache")} == {"ready (already prepared)"}
  assert dict(_written(second), **{manifest: os.stat(manifest).st_mtime_ns}) == before
  assert said[-1].startswith("Nothing to do: everything was prepared")

  time.sleep(0.01)  # a new modification time even on coarse clocks
  rewritten = dict(SPLITS, train=SPLITS["train"][:900])
  write_fixture(tmp_path / "hub", rewritten)
  third = prepare.prepare_run(config, workdir, say=lambda line: None)
  assert third["dataset"]["state"] == "prepared now" and third["token_cache"]["state"] == "prepared now"
  assert third["token_cache"]["path"] != first["token_cache"]["path"] and third["token_cache"]["pairs"] == 900
  assert list(sources.iter_pairs(config, "train")) == [tuple(pair) for pair in rewritten["train"]]


def test_the_paper_configs_hf_variant_reads_the_hub_copy_on_the_papers_splits():
  for module, pair in ((wmt14_ende_base, "de-en"), (wmt14_ende_big, "de-en"), (wmt14_enfr_base, "fr-en"),
                       (wmt14_enfr_big, "fr-en")):
    tfds_config, hub_config = module.get_config(), module.get_config("hf")
    assert tfds_config.dataset.startswith("wmt14_translate/") and tfds_config.dataset.endswith(pair)
    assert (hub_config.dataset, hub_config.hf_dataset, hub_config.hf_config) == ("huggingface", "wmt/wmt14", pair)
    assert tuple(hub_config.hf_split_names) == ("train", "validation", "test")  # newstest2013 / newstest2014
    different = {key for key in tfds_config if tfds_config[key] != hub_config[key]}
    assert different == {"dataset", "hf_dataset", "hf_config"}
    config_base.validate(hub_config)
  with pytest.raises(ValueError, match=r"config argument 'hub': must be one of \('tfds', 'hf'\)"):
    wmt14_ende_base.get_config("hub")


def _prepare_command(config, workdir, environment=None):
  return subprocess.run([sys.executable, "-m", "transformer_jax.data.prepare", "--config=configs/default.py",
                         f"--workdir={workdir}", *flags_of(config)], cwd=ROOT, capture_output=True, text=True,
                        timeout=600, env=environment or command_env(devices=1))


@pytest.mark.parametrize("state", ["offline_without_cache", "language_missing", "split_missing", "unknown_config",
                                   "malformed_translation"])
def test_each_bad_state_is_one_error_line_naming_the_fix(tmp_path, state):
  splits = SPLITS
  if state == "split_missing":
    splits = {name: pairs for name, pairs in SPLITS.items() if name != "test"}
  if state == "malformed_translation":
    train_pairs = list(SPLITS["train"])
    train_pairs[5] = None  # {"translation": null}
    train_pairs[9] = (None, train_pairs[9][1])  # no English text
    splits = dict(SPLITS, train=train_pairs)
  config = hf_config(tmp_path, write_fixture(tmp_path / "hub", splits))
  environment = command_env(devices=1)
  expected = {
      "offline_without_cache": ["Could not load Hugging Face dataset 'wmt/wmt14'", "HF_DATASETS_OFFLINE",
                                "python -m transformer_jax.data.prepare", "--config.hf_cache_dir"],
      "language_missing": ["source_lang='fr'", "has the languages ['de', 'en']", "--config.hf_config="],
      "split_missing": ["has no split 'test' (its splits: ['train', 'validation'])", "--config.hf_split_names"],
      "unknown_config": ["hf_config names no config of this dataset", "de-en"],
      "malformed_translation": ["split 'train', row 5: the translation has no 'en' text", "dataset.filter"],
  }[state]
  if state == "offline_without_cache":
    config.hf_dataset, config.hf_config = "wmt/wmt14", "de-en"
    environment.update(HF_DATASETS_OFFLINE="1", HF_HUB_OFFLINE="1")
  if state == "language_missing":
    config.source_lang = "fr"
  if state == "unknown_config":
    config.hf_config = "xx-yy"
  result = _prepare_command(config, tmp_path / "workdir", environment)
  assert result.returncode == 2, result.stderr[-3000:]
  errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
  assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
  message = result.stderr[result.stderr.index("Error: "):]
  for text in expected:
    assert text in message, message


def test_two_processes_train_on_what_prepare_wrote_without_preparing_again(tmp_path):
  # No test split: the decode is the end-to-end test's; here what matters is who prepares what.
  config = hf_config(tmp_path, write_fixture(tmp_path / "hub"), hf_split_names=("train", "validation", ""))
  workdir = tmp_path / "workdir"
  said = []
  prepare.prepare_run(config, str(workdir), progress=lambda pairs, description, total: pairs, say=said.append)
  assert said[-1].startswith("Prepared in")
  cache_dir = tmp_path / "hf_cache"
  cache_files = {str(path): path.stat().st_mtime_ns for path in cache_dir.rglob("*") if path.is_file()}
  token_cache = workdir / input_pipeline.TOKEN_CACHE_DIRNAME
  entries = sorted(os.listdir(token_cache))

  port = free_port()
  tiny = ["--config.num_layers=1", "--config.d_model=32", "--config.d_ff=64", "--config.num_heads=2",
          "--config.num_train_steps=4", "--config.log_every_steps=2", "--config.eval_every_steps=0",
          "--config.checkpoint_every_steps=4", "--config.max_train_seconds=0"]
  command = [sys.executable, "-m", "transformer_jax.main", "--config=configs/default.py", f"--workdir={workdir}",
             *flags_of(config), "--config.hf_split_names=('train', 'validation', '')", *tiny,
             f"--coordinator_address=127.0.0.1:{port}", "--num_processes=2"]
  hosts = [subprocess.Popen(command + [f"--process_id={i}"], cwd=ROOT, env=command_env(devices=1),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for i in range(2)]
  try:
    outputs = [host.communicate(timeout=400)[0] for host in hosts]
  finally:
    for host in hosts:
      host.kill()
  for host, output in zip(hosts, outputs):
    assert host.returncode == 0, output[-3000:]
    assert "Token ids of 1500 pairs read from the cache" in output
    for preparing in ("Encoded", "Generating train split", "Training SentencePiece", "trainer_interface"):
      assert preparing not in output, output[-3000:]
  assert {str(path): path.stat().st_mtime_ns for path in cache_dir.rglob("*") if path.is_file()} == cache_files
  assert sorted(name for name in os.listdir(token_cache) if name.startswith("train-")) == [
      name for name in entries if name.startswith("train-")]
  results = json.load(open(workdir / "results.json"))
  assert results["step"] == 4
