import os
import random

import numpy as np
import pytest

from transformer_jax.tokenizer import (
    EOS_ID,
    PAD_ID,
    UNK_ID,
    Tokenizer,
    load_or_train,
    reservoir_sample,
    train_tokenizer,
)

VOCAB_SIZE = 64  # the corpus below supports at most ~89 unigram pieces

WORDS = ("der die das und ist nicht ein eine Straße Mädchen über schön grün Größe fährt "
         "Bäume Häuser Brücke müssen können weiß groß Fuß heißt Übung Öl Ärger spät früh "
         "Stadt Land Zug Haus Katze Hund läuft schnell langsam morgen heute gestern Wasser trinkt").split()


def make_corpus(num_sentences=400, seed=0):
  rng = random.Random(seed)
  return [
      " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12))) + rng.choice(".!?,") for _ in range(num_sentences)
  ]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
  path = tmp_path_factory.mktemp("spm") / "shared.model"
  return train_tokenizer(make_corpus(), str(path), VOCAB_SIZE)


def test_special_ids(tokenizer):
  assert (PAD_ID, EOS_ID, UNK_ID) == (0, 1, 2)
  assert tokenizer.vocab_size == VOCAB_SIZE
  assert [tokenizer.id_to_piece(i) for i in (PAD_ID, EOS_ID, UNK_ID)] == ["<pad>", "</s>", "<unk>"]


def test_round_trip_with_umlauts_and_eszett(tokenizer):
  sentences = make_corpus(50, seed=1) + ["das Mädchen über der Brücke heißt Größe, weiß Fuß Öl Ärger Übung."]
  for sentence in sentences:
    ids = tokenizer.encode(sentence)
    assert EOS_ID not in ids and PAD_ID not in ids and UNK_ID not in ids
    assert tokenizer.decode(ids) == sentence
  assert tokenizer.decode_batch(tokenizer.encode_batch(sentences)) == sentences
  assert tokenizer.encode_batch(sentences) == [tokenizer.encode(s) for s in sentences]


def test_decode_stops_at_eos_and_ignores_pad(tokenizer):
  first, second = "die Katze trinkt Wasser.", "der Hund läuft!"
  ids = [PAD_ID] + tokenizer.encode(first) + [EOS_ID] + tokenizer.encode(second) + [PAD_ID] * 3
  assert tokenizer.decode(ids) == first
  assert tokenizer.decode(np.array(ids, dtype=np.int32)) == first
  padded_batch = np.array([ids, [EOS_ID] + [PAD_ID] * (len(ids) - 1)])
  assert tokenizer.decode_batch(padded_batch) == [first, ""]


def test_unknown_characters_map_to_unk(tokenizer):
  ids = tokenizer.encode("die € Katze 日")
  assert ids.count(UNK_ID) == 2


def test_oversize_vocab_gives_clear_error(tmp_path):
  with pytest.raises(ValueError) as error:
    train_tokenizer(make_corpus(), str(tmp_path / "big.model"), vocab_size=5000)
  message = str(error.value)
  assert "vocab_size=5000" in message
  assert "too small" in message
  assert "vocab size in the config" in message
  assert "at most" in message  # sentencepiece's suggested maximum is passed on
  assert os.listdir(tmp_path) == []  # neither a model nor a temp file is left


def test_model_written_atomically(tmp_path):
  model_path = tmp_path / "nested" / "spm.model"
  train_tokenizer(make_corpus(), str(model_path), VOCAB_SIZE)
  assert os.listdir(model_path.parent) == ["spm.model"]
  assert Tokenizer.load(str(model_path)).vocab_size == VOCAB_SIZE


def test_load_missing_model_names_path(tmp_path):
  missing = tmp_path / "nowhere.model"
  with pytest.raises(FileNotFoundError, match="nowhere.model.*training run"):
    Tokenizer.load(str(missing))


def test_load_or_train_reuses_existing_model(tmp_path):
  model_path = str(tmp_path / "spm.model")
  trained = load_or_train(model_path, make_corpus, VOCAB_SIZE)
  mtime = os.stat(model_path).st_mtime_ns

  def must_not_train():
    raise AssertionError("load_or_train retrained instead of loading")

  loaded = load_or_train(model_path, must_not_train, VOCAB_SIZE)
  assert os.stat(model_path).st_mtime_ns == mtime
  sentence = "das Haus ist groß."
  assert loaded.encode(sentence) == trained.encode(sentence)

  with pytest.raises(ValueError, match=r"vocab size 64 .*asks for 80"):
    load_or_train(model_path, must_not_train, 80)


def test_sampled_training_is_reproducible(tmp_path):
  corpus = [f"satz {i} mit wort{i % 37} und noch {i % 11} mehr" for i in range(3000)]
  first = train_tokenizer(corpus, str(tmp_path / "a.model"), vocab_size=80, max_sentences=500, seed=3)
  second = train_tokenizer(corpus, str(tmp_path / "b.model"), vocab_size=80, max_sentences=500, seed=3)
  assert (tmp_path / "a.model").read_bytes() == (tmp_path / "b.model").read_bytes()
  assert first.encode(corpus[7]) == second.encode(corpus[7])


def test_reservoir_sample_is_uniform_and_seeded():
  sample = reservoir_sample(range(1000), 100, seed=1)
  assert sample == reservoir_sample(range(1000), 100, seed=1)
  assert len(set(sample)) == 100 and sample != reservoir_sample(range(1000), 100, seed=2)
  counts = [0] * 10
  for seed in range(300):  # every tenth of the stream is drawn about equally often
    for item in reservoir_sample(range(100), 10, seed):
      counts[item // 10] += 1
  assert min(counts) > 200 and max(counts) < 400  # expected 300 each
