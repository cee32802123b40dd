r"""How exactly the config's text preprocessing reproduces a publication's preprocessed Multi30k, and whether
SentencePiece gives the preprocessed text back unchanged.

  python experiments/multi30k/measure_preprocessing.py --raw_dir=data/multi30k --reference_dir=DIR

--raw_dir holds the dataset's raw files (train/val/test_2016_flickr.{en,de}.gz, as dataset="multi30k" reads them);
--reference_dir the publication's preprocessed files under fairseq's names (train/valid/test.2016.{en,de}.gz), BPE
segmented with "@@ " joins, which are removed before comparing (as `sed 's/@@ //g'` does). Prints, per split and
language:
  - the lines where our preprocessing of the raw line equals the publication's line exactly, and where the two have
    the same whitespace tokens;
  - the same count for each departure from the chosen options (why they are chosen);
  - how close Moses-detokenizing the preprocessed line comes back to the raw line (what sacreBLEU sees of the
    preprocessing: lowercasing and normalized punctuation stay);
  - after training the project's SentencePiece model (bpe, --vocab_size pieces) on the preprocessed training text of
    both languages, the lines that encoding then decoding gives back unchanged, naming the characters of the others.
experiments/multi30k/README.md has the numbers.
"""

from __future__ import annotations

import collections
import functools
import os
import sys
import tempfile

from absl import app, flags
from sacremoses import MosesPunctNormalizer, MosesTokenizer

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

from transformer_jax import bleu, tokenizer as tokenizer_lib  # noqa: E402  pylint: disable=g-import-not-at-top
from transformer_jax.data import multi30k  # noqa: E402  pylint: disable=g-import-not-at-top
from transformer_jax.data.sources.files import read_lines  # noqa: E402  pylint: disable=g-import-not-at-top
from transformer_jax.text_preprocessing import TextPreprocessing  # noqa: E402  pylint: disable=g-import-not-at-top

flags.DEFINE_string("raw_dir", None, "Directory of the raw Multi30k files (train/val/test_2016_flickr.LANG.gz).",
                    required=True)
flags.DEFINE_string("reference_dir", None, "Directory of the publication's files (train/valid/test.2016.LANG.gz).",
                    required=True)
flags.DEFINE_list("languages", ["en", "de"], "Languages to compare.")
flags.DEFINE_integer("vocab_size", 10_000, "SentencePiece pieces for the round trip.")
flags.DEFINE_integer("examples", 3, "Differing lines to print per split and language.")
FLAGS = flags.FLAGS

# The publication's file names (fairseq's trainpref/validpref/testpref) for our splits.
REFERENCE_FILES = {"train": "train.{lang}.gz", "validation": "valid.{lang}.gz", "test": "test.2016.{lang}.gz"}
# The Moses pipeline of the publication: moses_normalize_punctuation, lowercase_text and moses_tokenize all on.
PREPROCESSING = TextPreprocessing(normalize_punctuation=True, lowercase=True, tokenize=True)


@functools.lru_cache(maxsize=None)
def _moses(lang: str, perl_parity: bool):
  return MosesPunctNormalizer(lang=lang, perl_parity=perl_parity), MosesTokenizer(lang=lang)


def variant(text: str, lang: str, *, normalize=True, perl_parity=True, newline=True, lowercase_first=True,
            escape=True, aggressive_dash_splits=False) -> str:
  """The chosen pipeline (all defaults: what PREPROCESSING does) with one option changed."""
  normalizer, tokenizer = _moses(lang, perl_parity)
  if normalize:
    text = normalizer.normalize(text + "\n" if newline else text)
  text = text.lower() if lowercase_first else text
  text = tokenizer.tokenize(text, escape=escape, aggressive_dash_splits=aggressive_dash_splits, return_str=True)
  return " ".join((text if lowercase_first else text.lower()).split())


