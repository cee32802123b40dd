"""Text preprocessing (lowercase_text, moses_normalize_punctuation, moses_tokenize): Moses' forms of known inputs,
detokenizing back, the protocol's BLEU, the config checks, the token cache's key, and the pipeline, evaluation and
translation feeding the model the preprocessed text."""

import gzip
import math

import ml_collections
import pytest
import sacrebleu

from configs import default
from transformer_jax import bleu, config_base, evaluation, inference
from transformer_jax.data import input_pipeline, sources, token_cache
from transformer_jax.text_preprocessing import KEYS, TextPreprocessing

MOSES = TextPreprocessing(normalize_punctuation=True, lowercase=True, tokenize=True)
TOKENIZE = TextPreprocessing(tokenize=True)


@pytest.mark.parametrize("text, lang, expected", [
    # tokenizer.perl's escaping: & | < > ' " [ ] become entities; English splits "'s" off with its apostrophe.
    ('Tom & Jerry\'s "big" <box> | [note]', "en",
     "tom &amp; jerry &apos;s &quot; big &quot; &lt; box &gt; &#124; &#91; note &#93;"),
    # normalize-punctuation.perl: German quotes and dashes become ASCII; a period before a closing quote moves out
    # in German and in in English, also at the end of the line.
    ("Er sagt: „Hallo.“", "de", "er sagt : &quot; hallo &quot; ."),
    ('He said "hi".', "en", "he said &quot; hi . &quot;"),
    ("Mund–zu–Mund-Beatmung", "de", "mund-zu-mund-beatmung"),  # hyphens inside a word stay (no aggressive split)
    ("Ein Mann, der „Toll“ ruft.", "de", "ein mann , der &quot; toll &quot; ruft ."),
    ("  ÄRGER   im BÜRO  ", "de", "ärger im büro"),  # lowercased, one space between tokens
])
def test_moses_pipeline_gives_the_known_form(text, lang, expected):
  assert MOSES(text, lang) == expected


def test_each_step_alone():
  text = 'Der „Hund“ & die Katze.'
  assert TextPreprocessing(lowercase=True)(text, "de") == 'der „hund“ & die katze.'
  assert TextPreprocessing(normalize_punctuation=True)(text, "de") == 'Der "Hund" & die Katze.'
  assert TOKENIZE(text, "de") == "Der „ Hund “ &amp; die Katze ."
  off = TextPreprocessing()
  assert not off.active and off(text, "de") == text and off.restore("a &amp; b", "de") == "a &amp; b"
  assert off.apply([text], "de") == [text]


@pytest.mark.parametrize("text, lang", [
    ('Tom & Jerry\'s "big" box | [note], doesn\'t it?', "en"),
    ("It costs 5 dollars (or 4 euros) at Bob's & Ann's.", "en"),
    ('Der Hund (ein Dackel) läuft, „schnell“! Hund & Katze?', "de"),
    ('Ein Schild [rot] | blau, auf dem „Open“ steht.', "de"),
])
def test_detokenizing_gives_back_the_raw_text(text, lang):
  tokenized = TOKENIZE(text, lang)
  assert "&" not in tokenized.replace("&amp;", "").replace("&apos;", "").replace("&quot;", "").replace(
      "&#124;", "").replace("&#91;", "").replace("&#93;", "")  # every special character escaped
  assert TOKENIZE.restore(tokenized, lang) == text
  assert MOSES.restore(MOSES(text, lang), lang) == text.lower().replace("„", '"').replace("“", '"')


def test_a_config_without_the_keys_reads_raw_text():
  old = ml_collections.ConfigDict({"source_lang": "en", "target_lang": "de"})  # a workdir from before the keys
  assert TextPreprocessing.from_config(old) == TextPreprocessing()
  config = default.get_config()
  config.lowercase_text, config.moses_tokenize = True, True
  assert TextPreprocessing.from_config(config) == TextPreprocessing(lowercase=True, tokenize=True)


# ---- The protocol's BLEU ----

HYPOTHESES = ["the cat sat on the mat", "a dog"]
REFERENCES = ["the cat sat on a mat", "a dog runs"]


