"""The synthetic EN->DE corpus: splits, determinism, hand-checked translations, and that the phenomena occur.

Expected German strings are written by hand from German grammar, not copied from the generator's output.
"""

import hashlib
import os
import random
import re
import statistics
import subprocess
import sys

import pytest

from transformer_jax.data.embedded import (
    SPLITS,
    MainClause,
    RelativeClause,
    SubordinateClause,
    clause,
    english_number,
    generate_pair,
    german_number,
    make_splits,
    noun_phrase,
    prep_phrase,
    pronoun,
    render_noun_phrase,
    render_sentence,
    render_subordinate_clause,
)

SMALL = dict(num_train=3000, num_validation=200, num_test=300)


@pytest.fixture(scope="module")
def sample():
  rng = random.Random(1234)
  return [generate_pair(rng) for _ in range(2000)]


# ------------------------------------------------------------------------------------------------- splits


def test_split_sizes_and_names():
  splits = make_splits(seed=0, **SMALL)
  assert tuple(sorted(splits)) == tuple(sorted(SPLITS))
  assert [len(splits[name]) for name in ("train", "validation", "test")] == [3000, 200, 300]


def test_same_seed_same_splits_and_different_seed_different_splits():
  assert make_splits(seed=5, **SMALL) == make_splits(seed=5, **SMALL)
  assert make_splits(seed=5, **SMALL)["test"] != make_splits(seed=6, **SMALL)["test"]


def test_test_and_validation_do_not_depend_on_train_size():
  small, large = make_splits(seed=2, **SMALL), make_splits(seed=2, num_train=6000, num_validation=200, num_test=300)
  assert small["test"] == large["test"] and small["validation"] == large["validation"]


def test_no_duplicates_and_no_overlap():
  splits = make_splits(seed=0, **SMALL)
  english = {name: [en for en, _ in pairs] for name, pairs in splits.items()}
  for name in SPLITS:
    assert len(set(english[name])) == len(english[name]), name
  train = set(english["train"])
  assert not train & set(english["test"])
  assert not train & set(english["validation"])
  assert not set(english["test"]) & set(english["validation"])


def test_identical_across_processes_with_different_hash_seeds():
  code = ("import hashlib; from transformer_jax.data.embedded import make_splits; "
          "print(hashlib.sha256(repr(make_splits(seed=3, num_train=500, num_validation=50, num_test=50))"
          ".encode()).hexdigest())")
  here = hashlib.sha256(repr(make_splits(seed=3, num_train=500, num_validation=50, num_test=50)).encode()).hexdigest()
  repo_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  for hash_seed in ("1", "2"):
    env = dict(os.environ, PYTHONHASHSEED=hash_seed, PYTHONPATH=repo_root)
    out = subprocess.run([sys.executable, "-c", code],
                         env=env,
                         capture_output=True,
                         text=True,
                         check=True,
                         cwd=repo_root)
    assert out.stdout.strip() == here


def test_every_english_sentence_has_exactly_one_german_translation():
  rng = random.Random(99)
  translations = {}
  for _ in range(20000):
    english, german = generate_pair(rng)
    assert translations.setdefault(english, german) == german, english


def test_length_range(sample):
  lengths = [len(en.split()) for en, _ in sample]
  assert min(lengths) <= 4
  assert max(lengths) >= 30
  assert max(lengths) <= 40
  assert 8 <= statistics.median(lengths) <= 16
  assert sum(6 <= n <= 20 for n in lengths) / len(lengths) > 0.6


# ------------------------------------------------------------------------------------------------- numbers


@pytest.mark.parametrize("n, german", [
    (2, "zwei"),
    (7, "sieben"),
    (11, "elf"),
    (12, "zwölf"),
    (16, "sechzehn"),
    (17, "siebzehn"),
    (20, "zwanzig"),
    (21, "einundzwanzig"),
    (30, "dreißig"),
    (37, "siebenunddreißig"),
    (46, "sechsundvierzig"),
    (60, "sechzig"),
    (70, "siebzig"),
    (77, "siebenundsiebzig"),
    (81, "einundachtzig"),
    (99, "neunundneunzig"),
])
def test_german_number(n, german):
  assert german_number(n) == german


