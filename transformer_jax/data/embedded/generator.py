"""Random sentences from the grammar, and the corpus splits: deterministic given a `random.Random` (or a seed).

`python -m transformer_jax.data.embedded` prints samples and statistics (`main`).
"""

from __future__ import annotations

import bisect
import random
import statistics
import time

from transformer_jax.data.embedded.grammar import (POSSESSIVES, SINGULAR_ONLY, Clause, MainClause, NounPhrase,
                                                   PrepPhrase, RelativeClause, SubordinateClause, render_sentence)
from transformer_jax.data.embedded.lexicon import (ADJECTIVES, ADVERBS, CONJUNCTIONS, LEXICON_SIZES, NOUNS,
                                                   PREPOSITIONS, VERBS, Adverb, Noun, Preposition, Verb)

SPLITS = ("train", "validation", "test")
MIN_WORDS = 3  # English words per sentence; sentences outside the range are redrawn
MAX_WORDS = 40


def _pick(rng: random.Random, options):
  """rng.choice with one rng.random() call: about three times faster, and just as deterministic."""
  return options[int(rng.random() * len(options))]


class _Weighted:
  """Draws one of several values with fixed weights using a single rng.random() call."""

  def __init__(self, pairs):
    self.values = [value for value, _ in pairs]
    total, self.cumulative = 0.0, []
    for _, weight in pairs:
      total += weight
      self.cumulative.append(total)
    self.total = total

  def __call__(self, rng: random.Random):
    return self.values[bisect.bisect(self.cumulative, rng.random() * self.total)]


_FRAMES = _Weighted([("intr", 22), ("acc", 36), ("dat", 8), ("ditr", 10), ("cop", 12), ("that", 10)])
_FRAMES_NO_THAT = _Weighted([("intr", 22), ("acc", 36), ("dat", 8), ("ditr", 10), ("cop", 12)])
_TENSES = _Weighted([("present", 45), ("perfect", 25), ("future", 9), ("can", 7), ("must", 5), ("should", 4),
                     ("want", 5)])
_RELATIVE_TENSES = _Weighted([("present", 55), ("perfect", 30), ("future", 5), ("can", 10)])
_DETERMINER = _Weighted([("the", 44), ("a", 18), ("possessive", 12), ("this", 5), ("every", 2), ("no", 3),
                         ("number", 7), ("bare", 9)])
_SUBJECT_DETERMINER = _Weighted([("the", 48), ("a", 16), ("possessive", 12), ("this", 5), ("every", 3), ("number", 7),
                                 ("bare", 9)])
_PP_DETERMINER = _Weighted([("the", 70), ("a", 10), ("possessive", 15), ("this", 5)])
_MAX_DEPTH = 2  # clause embedding: main (0) -> subordinate or that-clause (1) -> that-clause (2)

_VERBS_BY_FRAME = {
    frame: [v for v in VERBS if v.frame == frame] for frame in ("intr", "acc", "dat", "ditr", "that", "cop")
}
_NOUN_LIST = list(NOUNS.values())
_CONJUNCTION_LIST = list(CONJUNCTIONS)


def _nouns_with(tags: frozenset) -> list[Noun]:
  return [n for n in _NOUN_LIST if n.tags & tags]


_POOLS: dict[frozenset, list[Noun]] = {}


def _pool(tags: frozenset) -> list[Noun]:
  if tags not in _POOLS:
    _POOLS[tags] = _nouns_with(tags)
  return _POOLS[tags]


_ALL_PERSONS = ("I", "he", "she", "we", "they")
_THIRD_PERSON = ("he", "she", "they")
_PERSON = frozenset({"person"})
_PERSON_OR_ANIMAL = frozenset({"person", "animal"})
_ADJECTIVES_BY_KIND = {
    kind: [a for a in ADJECTIVES.values() if kind in a.kinds]
    for kind in ("person", "animal", "thing", "food", "place", "event", "work")
}
# Two adjectives only where no comma is needed in either language: (quality or size or age) + colour, or
# (quality or size) + age: "a big black dog" / "ein großer schwarzer Hund".
_ADJECTIVE_PAIRS_BY_KIND = {
    kind: [(a, b) for a in adjs for b in adjs if (a.order <= 4 and b.order == 5) or (a.order <= 3 and b.order == 4)]
    for kind, adjs in _ADJECTIVES_BY_KIND.items()
}


