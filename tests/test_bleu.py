import collections
import math
import random

import pytest
import sacrebleu

from transformer_jax.bleu import (
    bleu_report,
    corpus_bleu_from_tokens,
    moses_tokenize,
    sacrebleu_lowercase_score,
    sacrebleu_score,
    sacrebleu_signature,
    split_compounds,
    tokenized_bleu,
)

HYPOTHESES = [
    "Die Katze sitzt auf der Matte.",
    "Das ist ein Kosten-Nutzen-Verhältnis, sagte er.",
    "",
    "Wir treffen uns morgen um 10 Uhr.",
]
REFERENCES = [
    "Die Katze saß auf der Matte.",
    "Das ist ein gutes Kosten-Nutzen-Verhältnis, sagte er.",
    "Heute regnet es.",
    "Wir treffen uns morgen um 10 Uhr.",
]


def test_sacrebleu_score_matches_package():
  expected = sacrebleu.corpus_bleu(HYPOTHESES, [REFERENCES]).score
  assert sacrebleu_score(HYPOTHESES, REFERENCES) == pytest.approx(expected, abs=1e-9)
  assert 0 < expected < 100


def test_lowercased_sacrebleu_matches_package_and_ignores_case():
  expected = sacrebleu.corpus_bleu(HYPOTHESES, [REFERENCES], lowercase=True).score
  assert sacrebleu_lowercase_score(HYPOTHESES, REFERENCES) == pytest.approx(expected, abs=1e-9)
  recased = [" ".join(word.capitalize() for word in r.split()) for r in REFERENCES]  # keeps "ß", unlike upper()
  assert sacrebleu_lowercase_score(recased, REFERENCES) == pytest.approx(100.0)
  assert sacrebleu_score(recased, REFERENCES) < 90


def test_signature_describes_headline_settings():
  signature = sacrebleu_signature()
  for part in ("nrefs:1", "case:mixed", "tok:13a", "smooth:exp", f"version:{sacrebleu.__version__}"):
    assert part in signature


def random_corpus(rng, num_sentences):
  vocab = ["a", "b", "c", "d", "e", "f"]
  hyps, refs = [], []
  for _ in range(num_sentences):
    ref = [rng.choice(vocab) for _ in range(rng.randint(1, 15))]
    # Hypotheses copy stretches of the reference (so 4-grams match) and are
    # shorter or longer than it; some are empty.
    hyp = list(ref[:rng.randint(0, len(ref))])
    hyp += [rng.choice(vocab) for _ in range(rng.randint(0, 8))]
    if rng.random() < 0.1:
      hyp = []
    hyps.append(hyp)
    refs.append(ref)
  return hyps, refs


def multi_bleu(hyp_tokens, ref_tokens) -> float:
  """A plain multi-bleu.perl, the reference: case-sensitive 1- to 4-grams, counts clipped by the reference and
  summed over the corpus, one reference per hypothesis, corpus brevity penalty, no smoothing."""
  matches, totals = [0] * 4, [0] * 4
  hyp_length = ref_length = 0
  for hyp, ref in zip(hyp_tokens, ref_tokens):
    hyp_length += len(hyp)
    ref_length += len(ref)
    for order in range(1, 5):
      hyp_counts = collections.Counter(tuple(hyp[i:i + order]) for i in range(len(hyp) - order + 1))
      ref_counts = collections.Counter(tuple(ref[i:i + order]) for i in range(len(ref) - order + 1))
      matches[order - 1] += sum(min(n, ref_counts[g]) for g, n in hyp_counts.items())
      totals[order - 1] += max(len(hyp) - order + 1, 0)
  if hyp_length == 0 or ref_length == 0 or 0 in matches:
    return 0.0
  log_precision_mean = sum(math.log(m / t) for m, t in zip(matches, totals)) / 4
  brevity_penalty = 1.0 if hyp_length >= ref_length else math.exp(1 - ref_length / hyp_length)
  return 100.0 * brevity_penalty * math.exp(log_precision_mean)


@pytest.mark.parametrize("seed", range(12))
def test_corpus_bleu_matches_multi_bleu_on_random_tokens(seed):
  rng = random.Random(seed)
  hyps, refs = random_corpus(rng, num_sentences=rng.randint(1, 30))
  assert corpus_bleu_from_tokens(hyps, refs) == pytest.approx(multi_bleu(hyps, refs), abs=1e-6)


