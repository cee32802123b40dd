"""dataset="huggingface": a translation dataset read with Hugging Face's `datasets` library, from the Hub (the WMT
copies `wmt/wmt14` and `wmt/wmt17`, configs such as "de-en") or from a local directory in the Hub's layout.

Each example is {"translation": {lang: text, ...}}. The Hub's wmt/wmt14 has the paper's splits under tfds' names:
validation = newstest2013, test = newstest2014 (hf_split_names maps ours onto a dataset's own names).

Preparing (process 0, or `python -m transformer_jax.data.prepare`) downloads the parquet files and converts them to
`datasets`' Arrow cache once, then writes a small manifest beside that cache naming its Arrow files. Reading goes
through the manifest only: the Arrow files are memory-mapped and read a batch at a time, so 4.5M (or 36M) pairs are
never Python lists, and the hosts of a multi-host run never contact the Hub or convert anything. The manifest also
says what the token cache is keyed by: the dataset, config, requested revision and the hash `datasets` gives the
prepared data (on the Hub it follows the commit), and for a local directory the data files' sizes and times, which
`datasets` itself does not check.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil

from transformer_jax.data.sources.base import SPLITS, Pairs, Source
from transformer_jax import workdir as workdir_lib
from transformer_jax.errors import DataError

_READ_BATCH = 10_000  # rows per Arrow batch turned into Python strings: large enough to be fast, small in memory
MANIFEST_DIRNAME = "transformer_jax_prepared"  # in the datasets cache directory, beside the Arrow files it names
_MANIFEST_VERSION = 1


def _split_names(config) -> dict[str, str]:
  """Our split -> the dataset's name for it ("" = the dataset has none: no final test decoding)."""
  return dict(zip(SPLITS, config.hf_split_names))


def _is_local(config) -> bool:
  return os.path.isdir(config.hf_dataset)


def _cache_root(config) -> str:
  if config.hf_cache_dir:
    return config.hf_cache_dir
  import datasets  # pylint: disable=g-import-not-at-top  (config checks run without it)
  return str(datasets.config.HF_DATASETS_CACHE)


def _request(config) -> dict:
  """What the user asked for; a local directory by its absolute path."""
  dataset = os.path.abspath(config.hf_dataset) if _is_local(config) else config.hf_dataset
  return {"dataset": dataset, "config": config.hf_config, "revision": config.hf_revision or None}


def manifest_path(config) -> str:
  request = _request(config)
  readable = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{os.path.basename(request['dataset'])}-{request['config']}")
  digest = hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()[:12]
  return os.path.join(_cache_root(config), MANIFEST_DIRNAME, f"{readable}-{digest}.json")


def _data_file_signature(builder) -> dict:
  """Each split's data files; a local file with its size and modification time (a rewrite changes them)."""
  signature = {}
  for split, files in (builder.config.data_files or {}).items():
    entries = []
    for name in files:
      name = str(name)
      stat = os.stat(name) if os.path.exists(name) else None
      entries.append([name, stat.st_size, stat.st_mtime_ns] if stat else [name])
    signature[str(split)] = entries
  return signature


def _where(config) -> str:
  return f"Hugging Face dataset {config.hf_dataset!r} (config {config.hf_config!r})"


def _load_failure(config, error: Exception) -> DataError:
  """A download or lookup failure, with the fix for each cause."""
  text = f"{type(error).__name__}: {error}"
  offline = os.environ.get("HF_DATASETS_OFFLINE") == "1" or os.environ.get("HF_HUB_OFFLINE") == "1"
  if isinstance(error, ConnectionError) or "offline" in text.lower() or "connect" in text.lower():
    fix = ("there is no network (or offline mode: HF_DATASETS_OFFLINE / HF_HUB_OFFLINE is set"
           f"{' here' if offline else ''}) and nothing prepared in {_cache_root(config)}. Prepare it once where the "
           "Hub can be reached (`python -m transformer_jax.data.prepare --config=... --workdir=...`) with "
           "--config.hf_cache_dir on a filesystem this machine shares, or copy that directory here and point "
           "--config.hf_cache_dir at it; or unset HF_DATASETS_OFFLINE / HF_HUB_OFFLINE if the network is up.")
  elif "config" in text.lower() and ("not found" in text.lower() or "available" in text.lower()):
    fix = "hf_config names no config of this dataset: set --config.hf_config to one the message lists (e.g. de-en)."
  else:
    fix = ("check --config.hf_dataset (a Hub id such as wmt/wmt14, or a local directory in the Hub's layout), "
           "--config.hf_config and --config.hf_revision.")
  return DataError(f"Could not load {_where(config)}: {text}\nFix: {fix}")