@pytest.mark.parametrize("n, english", [
    (2, "two"),
    (13, "thirteen"),
    (15, "fifteen"),
    (20, "twenty"),
    (21, "twenty-one"),
    (40, "forty"),
    (58, "fifty-eight"),
    (99, "ninety-nine"),
])
def test_english_number(n, english):
  assert english_number(n) == english


def test_numbers_out_of_range():
  with pytest.raises(ValueError):
    german_number(100)
  with pytest.raises(ValueError):
    english_number(0)


# ------------------------------------------------------------------------------------------------- noun phrases


@pytest.mark.parametrize("np, case, expected", [
    (("dog", "the", ["big"]), "nom", ("the big dog", "der große Hund")),
    (("dog", "the", ["big"]), "acc", ("the big dog", "den großen Hund")),
    (("dog", "the", ["big"], True), "dat", ("the big dogs", "den großen Hunden")),
    (("house", "a", ["small"]), "dat", ("a small house", "einem kleinen Haus")),
    (("house", "a", ["big"]), "nom", ("a big house", "ein großes Haus")),
    (("woman", "a", ["old"]), "dat", ("an old woman", "einer alten Frau")),
    (("apple", "a", []), "acc", ("an apple", "einen Apfel")),
    (("car", "a", ["expensive"]), "acc", ("an expensive car", "ein teures Auto")),
    (("forest", "the", ["dark"]), "nom", ("the dark forest", "der dunkle Wald")),
    (("dog", "a", ["big", "black"]), "nom", ("a big black dog", "ein großer schwarzer Hund")),
    (("cat", "bare", ["black"]), "dat", ("black cats", "schwarzen Katzen")),
    (("cat", "bare", ["black"]), "nom", ("black cats", "schwarze Katzen")),
    (("boy", "the", []), "nom", ("the boy", "der Junge")),
    (("boy", "the", []), "acc", ("the boy", "den Jungen")),
    (("boy", "a", []), "dat", ("a boy", "einem Jungen")),
    (("dog", "no", []), "acc", ("no dog", "keinen Hund")),
    (("dog", "no", [], True), "dat", ("no dogs", "keinen Hunden")),
    (("mother", "our", []), "dat", ("our mother", "unserer Mutter")),
    (("child", "her", ["small"]), "nom", ("her small child", "ihr kleines Kind")),
    (("house", "this", [], True), "nom", ("these houses", "diese Häuser")),
    (("house", "this", [], True), "dat", ("these houses", "diesen Häusern")),
    (("child", "every", []), "dat", ("every child", "jedem Kind")),
    (("car", "the", [], True), "dat", ("the cars", "den Autos")),
    (("woman", "the", [], True), "dat", ("the women", "den Frauen")),
    (("man", "the", ["old"], True), "nom", ("the old men", "die alten Männer")),
])
def test_noun_phrase(np, case, expected):
  noun, det, adjectives, *plural = np
  assert render_noun_phrase(noun_phrase(noun, det, adjectives=adjectives, plural=bool(plural)), case) == expected


def test_numbers_in_noun_phrases_take_strong_adjectives():
  two_dogs = noun_phrase("dog", "number", number=2, adjectives=["big"])
  assert render_noun_phrase(two_dogs, "nom") == ("two big dogs", "zwei große Hunde")
  assert render_noun_phrase(two_dogs, "dat") == ("two big dogs", "zwei großen Hunden")
  children = noun_phrase("child", "number", number=21)
  assert render_noun_phrase(children, "acc") == ("twenty-one children", "einundzwanzig Kinder")


