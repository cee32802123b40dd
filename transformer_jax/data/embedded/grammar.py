"""Abstract sentences (clauses, noun phrases, verbs with tense, adverbs, prepositional phrases) and their rendering
into English and German: inflection, agreement, word order and commas. The words come from `lexicon`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from transformer_jax.data.embedded.lexicon import (ADJECTIVES, ADVERBS, CONJUNCTIONS, NOUNS, PREPOSITIONS, PRONOUNS,
                                                   TENSES, VERBS, Adjective, Adverb, Noun, Preposition, Verb,
                                                   english_number, german_number)

# ------------------------------------------------------------------------------------- word order and verb forms

_ENGLISH_PP_ORDER = {"place": 0, "with": 1, "time": 2}  # "goes to the park with the dog after the game"
_GERMAN_PP_ORDER = {"time": 0, "with": 1, "place": 2}  # "geht nach dem Spiel mit dem Hund zum Park"
# Preposition + definite article always contracts, so the German stays deterministic.
_CONTRACTIONS = {
    ("zu", "dem"): "zum",
    ("zu", "der"): "zur",
    ("von", "dem"): "vom",
    ("bei", "dem"): "beim",
    ("in", "dem"): "im",
    ("in", "das"): "ins"
}
_VERBS_BY_KEY = {(v.en_base, v.frame): v for v in VERBS}

# Finite forms (ich, er/sie, wir/sie) of the auxiliaries and modals; English modals do not inflect.
_HABEN = ("habe", "hat", "haben")
_SEIN = ("bin", "ist", "sind")
_GERMAN_MODALS = {
    "future": ("werde", "wird", "werden"),
    "can": ("kann", "kann", "können"),
    "must": ("muss", "muss", "müssen"),
    "should": ("sollte", "sollte", "sollten"),
    "want": ("will", "will", "wollen")
}
_ENGLISH_MODALS = {"future": "will", "can": "can", "must": "must", "should": "should"}
_AGREEMENT_INDEX = {"1sg": 0, "3sg": 1, "1pl": 2, "3pl": 2}

# ------------------------------------------------------------------------------------------- German inflection
# Tables are indexed [case][slot], slot 0-3 = masculine, feminine, neuter, plural.

_SLOT = {"m": 0, "f": 1, "n": 2}
_DEFINITE_ARTICLE = {
    "nom": ("der", "die", "das", "die"),
    "acc": ("den", "die", "das", "die"),
    "dat": ("dem", "der", "dem", "den"),
    "gen": ("des", "der", "des", "der")
}
_RELATIVE_PRONOUN = {
    "nom": ("der", "die", "das", "die"),
    "acc": ("den", "die", "das", "die"),
    "dat": ("dem", "der", "dem", "denen")
}
_DER_WORD_ENDINGS = {
    "nom": ("er", "e", "es", "e"),
    "acc": ("en", "e", "es", "e"),
    "dat": ("em", "er", "em", "en"),
    "gen": ("es", "er", "es", "er")
}
_EIN_WORD_ENDINGS = {
    "nom": ("", "e", "", "e"),
    "acc": ("en", "e", "", "e"),
    "dat": ("em", "er", "em", "en"),
    "gen": ("es", "er", "es", "er")
}
# Adjective endings: weak after der-words, mixed after ein-words, strong with no article (or a number).
_WEAK = {
    "nom": ("e", "e", "e", "en"),
    "acc": ("en", "e", "e", "en"),
    "dat": ("en", "en", "en", "en"),
    "gen": ("en", "en", "en", "en")
}
_MIXED = {
    "nom": ("er", "e", "es", "en"),
    "acc": ("en", "e", "es", "en"),
    "dat": ("en", "en", "en", "en"),
    "gen": ("en", "en", "en", "en")
}
_STRONG = {
    "nom": ("er", "e", "es", "e"),
    "acc": ("en", "e", "es", "e"),
    "dat": ("em", "er", "em", "en"),
    "gen": ("en", "er", "en", "er")
}

# Determiners: English key -> German stem and how it declines.
_DER_WORDS = {"this": "dies", "every": "jed"}
_EIN_WORDS = {"a": "ein", "no": "kein", "my": "mein", "his": "sein", "her": "ihr", "our": "unser", "their": "ihr"}
POSSESSIVES = ("my", "his", "her", "our", "their")
DETERMINERS = ("the", "this", "every", "number", "bare") + tuple(_EIN_WORDS)
SINGULAR_ONLY = ("a", "every")


def _german_noun_form(noun: Noun, plural: bool, case: str) -> str:
  if plural:
    if case == "dat" and not noun.de_pl.endswith(("n", "s")):
      return noun.de_pl + "n"  # dative plural -n: den Männern, but den Frauen, den Autos
    return noun.de_pl
  if noun.weak and case != "nom":
    return noun.de_gen  # den/dem/des Jungen
  return noun.de_gen if case == "gen" else noun.de_sg


# ----------------------------------------------------------------------------------------- abstract sentences


@dataclass(slots=True)
class NounPhrase:
  noun: Noun | None = None
  det: str = "the"  # one of DETERMINERS
  plural: bool = False
  number: int | None = None  # for det == "number"
  adjectives: tuple = ()
  possessor: NounPhrase | None = None  # "the man's dog" -> "der Hund des Mannes"
  relative: RelativeClause | None = None
  pronoun: str | None = None  # key of PRONOUNS; then the other fields are unused

  @property
  def agreement(self) -> str:
    if self.pronoun:
      return PRONOUNS[self.pronoun].agreement
    return "3pl" if self.plural else "3sg"


@dataclass(slots=True)
class PrepPhrase:
  prep: Preposition
  np: NounPhrase


@dataclass(slots=True)
class Clause:
  subject: NounPhrase | None  # None inside a subject relative clause (the gap)
  verb: Verb
  tense: str = "present"
  dative: NounPhrase | None = None
  accusative: NounPhrase | None = None
  predicate: Adjective | None = None
  adverb: Adverb | None = None
  pps: tuple = ()
  complement: Clause | None = None  # that-clause of say/know/believe/think/hope


@dataclass(slots=True)
class RelativeClause:
  role: str  # case of the gap: nom (who sees the dog), acc (that the man sees), dat (who the man helps)
  clause: Clause  # with the gapped slot left empty


@dataclass(slots=True)
class SubordinateClause:
  conjunction: str  # key of CONJUNCTIONS
  clause: Clause


@dataclass(slots=True)
class MainClause:
  clause: Clause
  adverb_first: bool = False  # "Today the man sees ..." -> "Heute sieht der Mann ..."
  subordinate: SubordinateClause | None = None
  subordinate_first: bool = False  # "Because ..., the woman laughs." -> "Weil ..., lacht die Frau."


# Convenience constructors, used by the generator and handy for writing tests.


def noun_phrase(noun: str,
                det: str = "the",
                *,
                plural: bool = False,
                number: int | None = None,
                adjectives=(),
                possessor: NounPhrase | None = None,
                relative: RelativeClause | None = None) -> NounPhrase:
  """Noun phrase from English words: noun_phrase("dog", "a", adjectives=["big"]) is "a big dog"."""
  if det == "number":
    if number is None or not 2 <= number <= 99:
      raise ValueError("det='number' needs number in 2..99")
    plural = True
  elif det == "bare":
    plural = True
  elif det in SINGULAR_ONLY and plural:
    raise ValueError(f"{det!r} has no plural")
  if det not in DETERMINERS:
    raise ValueError(f"unknown determiner {det!r}")
  if possessor is not None:
    det = "the"
  adjs = tuple(a if isinstance(a, Adjective) else ADJECTIVES[a] for a in adjectives)
  return NounPhrase(NOUNS[noun], det, plural, number, adjs, possessor, relative)


def pronoun(word: str) -> NounPhrase:
  """"I", "he", "she", "we" or "they" (rendered as me/him/... in object positions)."""
  return NounPhrase(pronoun=PRONOUNS[word].en_nom)


def prep_phrase(prep: str, np: NounPhrase) -> PrepPhrase:
  return PrepPhrase(PREPOSITIONS[prep], np)


def verb(en_base: str, frame: str) -> Verb:
  return _VERBS_BY_KEY[(en_base, frame)]


def clause(subject: NounPhrase | None,
           verb_en: str,
           *,
           tense: str = "present",
           dative: NounPhrase | None = None,
           accusative: NounPhrase | None = None,
           predicate: str | None = None,
           adverb: str | None = None,
           pps=(),
           complement: Clause | None = None,
           frame: str | None = None) -> Clause:
  """A clause from English words; the verb frame follows from the filled slots unless given (a gapped object in a
  relative clause leaves its slot empty, so pass frame there)."""
  if frame is None:
    if predicate is not None:
      frame = "cop"
    elif complement is not None:
      frame = "that"
    elif dative is not None:
      frame = "ditr" if accusative is not None else "dat"
    else:
      frame = "acc" if accusative is not None else "intr"
  if tense not in TENSES:
    raise ValueError(f"unknown tense {tense!r}")
  return Clause(subject, verb(verb_en, frame), tense, dative, accusative, ADJECTIVES[predicate] if predicate else None,
                ADVERBS[adverb] if adverb else None, tuple(pps), complement)


# ------------------------------------------------------------------------------------------------- rendering


def _english_np(np: NounPhrase, objective: bool = False) -> list[str]:
  if np.pronoun:
    word = PRONOUNS[np.pronoun]
    return [word.en_obj if objective else word.en_nom]
  words = [a.en for a in np.adjectives]
  words.append(np.noun.en_pl if np.plural else np.noun.en_sg)
  if np.possessor is not None:
    owner = _english_np(np.possessor)
    owner[-1] += "'s"
    words = owner + words
  elif np.det == "a":
    words.insert(0, "an" if words[0][0] in "aeiou" else "a")
  elif np.det == "this":
    words.insert(0, "these" if np.plural else "this")
  elif np.det == "number":
    words.insert(0, english_number(np.number))
  elif np.det != "bare":
    words.insert(0, np.det)  # the, no, every, my, his, ...
  if np.relative is not None:
    words += _english_relative(np)
  return words


def _german_np(np: NounPhrase, case: str) -> list[str]:
  """The German noun phrase without its relative clause."""
  if np.pronoun:
    word = PRONOUNS[np.pronoun]
    return [{"nom": word.de_nom, "acc": word.de_acc, "dat": word.de_dat}[case]]
  slot = 3 if np.plural else _SLOT[np.noun.gender]
  det = np.det
  if det == "the":  # also with a possessor: "the man's dog" -> "der Hund des Mannes"
    words, endings = [_DEFINITE_ARTICLE[case][slot]], _WEAK
  elif det in _DER_WORDS:
    words, endings = [_DER_WORDS[det] + _DER_WORD_ENDINGS[case][slot]], _WEAK
  elif det in _EIN_WORDS:
    words, endings = [_EIN_WORDS[det] + _EIN_WORD_ENDINGS[case][slot]], _MIXED
  elif det == "number":
    words, endings = [german_number(np.number)], _STRONG
  else:  # bare plural
    words, endings = [], _STRONG
  ending = endings[case][slot]
  words += [a.stem + ending for a in np.adjectives]
  words.append(_german_noun_form(np.noun, np.plural, case))
  if np.possessor is not None:
    words += _german_np(np.possessor, "gen")
  return words


def _german_np_inline(np: NounPhrase, case: str) -> list[str]:
  """German noun phrase with its relative clause right behind it, fenced by commas."""
  words = _german_np(np, case)
  if np.relative is not None:
    words += [","] + _german_relative(np) + [","]
  return words


def _english_relative(head: NounPhrase) -> list[str]:
  rel = head.relative
  return ["who" if head.noun.kind == "person" else "that"] + _english_clause(rel.clause, antecedent=head)


def _german_relative(head: NounPhrase) -> list[str]:
  rel = head.relative
  slot = 3 if head.plural else _SLOT[head.noun.gender]
  return [_RELATIVE_PRONOUN[rel.role][slot]] + _german_clause(rel.clause, main=False, antecedent=head)


def _english_verb_group(v: Verb, tense: str, agreement: str, frequency: Adverb | None) -> list[str]:
  adverb = [frequency.en] if frequency is not None else []
  if tense == "present":
    if v.frame == "cop":
      return [{"1sg": "am", "3sg": "is"}.get(agreement, "are")] + adverb  # "is always tired"
    return adverb + [v.en_3sg if agreement == "3sg" else v.en_base]
  if tense == "perfect":
    return ["has" if agreement == "3sg" else "have"] + adverb + [v.en_pp]
  if tense == "want":
    return adverb + ["wants" if agreement == "3sg" else "want", "to", v.en_base]
  return [_ENGLISH_MODALS[tense]] + adverb + [v.en_base]


def _german_verb_group(v: Verb, tense: str, agreement: str) -> tuple[str, list[str]]:
  """(finite verb, non-finite verbs for the right bracket)."""
  index = _AGREEMENT_INDEX[agreement]
  if tense == "present":
    return v.de_present[index], []
  if tense == "perfect":
    return (_HABEN if v.aux == "haben" else _SEIN)[index], [v.de_pp]
  return _GERMAN_MODALS[tense][index], [v.de_inf]


def _english_pp(pp: PrepPhrase) -> list[str]:
  return [pp.prep.en] + _english_np(pp.np, objective=True)


def _german_pp(pp: PrepPhrase) -> list[str]:
  words = _german_np_inline(pp.np, pp.prep.case)
  definite = not pp.np.pronoun and pp.np.det == "the"
  contracted = _CONTRACTIONS.get((pp.prep.de, words[0])) if definite else None
  if contracted:
    return [contracted] + words[1:]
  return [pp.prep.de] + words


def _english_clause(c: Clause, antecedent: NounPhrase | None = None, adverb_fronted: bool = False) -> list[str]:
  """English clause, subject first; `antecedent` is the head noun phrase when `c` is a relative clause."""
  subject = c.subject if c.subject is not None else antecedent
  adverb = c.adverb
  words = _english_np(c.subject) if c.subject is not None else []
  frequency = adverb if adverb is not None and adverb.position == "frequency" else None
  words += _english_verb_group(c.verb, c.tense, subject.agreement, frequency)
  if c.dative is not None:
    words += _english_np(c.dative, objective=True)
  if c.accusative is not None:
    words += _english_np(c.accusative, objective=True)
  if c.predicate is not None:
    words.append(c.predicate.en)
  if adverb is not None and adverb.position == "manner":
    words.append(adverb.en)
  for pp in (sorted(c.pps, key=lambda p: _ENGLISH_PP_ORDER[p.prep.group]) if len(c.pps) > 1 else c.pps):
    words += _english_pp(pp)
  if adverb is not None and adverb.position in ("end", "front") and not adverb_fronted:
    words.append(adverb.en)
  if c.complement is not None:
    words += ["that"] + _english_clause(c.complement)
  return words


def _german_clause(c: Clause,
                   main: bool,
                   prefield: list[str] | None = None,
                   adverb_fronted: bool = False,
                   antecedent: NounPhrase | None = None) -> list[str]:
  """German clause: verb second when `main` (prefield = subject unless given), verb last otherwise.

  Middle field order: subject, pronoun objects, adverb, dative NP, accusative NP, temporal PP, manner adverb,
  with/for PPs, place PPs, predicative adjective; then the non-finite verbs (and the finite one in subordinate
  clauses); then the Nachfeld: an object's relative clause, a dass-clause.
  """
  subject = c.subject if c.subject is not None else antecedent
  finite, nonfinite = _german_verb_group(c.verb, c.tense, subject.agreement)
  adverb = c.adverb
  middle, nachfeld = [], []
  if c.subject is not None and not (main and prefield is None):
    middle += _german_np_inline(c.subject, "nom")
  objects = [(np, case) for np, case in ((c.dative, "dat"), (c.accusative, "acc")) if np is not None]
  for np, case in objects:
    if np.pronoun:  # unstressed pronouns come before adverbs and full noun phrases
      middle += _german_np(np, case)
  if adverb is not None and adverb.position != "manner" and not adverb_fronted:
    middle.append(adverb.de)
  for np, case in objects:
    if not np.pronoun:
      middle += _german_np(np, case)
      if np.relative is not None:  # extraposed behind the verbs: "hat den Mann gesehen, der schläft"
        nachfeld += [","] + _german_relative(np) + [","]
  pps = sorted(c.pps, key=lambda p: _GERMAN_PP_ORDER[p.prep.group]) if len(c.pps) > 1 else c.pps
  for pp in pps:
    if pp.prep.group == "time":
      middle += _german_pp(pp)
  if adverb is not None and adverb.position == "manner":
    middle.append(adverb.de)
  for pp in pps:
    if pp.prep.group != "time":
      middle += _german_pp(pp)
  if c.predicate is not None:
    middle.append(c.predicate.de)
  if c.complement is not None:
    nachfeld += [",", "dass"] + _german_clause(c.complement, main=False) + [","]
  if not main:
    return middle + nonfinite + [finite] + nachfeld
  if prefield is None:
    prefield = _german_np_inline(c.subject, "nom")
  return prefield + [finite] + middle + nonfinite + nachfeld


def _english_main(m: MainClause) -> list[str]:
  words = []
  if m.subordinate is not None and m.subordinate_first:
    words += _english_subordinate(m.subordinate) + [","]
  elif m.adverb_first:
    words.append(m.clause.adverb.en)
  words += _english_clause(m.clause, adverb_fronted=m.adverb_first)
  if m.subordinate is not None and not m.subordinate_first:
    words += _english_subordinate(m.subordinate)
  return words


def _german_main(m: MainClause) -> list[str]:
  prefield = None
  if m.subordinate is not None and m.subordinate_first:
    prefield = _german_subordinate(m.subordinate) + [","]
  elif m.adverb_first:
    prefield = [m.clause.adverb.de]
  words = _german_clause(m.clause, main=True, prefield=prefield, adverb_fronted=m.adverb_first)
  if m.subordinate is not None and not m.subordinate_first:
    words += [","] + _german_subordinate(m.subordinate) + [","]
  return words


def _english_subordinate(s: SubordinateClause) -> list[str]:
  return [s.conjunction] + _english_clause(s.clause)


def _german_subordinate(s: SubordinateClause) -> list[str]:
  return [CONJUNCTIONS[s.conjunction]] + _german_clause(s.clause, main=False)


_COMMA_RUN = re.compile(r"(?: ,)+")


def _join(words: list[str]) -> str:
  """Tokens -> text. Embedded clauses fence themselves with commas on both sides, so runs of commas collapse into
  one, and commas at either end (sentence-initial subordinate clause, clause-final relative clause) go away."""
  text = " ".join(words)
  if "," in text:
    text = _COMMA_RUN.sub(",", " " + text).strip(" ,")
  return text


def _finish(words: list[str]) -> str:
  text = _join(words) + "."
  return text[0].upper() + text[1:]


def render_noun_phrase(np: NounPhrase, case: str = "nom") -> tuple[str, str]:
  """(English, German) of a noun phrase in the given German case (nom / acc / dat / gen)."""
  return _join(_english_np(np, objective=case != "nom")), _join(_german_np_inline(np, case))


def render_subordinate_clause(conjunction: str, c: Clause) -> tuple[str, str]:
  """("because the man has seen the dog", "weil der Mann den Hund gesehen hat"), without the fencing commas."""
  s = SubordinateClause(conjunction, c)
  return _join(_english_subordinate(s)), _join(_german_subordinate(s))


def render_sentence(main_clauses, connectors=()) -> tuple[str, str]:
  """(English, German) sentence from main clauses (a Clause is promoted to MainClause) joined by "and"/"but"."""
  mains = [m if isinstance(m, MainClause) else MainClause(m) for m in main_clauses]
  if len(connectors) != len(mains) - 1:
    raise ValueError("need one connector between each pair of main clauses")
  english, german = _english_main(mains[0]), _german_main(mains[0])
  for connector, m in zip(connectors, mains[1:]):
    english += [",", connector] + _english_main(m)
    # German puts no comma before "und" between main clauses, but keeps the comma that closes a clause.
    german += ([",", "aber"] if connector == "but" else ["und"]) + _german_main(m)
  return _finish(english), _finish(german)