def test_random_corpora_cover_both_brevity_regimes_and_nonzero_scores():
  shorter = longer = nonzero = 0
  for seed in range(12):
    rng = random.Random(seed)
    hyps, refs = random_corpus(rng, num_sentences=rng.randint(1, 30))
    hyp_len, ref_len = sum(map(len, hyps)), sum(map(len, refs))
    shorter += hyp_len < ref_len
    longer += hyp_len > ref_len
    nonzero += corpus_bleu_from_tokens(hyps, refs) > 0
  assert shorter and longer and nonzero >= 6


def test_corpus_bleu_by_hand():
  hyp = "the quick brown fox jumps over".split()  # 6 tokens
  ref = "the quick brown fox leaps over it".split()  # 7 tokens
  # 1-grams: the quick brown fox over          -> 5/6
  # 2-grams: the-quick quick-brown brown-fox   -> 3/5
  # 3-grams: the-quick-brown quick-brown-fox   -> 2/4
  # 4-grams: the-quick-brown-fox               -> 1/3
  # brevity penalty: exp(1 - 7/6)
  expected = 100 * math.exp(1 - 7 / 6) * (5 / 6 * 3 / 5 * 2 / 4 * 1 / 3)**0.25
  assert corpus_bleu_from_tokens([hyp], [ref]) == pytest.approx(expected, abs=1e-9)
  assert expected == pytest.approx(45.48, abs=0.01)


def test_corpus_bleu_clips_repeated_ngrams_and_is_zero_without_4gram_match():
  assert corpus_bleu_from_tokens([["the"] * 8], [["the", "cat", "sat", "on", "the", "mat", "!", "!"]]) == 0.0
  assert corpus_bleu_from_tokens([[]], [["a", "b"]]) == 0.0


def test_compound_splitting_follows_perl():
  tokens = split_compounds(moses_tokenize("Das ist ein Test-Fall mit a-b-c."))
  # Hand-checked against perl -ple 's{(\S)-(\S)}{$1 ##AT##-##AT## $2}g': the
  # perl /g scan resumes after "b", so the second hyphen of "a-b-c" survives.
  assert tokens == "Das ist ein Test ##AT##-##AT## Fall mit a ##AT##-##AT## b-c ."
  assert split_compounds("Mund-zu-Mund-Beatmung") == ("Mund ##AT##-##AT## zu ##AT##-##AT## Mund ##AT##-##AT## Beatmung")
  # Free-standing dashes are not compounds.
  assert split_compounds("er kam - und ging -") == "er kam - und ging -"


def test_tokenized_bleu_identical_text_is_100():
  text = [s for s in REFERENCES]
  assert tokenized_bleu(text, text) == pytest.approx(100.0)


def test_tokenized_bleu_differs_from_sacrebleu():
  # 13a keeps "Kosten-Nutzen-Rechnung" as one (wrong) token; the ##AT## split
  # credits the matching "Kosten" and "Nutzen" parts.
  hyps = ["Das ist eine Kosten-Nutzen-Rechnung ."]
  refs = ["Das ist eine Kosten-Nutzen-Verhältnis ."]
  paper = tokenized_bleu(hyps, refs)
  hyp_tokens = "Das ist eine Kosten ##AT##-##AT## Nutzen ##AT##-##AT## Rechnung .".split()
  ref_tokens = "Das ist eine Kosten ##AT##-##AT## Nutzen ##AT##-##AT## Verhältnis .".split()
  assert paper == pytest.approx(corpus_bleu_from_tokens([hyp_tokens], [ref_tokens]))
  assert paper > sacrebleu_score(hyps, refs) + 20


def test_bleu_report_keys():
  report = bleu_report(HYPOTHESES, REFERENCES)
  assert set(report) == {"sacrebleu", "sacrebleu_lowercase", "tokenized_bleu", "signature"}
  assert report["sacrebleu"] == pytest.approx(sacrebleu_score(HYPOTHESES, REFERENCES))
  assert report["tokenized_bleu"] == pytest.approx(tokenized_bleu(HYPOTHESES, REFERENCES))


@pytest.mark.parametrize("function", [sacrebleu_score, tokenized_bleu, bleu_report, corpus_bleu_from_tokens])
def test_length_mismatch_names_both_counts(function):
  with pytest.raises(ValueError, match="3 hypotheses and 2 references"):
    function(["a", "b", "c"], ["a", "b"])
