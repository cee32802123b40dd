"""The sharded train step: data-parallel, fully-sharded and tensor-parallel layouts of 8 devices equal 1 device for
the same global batch (post-norm and pre-norm); mixed precision; loss against a numpy reference; checkpoint round
trip, and training resumed from a checkpoint equal to training straight through."""

import dataclasses
import functools
import os

import jax
import numpy as np
import pytest

from transformer_jax import checkpoint, losses, optim, sharding, train_step
from transformer_jax.config_base import base_config
from transformer_jax.data.batching import make_batch
from transformer_jax.model import ModelConfig, Transformer

# 4 heads, d_ff 32 and vocabulary 32 split over up to 4 tensor-parallel devices; d_model 16 over up to 8 fsdp ones.
CFG = ModelConfig(vocab_size=32, num_layers=1, d_model=16, d_ff=32, num_heads=4, d_k=4, d_v=4, dropout_rate=0.1,
                  max_position=32)


def config():
  c = base_config()
  c.d_model, c.warmup_steps = CFG.d_model, 10
  return c


def global_batch(rows=16, length=8, seed=0):
  rng = np.random.default_rng(seed)
  sources = [list(rng.integers(3, 32, size=rng.integers(2, length))) + [1] for _ in range(rows - 2)]
  targets = [list(rng.integers(3, 32, size=rng.integers(2, length))) + [1] for _ in range(rows - 2)]
  return make_batch(sources, targets, rows, length)  # the last two rows are all padding


def run_steps(mesh_shape, batches, cfg=CFG):
  """(final params, per-step metrics, final state) of training on a ("data", "fsdp", "tensor") mesh of that shape
  (an int: data parallelism only)."""
  mesh = sharding.make_mesh(*np.atleast_1d(mesh_shape))
  model = Transformer(cfg)
  optimizer, schedule = optim.make_optimizer(config())
  state = train_step.create_train_state(model, optimizer, jax.random.PRNGKey(0), mesh)
  step = train_step.jit_train_step(model, mesh, 0.1, schedule, sharding.shardings_of(state))
  rng = jax.device_put(jax.random.PRNGKey(1), sharding.replicated(mesh))
  metrics = []
  for batch in batches:
    state, m = step(state, train_step.put_batch(batch, mesh), rng)
    metrics.append(jax.device_get(m))
  return jax.device_get(state.params), metrics, state


@functools.cache
def two_steps_on(mesh_shape, norm_position="post"):
  """run_steps on two fixed batches, computed once per layout (compiles dominate the test time)."""
  return run_steps(mesh_shape, [global_batch(seed=s) for s in range(2)],
                   dataclasses.replace(CFG, norm_position=norm_position))


