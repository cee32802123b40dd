"""BLEU for evaluation: headline sacreBLEU plus the paper-comparable tokenized BLEU, and with text preprocessing
the protocol's BLEU on the preprocessed text.

sacreBLEU (detokenized text, '13a' tokenization) is the number to report and
compare across systems. Vaswani et al. (2017) instead report tensor2tensor's
get_ende_bleu.sh figure: Moses-tokenize, split hyphenated compounds into
"##AT##-##AT##" pieces, then multi-bleu.perl. That figure is typically higher
than sacreBLEU, so it is only meaningful next to numbers computed the same way.
The tokenization and the split are ours (the script's exact behaviour); the
counting is sacreBLEU's with tokenize="none", which scores tokens as
multi-bleu.perl does. A run whose text is preprocessed (text_preprocessing.py: lowercased, Moses-tokenized, as
fairseq-era Multi30k papers train) also gets `protocol_bleu`: the same counting on the model's output as it is,
against the reference preprocessed the same way, which is what those papers' fairseq scorer reports as BLEU4.
"""

from __future__ import annotations

import re
from typing import Sequence

from sacrebleu.metrics import BLEU

from transformer_jax.text_preprocessing import moses_tokenizer

MAX_NGRAM_ORDER = 4

# Same pattern as get_ende_bleu.sh's `perl -ple 's{(\S)-(\S)}{$1 ##AT##-##AT## $2}g'`.
# Python's re.sub scans exactly like perl's /g: non-overlapping, resuming after
# each match. Consequently a hyphen whose left neighbour was consumed by the
# previous match stays unsplit: perl turns "a-b-c" into "a ##AT##-##AT## b-c"
# (verified with perl 5). Only a one-character middle segment triggers this
# ("Mund-zu-Mund" is split fully). We keep perl's quirk on purpose: the point
# of this figure is to reproduce the script's numbers, not to be "right".
_COMPOUND_HYPHEN = re.compile(r"(\S)-(\S)")


def _check_same_length(hypotheses: Sequence[str], references: Sequence[str]) -> None:
  if len(hypotheses) != len(references):
    raise ValueError(f"BLEU needs one reference per hypothesis, got {len(hypotheses)} "
                     f"hypotheses and {len(references)} references")


# ---------------------------------------------------------------------------
# Headline sacreBLEU
# ---------------------------------------------------------------------------


def _headline_metric() -> BLEU:
  # Spelled out rather than relying on defaults so the signature can't drift.
  return BLEU(lowercase=False, tokenize="13a", smooth_method="exp")


def sacrebleu_score(hypotheses: Sequence[str], references: Sequence[str]) -> float:
  """Cased sacreBLEU (tok 13a, exp smoothing) of detokenized text, 0..100."""
  _check_same_length(hypotheses, references)
  return _headline_metric().corpus_score(list(hypotheses), [list(references)]).score


def sacrebleu_lowercase_score(hypotheses: Sequence[str], references: Sequence[str]) -> float:
  """sacreBLEU with both sides lowercased (tok 13a, exp smoothing): what Multi30k papers report beside cased BLEU."""
  _check_same_length(hypotheses, references)
  metric = BLEU(lowercase=True, tokenize="13a", smooth_method="exp")
  return metric.corpus_score(list(hypotheses), [list(references)]).score


def sacrebleu_signature() -> str:
  """Signature string of `sacrebleu_score`, e.g. 'nrefs:1|case:mixed|...'."""
  metric = _headline_metric()
  # sacrebleu only knows nrefs after scoring something; we always use one reference.
  metric.corpus_score(["x"], [["x"]])
  return str(metric.get_signature())


# ---------------------------------------------------------------------------
# Paper-comparable tokenized BLEU (tensor2tensor get_ende_bleu.sh)
# ---------------------------------------------------------------------------