def test_protocol_bleu_by_hand():
  # Clipped n-gram matches / hypothesis n-grams over both sentences: 1-grams (5 + 2) / (6 + 2), 2-grams (3 + 1) /
  # (5 + 1), 3-grams 2 / 4, 4-grams 1 / 3; 8 hypothesis tokens against 9 reference tokens: BP = exp(1 - 9/8).
  expected = 100 * math.exp(1 - 9 / 8) * (7 / 8 * 4 / 6 * 2 / 4 * 1 / 3) ** 0.25
  assert bleu.protocol_bleu(HYPOTHESES, REFERENCES) == pytest.approx(expected, abs=1e-9)
  assert bleu.protocol_bleu(HYPOTHESES[:1], REFERENCES[:1]) == pytest.approx(100 * (1 / 12) ** 0.25, abs=1e-9)
  # No smoothing: without one matching 4-gram the score is 0; case counts (the text is compared as the model reads
  # it); the escaped forms are tokens like any other.
  assert bleu.protocol_bleu(["a dog runs fast"], ["a dog runs slowly"]) == 0.0
  assert bleu.protocol_bleu(["The cat sat on"], ["the cat sat on"]) < 100.0
  assert bleu.protocol_bleu(["it &apos;s a &quot; dog &quot; ."], ["it &apos;s a &quot; dog &quot; ."]) == (
      pytest.approx(100.0))


def test_protocol_bleu_is_sacrebleus_count_of_whitespace_tokens():
  hypotheses = [MOSES(t, "de") for t in ["Ein Mann fährt Rad.", "Zwei „Hunde“ spielen im Park.", "Kinder & Eltern.",
                                          "Ein Mädchen springt."]]
  references = [MOSES(t, "de") for t in ["Ein Mann fährt ein Rad.", "Zwei „Hunde“ spielen im Park.",
                                         "Kinder und Eltern.", "Ein Mädchen läuft schnell."]]
  expected = sacrebleu.corpus_bleu(hypotheses, [references], tokenize="none", smooth_method="none", force=True).score
  assert bleu.protocol_bleu(hypotheses, references) == pytest.approx(expected, abs=1e-9)
  assert 0 < expected < 100
  with pytest.raises(ValueError, match="one reference per hypothesis"):
    bleu.protocol_bleu(hypotheses, references[:2])


# ---- Config checks and the token cache ----

@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("value", [None, "yes", 1])
def test_validate_refuses_values_that_are_not_booleans(key, value):
  values = default.get_config().to_dict()
  values[key] = value
  config = ml_collections.ConfigDict(values)  # as a workdir's config.json is read back
  with pytest.raises(ValueError, match=f"{key}={value!r}: must be True or False"):
    config_base.validate(config)


def test_the_command_line_refuses_a_non_boolean():
  from absl import flags  # pylint: disable=import-outside-toplevel
  from ml_collections import config_flags  # pylint: disable=import-outside-toplevel
  argv = ["prog", "--config=configs/default.py", "--config.moses_tokenize=perhaps"]
  values = flags.FlagValues()
  config_flags.DEFINE_config_file("config", None, "", flag_values=values, lock_config=True, sys_argv=argv)
  with pytest.raises(Exception, match="moses_tokenize"):
    values(argv)


def test_moses_tokenize_refuses_a_language_moses_has_no_rules_for():
  config = default.get_config()
  config.update(dataset="local", local_train="train.{lang}", local_validation="dev.{lang}", source_lang="tlh",
                target_lang="de", moses_tokenize=True)
  with pytest.raises(ValueError, match=r"moses_tokenize=True: Moses has no rules for source_lang='tlh'"):
    config_base.validate(config)
  config.moses_tokenize = False
  config.lowercase_text = config.moses_normalize_punctuation = True  # neither needs language rules
  config_base.validate(config)


def test_the_token_cache_key_changes_with_each_key_and_not_when_off(tmp_path):
  config = default.get_config()
  assert "preprocessing" not in sources.fingerprint(config)  # off: the raw text's cache entries keep their names
  model = tmp_path / "sp.model"
  model.write_bytes(b"model")
  entries = {token_cache.entry_path("c", "train", sources.fingerprint(config), str(model))}
  for key in KEYS:
    changed = config.copy_and_resolve_references()
    changed[key] = True
    entries.add(token_cache.entry_path("c", "train", sources.fingerprint(changed), str(model)))
  assert len(entries) == 1 + len(KEYS)


# ---- The pipeline, evaluation and translation ----

RAW = [("A man & his dog walk.", "Ein Mann & sein Hund gehen."),
       ('Two girls read "Harry Potter".', "Zwei Mädchen lesen „Harry Potter“."),
       ("The kids' toys [blue] | red.", "Das Spielzeug der Kinder [blau] | rot."),
       ("A woman's hat is <big>.", "Der Hut einer Frau ist <groß>.")]


