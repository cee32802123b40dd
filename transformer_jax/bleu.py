"""BLEU for evaluation: headline sacreBLEU plus the paper-comparable tokenized BLEU.

sacreBLEU (detokenized text, '13a' tokenization) is the number to report and
compare across systems. Vaswani et al. (2017) instead report tensor2tensor's
get_ende_bleu.sh figure: Moses-tokenize, split hyphenated compounds into
"##AT##-##AT##" pieces, then multi-bleu.perl. That figure is typically higher
than sacreBLEU, so it is only meaningful next to numbers computed the same way.
"""

from __future__ import annotations

import collections
import functools
import math
import re
from typing import Sequence

from sacrebleu.metrics import BLEU
from sacremoses import MosesTokenizer

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


def sacrebleu_signature() -> str:
  """Signature string of `sacrebleu_score`, e.g. 'nrefs:1|case:mixed|...'."""
  metric = _headline_metric()
  # sacrebleu only knows nrefs after scoring something; we always use one reference.
  metric.corpus_score(["x"], [["x"]])
  return str(metric.get_signature())


# ---------------------------------------------------------------------------
# Paper-comparable tokenized BLEU (tensor2tensor get_ende_bleu.sh)
# ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def _moses_tokenizer(lang: str) -> MosesTokenizer:
  return MosesTokenizer(lang=lang)


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
  return _moses_tokenizer(lang).tokenize(text, escape=False, return_str=True)


def split_compounds(tokenized_text: str) -> str:
  """Put hyphenated compounds in ##AT## format, e.g. "rich-text" -> "rich ##AT##-##AT## text"."""
  return _COMPOUND_HYPHEN.sub(r"\1 ##AT##-##AT## \2", tokenized_text)


def _paper_tokens(text: str, lang: str) -> list[str]:
  # multi-bleu.perl splits on whitespace, so do the same.
  return split_compounds(moses_tokenize(text, lang)).split()


def _ngram_counts(tokens: Sequence[str], order: int) -> collections.Counter:
  return collections.Counter(tuple(tokens[start:start + order]) for start in range(len(tokens) - order + 1))


def corpus_bleu_from_tokens(hyp_tokens: Sequence[Sequence[str]], ref_tokens: Sequence[Sequence[str]]) -> float:
  """Corpus BLEU (0..100) over pre-tokenized text, as multi-bleu.perl computes it.

    Case-sensitive, n-grams up to 4, clipped counts summed over the corpus, one
    reference per hypothesis, corpus-level brevity penalty, no smoothing: a zero
    precision at any order makes the score 0.
    """
  _check_same_length(hyp_tokens, ref_tokens)
  matches = [0] * MAX_NGRAM_ORDER
  totals = [0] * MAX_NGRAM_ORDER
  hyp_length = ref_length = 0
  for hyp, ref in zip(hyp_tokens, ref_tokens):
    hyp_length += len(hyp)
    ref_length += len(ref)  # multi-bleu takes the closest ref length; with one ref that is it
    for order in range(1, MAX_NGRAM_ORDER + 1):
      hyp_counts = _ngram_counts(hyp, order)
      ref_counts = _ngram_counts(ref, order)
      # A hypothesis n-gram is credited at most as often as it occurs in the reference.
      matches[order - 1] += sum(min(n, ref_counts[g]) for g, n in hyp_counts.items())
      totals[order - 1] += max(len(hyp) - order + 1, 0)

  # multi-bleu.perl gives precision 0 when an order has no n-grams at all, and
  # log(0) is effectively -inf there, so the whole score is 0.
  if hyp_length == 0 or ref_length == 0 or 0 in matches:
    return 0.0
  log_precision_mean = sum(math.log(m / t) for m, t in zip(matches, totals)) / MAX_NGRAM_ORDER
  brevity_penalty = 1.0 if hyp_length >= ref_length else math.exp(1 - ref_length / hyp_length)
  return 100.0 * brevity_penalty * math.exp(log_precision_mean)


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
      "tokenized_bleu": tokenized_bleu(hypotheses, references, lang),
      "signature": sacrebleu_signature(),
  }


__all__ = [
    "bleu_report",
    "corpus_bleu_from_tokens",
    "moses_tokenize",
    "sacrebleu_score",
    "sacrebleu_signature",
    "split_compounds",
    "tokenized_bleu",
]