def _translation_languages(config, features) -> list[str]:
  """The languages of the dataset's `translation` feature; a DataError if it has none."""
  import datasets  # pylint: disable=g-import-not-at-top
  feature = features.get("translation") if features is not None else None
  if isinstance(feature, datasets.Translation):
    return list(feature.languages)
  if isinstance(feature, dict):
    return sorted(feature)
  columns = sorted(features) if features is not None else []
  raise DataError(f"{_where(config)} has no 'translation' column of {{language: text}} (its columns: {columns}): "
                  "the source reads datasets laid out as the Hub's WMT copies; for other layouts write the pairs "
                  "as TSV or line-aligned files and use --config.dataset=local.")


def _check_languages(config, languages: list[str]) -> None:
  for key in ("source_lang", "target_lang"):
    if config[key] not in languages:
      pair = "-".join(sorted({config.source_lang, config.target_lang}))
      raise DataError(f"{key}={config[key]!r}: {_where(config)} has the languages {languages}. Set "
                      f"--config.source_lang / --config.target_lang among them, or choose the dataset config with "
                      f"that language (e.g. --config.hf_config={pair} if the dataset has it).")


def _check_splits(config, available: list[str]) -> None:
  for ours, theirs in _split_names(config).items():
    if theirs and theirs not in available:
      optional = " (or '' for no test split)" if ours == "test" else ""
      raise DataError(f"{_where(config)} has no split {theirs!r} (its splits: {sorted(available)}), which "
                      f"hf_split_names gives for our {ours!r} split: set --config.hf_split_names so that "
                      f"{ours} is one of them{optional}, in the order (train, validation, test).")


def _write_json_atomically(path: str, value: dict) -> None:
  os.makedirs(os.path.dirname(path), exist_ok=True)
  workdir_lib.write_atomically(path, json.dumps(value, indent=2))

@dataclasses.dataclass(frozen=True)
class HuggingFaceTranslation(Source):
  """Any `datasets` dataset with a `translation` feature keyed by language."""

  def config_problems(self, config) -> list[str]:
    problems = []
    if not config.hf_dataset:
      problems.append("hf_dataset is empty: dataset='huggingface' needs a Hub id (e.g. wmt/wmt14) or a local "
                      "directory in the Hub's layout")
    names = tuple(config.hf_split_names)
    if len(names) != 3 or not names[0] or not names[1]:
      problems.append(f"hf_split_names={names!r}: must name the dataset's (train, validation, test) splits; only "
                      "test may be ''")
    return problems

  def _read_manifest(self, config) -> dict | None:
    """The manifest, if prepare wrote it for this request and every Arrow file it names is still there."""
    path = manifest_path(config)
    try:
      with open(path) as f:
        manifest = json.load(f)
    except (OSError, ValueError):
      return None
    if manifest.get("version") != _MANIFEST_VERSION or manifest.get("request") != _request(config):
      return None
    files = [name for split in manifest["splits"].values() for name in split["files"]]
    return manifest if all(os.path.exists(name) for name in files) else None

  def prepared(self, config) -> tuple[dict, bool]:
    """The manifest of the prepared data, preparing it first if needed; and whether this call prepared it.

    With a manifest in place, a Hub dataset is not looked up again (no network); a local directory is, cheaply,
    so that rewritten files are prepared again instead of read stale."""
    manifest, prepared_now = self._prepare(config)
    _check_languages(config, manifest["languages"])
    _check_splits(config, list(manifest["splits"]))
    return manifest, prepared_now

  def _builder(self, config):
    import datasets  # pylint: disable=g-import-not-at-top
    try:
      return datasets.load_dataset_builder(config.hf_dataset, config.hf_config or None,
                                           revision=config.hf_revision or None, cache_dir=config.hf_cache_dir or None)
    except Exception as error:  # datasets raises many kinds (connection, not found, bad config, offline)
      raise _load_failure(config, error) from error

  def _prepare(self, config) -> tuple[dict, bool]:
    manifest = self._read_manifest(config)
    if manifest is not None and not _is_local(config):
      return manifest, False
    builder = self._builder(config)
    signature = _data_file_signature(builder)
    if manifest is not None and manifest["data_files"] == signature:
      return manifest, False
    # Checked before downloading where the dataset card says (the Hub's WMT cards list features and splits).
    if builder.info.features is not None:
      _check_languages(config, _translation_languages(config, builder.info.features))
    if builder.info.splits:
      _check_splits(config, list(builder.info.splits))
    if _is_local(config) and os.path.isdir(builder.cache_dir):
      # A local directory's rewritten files keep datasets' hash, so it would reuse the old Arrow cache (and check
      # the new files against the old split sizes): that cache is stale, convert again.
      shutil.rmtree(builder.cache_dir)
      builder = self._builder(config)
    try:
      builder.download_and_prepare()
    except Exception as error:
      raise _load_failure(config, error) from error
    _check_splits(config, list(builder.info.splits))
    splits = {}  # every split of the dataset, so that any hf_split_names reads from this manifest
    for name in builder.info.splits:
      dataset = builder.as_dataset(split=name)
      _check_languages(config, _translation_languages(config, dataset.features))
      splits[name] = {"rows": dataset.num_rows, "files": [entry["filename"] for entry in dataset.cache_files]}
    manifest = {"version": _MANIFEST_VERSION, "request": _request(config), "hash": builder.hash,
                "data_files": signature, "languages": _translation_languages(config, builder.info.features),
                "splits": splits}
    _write_json_atomically(manifest_path(config), manifest)
    return manifest, True

  def prepare(self, config) -> bool:
    return self.prepared(config)[1]

  def stored_bytes(self, config) -> int | None:
    manifest, _ = self.prepared(config)
    return sum(os.path.getsize(name) for split in manifest["splits"].values() for name in split["files"])

  def has_split(self, config, split: str) -> bool:
    return bool(_split_names(config)[split])

  def num_pairs(self, config, split: str) -> int:
    return self.prepared(config)[0]["splits"][_split_names(config)[split]]["rows"]

  def pairs(self, config, split: str) -> Pairs:
    import datasets  # pylint: disable=g-import-not-at-top
    import pyarrow.compute as pc  # pylint: disable=g-import-not-at-top

    manifest, _ = self.prepared(config)
    name = _split_names(config)[split]
    row = 0
    for filename in manifest["splits"][name]["files"]:
      table = datasets.Dataset.from_file(filename)  # memory-mapped
      for batch in table.with_format("arrow").iter(batch_size=_READ_BATCH):
        translations = batch.column("translation")
        sides = []
        for lang in (config.source_lang, config.target_lang):
          texts = pc.struct_field(translations, lang)
          if texts.null_count:  # also true where the whole translation is null
            bad = row + pc.index(pc.is_null(texts), True).as_py()
            raise DataError(
                f"{_where(config)}, split {name!r}, row {bad}: the translation has no {lang!r} text (an "
                "empty or null translation field). Remove such rows (e.g. `dataset.filter(lambda x: "
                f"x['translation'] and x['translation'].get({lang!r}) is not None)`) and save the result as a new "
                "revision or local directory, or use another hf_revision.")
          sides.append(texts.to_pylist())
        yield from zip(*sides)
        row += batch.num_rows

  def identity(self, config) -> dict:
    manifest, _ = self.prepared(config)
    train = _split_names(config)["train"]
    return {"request": manifest["request"], "hash": manifest["hash"], "train_split": train,
            "train_files": manifest["data_files"].get(train), "train_rows": manifest["splits"][train]["rows"]}


