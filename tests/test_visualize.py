"""visualize: the PNGs it promises, and attention weights that are what attention computes (rows sum to 1, nothing on
padding or the future, layer 0 equal to a numpy recomputation from the parameters)."""

import json
import os

import numpy as np
import pytest

import tiny_sweep
from transformer_jax import model as model_lib, visualize, workdir as workdir_lib


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
  _, root = tiny_sweep.trained_sweep(tmp_path_factory)
  return workdir_lib.load(os.path.join(root, tiny_sweep.RUN_NAMES[1]))  # two heads


def test_writes_one_picture_per_kind_and_layer_and_the_positional_encoding(loaded, tmp_path):
  result = visualize.draw(loaded, "The dog sees the cat.", str(tmp_path), beam_size=1)
  expected = ["encoder_self_layer0.png", "decoder_self_layer0.png", "cross_layer0.png", "positional_encoding.png"]
  assert result["files"] == expected
  for name in expected:
    with open(tmp_path / name, "rb") as f:
      assert f.read(8) == b"\x89PNG\r\n\x1a\n"
  tokens = json.load(open(tmp_path / "tokens.json", encoding="utf-8"))
  weights = np.load(tmp_path / "attention.npz")
  sources, targets = len(tokens["source_pieces"]), len(tokens["target_pieces"])
  assert tokens["source_pieces"][-1] == "</s>"
  assert weights["encoder_self"].shape == (1, 2, sources, sources)  # [layers, heads, queries, keys]
  assert weights["cross"].shape == (1, 2, targets, sources)
  assert weights["decoder_self"].shape == (1, 2, targets, targets)


def _softmax(x):
  e = np.exp(x - x.max(-1, keepdims=True))
  return e / e.sum(-1, keepdims=True)


def test_captured_weights_are_distributions_over_real_keys(loaded):
  _, _, model, params = loaded
  sources = [[5, 6, 7, 8, 9, 1], [10, 11, 1]]  # the second is padded by 3 source tokens
  targets = [[12, 13, 1], [14, 15, 16, 17, 1]]  # the first is padded by 2 target tokens
  batch = visualize.teacher_forced_batch(sources, targets)
  weights = visualize.attention_weights(model, params, batch)
  source_valid, target_valid = batch["source"] > 0, batch["targets"] > 0
  for kind, query_valid, key_valid in [("encoder_self", source_valid, source_valid),
                                       ("decoder_self", target_valid, target_valid),
                                       ("cross", target_valid, source_valid)]:
    w = weights[kind]  # [layers, batch, heads, queries, keys]
    assert w.shape[:3] == (1, 2, 2)
    for row in range(2):
      real = w[:, row][:, :, query_valid[row]]  # the rows of real queries
      np.testing.assert_allclose(real.sum(-1), 1.0, atol=1e-5, err_msg=kind)
      assert np.all(real[..., ~key_valid[row]] == 0.0), kind
  for row in range(2):  # a real query never looks at a later target position
    future = np.triu(np.ones((5, 5), bool), k=1) & target_valid[row][:, None]
    assert np.all(weights["decoder_self"][:, row][..., future] == 0.0)

  # Layer 0 of the encoder from the parameters, in numpy: embeddings * sqrt(d) + sinusoids, then per head
  # softmax(q k^T / sqrt(d_k)) over the sentence's own tokens.
  cfg = model.config
  p = {k: np.asarray(v) for k, v in params["encoder_0"]["self_attention"]["query"].items()}
  key_kernel = np.asarray(params["encoder_0"]["self_attention"]["key"]["kernel"])
  table = np.asarray(params["embedder"]["token_embedding"]["embedding"])
  for row, source in enumerate(sources):
    x = table[source] * np.sqrt(cfg.d_model) + model_lib.sinusoidal_table(cfg.max_position, cfg.d_model)[:len(source)]
    q = np.einsum("td,dhk->htk", x, p["kernel"]) + p["bias"][:, None, :]
    k = np.einsum("td,dhk->htk", x, key_kernel)
    expected = _softmax(np.einsum("hqk,hsk->hqs", q, k) / np.sqrt(cfg.d_k))
    np.testing.assert_allclose(weights["encoder_self"][0, row, :, :len(source), :len(source)], expected, atol=1e-5)