@pytest.mark.parametrize("mesh_shape,sharded,norm_position", [
    ((8, 1, 1), None, "post"),  # data parallel: everything replicated
    ((2, 4, 1), ("embedder", "token_embedding", "embedding"), "post"),  # fully sharded (d_model over fsdp)
    ((2, 1, 4), ("decoder_0", "ffn", "wi", "kernel"), "post"),  # tensor parallel (d_ff over tensor)
    ((2, 4, 1), ("encoder_norm", "scale"), "pre"),  # pre-norm's final norms split over fsdp like the others
])
def test_every_mesh_layout_equals_one_device(mesh_shape, sharded, norm_position):
  assert jax.device_count() >= 8, "conftest forces 8 CPU devices"
  params1, metrics1, _ = two_steps_on(1, norm_position)
  params8, metrics8, state8 = two_steps_on(mesh_shape, norm_position)
  if sharded:  # the layout really splits parameters and their Adam moments
    for tree in (state8.params, state8.opt_state[0].mu):
      leaf = functools.reduce(lambda node, key: node[key], sharded, tree)
      assert leaf.addressable_shards[0].data.size * 4 == leaf.size, leaf.sharding
  for m1, m8 in zip(metrics1, metrics8):
    assert m8["tokens"] == m1["tokens"]
    assert m8["loss_sum"] == pytest.approx(m1["loss_sum"], rel=1e-5)
    assert m8["grad_norm"] == pytest.approx(m1["grad_norm"], rel=1e-4)
  for a, b in zip(jax.tree_util.tree_leaves(params1), jax.tree_util.tree_leaves(params8)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_label_smoothed_loss_matches_numpy():
  rng = np.random.default_rng(0)
  logits = rng.normal(size=(2, 3, 7)).astype(np.float32)
  targets = rng.integers(0, 7, size=(2, 3))
  eps = 0.1
  loss, nll = losses.token_losses(logits, targets, eps)
  logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
  smoothed = np.full(logits.shape, eps / 7)
  np.put_along_axis(smoothed, targets[..., None], 1 - eps + eps / 7, axis=-1)
  np.testing.assert_allclose(np.asarray(loss), -(smoothed * logp).sum(-1), rtol=1e-5)
  np.testing.assert_allclose(np.asarray(nll), -np.take_along_axis(logp, targets[..., None], -1)[..., 0], rtol=1e-5)


def test_accuracy_counts_the_tokens_whose_target_is_numpys_argmax():
  rng = np.random.default_rng(1)
  logits = rng.normal(size=(4, 9, 11)).astype(np.float32)
  targets = rng.integers(1, 11, size=(4, 9))
  targets[:, :3] = logits[:, :3].argmax(-1)  # some right, the rest mostly wrong
  segments = (rng.random((4, 9)) < 0.8).astype(np.int32)
  sums = train_step._sums(logits, {"targets": targets, "target_segments": segments}, 0.1)  # pylint: disable=protected-access
  assert float(sums["correct_sum"]) == ((logits.argmax(-1) == targets) & (segments > 0)).sum()
  assert float(sums["tokens"]) == segments.sum()


def test_dropout_depends_on_step_only():
  """fold_in(rng, step): the same step draws the same dropout, whatever happened before."""
  batch = global_batch()
  _, metrics_a, _ = run_steps(1, [batch, batch])
  _, metrics_b, _ = run_steps(1, [batch, batch])
  assert metrics_a[1]["loss_sum"] == metrics_b[1]["loss_sum"]
  assert metrics_a[0]["loss_sum"] != metrics_a[1]["loss_sum"]


def test_checkpoint_round_trip_restores_identical_state(tmp_path):
  """Saved from a tensor-parallel layout, restored into a fully-sharded one: the same values, in the template's
  shardings."""
  _, _, state = two_steps_on((2, 1, 4))
  saver = checkpoint.Checkpointer(str(tmp_path / "ckpt"), max_to_keep=2)
  saver.save(state)
  saver.wait()
  optimizer, _ = optim.make_optimizer(config())
  mesh = sharding.make_mesh(2, 4, 1)
  fresh = train_step.create_train_state(Transformer(CFG), optimizer, jax.random.PRNGKey(5), mesh)
  restored = checkpoint.Checkpointer(str(tmp_path / "ckpt"), max_to_keep=2).restore(fresh)
  assert int(restored.step) == 2
  for a, b in zip(jax.tree_util.tree_leaves(jax.device_get((state.params, state.opt_state))),
                  jax.tree_util.tree_leaves(jax.device_get((restored.params, restored.opt_state)))):
    np.testing.assert_array_equal(a, b)
  for a, b in zip(jax.tree_util.tree_leaves(sharding.shardings_of((fresh.params, fresh.opt_state))),
                  jax.tree_util.tree_leaves(sharding.shardings_of((restored.params, restored.opt_state)))):
    assert a == b
  saver.close()


@pytest.mark.parametrize("norm_position", ["post", "pre"])
def test_training_resumed_from_a_checkpoint_equals_training_straight_through(tmp_path, norm_position):
  """Four steps straight through against two, a checkpoint restored into a state initialised differently, and two
  more: the same losses and parameters, bit for bit."""
  cfg = dataclasses.replace(CFG, norm_position=norm_position)
  mesh = sharding.make_mesh(1)
  model = Transformer(cfg)
  optimizer, schedule = optim.make_optimizer(config())
  step = train_step.jit_train_step(model, mesh, 0.1, schedule)
  batches = [train_step.put_batch(global_batch(seed=s), mesh) for s in range(4)]
  rng = jax.random.PRNGKey(1)

  def train(state, steps):
    losses = []
    for batch in steps:
      state, metrics = step(state, batch, rng)
      losses.append(float(metrics["loss_sum"]))
    return state, losses

  straight, want = train(train_step.create_train_state(model, optimizer, jax.random.PRNGKey(0), mesh), batches)
  first, got = train(train_step.create_train_state(model, optimizer, jax.random.PRNGKey(0), mesh), batches[:2])
  saver = checkpoint.Checkpointer(str(tmp_path / "ckpt"), max_to_keep=1, asynchronous=False)
  saver.save(first)
  fresh = train_step.create_train_state(model, optimizer, jax.random.PRNGKey(9), mesh)
  resumed, more = train(saver.restore(fresh), batches[2:])
  saver.close()
  assert int(resumed.step) == 4 and got + more == want
  for a, b in zip(jax.tree_util.tree_leaves(jax.device_get((straight.params, straight.opt_state))),
                  jax.tree_util.tree_leaves(jax.device_get((resumed.params, resumed.opt_state)))):
    np.testing.assert_array_equal(a, b)
  if norm_position == "pre":
    assert "encoder_norm" in resumed.params and "decoder_norm" in resumed.params


def test_non_finite_step_applies_no_update_but_advances_the_step():
  mesh = sharding.make_mesh(1)
  model = Transformer(CFG)
  optimizer, schedule = optim.make_optimizer(config())
  state = train_step.create_train_state(model, optimizer, jax.random.PRNGKey(0), mesh)
  poisoned = jax.tree_util.tree_map(lambda p: p, state.params)
  poisoned["decoder_0"]["ffn"]["wo"]["bias"] = poisoned["decoder_0"]["ffn"]["wo"]["bias"].at[0].set(np.inf)
  state = state.replace(params=poisoned)
  before = jax.device_get((state.params, state.opt_state))
  step = train_step.jit_train_step(model, mesh, 0.1, schedule)
  new_state, metrics = step(state, train_step.put_batch(global_batch(), mesh), jax.random.PRNGKey(1))
  assert not bool(metrics["finite"]) and int(new_state.step) == 1
  after = jax.device_get((new_state.params, new_state.opt_state))
  for a, b in zip(jax.tree_util.tree_leaves(before), jax.tree_util.tree_leaves(after)):
    np.testing.assert_array_equal(a, b)


def _saved_states(tmp_path, steps):
  """A Checkpointer with the states after each of `steps` training steps saved."""
  mesh = sharding.make_mesh(1)
  model = Transformer(CFG)
  optimizer, schedule = optim.make_optimizer(config())
  state = train_step.create_train_state(model, optimizer, jax.random.PRNGKey(0), mesh)
  step = train_step.jit_train_step(model, mesh, 0.1, schedule)
  saver = checkpoint.Checkpointer(str(tmp_path / "ckpt"), max_to_keep=5, asynchronous=False)
  saved = {}
  for _ in range(steps):
    state, _ = step(state, train_step.put_batch(global_batch(), mesh), jax.random.PRNGKey(1))
    saver.save(state)
    saved[int(state.step)] = jax.device_get(state.params)
  return saver, state, saved


def test_corrupt_latest_checkpoint_is_skipped_for_the_previous_one(tmp_path, caplog):
  saver, state, saved = _saved_states(tmp_path, 2)
  for root, _, files in os.walk(tmp_path / "ckpt" / "2"):
    for name in files:  # truncate every file of the newest checkpoint
      path = os.path.join(root, name)
      with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)
  restored = saver.restore(state)
  assert int(restored.step) == 1
  for a, b in zip(jax.tree_util.tree_leaves(saved[1]), jax.tree_util.tree_leaves(jax.device_get(restored.params))):
    np.testing.assert_array_equal(a, b)
  assert any("ckpt/2 cannot be read" in r.getMessage() for r in caplog.records)
  # The unreadable step is kept aside, not deleted, and the run can write step 2 again.
  assert len(os.listdir(tmp_path / "ckpt_unreadable")) == 1
  assert saver.latest_step() == 1
  saver.save(state)
  assert saver.latest_step() == 2


