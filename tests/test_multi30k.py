"""Multi30k as a dataset: its directory layout is read as train / dev / test in the configured direction, missing
files are named with the command that fetches them, and the download command writes the repository's file names
(with a fake network)."""

import gzip
import os

import pytest

from configs import multi30k_ende
from transformer_jax import config_base
from transformer_jax.data import input_pipeline, multi30k, sources

# A few lines per split; the German side is recognisably German so a swapped direction cannot pass.
CORPUS = {
    "train": [("A man is riding a horse.", "Ein Mann reitet ein Pferd."),
              ("Two dogs play in the snow.", "Zwei Hunde spielen im Schnee."),
              ("A girl in a red dress.", "Ein Mädchen in einem roten Kleid.")] * 40,
    "validation": [("A woman is reading.", "Eine Frau liest."), ("A boy jumps.", "Ein Junge springt.")],
    "test": [("The cat sleeps.", "Die Katze schläft."), ("People walk on a street.", "Leute gehen auf einer Straße."),
             ("A child laughs.", "Ein Kind lacht.")],
}
REPOSITORY_NAMES = {"train": "train", "validation": "val", "test": "test_2016_flickr"}


def write_multi30k(directory, corpus=CORPUS):
  os.makedirs(directory, exist_ok=True)
  for split, pairs in corpus.items():
    for column, lang in enumerate(("en", "de")):
      with gzip.open(os.path.join(directory, f"{REPOSITORY_NAMES[split]}.{lang}.gz"), "wt", encoding="utf-8") as f:
        f.write("".join(pair[column] + "\n" for pair in pairs))


def config_for(directory, arg=None):
  config = multi30k_ende.get_config(arg)
  config.multi30k_dir = str(directory)
  return config


def test_the_layout_is_read_as_train_dev_test_with_english_source(tmp_path):
  write_multi30k(tmp_path)
  config = config_for(tmp_path)
  config_base.validate(config)
  assert (config.source_lang, config.target_lang) == ("en", "de")
  for split in ("train", "validation", "test"):
    assert list(sources.iter_pairs(config, split)) == CORPUS[split]
  config.source_lang, config.target_lang = "de", "en"
  assert list(sources.iter_pairs(config, "test")) == [(de, en) for en, de in CORPUS["test"]]


def test_dev_and_test_reach_training_as_val_and_test_2016(tmp_path):
  write_multi30k(tmp_path)
  config = config_for(tmp_path)
  config.update(vocab_size=120, tokenizer_train_sentences=200)
  data = input_pipeline.load_datasets(config, str(tmp_path / "sp.model"), row_multiple=1)
  assert (data.dev.sources, data.dev.targets) == tuple(map(list, zip(*CORPUS["validation"])))
  assert (data.test.sources, data.test.targets) == tuple(map(list, zip(*CORPUS["test"])))


@pytest.mark.parametrize("arg", [None, "accelerator"])
def test_both_settings_validate(tmp_path, arg):
  write_multi30k(tmp_path)
  config_base.validate(config_for(tmp_path, arg))


def test_missing_files_are_named_with_the_download_command(tmp_path):
  write_multi30k(tmp_path)
  os.remove(tmp_path / "val.de.gz")
  with pytest.raises(ValueError, match=r"lacks val\.de\.gz: download them with `python -m "
                     r"transformer_jax\.data\.multi30k --dir=.* --languages=en,de`"):
    config_base.validate(config_for(tmp_path))
  with pytest.raises(ValueError, match="multi30k_dir is empty"):
    config_base.validate(config_for(""))


def test_download_writes_the_repository_file_names(tmp_path):
  requested = []

  def fake_fetch(url):
    requested.append(url)
    return gzip.compress(f"line of {url.rsplit('/', 1)[1]}\n".encode())

  directory = tmp_path / "m30k"
  os.makedirs(directory)
  (directory / "train.en.gz").write_bytes(gzip.compress(b"kept\n"))  # present files are not fetched again
  written = multi30k.download(str(directory), ("en", "de"), fetch=fake_fetch, log=lambda _: None)
  base = "https://raw.githubusercontent.com/multi30k/dataset/master/data/task1/raw/"
  assert requested == [base + name for name in ("train.de.gz", "val.en.gz", "val.de.gz", "test_2016_flickr.en.gz",
                                                  "test_2016_flickr.de.gz")]
  assert sorted(os.listdir(directory)) == sorted(["train.en.gz", "train.de.gz", "val.en.gz", "val.de.gz",
                                                   "test_2016_flickr.en.gz", "test_2016_flickr.de.gz"])
  assert len(written) == 5
  assert gzip.decompress((directory / "val.de.gz").read_bytes()) == b"line of val.de.gz\n"
  assert gzip.decompress((directory / "train.en.gz").read_bytes()) == b"kept\n"
  assert multi30k.missing_files_problem(str(directory), ("en", "de")) is None


def test_a_truncated_download_leaves_no_file(tmp_path):
  with pytest.raises(RuntimeError, match="did not return complete gzip data"):
    multi30k.download(str(tmp_path), ("en",), fetch=lambda url: gzip.compress(b"x" * 100)[:-8], log=lambda _: None)
  assert os.listdir(tmp_path) == []


def test_every_run_of_the_table3_sweep_is_a_valid_config(tmp_path):
  """The sweep scales from configs/multi30k_ende.py: a change there (e.g. a schedule key) must not break its runs."""
  from transformer_jax import sweep
  write_multi30k(tmp_path)
  table3 = sweep.load_sweep(os.path.join(os.path.dirname(os.path.dirname(__file__)), "experiments", "sweeps",
                                         "table3_multi30k.py"))
  runs = sweep.resolve(table3, sets={"multi30k_dir": str(tmp_path)})
  assert len(runs) == 18
  for run in runs:
    config_base.validate(sweep.resolved_config(run))
