"""What a run does to text before SentencePiece sees it, and how a translation is given back: the config keys
lowercase_text, moses_normalize_punctuation and moses_tokenize (all off: the raw text, untouched).

Multi30k papers in fairseq's tradition (e.g. Wu et al. 2021) train on text that Moses' scripts prepared,

  normalize-punctuation.perl -l LANG | lowercase | tokenizer.perl -l LANG     (& ' " < > | [ ] become &amp; ...)

and score BLEU4 on that text's whitespace tokens (bleu.protocol_bleu). The same steps, from sacremoses, are applied
to both sides of every split before the vocabulary is trained and the ids are encoded, and to translate's input, so
the model reads and writes the preprocessed text. `restore` gives a translation back Moses-detokenized and
unescaped, the form sacreBLEU scores against the raw reference; lowercasing and normalized punctuation stay.
experiments/multi30k/README.md measures how exactly this reproduces the publication's files.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Iterable, Iterator

# The config keys, in the order their steps run.
KEYS = ("moses_normalize_punctuation", "lowercase_text", "moses_tokenize")


@functools.lru_cache(maxsize=None)
def moses_tokenizer(lang: str):
  from sacremoses import MosesTokenizer  # pylint: disable=g-import-not-at-top  (config checks run without it)
  return MosesTokenizer(lang=lang)


@functools.lru_cache(maxsize=None)
def _moses_detokenizer(lang: str):
  from sacremoses import MosesDetokenizer  # pylint: disable=g-import-not-at-top
  return MosesDetokenizer(lang=lang)


@functools.lru_cache(maxsize=None)
def _moses_normalizer(lang: str):
  from sacremoses import MosesPunctNormalizer  # pylint: disable=g-import-not-at-top
  # perl_parity: the script's own rules, its mistakes included (it turns a lone ’ into ").
  return MosesPunctNormalizer(lang=lang, perl_parity=True)


def moses_languages() -> tuple[str, ...]:
  """The language codes Moses has rules (non-breaking prefixes) for; another language gets English's."""
  from sacremoses.corpus import NonbreakingPrefixes  # pylint: disable=g-import-not-at-top
  return tuple(sorted(set(NonbreakingPrefixes().available_langs.values())))


@dataclasses.dataclass(frozen=True)
class TextPreprocessing:
  normalize_punctuation: bool = False
  lowercase: bool = False
  tokenize: bool = False

  @classmethod
  def from_config(cls, config) -> "TextPreprocessing":
    # A workdir written before these keys existed lacks them: its model read the raw text.
    return cls(*(bool(config.get(key, False)) for key in KEYS))

  @property
  def active(self) -> bool:
    return self.normalize_punctuation or self.lowercase or self.tokenize

  def identity(self) -> dict:
    """What the preprocessed text depends on, for the token cache's key (empty when off, so the raw text's
    entries keep their names)."""
    if not self.active:
      return {}
    from importlib import metadata  # pylint: disable=g-import-not-at-top
    return {"preprocessing": {**dict(zip(KEYS, dataclasses.astuple(self))),
                              "sacremoses": metadata.version("sacremoses")}}

  def __call__(self, text: str, lang: str) -> str:
    """`text` (one line, in language `lang`) as the model reads it."""
    if self.normalize_punctuation:
      # The perl script sees each line with its newline, and one rule (de, es, fr: a period before a closing quote
      # moves after it) needs a character after the quote: a sentence-final '."' only moves with the newline there.
      text = _moses_normalizer(lang).normalize(text + "\n")
    if self.lowercase:
      text = text.lower()
    if self.tokenize:
      # Tokens are what the protocol's BLEU counts: one space between them, none around.
      text = " ".join(moses_tokenizer(lang).tokenize(text, escape=True, return_str=True).split())
    return text

  def apply(self, texts: Iterable[str], lang: str) -> list[str]:
    texts = list(texts)
    return [self(text, lang) for text in texts] if self.active else texts

  def pairs(self, pairs: Iterable[tuple[str, str]], source_lang: str, target_lang: str
            ) -> Iterator[tuple[str, str]]:
    """(source, target) pairs with each side preprocessed in its language."""
    for source, target in pairs:
      yield (self(source, source_lang), self(target, target_lang)) if self.active else (source, target)

  def restore(self, text: str, lang: str) -> str:
    """A model output as a reader wants it: Moses-detokenized and unescaped when moses_tokenize is on."""
    if not self.tokenize:
      return text
    return _moses_detokenizer(lang).detokenize(text.split(), return_str=True, unescape=True)

  def restore_all(self, texts: Iterable[str], lang: str) -> list[str]:
    return [self.restore(text, lang) for text in texts]
