"""Configs: command-line overrides, and bad keys, types and values refused before anything compiles."""

import pytest
from absl import flags
from ml_collections import config_flags

from configs import default, wmt14_ende_base, wmt14_ende_big, wmt14_enfr_base, wmt14_enfr_big
from transformer_jax import config_base


def parse(*overrides, config_file="configs/default.py"):
  argv = ["prog", f"--config={config_file}", *overrides]
  values = flags.FlagValues()
  config_flags.DEFINE_config_file("config", None, "", flag_values=values, lock_config=True, sys_argv=argv)
  values(argv)
  return values.config


def test_override_sets_typed_value():
  config = parse("--config.d_model=128", "--config.dropout_rate=0.2", "--config.positional_encoding=learned")
  assert (config.d_model, config.dropout_rate, config.positional_encoding) == (128, 0.2, "learned")
  config_base.validate(config)


def test_unknown_key_is_refused_naming_it():
  with pytest.raises(Exception, match="d_modl"):
    parse("--config.d_modl=128")


def test_wrong_type_is_refused_naming_the_key():
  with pytest.raises(Exception, match="d_model"):
    parse("--config.d_model=big")


@pytest.mark.parametrize("key,value,message", [
    ("dropout_rate", 1.0, "dropout_rate"),
    ("label_smoothing", -0.1, "label_smoothing"),
    ("beam_size", 0, "beam_size"),
    ("num_heads", 3, "not divisible by num_heads"),
    ("positional_encoding", "rotary", "positional_encoding"),
    ("norm_position", "sandwich", "norm_position='sandwich': must be one of"),
    ("max_source_length", 4096, "longest bucket"),
])
def test_validate_names_each_bad_value(key, value, message):
  config = default.get_config()
  config[key] = value
  with pytest.raises(ValueError, match=message):
    config_base.validate(config)


def test_validate_reports_every_problem_at_once():
  config = default.get_config()
  config.dropout_rate, config.beam_size = 2.0, 0
  with pytest.raises(ValueError) as error:
    config_base.validate(config)
  assert "dropout_rate" in str(error.value) and "beam_size" in str(error.value)


@pytest.mark.parametrize("module", [default, wmt14_ende_base, wmt14_ende_big, wmt14_enfr_base, wmt14_enfr_big])
def test_shipped_configs_are_valid(module):
  config_base.validate(module.get_config())


def test_paper_configs_have_the_papers_hyperparameters():
  base, big = wmt14_ende_base.get_config(), wmt14_ende_big.get_config()
  assert (base.num_layers, base.d_model, base.d_ff, base.num_heads, base.dropout_rate) == (6, 512, 2048, 8, 0.1)
  assert (big.num_layers, big.d_model, big.d_ff, big.num_heads, big.dropout_rate) == (6, 1024, 4096, 16, 0.3)
  for c in (base, big):
    assert config_base.head_dims(c) == (64, 64)
    assert (c.label_smoothing, c.warmup_steps, c.beam_size, c.length_penalty_alpha) == (0.1, 4000, 4, 0.6)
    assert (c.adam_b1, c.adam_b2, c.adam_eps, c.decode_extra_length) == (0.9, 0.98, 1e-9, 50)
    assert (c.dataset, c.source_lang, c.target_lang) == ("wmt14_translate/de-en", "en", "de")


def test_en_fr_configs_differ_from_en_de_only_where_the_paper_says():
  for fr, de in ((wmt14_enfr_base.get_config(), wmt14_ende_base.get_config()),
                 (wmt14_enfr_big.get_config(), wmt14_ende_big.get_config())):
    assert (fr.dataset, fr.source_lang, fr.target_lang, fr.vocab_size) == ("wmt14_translate/fr-en", "en", "fr", 32000)
    different = {k for k in de.keys() if fr[k] != de[k]}
    assert different <= {"dataset", "target_lang", "vocab_size", "sentencepiece_model_type", "dropout_rate",
                         "published_bleu", "published_in"}
    assert (fr.published_bleu, de.published_bleu) in ((38.1, 27.3), (41.8, 28.4))  # Table 2 of the paper
  assert wmt14_enfr_big.get_config().dropout_rate == 0.1 and wmt14_enfr_base.get_config().dropout_rate == 0.1


@pytest.mark.parametrize("changes,message", [
    ({"attention_impl": "flash"}, "attention_impl='flash'"),
    ({"attention_impl": "xla", "attention_dropout_rate": 0.1}, "attention_dropout_rate=0.1 needs attention_impl"),
    ({"attention_impl": "xla", "d_k": 16, "d_v": 32}, "needs d_k == d_v"),
    ({"attention_impl": "cudnn"}, "needs dtype='bfloat16'"),
    ({"attention_impl": "cudnn", "dtype": "bfloat16"}, "cannot mask packed rows.*pack_training_rows=False"),
])
def test_validate_refuses_impossible_attention_settings(changes, message):
  config = default.get_config()
  config.update(changes)
  with pytest.raises(ValueError, match=message):
    config_base.validate(config)
  config.attention_impl = "naive"  # the reference path supports everything above
  config.dtype = "float32"
  if "flash" not in str(changes):
    config_base.validate(config)