def test_genitive_possessor():
  dog = noun_phrase("dog", possessor=noun_phrase("man"))
  assert render_noun_phrase(dog, "acc") == ("the man's dog", "den Hund des Mannes")
  bicycle = noun_phrase("bicycle", adjectives=["new"], possessor=noun_phrase("sister", "my"))
  assert render_noun_phrase(bicycle, "nom") == ("my sister's new bicycle", "das neue Fahrrad meiner Schwester")
  ball = noun_phrase("ball", possessor=noun_phrase("boy"))
  assert render_noun_phrase(ball, "dat") == ("the boy's ball", "dem Ball des Jungen")


def test_pronouns():
  assert render_noun_phrase(pronoun("he"), "acc") == ("him", "ihn")
  assert render_noun_phrase(pronoun("he"), "dat") == ("him", "ihm")
  assert render_noun_phrase(pronoun("they"), "dat") == ("them", "ihnen")
  assert render_noun_phrase(pronoun("I"), "nom") == ("I", "ich")


# ------------------------------------------------------------------------------------------------- clauses


def the(noun, **kwargs):
  """A definite noun phrase: the("dog", plural=True) is "the dogs"."""
  return noun_phrase(noun, "the", **kwargs)


@pytest.mark.parametrize("main, expected", [
    (clause(the("man"), "see", accusative=the("dog")), ("The man sees the dog.", "Der Mann sieht den Hund.")),
    (clause(the("man", plural=True), "see", accusative=the("dog")),
     ("The men see the dog.", "Die Männer sehen den Hund.")),
    (clause(pronoun("I"), "see", accusative=the("dog", plural=True)), ("I see the dogs.", "Ich sehe die Hunde.")),
    (clause(pronoun("we"), "read", accusative=the("book")), ("We read the book.", "Wir lesen das Buch.")),
    (clause(pronoun("she"), "read", accusative=the("book")), ("She reads the book.", "Sie liest das Buch.")),
    (clause(the("man"), "see", accusative=the("dog"), adverb="today"),
     ("The man sees the dog today.", "Der Mann sieht heute den Hund.")),
    (MainClause(clause(the("man"), "see", accusative=the("dog"), adverb="today"), adverb_first=True),
     ("Today the man sees the dog.", "Heute sieht der Mann den Hund.")),
    (MainClause(clause(pronoun("we"), "see", accusative=the("dog"), adverb="now", tense="perfect"), adverb_first=True),
     ("Now we have seen the dog.", "Jetzt haben wir den Hund gesehen.")),
    (MainClause(clause(pronoun("they"), "visit", accusative=the("zoo"), adverb="tomorrow", tense="future"),
                adverb_first=True), ("Tomorrow they will visit the zoo.", "Morgen werden sie den Zoo besuchen.")),
    (clause(the("man"), "see", accusative=pronoun("he"), adverb="today"),
     ("The man sees him today.", "Der Mann sieht ihn heute.")),
    (clause(the("man"), "see", accusative=the("dog"), adverb="often"),
     ("The man often sees the dog.", "Der Mann sieht oft den Hund.")),
    (clause(the("dog"), "be", predicate="hungry", adverb="always"),
     ("The dog is always hungry.", "Der Hund ist immer hungrig.")),
    (clause(the("woman"), "sing", adverb="loudly"), ("The woman sings loudly.", "Die Frau singt laut.")),
    (clause(the("man"), "go", tense="perfect", pps=[prep_phrase("to", the("station"))]),
     ("The man has gone to the station.", "Der Mann ist zum Bahnhof gegangen.")),
    (clause(the("girl"), "come", tense="perfect", pps=[prep_phrase("out of", the("school"))]),
     ("The girl has come out of the school.", "Das Mädchen ist aus der Schule gekommen.")),
    (clause(the("man"), "see", accusative=the("dog"), tense="can"),
     ("The man can see the dog.", "Der Mann kann den Hund sehen.")),
    (clause(pronoun("we"), "help", dative=the("child"), tense="future"),
     ("We will help the child.", "Wir werden dem Kind helfen.")),
    (clause(pronoun("she"), "buy", accusative=noun_phrase("ball", "a"), tense="want"),
     ("She wants to buy a ball.", "Sie will einen Ball kaufen.")),
    (clause(pronoun("they"), "visit", accusative=the("grandmother"), tense="should"),
     ("They should visit the grandmother.", "Sie sollten die Großmutter besuchen.")),
    (clause(pronoun("I"), "be", predicate="tired"), ("I am tired.", "Ich bin müde.")),
    (clause(the("house", plural=True), "be", predicate="old"), ("The houses are old.", "Die Häuser sind alt.")),
    (clause(the("dog"), "be", predicate="hungry", tense="perfect"),
     ("The dog has been hungry.", "Der Hund ist hungrig gewesen.")),
    (clause(the("boy"), "help", dative=the("woman")), ("The boy helps the woman.", "Der Junge hilft der Frau.")),
    (clause(the("dog"), "follow", dative=the("child", plural=True), tense="perfect"),
     ("The dog has followed the children.", "Der Hund ist den Kindern gefolgt.")),
    (clause(pronoun("I"), "thank", dative=the("boy")), ("I thank the boy.", "Ich danke dem Jungen.")),
    (clause(the("man"), "give", dative=the("child"), accusative=noun_phrase("ball", "a")),
     ("The man gives the child a ball.", "Der Mann gibt dem Kind einen Ball.")),
    (clause(the("man"), "give", dative=pronoun("she"), accusative=the("ball"), adverb="today"),
     ("The man gives her the ball today.", "Der Mann gibt ihr heute den Ball.")),
    (clause(the("woman"), "show", dative=the("man", plural=True), accusative=noun_phrase("picture", "my")),
     ("The woman shows the men my picture.", "Die Frau zeigt den Männern mein Bild.")),
    (clause(the("child"), "play", pps=[prep_phrase("in", the("house"))]),
     ("The child plays in the house.", "Das Kind spielt im Haus.")),
    (clause(the("child"), "run", pps=[prep_phrase("into", the("house"))]),
     ("The child runs into the house.", "Das Kind läuft ins Haus.")),
    (clause(the("man"), "work", pps=[prep_phrase("for", the("woman"))]),
     ("The man works for the woman.", "Der Mann arbeitet für die Frau.")),
    (clause(
        the("man"),
        "go",
        pps=[prep_phrase("to", the("station")),
             prep_phrase("with", the("dog")),
             prep_phrase("after", the("concert"))]), ("The man goes to the station with the dog after the concert.",
                                                      "Der Mann geht nach dem Konzert mit dem Hund zum Bahnhof.")),
    (clause(the("girl"), "travel", pps=[prep_phrase("through", the("forest")),
                                        prep_phrase("without", the("dog"))]),
     ("The girl travels through the forest without the dog.", "Das Mädchen reist ohne den Hund durch den Wald.")),
    (clause(pronoun("he"), "live", pps=[prep_phrase("near", the("church"))]),
     ("He lives near the church.", "Er lebt bei der Kirche.")),
    (clause(the("man"),
            "say",
            tense="perfect",
            complement=clause(the("woman"), "see", accusative=the("dog"), tense="perfect")),
     ("The man has said that the woman has seen the dog.", "Der Mann hat gesagt, dass die Frau den Hund gesehen hat.")),
])
def test_main_clause(main, expected):
  assert render_sentence([main]) == expected


