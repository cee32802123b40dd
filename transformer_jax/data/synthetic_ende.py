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

Pure Python standard library; deterministic given a `random.Random`.
Run `python -m transformer_jax.data.synthetic_ende` to see samples and statistics.
"""

from __future__ import annotations

import bisect
import random
import re
import statistics
import time
from dataclasses import dataclass

SPLITS = ("train", "validation", "test")
MIN_WORDS = 3  # English words per sentence; sentences outside the range are redrawn
MAX_WORDS = 40

# ------------------------------------------------------------------------------------------------------- numbers

_EN_UNDER_TWENTY = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
                    "fifteen sixteen seventeen eighteen nineteen").split()
_EN_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_DE_UNDER_TWENTY = ("null eins zwei drei vier fünf sechs sieben acht neun zehn elf zwölf dreizehn vierzehn "
                    "fünfzehn sechzehn siebzehn achtzehn neunzehn").split()
_DE_TENS = ("", "", "zwanzig", "dreißig", "vierzig", "fünfzig", "sechzig", "siebzig", "achtzig", "neunzig")


def english_number(n: int) -> str:
  """1..99 as English words: 21 -> "twenty-one"."""
  if not 1 <= n <= 99:
    raise ValueError(f"only 1..99 are supported, got {n}")
  if n < 20:
    return _EN_UNDER_TWENTY[n]
  tens, ones = divmod(n, 10)
  return _EN_TENS[tens] + (f"-{_EN_UNDER_TWENTY[ones]}" if ones else "")


def german_number(n: int) -> str:
  """1..99 as German words, ones before tens: 21 -> "einundzwanzig" ("eins" shortens to "ein" in compounds)."""
  if not 1 <= n <= 99:
    raise ValueError(f"only 1..99 are supported, got {n}")
  if n < 20:
    return _DE_UNDER_TWENTY[n]
  tens, ones = divmod(n, 10)
  if not ones:
    return _DE_TENS[tens]
  return ("ein" if ones == 1 else _DE_UNDER_TWENTY[ones]) + "und" + _DE_TENS[tens]


# ------------------------------------------------------------------------------------------------------- lexicon


@dataclass(frozen=True)
class Noun:
  en_sg: str
  en_pl: str
  gender: str  # "m" / "f" / "n"
  de_sg: str
  de_pl: str
  de_gen: str  # genitive singular; for weak nouns also the accusative and dative singular
  kind: str  # person / animal / thing / food / place / event / work (drives which verbs and adjectives fit)
  tags: frozenset  # kind plus finer tags (readable, enterable, ...) used to pick plausible objects
  weak: bool  # n-declension: der Junge, den/dem/des Jungen


# columns: English singular, plural | gender | German singular, plural, genitive singular ("-": same as singular)
#          | kind,tags | "weak" for the n-declension
_NOUN_TABLE = """
man          men           m  Mann         Männer         Mannes         person
woman        women         f  Frau         Frauen         -              person
child        children      n  Kind         Kinder         Kindes         person,relational,feedable
boy          boys          m  Junge        Jungen         Jungen         person                   weak
girl         girls         n  Mädchen      Mädchen        Mädchens       person
teacher      teachers      m  Lehrer       Lehrer         Lehrers        person,relational
father       fathers       m  Vater        Väter          Vaters         person,relational
mother       mothers       f  Mutter       Mütter         -              person,relational
brother      brothers      m  Bruder       Brüder         Bruders        person,relational
sister       sisters       f  Schwester    Schwestern     -              person,relational
friend       friends       m  Freund       Freunde        Freundes       person,relational
doctor       doctors       m  Arzt         Ärzte          Arztes         person,relational
student      students      m  Student      Studenten      Studenten      person                   weak
neighbor     neighbors     m  Nachbar      Nachbarn       Nachbarn       person,relational        weak
king         kings         m  König        Könige         Königs         person
queen        queens        f  Königin      Königinnen     -              person
farmer       farmers       m  Bauer        Bauern         Bauern         person                   weak
baker        bakers        m  Bäcker       Bäcker         Bäckers        person
policeman    policemen     m  Polizist     Polizisten     Polizisten     person                   weak
soldier      soldiers      m  Soldat       Soldaten       Soldaten       person                   weak
grandfather  grandfathers  m  Großvater    Großväter      Großvaters     person,relational
grandmother  grandmothers  f  Großmutter   Großmütter     -              person,relational
son          sons          m  Sohn         Söhne          Sohnes         person,relational
daughter     daughters     f  Tochter      Töchter        -              person,relational
aunt         aunts         f  Tante        Tanten         -              person,relational
uncle        uncles        m  Onkel        Onkel          Onkels         person,relational
customer     customers     m  Kunde        Kunden         Kunden         person                   weak
baby         babies        n  Baby         Babys          Babys          person,relational,feedable
dog          dogs          m  Hund         Hunde          Hundes         animal
cat          cats          f  Katze        Katzen         -              animal
horse        horses        n  Pferd        Pferde         Pferdes        animal
bird         birds         m  Vogel        Vögel          Vogels         animal
mouse        mice          f  Maus         Mäuse          -              animal
cow          cows          f  Kuh          Kühe           -              animal
bear         bears         m  Bär          Bären          Bären          animal                   weak
lion         lions         m  Löwe         Löwen          Löwen          animal                   weak
monkey       monkeys       m  Affe         Affen          Affen          animal                   weak
rabbit       rabbits       n  Kaninchen    Kaninchen      Kaninchens     animal
duck         ducks         f  Ente         Enten          -              animal
pig          pigs          n  Schwein      Schweine       Schweines      animal
wolf         wolves        m  Wolf         Wölfe          Wolfes         animal
fox          foxes         m  Fuchs        Füchse         Fuchses        animal
elephant     elephants     m  Elefant      Elefanten      Elefanten      animal                   weak
frog         frogs         m  Frosch       Frösche        Frosches       animal
ball         balls         m  Ball         Bälle          Balles         thing,catchable,throwable
book         books         n  Buch         Bücher         Buches         thing,readable,writable,openable,sendable
letter       letters       m  Brief        Briefe         Briefes        thing,readable,writable,openable,sendable
car          cars          n  Auto         Autos          Autos          thing,machine,washable
key          keys          m  Schlüssel    Schlüssel      Schlüssels     thing,throwable
table        tables        m  Tisch        Tische         Tisches        thing,buildable
chair        chairs        m  Stuhl        Stühle         Stuhles        thing,buildable
cup          cups          f  Tasse        Tassen         -              thing,washable
bottle       bottles       f  Flasche      Flaschen       -              thing,openable
flower       flowers       f  Blume        Blumen         -              thing,sendable
picture      pictures      n  Bild         Bilder         Bildes         thing,sendable
bag          bags          f  Tasche       Taschen        -              thing,openable
hat          hats          m  Hut          Hüte           Hutes          thing,washable
coat         coats         m  Mantel       Mäntel         Mantels        thing,washable
shoe         shoes         m  Schuh        Schuhe         Schuhs         thing,washable
dress        dresses       n  Kleid        Kleider        Kleides        thing,washable
clock        clocks        f  Uhr          Uhren          -              thing,machine
computer     computers     m  Computer     Computer       Computers      thing,machine
phone        phones        n  Telefon      Telefone       Telefons       thing,machine
camera       cameras       f  Kamera       Kameras        -              thing,machine
bicycle      bicycles      n  Fahrrad      Fahrräder      Fahrrades      thing,machine,washable
newspaper    newspapers    f  Zeitung      Zeitungen      -              thing,readable
map          maps          f  Karte        Karten         -              thing,readable
story        stories       f  Geschichte   Geschichten    -              work,readable,writable,tellable
song         songs         n  Lied         Lieder         Liedes         work,writable,audible
box          boxes         f  Kiste        Kisten         -              thing,openable,buildable
ring         rings         m  Ring         Ringe          Ringes         thing,sendable
gift         gifts         n  Geschenk     Geschenke      Geschenkes     thing,sendable,openable
umbrella     umbrellas     m  Regenschirm  Regenschirme   Regenschirms   thing
stone        stones        m  Stein        Steine         Steines        thing,throwable
guitar       guitars       f  Gitarre      Gitarren       -              thing
door         doors         f  Tür          Türen          -              thing,openable
window       windows       n  Fenster      Fenster        Fensters       thing,openable,washable
apple        apples        m  Apfel        Äpfel          Apfels         food,throwable
banana       bananas       f  Banane       Bananen        -              food
pear         pears         f  Birne        Birnen         -              food
orange       oranges       f  Orange       Orangen        -              food
egg          eggs          n  Ei           Eier           Eies           food
cake         cakes         m  Kuchen       Kuchen         Kuchens        food,sendable
cookie       cookies       m  Keks         Kekse          Kekses         food
sausage      sausages      f  Wurst        Würste         -              food
potato       potatoes      f  Kartoffel    Kartoffeln     -              food
tomato       tomatoes      f  Tomate       Tomaten        -              food
house        houses        n  Haus         Häuser         Hauses         place,enterable,passable,buildable
garden       gardens       m  Garten       Gärten         Gartens        place,enterable,passable
city         cities        f  Stadt        Städte         -              place,enterable,passable
school       schools       f  Schule       Schulen        -              place,enterable,buildable
park         parks         m  Park         Parks          Parks          place,enterable,passable
station      stations      m  Bahnhof      Bahnhöfe       Bahnhofs       place,enterable,passable
church       churches      f  Kirche       Kirchen        -              place,enterable,buildable
forest       forests       m  Wald         Wälder         Waldes         place,enterable,passable
village      villages      n  Dorf         Dörfer         Dorfes         place,enterable,passable
kitchen      kitchens      f  Küche        Küchen         -              place,enterable
room         rooms         n  Zimmer       Zimmer         Zimmers        place,enterable
shop         shops         m  Laden        Läden          Ladens         place,enterable
library      libraries     f  Bibliothek   Bibliotheken   -              place,enterable,buildable
hospital     hospitals     n  Krankenhaus  Krankenhäuser  Krankenhauses  place,enterable,buildable
castle       castles       n  Schloss      Schlösser      Schlosses      place,enterable,passable,buildable
office       offices       n  Büro         Büros          Büros          place,enterable
museum       museums       n  Museum       Museen         Museums        place,enterable,passable
hotel        hotels        n  Hotel        Hotels         Hotels         place,enterable,buildable
zoo          zoos          m  Zoo          Zoos           Zoos           place,enterable,passable
tower        towers        m  Turm         Türme          Turmes         place,enterable,buildable
market       markets       m  Markt        Märkte         Marktes        place,passable
street       streets       f  Straße       Straßen        -              place,passable
beach        beaches       m  Strand       Strände        Strandes       place
lake         lakes         m  See          Seen           Sees           place
concert      concerts      n  Konzert      Konzerte       Konzerts       event,audible
game         games         n  Spiel        Spiele         Spiels         event
party        parties       f  Party        Partys         -              event
movie        movies        m  Film         Filme          Films          event
breakfast    breakfasts    n  Frühstück    Frühstücke     Frühstücks     event
dinner       dinners       n  Abendessen   Abendessen     Abendessens    event
meeting      meetings      n  Treffen      Treffen        Treffens       event
wedding      weddings      f  Hochzeit     Hochzeiten     -              event
"""


def _parse_nouns(table: str) -> dict[str, Noun]:
  nouns = {}
  for line in table.strip().splitlines():
    en_sg, en_pl, gender, de_sg, de_pl, de_gen, tags, *flags = line.split()
    tag_list = tags.split(",")
    nouns[en_sg] = Noun(en_sg, en_pl, gender, de_sg, de_pl, de_sg if de_gen == "-" else de_gen, tag_list[0],
                        frozenset(tag_list), "weak" in flags)
  return nouns


NOUNS = _parse_nouns(_NOUN_TABLE)


@dataclass(frozen=True)
class Adjective:
  en: str
  de: str  # predicative (uninflected) form
  stem: str  # attributive stem that takes the endings: teuer -> teur-e, dunkel -> dunkl-e
  order: int  # English adjective order: 1 opinion, 2 size, 3 other qualities, 4 age, 5 colour
  kinds: frozenset  # noun kinds it can describe


# columns: English | German predicative, attributive stem | order class | noun kinds
_ADJECTIVE_TABLE = """
beautiful    schön        schön        1  person,animal,thing,food,place,event,work
ugly         hässlich     hässlich     1  person,animal,thing,place
good         gut          gut          1  person,animal,thing,food,place,event,work
bad          schlecht     schlecht     1  person,animal,thing,food,event,work
strange      seltsam      seltsam      1  person,animal,thing,food,place,event,work
wonderful    wunderbar    wunderbar    1  person,animal,thing,food,place,event,work
interesting  interessant  interessant  1  person,thing,place,event,work
boring       langweilig   langweilig   1  person,thing,place,event,work
friendly     freundlich   freundlich   1  person,animal
famous       berühmt      berühmt      1  person,animal,place,work
rich         reich        reich        1  person
poor         arm          arm          1  person,animal
happy        glücklich    glücklich    1  person,animal
sad          traurig      traurig      1  person,animal
tired        müde         müd          1  person,animal
hungry       hungrig      hungrig      1  person,animal
clever       klug         klug         1  person,animal
lazy         faul         faul         1  person,animal
brave        mutig        mutig        1  person,animal
funny        lustig       lustig       1  person,animal,event,work
big          groß         groß         2  person,animal,thing,food,place
small        klein        klein        2  person,animal,thing,food,place
huge         riesig       riesig       2  animal,thing,place
long         lang         lang         2  thing,event,work
short        kurz         kurz         2  thing,event,work
heavy        schwer       schwer       3  thing
expensive    teuer        teur         3  thing,food,place
cheap        billig       billig       3  thing,food
clean        sauber       sauber       3  animal,thing,place
dirty        schmutzig    schmutzig    3  person,animal,thing,place
empty        leer         leer         3  thing,place
warm         warm         warm         3  thing,food,place
cold         kalt         kalt         3  thing,food,place
dark         dunkel       dunkl        3  thing,place
quiet        ruhig        ruhig        3  person,animal,place
loud         laut         laut         3  person,animal,thing,place,event
fast         schnell      schnell      3  animal,thing
strong       stark        stark        3  person,animal
fresh        frisch       frisch       3  food
sweet        süß          süß          3  animal,food
old          alt          alt          4  person,animal,thing,place
new          neu          neu          4  thing,place,work
young        jung         jung         4  person,animal
red          rot          rot          5  thing,food
blue         blau         blau         5  thing
green        grün         grün         5  thing,food
black        schwarz      schwarz      5  animal,thing
white        weiß         weiß         5  animal,thing
brown        braun        braun        5  animal,thing
"""

ADJECTIVES = {}
for _line in _ADJECTIVE_TABLE.strip().splitlines():
  _en, _de, _stem, _order, _kinds = _line.split()
  ADJECTIVES[_en] = Adjective(_en, _de, _stem, int(_order), frozenset(_kinds.split(",")))


@dataclass(frozen=True)
class Adverb:
  en: str
  de: str
  # Where the English puts it. front: only sentence-initial (German inverts); end: clause-final, or fronted in
  # main clauses; frequency: before the main verb ("has often seen"); manner: clause-final. In German all but
  # fronted ones sit in the middle field.
  position: str
  tenses: tuple  # tenses it fits: "tomorrow" wants a future or modal verb


_ALL_TENSES = ("present", "perfect", "future", "can", "must", "should", "want")
# No "yesterday": English would need the simple past, which has no unambiguous German counterpart here.
_LATER_TENSES = ("future", "can", "must", "should", "want")
ADVERBS = {
    a.en: a for a in (
        Adverb("suddenly", "plötzlich", "front", _ALL_TENSES),
        Adverb("finally", "endlich", "front", _ALL_TENSES),
        Adverb("unfortunately", "leider", "front", _ALL_TENSES),
        Adverb("fortunately", "glücklicherweise", "front", _ALL_TENSES),
        Adverb("today", "heute", "end", _ALL_TENSES),
        Adverb("now", "jetzt", "end", _ALL_TENSES),
        Adverb("here", "hier", "end", _ALL_TENSES),
        Adverb("sometimes", "manchmal", "end", _ALL_TENSES),
        Adverb("tomorrow", "morgen", "end", _LATER_TENSES),
        Adverb("soon", "bald", "end", _LATER_TENSES),
        Adverb("later", "später", "end", _LATER_TENSES),
        Adverb("always", "immer", "frequency", _ALL_TENSES),
        Adverb("often", "oft", "frequency", _ALL_TENSES),
        Adverb("usually", "meistens", "frequency", _ALL_TENSES),
        Adverb("rarely", "selten", "frequency", _ALL_TENSES),
        Adverb("quickly", "schnell", "manner", _ALL_TENSES),
        Adverb("slowly", "langsam", "manner", _ALL_TENSES),
        Adverb("quietly", "leise", "manner", _ALL_TENSES),
        Adverb("loudly", "laut", "manner", _ALL_TENSES),
    )
}


@dataclass(frozen=True)
class Preposition:
  en: str
  de: str
  case: str
  group: str  # time / with / place: decides the order of several PPs (reversed between the languages)
  object_tags: frozenset


PREPOSITIONS = {
    p.en: p for p in (
        Preposition("after", "nach", "dat", "time", frozenset({"event"})),
        Preposition("with", "mit", "dat", "with", frozenset({"person", "animal"})),
        Preposition("without", "ohne", "acc", "with", frozenset({"person", "animal"})),
        Preposition("for", "für", "acc", "with", frozenset({"person", "animal"})),
        Preposition("against", "gegen", "acc", "with", frozenset({"person", "animal"})),
        Preposition("in", "in", "dat", "place", frozenset({"enterable"})),  # location: dative
        Preposition("into", "in", "acc", "place", frozenset({"enterable"})),  # direction: accusative
        Preposition("near", "bei", "dat", "place", frozenset({"place"})),
        Preposition("to", "zu", "dat", "place", frozenset({"place", "person"})),
        Preposition("out of", "aus", "dat", "place", frozenset({"enterable"})),
        Preposition("from", "von", "dat", "place", frozenset({"place", "person"})),
        Preposition("through", "durch", "acc", "place", frozenset({"passable"})),
    )
}
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

CONJUNCTIONS = {"because": "weil", "although": "obwohl", "if": "wenn", "while": "während", "before": "bevor"}


@dataclass(frozen=True)
class Verb:
  frame: str  # intr / acc / dat (dative object) / ditr (dative + accusative) / that (dass-clause) / cop (be + adj)
  en_base: str
  en_3sg: str
  en_pp: str
  de_inf: str
  de_present: tuple  # (ich, er/sie, wir/sie)
  de_pp: str
  aux: str  # "haben" or "sein" in the perfect
  subject_kinds: frozenset
  object_tags: frozenset  # accusative object (acc), dative object (dat, ditr)
  second_object_tags: frozenset  # accusative object of ditransitives
  pps: tuple  # prepositions that make sense as adjuncts
  manner: bool  # takes quickly/slowly/quietly/loudly
  volitional: bool  # can follow "want to" ("wants to need" is odd)


_STATIC = "in near with without after"
_MOTION = "to into out_of from through with without after"


def _verb(frame,
          en,
          de,
          *,
          aux="haben",
          subject="person",
          objects="",
          second="",
          pps="",
          manner=False,
          volitional=True,
          de_plural=None):
  en_base, en_3sg, en_pp = en.split()
  de_inf, de_1sg, de_3sg, de_pp = de.split()
  return Verb(frame, en_base, en_3sg, en_pp, de_inf, (de_1sg, de_3sg, de_plural or de_inf), de_pp, aux,
              frozenset(subject.split(",")),
              frozenset(objects.split(",")) - {""},
              frozenset(second.split(",")) - {""}, tuple(p.replace("_", " ") for p in pps.split()), manner, volitional)


_ANY = "person,animal,thing,food,place,event,work"
VERBS = (
    _verb("intr", "laugh laughs laughed", "lachen lache lacht gelacht", pps=_STATIC),
    _verb("intr", "sleep sleeps slept", "schlafen schlafe schläft geschlafen", subject="person,animal", pps=_STATIC),
    _verb("intr", "work works worked", "arbeiten arbeite arbeitet gearbeitet", pps=_STATIC + " for", manner=True),
    _verb("intr", "sing sings sung", "singen singe singt gesungen", pps=_STATIC + " for", manner=True),
    _verb("intr", "dance dances danced", "tanzen tanze tanzt getanzt", pps=_STATIC + " for", manner=True),
    _verb("intr",
          "swim swims swum",
          "schwimmen schwimme schwimmt geschwommen",
          aux="sein",
          subject="person,animal",
          pps="to from with without after",
          manner=True),
    _verb("intr",
          "run runs run",
          "laufen laufe läuft gelaufen",
          aux="sein",
          subject="person,animal",
          pps=_MOTION,
          manner=True),
    _verb("intr",
          "go goes gone",
          "gehen gehe geht gegangen",
          aux="sein",
          subject="person,animal",
          pps=_MOTION,
          manner=True),
    _verb("intr",
          "come comes come",
          "kommen komme kommt gekommen",
          aux="sein",
          subject="person,animal",
          pps=_MOTION,
          manner=True),
    _verb("intr",
          "drive drives driven",
          "fahren fahre fährt gefahren",
          aux="sein",
          pps="to from through with without after",
          manner=True),
    _verb("intr", "fly flies flown", "fliegen fliege fliegt geflogen", aux="sein", pps="to from with without after"),
    _verb("intr",
          "travel travels traveled",
          "reisen reise reist gereist",
          aux="sein",
          pps="to from through with without after"),
    _verb("intr", "wait waits waited", "warten warte wartet gewartet", subject="person,animal", pps=_STATIC),
    _verb("intr",
          "play plays played",
          "spielen spiele spielt gespielt",
          subject="person,animal",
          pps=_STATIC + " for against"),
    _verb("intr", "cry cries cried", "weinen weine weint geweint", pps=_STATIC, manner=True),
    _verb("intr", "live lives lived", "leben lebe lebt gelebt", subject="person,animal", pps="in near with without"),
    _verb("intr", "speak speaks spoken", "sprechen spreche spricht gesprochen", pps=_STATIC, manner=True),
    _verb("intr", "eat eats eaten", "essen esse isst gegessen", subject="person,animal", pps=_STATIC, manner=True),
    _verb("intr", "read reads read", "lesen lese liest gelesen", pps=_STATIC, manner=True),
    _verb("intr", "write writes written", "schreiben schreibe schreibt geschrieben", pps=_STATIC + " for", manner=True),
    _verb("intr", "cook cooks cooked", "kochen koche kocht gekocht", pps=_STATIC + " for"),
    _verb("acc",
          "see sees seen",
          "sehen sehe sieht gesehen",
          subject="person,animal",
          objects="person,animal,thing,food,place,event",
          pps=_STATIC),
    _verb("acc",
          "hear hears heard",
          "hören höre hört gehört",
          subject="person,animal",
          objects="person,animal,audible",
          pps="in near after"),
    _verb("acc", "buy buys bought", "kaufen kaufe kauft gekauft", objects="thing,food,animal", pps=_STATIC + " for"),
    _verb("acc", "sell sells sold", "verkaufen verkaufe verkauft verkauft", objects="thing,food,animal",
          pps="in after"),
    _verb("acc",
          "find finds found",
          "finden finde findet gefunden",
          subject="person,animal",
          objects="person,animal,thing,food",
          pps="in near after"),
    _verb("acc", "read reads read", "lesen lese liest gelesen", objects="readable", pps=_STATIC + " for", manner=True),
    _verb("acc",
          "write writes written",
          "schreiben schreibe schreibt geschrieben",
          objects="writable",
          pps=_STATIC + " for",
          manner=True),
    _verb("acc",
          "eat eats eaten",
          "essen esse isst gegessen",
          subject="person,animal",
          objects="food",
          pps=_STATIC,
          manner=True),
    _verb("acc",
          "love loves loved",
          "lieben liebe liebt geliebt",
          objects="person,animal,thing,food,place,work",
          volitional=False),
    _verb("acc", "like likes liked", "mögen mag mag gemocht", subject="person,animal", objects=_ANY, volitional=False),
    _verb("acc",
          "visit visits visited",
          "besuchen besuche besucht besucht",
          objects="person,place",
          pps="with without after"),
    _verb("acc",
          "know knows known",
          "kennen kenne kennt gekannt",
          subject="person,animal",
          objects="person,animal,place"),
    _verb("acc", "meet meets met", "treffen treffe trifft getroffen", objects="person", pps="in near after"),
    _verb("acc", "ask asks asked", "fragen frage fragt gefragt", objects="person", pps="in after"),
    _verb("acc",
          "carry carries carried",
          "tragen trage trägt getragen",
          subject="person,animal",
          objects="thing,food",
          pps="to into out_of from through with after"),
    _verb("acc", "take takes taken", "nehmen nehme nimmt genommen", objects="thing,food", pps="out_of from after"),
    _verb("acc",
          "catch catches caught",
          "fangen fange fängt gefangen",
          subject="person,animal",
          objects="animal,catchable",
          pps="in near after"),
    _verb("acc", "open opens opened", "öffnen öffne öffnet geöffnet", objects="openable", pps="in after", manner=True),
    _verb("acc",
          "wash washes washed",
          "waschen wasche wäscht gewaschen",
          objects="person,animal,washable",
          pps="in after for"),
    _verb("acc",
          "paint paints painted",
          "malen male malt gemalt",
          objects="person,animal,thing,food,place",
          pps=_STATIC + " for"),
    _verb("acc", "build builds built", "bauen baue baut gebaut", objects="buildable", pps="in near with after for"),
    _verb("acc",
          "repair repairs repaired",
          "reparieren repariere repariert repariert",
          objects="machine",
          pps="in with after for"),
    _verb("acc",
          "need needs needed",
          "brauchen brauche braucht gebraucht",
          subject="person,animal",
          objects="person,animal,thing,food",
          volitional=False),
    _verb("acc", "have has had", "haben habe hat gehabt", subject="person,animal", objects="animal,thing,food"),
    _verb("acc",
          "forget forgets forgotten",
          "vergessen vergesse vergisst vergessen",
          objects="person,thing,event,work",
          pps="in after"),
    _verb("acc", "feed feeds fed", "füttern füttere füttert gefüttert", objects="animal,feedable", pps="in near after"),
    _verb("acc", "cook cooks cooked", "kochen koche kocht gekocht", objects="food", pps="in with after for"),
    _verb("acc", "throw throws thrown", "werfen werfe wirft geworfen", objects="throwable", pps="into in after"),
    _verb("acc",
          "chase chases chased",
          "jagen jage jagt gejagt",
          subject="person,animal",
          objects="person,animal",
          pps="into out_of through in after"),
    _verb("dat",
          "help helps helped",
          "helfen helfe hilft geholfen",
          subject="person,animal",
          objects="person,animal",
          pps="in after"),
    _verb("dat", "thank thanks thanked", "danken danke dankt gedankt", objects="person", pps="after"),
    _verb("dat",
          "follow follows followed",
          "folgen folge folgt gefolgt",
          aux="sein",
          subject="person,animal",
          objects="person,animal",
          pps="to into through after"),
    _verb("dat", "answer answers answered", "antworten antworte antwortet geantwortet", objects="person", pps="after"),
    _verb("dat",
          "trust trusts trusted",
          "vertrauen vertraue vertraut vertraut",
          subject="person,animal",
          objects="person,animal"),
    _verb("ditr",
          "give gives given",
          "geben gebe gibt gegeben",
          objects="person,animal",
          second="thing,food",
          pps="in after"),
    _verb("ditr",
          "show shows shown",
          "zeigen zeige zeigt gezeigt",
          objects="person",
          second="thing,food,animal",
          pps="in after"),
    _verb("ditr", "send sends sent", "schicken schicke schickt geschickt", objects="person", second="sendable"),
    _verb("ditr",
          "bring brings brought",
          "bringen bringe bringt gebracht",
          subject="person,animal",
          objects="person",
          second="thing,food",
          pps="after"),
    _verb("ditr",
          "tell tells told",
          "erzählen erzähle erzählt erzählt",
          objects="person",
          second="tellable",
          pps="after"),
    _verb("ditr",
          "promise promises promised",
          "versprechen verspreche verspricht versprochen",
          objects="person",
          second="thing,food,animal"),
    _verb("ditr",
          "buy buys bought",
          "kaufen kaufe kauft gekauft",
          objects="person",
          second="thing,food,animal",
          pps="after"),
    _verb("ditr",
          "write writes written",
          "schreiben schreibe schreibt geschrieben",
          objects="person",
          second="writable"),
    _verb("ditr",
          "sell sells sold",
          "verkaufen verkaufe verkauft verkauft",
          objects="person",
          second="thing,food,animal"),
    _verb("that", "say says said", "sagen sage sagt gesagt"),
    _verb("that", "know knows known", "wissen weiß weiß gewusst", volitional=False),
    _verb("that", "believe believes believed", "glauben glaube glaubt geglaubt"),
    _verb("that", "think thinks thought", "denken denke denkt gedacht", volitional=False),
    _verb("that", "hope hopes hoped", "hoffen hoffe hofft gehofft", volitional=False),
    _verb("cop", "be is been", "sein bin ist gewesen", aux="sein", subject=_ANY, volitional=False, de_plural="sind"),
)
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
TENSES = _ALL_TENSES


@dataclass(frozen=True)
class Pronoun:
  en_nom: str
  en_obj: str
  de_nom: str
  de_acc: str
  de_dat: str
  agreement: str  # 1sg / 3sg / 1pl / 3pl


PRONOUNS = {
    p.en_nom: p for p in (
        Pronoun("I", "me", "ich", "mich", "mir", "1sg"),
        Pronoun("he", "him", "er", "ihn", "ihm", "3sg"),
        Pronoun("she", "her", "sie", "sie", "ihr", "3sg"),
        Pronoun("we", "us", "wir", "uns", "uns", "1pl"),
        Pronoun("they", "them", "sie", "sie", "ihnen", "3pl"),
    )
}
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
_SINGULAR_ONLY = ("a", "every")


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
  elif det in _SINGULAR_ONLY and plural:
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


# ------------------------------------------------------------------------------------------------- generator


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
  elif det in _SINGULAR_ONLY:
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


LEXICON_SIZES = {
    "nouns": len(NOUNS),
    "adjectives": len(ADJECTIVES),
    "verbs": len({v.en_base for v in VERBS}),
    "adverbs": len(ADVERBS),
    "prepositions": len(PREPOSITIONS),
    "conjunctions": len(CONJUNCTIONS),
}


def _define_flags():
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


if __name__ == "__main__":
  from transformer_jax import cli  # pylint: disable=g-import-not-at-top
  _define_flags()
  cli.run(main)
