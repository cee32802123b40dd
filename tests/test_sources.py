"""The dataset registry (transformer_jax/data/sources): one definition per name `dataset` accepts, and importable,
with its config checks, without TensorFlow. Reading each source is tested in test_data_pipeline.py, test_multi30k.py
and test_wmt_pipeline.py."""

import os
import subprocess
import sys

import pytest

from configs import default
from transformer_jax import config_base
from transformer_jax.data import sources

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_every_accepted_dataset_has_one_definition_and_an_unknown_one_is_refused_naming_them():
  assert config_base.DATASETS == sources.NAMES == tuple(source.name for source in sources.SOURCES)
  assert len(set(sources.NAMES)) == len(sources.SOURCES)
  for name in sources.NAMES:
    source = sources.get(name)
    assert isinstance(source, sources.Source) and source.name == name
    config = default.get_config()
    languages = source.languages or ("en", "de")
    config.update(dataset=name, source_lang=languages[0], target_lang=languages[1])
    try:
      config_base.validate(config)
    except ValueError as error:  # the source's own checks (multi30k_dir, local_*) may refuse the default config
      assert "must be one of" not in str(error)
  config = default.get_config()
  config.dataset = "no_such_corpus"
  with pytest.raises(ValueError) as refused:
    config_base.validate(config)
  assert "dataset='no_such_corpus': must be one of" in str(refused.value)
  assert all(repr(name) in str(refused.value) for name in sources.NAMES)
  with pytest.raises(ValueError, match=r"dataset='no_such_corpus': must be one of \('embedded_ende', "):
    sources.get("no_such_corpus")


def test_registry_and_config_checks_import_without_tensorflow():
  code = ("import sys, transformer_jax.config_base, transformer_jax.data.sources, transformer_jax.data.embedded; "
          "print([m for m in ('tensorflow', 'tensorflow_datasets', 'datasets', 'ml_collections', 'absl') "
          "if m in sys.modules])")
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
  assert out.stdout.strip().splitlines()[-1] == "[]"