def test_restoring_into_a_different_model_names_the_first_mismatch(tmp_path):
  saver, _, _ = _saved_states(tmp_path, 1)
  bigger = Transformer(dataclasses.replace(CFG, d_ff=48))
  optimizer, _ = optim.make_optimizer(config())
  other = train_step.create_train_state(bigger, optimizer, jax.random.PRNGKey(0), sharding.make_mesh(1))
  with pytest.raises(ValueError, match=r"\['decoder_0'\]\['ffn'\]\['wi'\]\['bias'\] has shape \(32,\) in the "
                                       r"checkpoint but \(48,\) in the model"):
    saver.restore(other)


def test_bfloat16_train_step_keeps_float32_parameters_and_optimizer_state():
  half = dataclasses.replace(CFG, dtype="bfloat16")
  mesh = sharding.make_mesh(1)
  model = Transformer(half)
  optimizer, schedule = optim.make_optimizer(config())
  state = train_step.create_train_state(model, optimizer, jax.random.PRNGKey(0), mesh)
  step = train_step.jit_train_step(model, mesh, 0.1, schedule)
  state, metrics = step(state, train_step.put_batch(global_batch(), mesh), jax.random.PRNGKey(1))
  floats = [x for x in jax.tree_util.tree_leaves((state.params, state.opt_state)) if x.dtype.kind == "f"]
  assert floats and all(x.dtype == np.float32 for x in floats)
  assert bool(metrics["finite"])
  # Near log(32), the loss of a fresh model over 32 tokens (bfloat16 closeness to float32: tests/test_model.py).
  assert abs(float(metrics["loss_sum"]) / float(metrics["tokens"]) - np.log(32)) < 0.5


