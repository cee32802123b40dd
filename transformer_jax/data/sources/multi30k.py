"""dataset="multi30k": Multi30k task 1 (Elliott et al. 2016) from multi30k_dir, under the dataset's own file names:
train / val / test_2016_flickr (data/multi30k.py lists them and downloads them)."""

from __future__ import annotations

import dataclasses

from transformer_jax.data import multi30k as multi30k_files
from transformer_jax.data.sources.files import FileSource


@dataclasses.dataclass(frozen=True)
class Multi30k(FileSource):

  def split_spec(self, config, split: str) -> str:
    return multi30k_files.split_pattern(config.multi30k_dir, split)

  def config_problems(self, config) -> list[str]:
    problem = multi30k_files.missing_files_problem(config.multi30k_dir, (config.source_lang, config.target_lang))
    return [problem] if problem else []


SOURCE = Multi30k("multi30k", ("en", "de", "fr", "cs"))
