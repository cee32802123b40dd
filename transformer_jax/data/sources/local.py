"""dataset="local": the user's own files, named by the local_train / local_validation / local_test keys, in any
languages. local_test may be "" (no final test decoding)."""

from __future__ import annotations

import dataclasses

from transformer_jax.data.sources.base import SPLITS
from transformer_jax.data.sources.files import FileSource, is_tsv


@dataclasses.dataclass(frozen=True)
class LocalFiles(FileSource):

  def split_spec(self, config, split: str) -> str:
    return config[f"local_{split}"]

  def offered_languages(self, config) -> tuple[str, ...] | None:
    """A TSV's columns are the languages it offers; `{lang}` patterns offer whatever files exist."""
    if any(is_tsv(self.split_spec(config, split)) for split in SPLITS):
      return tuple(config.local_tsv_languages)
    return None

  def config_problems(self, config) -> list[str]:
    problems = [f"local_{split} is empty: dataset='local' needs a TSV file or a '{{lang}}' pattern for the train and "
                "validation splits" for split in ("train", "validation") if not self.split_spec(config, split)]
    for split in SPLITS:
      spec = self.split_spec(config, split)
      if spec and not is_tsv(spec) and "{lang}" not in spec:
        problems.append(f"local_{split}={spec!r}: must end in .tsv / .tsv.gz or contain '{{lang}}' (one file per "
                        "language)")
    return problems


SOURCE = LocalFiles("local")
