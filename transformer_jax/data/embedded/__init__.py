"""A procedurally generated English->German parallel corpus: the default, download-free training set.

Every English sentence has exactly one German translation: the grammar below builds an abstract sentence (clauses,
noun phrases, verbs with tense, adverbs, prepositional phrases) and renders it into both languages, and every choice
that changes the German (gender, case, number, tense, word order, comma) is visible in the English. Translating it
still takes real skills:

  * gender and case agreement of articles, possessives and attributive adjectives (weak / mixed / strong
    declension), weak nouns ("den Jungen"), dative plural -n, genitive possessors ("der Hund des Mannes");
  * verb-second main clauses with inversion after a fronted adverb or subordinate clause, verb-final subordinate
    and relative clauses, participles / infinitives at the clause end, haben vs. sein in the perfect;
  * subject-verb agreement for I/he/she/we/they and plural nouns, irregular German plurals;
  * numbers 2-99 as words (German ones before tens: "einundzwanzig");
  * prepositions governing dative / accusative (with contractions zum/zur/im/ins/vom/beim), dative verbs,
    ditransitives, "in" + dative (where) vs. "into" -> "in" + accusative (where to);
  * German commas around subordinate and relative clauses; coordination with "und" / "aber".

Things that would make the mapping ambiguous are left out on purpose: "you" (du/ihr/Sie), "it" (er/sie/es),
simple past (Präteritum vs. Perfekt), English nouns with identical singular and plural (fish, sheep), words with
two common German translations, separable verbs, and PP attachment ambiguities (relative clauses only close a
clause; a clause with a that-complement gets no trailing subordinate clause).

Pure Python standard library, deterministic given a `random.Random`, in three modules: `lexicon` (the words and
their forms), `grammar` (abstract sentences rendered into both languages) and `generator` (random sentences and the
splits). `tfds_builder` serves the splits through tfds, as WMT is read (it alone imports TensorFlow).
Run `python -m transformer_jax.data.embedded` to see samples and statistics.
"""

from transformer_jax.data.embedded.generator import MAX_WORDS, MIN_WORDS, SPLITS, generate_pair, make_splits
from transformer_jax.data.embedded.grammar import (Clause, MainClause, NounPhrase, PrepPhrase, RelativeClause,
                                                   SubordinateClause, clause, noun_phrase, prep_phrase, pronoun,
                                                   render_noun_phrase, render_sentence, render_subordinate_clause,
                                                   verb)
from transformer_jax.data.embedded.lexicon import LEXICON_SIZES, english_number, german_number

__all__ = ["Clause", "LEXICON_SIZES", "MAX_WORDS", "MIN_WORDS", "MainClause", "NounPhrase", "PrepPhrase",
           "RelativeClause", "SPLITS", "SubordinateClause", "clause", "english_number", "generate_pair",
           "german_number", "make_splits", "noun_phrase", "prep_phrase", "pronoun", "render_noun_phrase",
           "render_sentence", "render_subordinate_clause", "verb"]