def test_subordinate_clause_puts_the_finite_verb_last():
  perfect = clause(pronoun("he"), "see", accusative=the("dog"), tense="perfect")
  assert render_subordinate_clause("because",
                                   perfect) == ("because he has seen the dog", "weil er den Hund gesehen hat")
  modal = clause(the("man"), "see", accusative=the("dog"), tense="can")
  assert render_subordinate_clause("although",
                                   modal) == ("although the man can see the dog", "obwohl der Mann den Hund sehen kann")
  present = clause(the("man"), "give", dative=the("child"), accusative=noun_phrase("apple", "a"))
  assert render_subordinate_clause("if", present) == ("if the man gives the child an apple",
                                                      "wenn der Mann dem Kind einen Apfel gibt")
  motion = clause(the("woman", plural=True), "drive", tense="perfect", pps=[prep_phrase("to", the("city"))])
  assert render_subordinate_clause("while", motion) == ("while the women have driven to the city",
                                                        "während die Frauen zur Stadt gefahren sind")


def test_fronted_subordinate_clause_inverts_the_main_clause():
  main = MainClause(clause(the("woman"), "laugh"),
                    subordinate=SubordinateClause("because", clause(the("man"), "see", accusative=the("dog"))),
                    subordinate_first=True)
  assert render_sentence([main]) == ("Because the man sees the dog, the woman laughs.",
                                     "Weil der Mann den Hund sieht, lacht die Frau.")
  nested = MainClause(clause(the("man"), "laugh"),
                      subordinate=SubordinateClause(
                          "because", clause(pronoun("he"), "know", complement=clause(the("dog"), "sleep"))),
                      subordinate_first=True)
  assert render_sentence([nested]) == ("Because he knows that the dog sleeps, the man laughs.",
                                       "Weil er weiß, dass der Hund schläft, lacht der Mann.")


