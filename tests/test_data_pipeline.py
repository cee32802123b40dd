"""The input pipeline from text to batches: local files and their errors, direction, the token cache, the token
budget, process shards and resume. The WMT code path itself runs under tfds mock data in test_wmt_pipeline.py."""

import gzip
import os

import numpy as np
import pytest

from configs import default
from transformer_jax import config_base
from transformer_jax.data import embedded, input_pipeline, sources, token_cache
from transformer_jax.tokenizer import EOS_ID, Tokenizer

SPLITS = embedded.make_splits(seed=5, num_train=1500, num_validation=20, num_test=20)


def write_lines(path, lines, opener=open):
  with opener(path, "wt", encoding="utf-8") as f:
    f.write("".join(line + "\n" for line in lines))


def local_config(tmp_path, **overrides):
  """A local corpus in three layouts: gzip pattern (train), plain pattern (validation), TSV (test)."""
  for split, opener, suffix in (("train", gzip.open, ".gz"), ("validation", open, "")):
    for column, lang in enumerate(("en", "de")):
      write_lines(tmp_path / f"{split}.{lang}{suffix}", [pair[column] for pair in SPLITS[split]], opener)
  write_lines(tmp_path / "test.tsv", [f"{de}\t{en}" for en, de in SPLITS["test"]])
  config = default.get_config()
  config.update(dataset="local", local_train=str(tmp_path / "train.{lang}.gz"),
                local_validation=str(tmp_path / "validation.{lang}"), local_test=str(tmp_path / "test.tsv"),
                local_tsv_languages=("de", "en"), vocab_size=300, tokenizer_train_sentences=1000,
                tokens_per_batch=512, bucket_lengths=(16, 32, 48, 64), max_source_length=64, max_target_length=64,
                pack_training_rows=False)
  config.update(overrides)
  config_base.validate(config)
  return config


def test_local_sources_read_every_layout_in_the_configured_direction(tmp_path):
  config = local_config(tmp_path)
  for split in ("train", "validation", "test"):
    assert list(sources.iter_pairs(config, split)) == SPLITS[split]
  config.source_lang, config.target_lang = "de", "en"
  assert list(sources.iter_pairs(config, "test")) == [(de, en) for en, de in SPLITS["test"]]
  assert list(sources.iter_pairs(config, "train"))[:3] == [(de, en) for en, de in SPLITS["train"][:3]]


def test_embedded_direction_puts_english_in_the_source(tmp_path):
  config = default.get_config()
  config.embedded_num_train, config.tfds_data_dir = 1000, str(tmp_path)
  english_to_german = list(sources.iter_pairs(config, "validation"))
  generated = embedded.make_splits(seed=0, num_train=1000, num_validation=500, num_test=1000)
  assert english_to_german == generated["validation"]
  config.source_lang, config.target_lang = "de", "en"
  assert list(sources.iter_pairs(config, "validation")) == [(de, en) for en, de in generated["validation"]]