def moses_tokenize(text: str, lang: str = "de") -> str:
  """tokenizer.perl -l <lang> as get_ende_bleu.sh runs it (default flags).

    Knowing deviations from that script:
    - escape=False, whereas tokenizer.perl escapes by default (& -> &amp;, " ->
      &quot;, ...). The escaping is a per-token bijection applied after
      tokenization, and it never inserts whitespace or touches "-", so token
      identities, lengths and the compound split below are unchanged: BLEU is
      identical either way.
    - Sentence-final non-breaking prefixes ("usw.", "5." in German) stay
      attached, as in the 2017 tokenizer.perl that produced the paper's numbers.
      Moses changed this in Nov 2018 (mosesdecoder PR #204, "split final dots
      unconditionally"); sacremoses kept the old behaviour.
    """
  return moses_tokenizer(lang).tokenize(text, escape=False, return_str=True)


def split_compounds(tokenized_text: str) -> str:
  """Put hyphenated compounds in ##AT## format, e.g. "rich-text" -> "rich ##AT##-##AT## text"."""
  return _COMPOUND_HYPHEN.sub(r"\1 ##AT##-##AT## \2", tokenized_text)


def _paper_tokens(text: str, lang: str) -> list[str]:
  # multi-bleu.perl splits on whitespace, so do the same.
  return split_compounds(moses_tokenize(text, lang)).split()


def _paper_counting() -> BLEU:
  # multi-bleu.perl's counting is sacreBLEU's over whitespace tokens: case-sensitive, 1- to 4-grams clipped against
  # the reference and summed over the corpus, corpus brevity penalty, no smoothing (a zero precision makes it 0).
  return BLEU(lowercase=False, tokenize="none", smooth_method="none", max_ngram_order=MAX_NGRAM_ORDER, force=True)


def corpus_bleu_from_tokens(hyp_tokens: Sequence[Sequence[str]], ref_tokens: Sequence[Sequence[str]]) -> float:
  """Corpus BLEU (0..100) over pre-tokenized text, as multi-bleu.perl computes it (counted by sacreBLEU)."""
  _check_same_length(hyp_tokens, ref_tokens)
  return _paper_counting().corpus_score([" ".join(h) for h in hyp_tokens],
                                        [[" ".join(r) for r in ref_tokens]]).score


def protocol_bleu(hypotheses: Sequence[str], references: Sequence[str]) -> float:
  """BLEU4 (0..100) of text already preprocessed, on its whitespace tokens: fairseq's scorer and multi-bleu.perl
  (clipped 1- to 4-gram counts summed over the corpus, corpus brevity penalty, no smoothing, case-sensitive)."""
  _check_same_length(hypotheses, references)
  return _paper_counting().corpus_score(list(hypotheses), [list(references)]).score


def tokenized_bleu(hypotheses: Sequence[str], references: Sequence[str], lang: str = "de") -> float:
  """BLEU as in Vaswani et al. 2017 (get_ende_bleu.sh): Moses tok + ##AT## + multi-bleu."""
  _check_same_length(hypotheses, references)
  return corpus_bleu_from_tokens(
      [_paper_tokens(h, lang) for h in hypotheses],
      [_paper_tokens(r, lang) for r in references],
  )


def bleu_report(hypotheses: Sequence[str], references: Sequence[str], lang: str = "de") -> dict:
  """Both BLEU figures plus the sacreBLEU signature, for logging."""
  return {
      "sacrebleu": sacrebleu_score(hypotheses, references),
      "sacrebleu_lowercase": sacrebleu_lowercase_score(hypotheses, references),
      "tokenized_bleu": tokenized_bleu(hypotheses, references, lang),
      "signature": sacrebleu_signature(),
  }


__all__ = [
    "bleu_report",
    "corpus_bleu_from_tokens",
    "moses_tokenize",
    "protocol_bleu",
    "sacrebleu_lowercase_score",
    "sacrebleu_score",
    "sacrebleu_signature",
    "split_compounds",
    "tokenized_bleu",
]