@pytest.mark.parametrize("changes,num_devices,message", [
    ({"mesh_tensor": 3}, None, "d_ff=512 is not divisible by 3, the devices on mesh axes \\('tensor',\\)"),
    ({"mesh_tensor": 8, "num_heads": 4}, None, "num_heads=4 is not divisible by 8"),
    ({"mesh_fsdp": 3}, None, "d_model=128 is not divisible by 3.*mesh_fsdp=3"),
    ({"mesh_data": -1, "mesh_fsdp": -1}, None, "at most one may be -1"),
    ({"mesh_data": 0}, None, "mesh_data=0"),
    ({"mesh_data": 4, "mesh_tensor": 4}, 8, "do not fit the 8 visible devices"),
    ({"mesh_tensor": 16, "num_heads": 16, "vocab_size": 1000}, 32, "vocab_size=1000 is not divisible by 16"),
    ({"logical_axis_rules": (("embed", "model"),)}, None, "'embed' -> 'model' is not a mesh axis"),
    ({"grad_accum_steps": 0}, None, "grad_accum_steps=0"),
])
def test_validate_refuses_impossible_meshes(changes, num_devices, message):
  config = default.get_config()
  config.update(changes)
  with pytest.raises(ValueError, match=message):
    config_base.validate(config, num_devices=num_devices)


def test_validate_accepts_sharded_layouts():
  config = default.get_config()
  config.update({"mesh_data": -1, "mesh_fsdp": 2, "mesh_tensor": 4})
  config_base.validate(config, num_devices=8)


@pytest.mark.parametrize("changes,message", [
    ({"real_tokens_per_batch": -1}, "real_tokens_per_batch=-1"),
    ({"train_bucket_count": 99}, "train_bucket_count=99"),
    ({"num_test_sentences": -2}, "num_test_sentences=-2"),
    ({"test_average_last": 9}, r"test_average_last=9: must be in \[1, max_checkpoints_to_keep=3\]"),
    ({"pack_open_rows": 0}, "pack_open_rows=0: must be >= 1"),
])
def test_validate_refuses_bad_batch_sizes(changes, message):
  config = default.get_config()
  config.update(changes)
  with pytest.raises(ValueError, match=message):
    config_base.validate(config)


def test_paper_configs_count_real_tokens():
  for module in (wmt14_ende_base, wmt14_ende_big, wmt14_enfr_base, wmt14_enfr_big):
    config = module.get_config()
    assert (config.real_tokens_per_batch, config.pack_training_rows, config.pack_open_rows) == (25_000, True, 8)
    assert 0 < config.train_bucket_count <= 16  # for --config.pack_training_rows=False (cudnn)
    config_base.validate(config)
    config.attention_impl, config.dtype = "cudnn", "bfloat16"
    with pytest.raises(ValueError, match="pack_training_rows=False"):
      config_base.validate(config)
    config.pack_training_rows = False
    config_base.validate(config)


@pytest.mark.parametrize("settings,message", [
    (dict(length_penalty_form="fairseq"), r"length_penalty_form='fairseq': must be one of \('gnmt', 'length'\)"),
    (dict(length_penalty_alpha=-0.5, length_penalty_form="length"), "length_penalty_alpha=-0.5: must be >= 0"),
    (dict(eval_every_epochs=-1), r"eval_every_epochs=-1: must be >= 0 \(0 = use eval_every_steps\)"),
    (dict(checkpoint_every_epochs=-2), r"checkpoint_every_epochs=-2: must be >= 0 \(0 = use checkpoint_every_steps\)"),
    (dict(early_stopping_patience=-1), "early_stopping_patience=-1: must be >= 0"),
    (dict(early_stopping_patience=10, eval_every_steps=0), "early_stopping_patience=10 counts dev evaluations, but "
     "there are none"),
    (dict(num_dev_bleu_sentences=-1), r"num_dev_bleu_sentences=-1: must be >= 0 \(0 = dev loss only\)"),
])
def test_training_recipe_keys_refuse_bad_values(settings, message):
  """The keys a fairseq recipe needs (length penalty form, epoch schedules, early stopping, loss-only dev
  evaluation) name the key, the problem and the fix; the recipe itself is valid."""
  config = default.get_config()
  config.update(settings)
  with pytest.raises(ValueError, match=message):
    config_base.validate(config)
  config = default.get_config()
  config.update(length_penalty_form="length", length_penalty_alpha=1.0, beam_size=5, eval_every_steps=0,
                eval_every_epochs=1, checkpoint_every_epochs=1, early_stopping_patience=10,
                num_dev_bleu_sentences=0, test_average_last=10, max_checkpoints_to_keep=10)
  config_base.validate(config)
