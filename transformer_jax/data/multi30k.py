r"""Multi30k task 1 (Elliott et al. 2016): 29,000 / 1,014 / 1,000 image descriptions, line-aligned across languages.

  python -m transformer_jax.data.multi30k --dir=data/multi30k            # downloads the EN and DE files
  python -m transformer_jax.data.multi30k --dir=data/multi30k --languages=en,de,fr

The files keep the names of the dataset's public repository (github.com/multi30k/dataset, data/task1/raw/), so a
directory filled by hand from a clone of that repository works the same: with `dataset="multi30k"` and
`multi30k_dir` pointing at it, training reads train.*, uses val.* as the dev set and test_2016_flickr.* as the test
set. Only the standard library at import (absl is imported by the command): config validation and the dataset's
definition (data/sources/multi30k.py) use it on machines without TensorFlow.
"""

from __future__ import annotations

import gzip
import os
import sys
import tempfile
import urllib.request
from typing import Callable

# Split -> file name pattern, as the dataset's repository names them.
SPLIT_FILES = {"train": "train.{lang}.gz", "validation": "val.{lang}.gz", "test": "test_2016_flickr.{lang}.gz"}
LINES = {"train": 29_000, "validation": 1_014, "test": 1_000}
BASE_URL = "https://raw.githubusercontent.com/multi30k/dataset/master/data/task1/raw/"


def split_pattern(directory: str, split: str) -> str:
  """The `{lang}` file pattern of one split, as dataset="local" reads it."""
  return os.path.join(directory, SPLIT_FILES[split])


def file_names(languages) -> list[str]:
  return [pattern.format(lang=lang) for pattern in SPLIT_FILES.values() for lang in languages]


def missing_files_problem(directory: str, languages) -> str | None:
  """None when `directory` holds every file of the languages; otherwise what is missing and how to get it."""
  fix = (f"download them with `python -m transformer_jax.data.multi30k --dir={directory or 'DIR'} "
         f"--languages={','.join(languages)}` (or copy data/task1/raw/ of github.com/multi30k/dataset)")
  if not directory:
    return f"multi30k_dir is empty: dataset='multi30k' needs the directory that holds its files; {fix}"
  missing = [name for name in file_names(languages) if not os.path.isfile(os.path.join(directory, name))]
  if missing:
    return f"multi30k_dir={directory!r} lacks {', '.join(missing)}: {fix}"
  return None


def _fetch(url: str) -> bytes:
  with urllib.request.urlopen(url, timeout=60) as response:
    return response.read()


def download(directory: str, languages=("en", "de"), fetch: Callable[[str], bytes] = _fetch,
             log=print) -> list[str]:
  """Downloads the files that `directory` lacks; returns the paths written.

  Each file is checked to be complete gzip before it is renamed into place, so an interrupted download leaves no
  half-written file under a real name."""
  os.makedirs(directory, exist_ok=True)
  written = []
  for name in file_names(languages):
    path = os.path.join(directory, name)
    if os.path.isfile(path):
      log(f"{name}: present, kept")
      continue
    data = fetch(BASE_URL + name)
    try:
      lines = gzip.decompress(data).count(b"\n")
    except (OSError, EOFError) as error:
      raise RuntimeError(f"{BASE_URL + name} did not return complete gzip data ({error}); nothing was written "
                         f"for {name}. Retry, or copy the file by hand.") from error
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{name}.")
    with os.fdopen(handle, "wb") as f:
      f.write(data)
    os.replace(temporary, path)
    written.append(path)
    log(f"{name}: {len(data):,} bytes, {lines:,} lines")
  return written


def main(argv) -> None:
  from absl import flags  # pylint: disable=g-import-not-at-top
  del argv
  directory = flags.FLAGS.dir
  languages = [lang.strip() for lang in flags.FLAGS.languages.split(",") if lang.strip()]
  try:
    download(directory, languages)
  except (OSError, RuntimeError) as error:
    sys.exit(f"Download failed: {error}")
  print(f"Multi30k ({', '.join(languages)}) is in {directory}. Train with: python -m transformer_jax.main "
        f"--config=configs/multi30k_ende.py --config.multi30k_dir={directory} --workdir=runs/multi30k")


if __name__ == "__main__":
  from absl import flags  # pylint: disable=g-import-not-at-top
  from transformer_jax import cli  # pylint: disable=g-import-not-at-top
  flags.DEFINE_string("dir", "data/multi30k", "Directory to download into (files already there are kept).")
  flags.DEFINE_string("languages", "en,de", "Comma-separated languages to download (en, de, fr, cs).")
  cli.run(main)