def _random_count(rng: random.Random) -> int:
  return 2 + int(rng.random() * 11) if rng.random() < 0.5 else 13 + int(rng.random() * 87)  # 2..12 / 13..99


def _random_adjectives(rng: random.Random, noun: Noun) -> tuple:
  r = rng.random()
  if r < 0.6:
    return ()
  if r < 0.92 or not _ADJECTIVE_PAIRS_BY_KIND[noun.kind]:
    return (_pick(rng, _ADJECTIVES_BY_KIND[noun.kind]),)
  return _pick(rng, _ADJECTIVE_PAIRS_BY_KIND[noun.kind])


def _random_noun_phrase(rng: random.Random,
                        pool: list[Noun],
                        determiners: _Weighted,
                        allow_possessor: bool = True) -> NounPhrase:
  noun = _pick(rng, pool)
  det = determiners(rng)
  if det == "possessive":
    det = _pick(rng, POSSESSIVES)
  number = None
  if det == "number":
    plural, number = True, _random_count(rng)
  elif det == "bare":
    plural = True
  elif det in SINGULAR_ONLY:
    plural = False
  else:
    plural = rng.random() < (0.1 if noun.kind in ("place", "event") else 0.25)
  possessor = None
  # "the man's dog", "the woman's brother", but not "the soldier's farmer".
  if (allow_possessor and det == "the" and (noun.kind != "person" or "relational" in noun.tags) and
      rng.random() < 0.06):
    owners = _pool(_PERSON) if noun.kind == "person" else _pool(_PERSON_OR_ANIMAL)
    possessor = NounPhrase(_pick(rng, owners), _pick(rng, ("the",) * 3 + POSSESSIVES))
  return NounPhrase(noun, det, plural, number, _random_adjectives(rng, noun), possessor)


def _random_subject(rng: random.Random, v: Verb, simple: bool = False) -> NounPhrase:
  if "person" in v.subject_kinds and rng.random() < 0.25:
    return NounPhrase(pronoun=_pick(rng, _ALL_PERSONS))
  return _random_noun_phrase(rng, _pool(v.subject_kinds), _SUBJECT_DETERMINER, allow_possessor=not simple)


def _random_object(rng: random.Random,
                   tags: frozenset,
                   subject: NounPhrase | None,
                   simple: bool = False,
                   pronoun_ok: bool = True) -> NounPhrase:
  if pronoun_ok and "person" in tags and rng.random() < 0.12:
    first_person_subject = subject is not None and subject.pronoun in ("I", "we")
    # him / her / them, and me / us unless that would need a reflexive ("I see me").
    return NounPhrase(pronoun=_pick(rng, _THIRD_PERSON if first_person_subject else _ALL_PERSONS))
  return _random_noun_phrase(rng, _pool(tags), _DETERMINER, allow_possessor=not simple)


def _random_pp(rng: random.Random, prep: Preposition) -> PrepPhrase:
  if "person" in prep.object_tags and rng.random() < 0.1:  # third person only: "I ... with me" is reflexive
    return PrepPhrase(prep, NounPhrase(pronoun=_pick(rng, _THIRD_PERSON)))
  np = _random_noun_phrase(rng, _pool(prep.object_tags), _PP_DETERMINER)
  if prep.en == "without" and np.det == "a":
    np.det = "the"  # "ohne einen Hund" is stilted; German would drop the article
  return PrepPhrase(prep, np)


def _random_pps(rng: random.Random, v: Verb) -> tuple:
  r = rng.random()
  count = 0 if r < 0.68 else 1 if r < 0.94 else 2
  if not v.pps or count == 0:
    return ()
  first = PREPOSITIONS[_pick(rng, v.pps)]
  chosen = [first]
  if count == 2:
    others = [p for p in v.pps if PREPOSITIONS[p].group != first.group]
    if others:
      chosen.append(PREPOSITIONS[_pick(rng, others)])
  return tuple(_random_pp(rng, p) for p in chosen)


def _random_adverb(rng: random.Random, v: Verb, tense: str, positions: tuple) -> Adverb | None:
  key = (positions, tense, v.manner, "to" in v.pps)
  if key not in _ADVERB_CANDIDATES:
    _ADVERB_CANDIDATES[key] = [
        a for a in ADVERBS.values()
        if a.position in positions and tense in a.tenses and (a.position != "manner" or v.manner) and
        not (a.position == "frequency" and tense == "want") and not (a.en == "here" and "to" in v.pps)
    ]  # "has gone here" is odd
  candidates = _ADVERB_CANDIDATES[key]
  return _pick(rng, candidates) if candidates else None


