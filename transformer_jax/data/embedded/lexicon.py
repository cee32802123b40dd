"""The words of the embedded corpus with their English and German forms: numbers, nouns, adjectives, adverbs,
prepositions, conjunctions, verbs and pronouns. How they inflect and combine is in `grammar`.
"""

from __future__ import annotations

from dataclasses import dataclass

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
TENSES = _ALL_TENSES
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


LEXICON_SIZES = {
    "nouns": len(NOUNS),
    "adjectives": len(ADJECTIVES),
    "verbs": len({v.en_base for v in VERBS}),
    "adverbs": len(ADVERBS),
    "prepositions": len(PREPOSITIONS),
    "conjunctions": len(CONJUNCTIONS),
}