def test_trailing_subordinate_clause_and_coordination_commas():
  laugh = MainClause(clause(the("woman"), "laugh", tense="perfect"),
                     subordinate=SubordinateClause("because",
                                                   clause(pronoun("he"), "see", accusative=the("dog"),
                                                          tense="perfect")))
  assert render_sentence([laugh]) == ("The woman has laughed because he has seen the dog.",
                                      "Die Frau hat gelacht, weil er den Hund gesehen hat.")
  # German closes the subordinate clause with a comma before "und" but puts none between two plain main clauses.
  assert render_sentence([laugh, clause(the("child"), "play")],
                         ["and"]) == ("The woman has laughed because he has seen the dog, and the child plays.",
                                      "Die Frau hat gelacht, weil er den Hund gesehen hat, und das Kind spielt.")
  assert render_sentence([clause(the("man"), "laugh"), clause(the("woman"), "sleep")],
                         ["and"]) == ("The man laughs, and the woman sleeps.", "Der Mann lacht und die Frau schläft.")
  assert render_sentence(
      [clause(pronoun("I"), "sleep"),
       clause(the("dog", plural=True), "play", pps=[prep_phrase("in", the("garden"))])],
      ["but"]) == ("I sleep, but the dogs play in the garden.", "Ich schlafe, aber die Hunde spielen im Garten.")


def test_relative_clauses():
  sleeper = the("man", relative=RelativeClause("nom", clause(None, "sleep")))
  assert render_sentence([clause(sleeper, "see", accusative=the("dog"))]) == ("The man who sleeps sees the dog.",
                                                                              "Der Mann, der schläft, sieht den Hund.")
  bought = the("dog", relative=RelativeClause("acc", clause(the("man"), "buy", tense="perfect", frame="acc")))
  # The object's relative clause moves behind the participle (extraposition).
  assert render_sentence([clause(the("woman"), "see", accusative=bought,
                                 tense="perfect")]) == ("The woman has seen the dog that the man has bought.",
                                                        "Die Frau hat den Hund gesehen, den der Mann gekauft hat.")
  helped = the("man", plural=True, relative=RelativeClause("dat", clause(the("woman"), "help", frame="dat")))
  assert render_sentence([clause(helped, "laugh")]) == ("The men who the woman helps laugh.",
                                                        "Die Männer, denen die Frau hilft, lachen.")
  cats = noun_phrase("cat", "bare", relative=RelativeClause("nom", clause(None, "be", predicate="hungry")))
  assert render_sentence([MainClause(clause(cats, "sleep", adverb="today"), adverb_first=True)
                         ]) == ("Today cats that are hungry sleep.", "Heute schlafen Katzen, die hungrig sind.")


# ------------------------------------------------------------------------------------------------- the corpus


def fraction(sample, predicate):
  return sum(1 for en, de in sample if predicate(en, de)) / len(sample)


def matches(pattern, side=1):
  regex = re.compile(pattern)
  return lambda *pair: regex.search(pair[side]) is not None