_ADVERB_CANDIDATES: dict[tuple, list[Adverb]] = {}


def _fill_slots(rng: random.Random,
                c: Clause,
                subject: NounPhrase | None,
                simple: bool,
                gap: str | None = None) -> None:
  v = c.verb
  if v.frame == "acc" and gap != "acc":
    c.accusative = _random_object(rng, v.object_tags, subject, simple)
  elif v.frame == "dat" and gap != "dat":
    c.dative = _random_object(rng, v.object_tags, subject, simple)
  elif v.frame == "ditr":
    c.dative = _random_object(rng, v.object_tags, subject, simple)
    if gap != "acc":
      c.accusative = _random_object(rng, v.second_object_tags, subject, simple, pronoun_ok=False)
      if c.dative.pronoun == "she" and c.accusative.det == "bare":
        c.accusative.det = "the"  # "buys her apples" could also be "kauft ihre Äpfel"
  elif v.frame == "cop":
    kind = "person" if subject is None or subject.pronoun else subject.noun.kind
    c.predicate = _pick(rng, _ADJECTIVES_BY_KIND[kind])


def _random_relative(rng: random.Random, head: NounPhrase) -> RelativeClause:
  """A short relative clause (no adverbial, no further embedding), so it cannot swallow later material."""
  r = rng.random()
  role = "nom" if r < 0.6 else "acc" if r < 0.9 else "dat"
  verbs = _RELATIVE_VERBS[(head.noun.en_sg, role)]
  if not verbs:  # e.g. nothing takes a place as dative object
    role, verbs = "nom", _RELATIVE_VERBS[(head.noun.en_sg, "nom")]
  v = _pick(rng, verbs)
  tense = _RELATIVE_TENSES(rng)
  if role == "nom":
    c = Clause(None, v, tense)
    _fill_slots(rng, c, head, simple=True)  # the head stands in for the subject (agreement, predicate)
  else:
    subject = _random_subject(rng, v, simple=True)
    c = Clause(subject, v, tense)
    _fill_slots(rng, c, subject, simple=True, gap=role)
  if rng.random() < 0.1:
    c.adverb = _random_adverb(rng, v, tense, ("frequency",))
  return RelativeClause(role, c)


def _relative_verbs(noun: Noun, role: str) -> list[Verb]:
  if role == "nom":
    return [v for v in VERBS if v.frame != "that" and noun.kind in v.subject_kinds]
  if role == "acc":
    return [
        v for v in VERBS
        if (v.frame == "acc" and noun.tags & v.object_tags) or (v.frame == "ditr" and noun.tags & v.second_object_tags)
    ]
  return [v for v in VERBS if v.frame == "dat" and noun.tags & v.object_tags]


_RELATIVE_VERBS = {(n.en_sg, role): _relative_verbs(n, role) for n in _NOUN_LIST for role in ("nom", "acc", "dat")}


def _random_clause(rng: random.Random, depth: int, embedded: bool) -> Clause:
  frame = (_FRAMES if depth < _MAX_DEPTH else _FRAMES_NO_THAT)(rng)
  v = _pick(rng, _VERBS_BY_FRAME[frame])
  tense = _TENSES(rng)
  if tense == "want" and not v.volitional:
    tense = "present"
  subject = _random_subject(rng, v)
  c = Clause(subject, v, tense)
  _fill_slots(rng, c, subject, simple=False)
  if frame == "that":
    c.complement = _random_clause(rng, depth + 1, embedded=True)
  if rng.random() < 0.22:
    if frame == "that":  # a clause-final adverb would be ambiguous between the two clauses
      positions = ("frequency",) if embedded else ("frequency", "front")
    else:
      positions = ("end", "frequency", "manner") if embedded else ("end", "frequency", "manner", "front")
    c.adverb = _random_adverb(rng, v, tense, positions)
  if frame not in ("that", "cop"):
    c.pps = _random_pps(rng, v)
  if depth < _MAX_DEPTH:
    # Not on a possessed noun: "the man's dog who ..." would leave the antecedent open.
    if subject.noun is not None and subject.possessor is None and rng.random() < 0.06:
      subject.relative = _random_relative(rng, subject)
    # An object's relative clause only where it ends the English clause, so nothing after it is ambiguous.
    last_object = c.accusative if c.accusative is not None else c.dative
    clause_final = not c.pps and (c.adverb is None or c.adverb.position in ("frequency", "front"))
    if (last_object is not None and last_object.noun is not None and last_object.possessor is None and clause_final and
        rng.random() < 0.1):
      last_object.relative = _random_relative(rng, last_object)
  return c