@pytest.fixture(scope="module")
def preprocessed_run(tmp_path_factory):
  tmp = tmp_path_factory.mktemp("preprocessed")
  for split, pairs in (("train", RAW * 40), ("validation", RAW)):
    for column, lang in enumerate(("en", "de")):
      with gzip.open(tmp / f"{split}.{lang}.gz", "wt", encoding="utf-8") as f:
        f.write("".join(pair[column] + "\n" for pair in pairs))
  config = default.get_config()
  config.update(dataset="local", local_train=str(tmp / "train.{lang}.gz"),
                local_validation=str(tmp / "validation.{lang}.gz"), vocab_size=80, sentencepiece_model_type="bpe",
                tokenizer_train_sentences=1000, tokens_per_batch=256, bucket_lengths=(16, 32, 64),
                max_source_length=64, max_target_length=64, pack_training_rows=False,
                moses_normalize_punctuation=True, lowercase_text=True, moses_tokenize=True)
  config_base.validate(config)
  data = input_pipeline.load_datasets(config, str(tmp / "workdir" / "sentencepiece.model"))
  return config, data, tmp


def test_the_model_reads_the_preprocessed_text(preprocessed_run):
  config, data, tmp = preprocessed_run
  entry = next((tmp / "workdir" / input_pipeline.TOKEN_CACHE_DIRNAME).iterdir())
  cached = token_cache._load(str(entry))
  for i, (source, target) in enumerate(RAW):
    assert data.tokenizer.decode(cached.sources[i]) == MOSES(source, "en")
    assert data.tokenizer.decode(cached.targets[i]) == MOSES(target, "de")
  pieces = [data.tokenizer.id_to_piece(i) for i in range(data.tokenizer.vocab_size)]
  assert not any(c.isupper() for piece in pieces for c in piece if piece not in ("<pad>", "</s>", "<unk>"))
  assert data.dev.sources == [s for s, _ in RAW] and data.dev.targets == [t for _, t in RAW]  # raw: sacreBLEU's
  assert data.dev.model_sources == [MOSES(s, "en") for s, _ in RAW]
  assert data.dev.model_targets == [MOSES(t, "de") for _, t in RAW]
  del config


def test_evaluation_scores_each_form_against_its_reference(preprocessed_run, monkeypatch):
  config, data, _ = preprocessed_run
  sentences = evaluation.bleu_set(data.dev, data.tokenizer)
  assert sentences.source_ids == data.tokenizer.encode_batch(data.dev.model_sources)
  outputs = [MOSES(t, "de") for _, t in RAW[:3]] + ["ein hut ."]  # what the model writes

  def translate_with_config(model, params, tokenizer, source_ids, config, mesh, progress=None):
    assert source_ids == sentences.source_ids
    return [[(text, 0.0)] for text in outputs]

  monkeypatch.setattr(inference, "translate_with_config", translate_with_config)
  report = evaluation.bleu_of(None, None, data.tokenizer, sentences, config, None)
  detokenized = [MOSES.restore(text, "de") for text in outputs]
  assert report["model_hypotheses"] == outputs and report["hypotheses"] == detokenized
  assert report["protocol_bleu"] == pytest.approx(bleu.protocol_bleu(outputs, data.dev.model_targets))
  assert report["sacrebleu"] == pytest.approx(bleu.sacrebleu_score(detokenized, data.dev.targets))
  assert report["examples"][0] == (RAW[0][0], detokenized[0], RAW[0][1])
  off = config.copy_and_resolve_references()
  off.update(moses_normalize_punctuation=False, lowercase_text=False, moses_tokenize=False)
  report = evaluation.bleu_of(None, None, data.tokenizer, sentences, off, None)
  assert "protocol_bleu" not in report and report["hypotheses"] == outputs


def test_translate_text_preprocesses_the_input_and_detokenizes_the_output(monkeypatch):
  config = default.get_config()
  config.update(moses_normalize_punctuation=True, lowercase_text=True, moses_tokenize=True)
  seen = []

  def translate_with_config(model, params, tokenizer, sentences, config, mesh, **options):
    seen.extend(sentences)
    return [[("er sagt : &quot; hallo &quot; .", -1.0), ("&quot; hallo &quot;", -2.0)] for _ in sentences]

  monkeypatch.setattr(inference, "translate_with_config", translate_with_config)
  translated = inference.translate_text(None, None, None, ['He says "Hello".'], config, None, n_best=2)
  assert seen == ["he says &quot; hello . &quot;"]
  assert translated == [[('er sagt: "hallo".', -1.0), ('"hallo"', -2.0)]]
  assert inference.translate_text(None, None, None, ["Hi."], config, None, preprocessed_output=True) == [
      [("er sagt : &quot; hallo &quot; .", -1.0), ("&quot; hallo &quot;", -2.0)]]