SOURCE = HuggingFaceTranslation("huggingface")


def write_hub_layout(directory: str, config_name: str, splits: dict, languages: tuple[str, str],
                     rows_per_shard: int = 500_000) -> None:
  """Writes pairs as a dataset in the Hub's WMT layout (what `hf_dataset=directory` reads): a README whose card
  lists the config's splits, and parquet shards `{config_name}/{split}-0000i-of-0000n.parquet` of examples
  {"translation": {lang: text}}. `splits` maps a split name to (languages[0] text, languages[1] text) pairs; a
  pair may be None or have None for a side, as a malformed dataset would. For tests, benchmarks, or publishing
  one's own corpus in this layout."""
  import datasets  # pylint: disable=g-import-not-at-top
  features = datasets.Features({"translation": datasets.Translation(languages=list(languages))})
  os.makedirs(os.path.join(directory, config_name), exist_ok=True)
  for name in os.listdir(os.path.join(directory, config_name)):  # a rewrite replaces the split's old shards
    if name.endswith(".parquet") and name.split("-")[0] in splits:
      os.remove(os.path.join(directory, config_name, name))
  card = ["---", "configs:", f"- config_name: {config_name}", "  data_files:"]
  for split, pairs in splits.items():
    card += [f"  - split: {split}", f"    path: {config_name}/{split}-*"]
    count = max(1, -(-len(pairs) // rows_per_shard))
    for shard in range(count):
      part = pairs[shard * rows_per_shard:(shard + 1) * rows_per_shard]
      rows = {"translation": [None if pair is None else dict(zip(languages, pair)) for pair in part]}
      datasets.Dataset.from_dict(rows, features=features).to_parquet(
          os.path.join(directory, config_name, f"{split}-{shard:05d}-of-{count:05d}.parquet"))
  card.append("---")
  with open(os.path.join(directory, "README.md"), "w") as f:
    f.write("\n".join(card) + "\n")