def _random_main_clause(rng: random.Random) -> MainClause:
  c = _random_clause(rng, depth=0, embedded=False)
  adverb = c.adverb
  adverb_first = adverb is not None and (adverb.position == "front" or
                                         (adverb.position == "end" and rng.random() < 0.4))
  m = MainClause(c, adverb_first)
  if rng.random() < 0.28:
    # After a that-complement a trailing subordinate clause could belong to either clause, so it goes in front.
    first = (c.complement is not None or rng.random() < 0.4) and not adverb_first
    if first or c.complement is None:
      conjunction = _pick(rng, _CONJUNCTION_LIST)
      m.subordinate = SubordinateClause(conjunction, _random_clause(rng, depth=1, embedded=True))
      m.subordinate_first = first
  return m


def generate_pair(rng: random.Random) -> tuple[str, str]:
  """One (english, german) sentence pair drawn from the grammar."""
  while True:
    r = rng.random()
    count = 1 if r < 0.68 else 2 if r < 0.92 else 3
    mains = [_random_main_clause(rng) for _ in range(count)]
    connectors = ["and" if rng.random() < 0.6 else "but" for _ in range(count - 1)]
    english, german = render_sentence(mains, connectors)
    if MIN_WORDS <= english.count(" ") + 1 <= MAX_WORDS:
      return english, german


def make_splits(seed: int = 0,
                num_train: int = 200_000,
                num_validation: int = 500,
                num_test: int = 1000) -> dict[str, list[tuple[str, str]]]:
  """Deterministic from seed. Test and validation are drawn first; no test or validation English sentence
  appears in train (and validation and test are disjoint). Each split has no duplicate English sentences."""
  rng = random.Random(seed)
  seen: set[str] = set()

  def draw(count: int) -> list[tuple[str, str]]:
    pairs, misses = [], 0
    while len(pairs) < count:
      english, german = generate_pair(rng)
      if english in seen:
        misses += 1
        if misses > 100_000 + 10 * count:
          raise RuntimeError("the grammar ran out of new sentences")
        continue
      seen.add(english)
      pairs.append((english, german))
    return pairs

  test = draw(num_test)
  validation = draw(num_validation)
  train = draw(num_train)
  return {"train": train, "validation": validation, "test": test}


def define_flags():
  """The flags of `main`."""
  from absl import flags  # pylint: disable=g-import-not-at-top  (the generator itself needs no absl)
  flags.DEFINE_integer("num_samples", 12, "Sample pairs to print before the corpus statistics.")
  flags.DEFINE_integer("sample_seed", 1, "Seed of the printed samples (the corpus itself uses seed 0).")


def main(argv) -> None:
  """Prints sample pairs, the lexicon sizes and the statistics of the default corpus (make_splits(seed=0))."""
  from absl import app, flags  # pylint: disable=g-import-not-at-top
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
  rng = random.Random(flags.FLAGS.sample_seed)
  print("Sample pairs:")
  for _ in range(flags.FLAGS.num_samples):
    english, german = generate_pair(rng)
    print(f"  EN: {english}\n  DE: {german}\n")
  print("Lexicon:", ", ".join(f"{count} {name}" for name, count in LEXICON_SIZES.items()))
  start = time.perf_counter()
  splits = make_splits(seed=0)
  print(f"make_splits(seed=0): {time.perf_counter() - start:.1f} s")
  for name in SPLITS:
    lengths = [len(english.split()) for english, _ in splits[name]]
    german_lengths = [len(german.split()) for _, german in splits[name]]
    print(f"  {name:<10} {len(lengths):>7} pairs; English words min/median/mean/max "
          f"{min(lengths)}/{statistics.median(lengths):g}/{statistics.fmean(lengths):.1f}/{max(lengths)}; "
          f"German mean {statistics.fmean(german_lengths):.1f}")
  lengths = [len(english.split()) for english, _ in splits["train"]]
  print("English length histogram (train):")
  for low in range(0, MAX_WORDS + 1, 4):
    share = sum(low <= n < low + 4 for n in lengths) / len(lengths)
    print(f"  {low:>2}-{low + 3:<2} {share:6.1%} {'#' * round(share * 200)}")