def _accumulated_step(mesh_shape, grad_accum_steps):
  """(state, jitted step) without dropout, so splitting the batch into micro-batches is the only change."""
  mesh = sharding.make_mesh(*np.atleast_1d(mesh_shape))
  model = Transformer(dataclasses.replace(CFG, dropout_rate=0.0))
  optimizer, schedule = optim.make_optimizer(config())
  state = train_step.create_train_state(model, optimizer, jax.random.PRNGKey(0), mesh)
  step = train_step.jit_train_step(model, mesh, 0.1, schedule, sharding.shardings_of(state), grad_accum_steps)
  return state, lambda state, batch: step(state, train_step.put_batch(batch, mesh), jax.random.PRNGKey(1))


@functools.cache
def _whole_batch_step():
  state, step = _accumulated_step(1, 1)
  state, metrics = step(state, global_batch(rows=16))
  return jax.device_get((metrics, state.params))


@pytest.mark.parametrize("mesh_shape,grad_accum_steps", [(1, 4), ((2, 4, 1), 2)])
def test_gradient_accumulation_equals_one_big_batch_and_keeps_the_guard(mesh_shape, grad_accum_steps):
  whole, params_whole = _whole_batch_step()
  state, step = _accumulated_step(mesh_shape, grad_accum_steps)
  state, split = step(state, global_batch(rows=16))
  for key in ("tokens", "loss_sum", "nll_sum", "correct_sum"):
    assert split[key] == pytest.approx(whole[key], rel=1e-6)
  assert split["grad_norm"] == pytest.approx(whole["grad_norm"], rel=1e-5)
  for a, b in zip(jax.tree_util.tree_leaves(params_whole), jax.tree_util.tree_leaves(jax.device_get(state.params))):
    np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
  # The non-finite guard still holds: one infinite weight makes every micro-batch's loss non-finite.
  params = jax.tree_util.tree_map(np.array, jax.device_get(state.params))  # writable copies
  params["decoder_0"]["ffn"]["wo"]["bias"][0] = np.inf
  state = state.replace(params=jax.device_put(params, sharding.shardings_of(state.params)))
  before = jax.device_get((state.params, state.opt_state))
  state, metrics = step(state, global_batch(rows=16))
  assert not metrics["finite"] and int(state.step) == 2
  for a, b in zip(jax.tree_util.tree_leaves(before), jax.tree_util.tree_leaves(jax.device_get((state.params,
                                                                                               state.opt_state)))):
    np.testing.assert_array_equal(a, b)


def test_label_smoothed_loss_gradient_matches_the_formula():
  """The hand-written VJP against the closed form d/dz = p - (1 - eps) one_hot - eps / V (and p - one_hot for NLL)."""
  rng = np.random.default_rng(1)
  logits = rng.normal(size=(2, 3, 7)).astype(np.float32)
  targets = rng.integers(0, 7, size=(2, 3))
  loss_weights, nll_weights = rng.normal(size=(2, 3)), rng.normal(size=(2, 3))
  eps = 0.1
  weighted = lambda z: sum((w * out).sum() for w, out in zip((loss_weights, nll_weights),
                                                               losses.token_losses(z, targets, eps)))
  grad = np.asarray(jax.grad(weighted)(logits))
  p = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
  one_hot = np.eye(7)[targets]
  expected = (loss_weights[..., None] * (p - (1 - eps) * one_hot - eps / 7)
              + nll_weights[..., None] * (p - one_hot))
  np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-6)