VARIANTS = {
    "chosen: normalize (perl_parity, with the newline), lowercase, tokenize (escape)": {},
    "no punctuation normalization": dict(normalize=False),
    "normalizer without perl_parity": dict(perl_parity=False),
    "normalizer without the line's newline": dict(newline=False),
    "lowercase after tokenizing": dict(lowercase_first=False),
    "escape=False": dict(escape=False),
    "aggressive_dash_splits=True": dict(aggressive_dash_splits=True),
}


def main(argv) -> None:
  del argv
  preprocessed, pairs = {}, {}
  print("| split | language | lines | identical | same tokens |\n|---|---|---|---|---|")
  for split in multi30k.SPLIT_FILES:
    for lang in FLAGS.languages:
      raw = list(read_lines(multi30k.split_pattern(FLAGS.raw_dir, split).format(lang=lang)))
      theirs = [line.replace("@@ ", "") for line in
                read_lines(os.path.join(FLAGS.reference_dir, REFERENCE_FILES[split].format(lang=lang)))]
      if len(raw) != len(theirs):
        sys.exit(f"{split} {lang}: {len(raw)} raw lines but {len(theirs)} of the publication's")
      ours = PREPROCESSING.apply(raw, lang)
      preprocessed[split, lang], pairs[split, lang] = ours, (raw, theirs)
      identical = sum(a == b for a, b in zip(ours, theirs))
      same_tokens = sum(a.split() == b.split() for a, b in zip(ours, theirs))
      print(f"| {split} | {lang} | {len(raw)} | {identical} ({100 * identical / len(raw):.3f}%) | {same_tokens} "
            f"({100 * same_tokens / len(raw):.3f}%) |")
      shown = 0
      for a, b, original in zip(ours, theirs, raw):
        if a != b and shown < FLAGS.examples:
          print(f"    raw:    {original!r}\n    ours:   {a!r}\n    theirs: {b!r}")
          shown += 1

  print("\nLines identical to the publication's, per option (each row changes one option of the first):")
  print("| options | " + " | ".join(f"{split} {lang}" for split, lang in pairs) + " |\n|---|"
        + "---|" * len(pairs))
  for name, options in VARIANTS.items():
    counts = [sum(variant(a, lang, **options) == b for a, b in zip(*pairs[split, lang])) for split, lang in pairs]
    print(f"| {name} | " + " | ".join(map(str, counts)) + " |")

  print("\nDetokenized preprocessed lines against the raw lines:")
  print("| split | language | identical to the lowercased raw line | lowercased sacreBLEU against the raw lines |\n"
        "|---|---|---|---|")
  for (split, lang), lines in preprocessed.items():
    raw = pairs[split, lang][0]
    restored = PREPROCESSING.restore_all(lines, lang)
    same = sum(a == b.lower() for a, b in zip(restored, raw))
    print(f"| {split} | {lang} | {same} ({100 * same / len(raw):.2f}%) | "
          f"{bleu.sacrebleu_lowercase_score(restored, raw):.2f} |")

  with tempfile.TemporaryDirectory() as directory:
    train = [line for lang in FLAGS.languages for line in preprocessed["train", lang]]
    tokenizer = tokenizer_lib.train_tokenizer(train, os.path.join(directory, "sp.model"), FLAGS.vocab_size,
                                              model_type="bpe")
  print(f"\nSentencePiece round trip (bpe, {FLAGS.vocab_size} pieces, trained on the preprocessed training text):")
  print("| split | language | lines | decode(encode(line)) == line |\n|---|---|---|---|")
  for (split, lang), lines in preprocessed.items():
    decoded = [tokenizer.decode(ids) for ids in tokenizer.encode_batch(lines)]
    changed = [(a, b) for a, b in zip(lines, decoded) if a != b]
    characters = collections.Counter(c for a, b in changed for c in set(a) ^ set(b))
    print(f"| {split} | {lang} | {len(lines)} | {len(lines) - len(changed)} "
          f"({100 * (len(lines) - len(changed)) / len(lines):.3f}%) |"
          + (f" changed characters: {dict(characters.most_common(10))}" if changed else ""))
    for a, b in changed[:FLAGS.examples]:
      print(f"    line:    {a!r}\n    decoded: {b!r}")


if __name__ == "__main__":
  app.run(main)