@pytest.mark.parametrize("name, predicate, minimum", [
    ("subordinate clause", matches(r"\b(weil|dass|obwohl|wenn|während|bevor)\b"), 0.2),
    ("fronted subordinate clause", matches(r"^(Weil|Obwohl|Wenn|Während|Bevor) "), 0.04),
    ("number with und",
     matches(r"\b(ein|zwei|drei|vier|fünf|sechs|sieben|acht|neun)und"
             r"(zwanzig|dreißig|vierzig|fünfzig|sechzig|siebzig|achtzig|neunzig)\b"), 0.01),
    ("fronted adverb",
     matches(r"^(Heute|Jetzt|Morgen|Bald|Später|Manchmal|Hier|Plötzlich|Endlich|"
             r"Leider|Glücklicherweise) \w+ "), 0.03),
    ("perfect with sein",
     matches(r"\b(bin|ist|sind)\b.*\b(gegangen|gelaufen|gekommen|gefahren|geflogen|gereist|"
             r"geschwommen|gefolgt|gewesen)\b"), 0.03),
    ("perfect with haben", matches(r"\b(habe|hat|haben)\b.*\bge\w+t\b"), 0.1),
    ("modal or future", matches(r"\b(kann|können|muss|müssen|will|wollen|sollte|sollten|werde|wird|werden)\b"), 0.15),
    ("dative article", matches(r"\b(dem|einem|einer|keinem|jedem)\b"), 0.2),
    ("weak noun",
     matches(r"\b(Jungen|Studenten|Nachbarn|Bauern|Polizisten|Soldaten|Kunden|Bären|Löwen|Affen|"
             r"Elefanten)\b"), 0.03),
    ("genitive", matches(r"\b(des|eines|meines|seines|ihres|unseres)\b"), 0.01),
    ("relative clause", matches(r"\b(who|that)\b", side=0), 0.05),
    ("kein", matches(r"\b[Kk]ein(e|en|em|er|es)?\b"), 0.01),
    ("und", matches(r" und "), 0.1),
    ("aber", matches(r", aber "), 0.05),
    ("pronoun subject", matches(r"^(Ich|Wir|Er|Sie) "), 0.08),
    ("contraction", matches(r"\b(zum|zur|im|ins|vom|beim)\b"), 0.03),
    ("plural number",
     matches(
         r"\b(two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|\w+teen|"
         r"twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)(-\w+)? ",
         side=0), 0.03),
])
def test_phenomena_occur(sample, name, predicate, minimum):
  assert fraction(sample, predicate) > minimum, name


def test_prepositions_govern_their_case(sample):
  # Independent of the generator: words that can never follow a dative (or accusative) preposition.
  not_dative = {"die", "das", "ein", "eine", "einen", "ihn", "mich"}
  not_accusative = {"dem", "der", "einem", "einer", "des", "mir", "ihm", "ihnen", "keinem", "jedem"}
  for _, german in sample:
    words = german.rstrip(".").replace(",", "").split()
    for preposition, following in zip(words, words[1:]):
      if preposition in ("mit", "aus", "bei", "nach", "von", "zu"):
        assert following not in not_dative, german
      if preposition in ("für", "ohne", "durch", "gegen"):
        assert following not in not_accusative, german


def test_surface_form(sample):
  subordinators = r"(weil|obwohl|dass|wenn|während|bevor)"
  for english, german in sample:
    for sentence in (english, german):
      assert sentence[0].isupper() and sentence.endswith(".") and sentence.count(".") == 1, sentence
      assert " ," not in sentence and ",," not in sentence and ", ." not in sentence, sentence
    # German fences subordinate clauses with commas (or they start the sentence / follow und / aber).
    for match in re.finditer(rf"(\S+ )?\b{subordinators}\b", german):
      assert match.group(1) is None or match.group(1).endswith(", ") or match.group(1) in ("und ", "aber "), german
    assert not re.search(r"\ba [aeiou]", english) and not re.search(r"\ban [^aeiou]", english), english