@pytest.mark.parametrize("damage, expected", [
    ("mismatch", r"validation\.de has 19 lines but .*validation\.en has more \(line 20 has no partner\)"),
    ("missing", r"Cannot read .*validation\.de: No such file"),
    ("directory", r"Cannot read .*validation\.de: Is a directory"),
    ("utf8", r"validation\.de, line 7: invalid UTF-8 at byte 3"),
    ("gzip", r"train\.en\.gz: unreadable after line \d+ .*truncated or not valid gzip"),
    ("tsv", r"test\.tsv, line 4: 3 tab-separated columns, expected 2"),
])
def test_bad_local_files_name_the_file_and_line(tmp_path, damage, expected):
  config = local_config(tmp_path)
  split, path = "validation", tmp_path / "validation.de"
  lines = [de for _, de in SPLITS["validation"]]
  if damage == "mismatch":
    write_lines(path, lines[:-1])
  elif damage == "missing":
    os.remove(path)
  elif damage == "directory":
    os.remove(path)
    os.mkdir(path)
  elif damage == "utf8":
    path.write_bytes("\n".join(lines[:6]).encode() + b"\nDer\xff\xfe Hund\n" + "\n".join(lines[7:]).encode())
  elif damage == "gzip":
    split, path = "train", tmp_path / "train.en.gz"
    path.write_bytes(path.read_bytes()[:len(path.read_bytes()) // 2])
  elif damage == "tsv":
    split = "test"
    rows = (tmp_path / "test.tsv").read_text().splitlines()
    rows[3] += "\textra"
    write_lines(tmp_path / "test.tsv", rows)
  with pytest.raises(sources.DataError, match=expected):
    list(sources.iter_pairs(config, split))


def test_local_config_problems_are_named():
  config = default.get_config()
  config.update(dataset="local", local_train="train.txt", source_lang="en", target_lang="en")
  with pytest.raises(ValueError) as error:
    config_base.validate(config)
  message = str(error.value)
  assert "local_validation is empty" in message and "local_train='train.txt': must end in .tsv" in message
  assert "source_lang and target_lang are both 'en'" in message
  config = default.get_config()
  config.update(dataset="wmt14_translate/fr-en", source_lang="en", target_lang="de")
  with pytest.raises(ValueError, match=r"target_lang='de': dataset 'wmt14_translate/fr-en' offers \('fr', 'en'\)"):
    config_base.validate(config)


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
  """A local corpus with empty lines, loaded once (vocabulary trained, ids cached)."""
  tmp = tmp_path_factory.mktemp("local")
  config = local_config(tmp)
  train = list(SPLITS["train"])
  train[10] = ("", train[10][1])  # empty source: counted and skipped
  train[20] = (train[20][0], "   ")  # whitespace-only target: likewise
  for column, lang in enumerate(("en", "de")):
    write_lines(tmp / f"train.{lang}.gz", [pair[column] for pair in train], gzip.open)
  workdir = tmp / "workdir"
  workdir.mkdir()
  data = input_pipeline.load_datasets(config, str(workdir / "sentencepiece.model"))
  return config, workdir, data, train


def test_empty_lines_are_counted_and_skipped(local_run):
  _, _, data, train = local_run
  counts = data.train_filter_counts
  assert (counts.empty, counts.kept + counts.too_long) == (2, len(train) - 2)


def test_cached_ids_equal_direct_encoding_and_are_read_back_without_the_text(local_run, monkeypatch):
  config, workdir, data, train = local_run
  entries = os.listdir(workdir / input_pipeline.TOKEN_CACHE_DIRNAME)
  assert len(entries) == 1 and entries[0].startswith("train-")
  tokenizer = Tokenizer.load(str(workdir / "sentencepiece.model"))
  cached = token_cache._load(str(workdir / input_pipeline.TOKEN_CACHE_DIRNAME / entries[0]))
  for i in (0, 10, 20, len(train) - 1):  # against SentencePiece itself, EOS appended
    assert cached.sources[i].tolist() == tokenizer.encode(train[i][0]) + [EOS_ID]
    assert cached.targets[i].tolist() == tokenizer.encode(train[i][1]) + [EOS_ID]
  # A restarted run reads the cache: the text is never opened again, and batch k is the same batch.
  monkeypatch.setattr(sources, "iter_pairs", lambda config, split: pytest.fail(f"read the {split} text again"))
  monkeypatch.setattr(input_pipeline, "load_text_split", lambda config, split: None)
  restarted = input_pipeline.load_datasets(config, str(workdir / "sentencepiece.model"))
  for step in (0, 7, 3 * data.train.batches_per_epoch + 2):
    for key, value in data.train.batch_at(step).items():
      np.testing.assert_array_equal(restarted.train.batch_at(step)[key], value)


def test_a_changed_tokenizer_gets_a_new_cache_entry(local_run, tmp_path):
  config, workdir, _, _ = local_run
  fingerprint = sources.fingerprint(config)
  other = tmp_path / "other.model"
  other.write_bytes((workdir / "sentencepiece.model").read_bytes() + b"x")
  assert (token_cache.entry_path("c", "train", fingerprint, str(other))
          != token_cache.entry_path("c", "train", fingerprint, str(workdir / "sentencepiece.model")))


def test_token_budget_is_respected_and_nearly_filled(local_run):
  config, _, data, _ = local_run
  batcher = data.train
  padded, shapes = [], set()
  for step in range(batcher.batches_per_epoch):
    batch = batcher.batch_at(step)
    rows, length = batch["source"].shape
    shapes.add((rows, length))
    assert rows * length <= config.tokens_per_batch  # both sides share the padded shape
    padded.append(rows * length)
  assert len(shapes) <= len(config.bucket_lengths)
  assert np.mean(padded) >= 0.9 * config.tokens_per_batch, np.mean(padded)


def test_two_processes_read_disjoint_shards_that_cover_the_epoch(local_run):
  config, _, data, _ = local_run
  pairs = token_cache.TokenizedPairs(data.train.sources, data.train.targets)
  shards = [input_pipeline.make_batcher(config, pairs, row_multiple=2, process_index=i, process_count=2)[0]
            for i in range(2)]
  seen = [[], []]
  for step in range(shards[0].batches_per_epoch):
    for process, shard in enumerate(shards):
      batch = shard.batch_at(step)
      for row, segments in zip(batch["source"], batch["source_segments"]):
        if segments.any():
          seen[process].append(tuple(row[segments > 0]))
  everything = sorted(tuple(data.train.sources[i]) for i in range(len(data.train.sources)))
  assert sorted(seen[0] + seen[1]) == everything
  assert len(seen[0]) > 0 and len(seen[1]) > 0
  # Each pair appears exactly once in the union: no pair is read by both processes, none by neither.


def test_packed_batches_come_from_the_same_cache(local_run):
  config, workdir, data, _ = local_run
  config = config.copy_and_resolve_references()
  config.pack_training_rows = True
  cache = workdir / input_pipeline.TOKEN_CACHE_DIRNAME
  pairs = token_cache._load(str(cache / os.listdir(cache)[0]))
  packed, counts = input_pipeline.make_batcher(config, pairs)
  assert counts == data.train_filter_counts and packed.shapes() == [(8, 64)]
  assert packed.batch_at(0)["source_segments"].max() > 1  # several pairs per row


def test_data_benchmark_reports_every_stage(local_run):
  from benchmarks import input_bench as bench

  config, workdir, data, train = local_run
  results = bench.measure(config, str(workdir), seconds=0.2, tokens_per_batch=512)
  assert results["read_text"]["pairs"] == len(train)  # the local corpus is smaller than the reading budget
  for stage in ("batches_bucketed", "batches_packed"):
    assert results[stage]["target_tokens_per_sec"] > 0 and 0 <= results[stage]["padding_fraction"] < 1


def test_process_0_builds_vocabulary_and_cache_while_the_others_wait(tmp_path, monkeypatch):
  import threading

  from transformer_jax import tokenizer as tokenizer_lib

  config = local_config(tmp_path)
  barrier = threading.Barrier(2, timeout=120)
  trained_by, encoded_by, loaded = [], [], {}
  train_tokenizer, encode_pairs = tokenizer_lib.train_tokenizer, token_cache.encode_pairs
  monkeypatch.setattr(tokenizer_lib, "train_tokenizer", lambda *a, **k: (
      trained_by.append(threading.current_thread().name), train_tokenizer(*a, **k))[1])
  monkeypatch.setattr(token_cache, "encode_pairs", lambda *a, **k: (
      encoded_by.append(threading.current_thread().name), encode_pairs(*a, **k))[1])

  def process(index):
    loaded[index] = input_pipeline.load_datasets(
        config, str(tmp_path / "sentencepiece.model"), row_multiple=2, process_index=index, process_count=2,
        wait_for_process_0=lambda name: barrier.wait())

  threads = [threading.Thread(target=process, args=(i,), name=f"process{i}") for i in (1, 0)]
  for thread in threads:
    thread.start()
  for thread in threads:
    thread.join()
  assert trained_by == ["process0"] and encoded_by == ["process0"] and sorted(loaded) == [0, 1]
  halves = [loaded[i].train.batch_at(3)["source"] for i in (0, 1)]
  assert halves[0].shape == halves[1].shape and not np.array_equal(halves[0], halves[1])


def test_a_host_that_cannot_see_process_0s_files_is_told_why(tmp_path):
  config = local_config(tmp_path)
  with pytest.raises(sources.DataError, match=r"Process 1 cannot see .*sentencepiece\.model.*filesystem every host "
                     "shares"):
    input_pipeline.load_datasets(config, str(tmp_path / "sentencepiece.model"), process_index=1, process_count=2)


def test_real_token_batches_from_the_config_keys(local_run):
  """The paper configs' keys through make_batcher: fitted lengths, about the budget of real tokens a side, recorded
  in the batch settings."""
  config, _, data, _ = local_run
  config = config.copy_and_resolve_references()
  config.real_tokens_per_batch, config.train_bucket_count = 400, 3
  pairs = token_cache.TokenizedPairs(data.train.sources, data.train.targets)
  batcher, _ = input_pipeline.make_batcher(config, pairs, row_multiple=2)
  assert len(batcher.shapes()) <= 3 and max(batcher.bucket_lengths) <= config.bucket_lengths[-1]
  real = [((b["source_segments"] > 0).sum() + (b["target_segments"] > 0).sum()) / 2
          for b in map(batcher.batch_at, range(batcher.batches_per_epoch))]
  assert 0.75 * 400 < np.mean(real) < 1.25 * 400, np.mean(real)
  assert data.batch_settings["real_tokens_per_batch"] == 0  # the fixture's config leaves it at 0
