"""Exported models against our own: CTranslate2 (its C++ engine) and Hugging Face MarianMTModel (torch) compute
the trained run's log-probabilities and translations; what does not map is refused with the key to blame."""

import json
import os
import sys

import flax.linen as nn
import jax
import numpy as np
import pytest

import tiny_sweep
from helpers import run
from transformer_jax import bleu, config_base, export, inference, sharding, workdir as workdir_lib
from transformer_jax.data import input_pipeline
from transformer_jax.errors import ConfigError, WorkdirError
from transformer_jax.export import ctranslate2_translator
from transformer_jax.model import ModelConfig, Transformer

ctranslate2 = pytest.importorskip("ctranslate2")
transformers = pytest.importorskip("transformers")
torch = pytest.importorskip("torch")

NUM_SENTENCES = 48


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  """The suite's tiny trained run (2 heads), its test sentences and their references."""
  _, root = tiny_sweep.trained_sweep(tmp_path_factory)
  workdir = os.path.join(root, tiny_sweep.RUN_NAMES[1])
  loaded = workdir_lib.load(workdir)
  test = input_pipeline.load_text_split(loaded.config, "test")
  return workdir, loaded, test.sources[:NUM_SENTENCES], test.targets[:NUM_SENTENCES]


@pytest.fixture(scope="module")
def exported(trained, tmp_path_factory):
  workdir = trained[0]
  root = tmp_path_factory.mktemp("exported")
  paths = {name: str(root / name) for name in ("float32", "int8", "huggingface")}
  export.export_run(workdir, "ctranslate2", paths["float32"])
  export.export_run(workdir, "ctranslate2", paths["int8"], quantization="int8")
  export.export_run(workdir, "huggingface", paths["huggingface"])
  return paths


def ours(loaded, sentences, **options):
  mesh = sharding.make_mesh()
  return inference.translate_with_config(loaded.model, inference.replicate(loaded.params, mesh), loaded.tokenizer,
                                         sentences, loaded.config, mesh, **options)


def our_logits(model, params, source_ids, target_ids):
  """Teacher-forced logits [sentences, target length, vocab] of targets (EOS appended) given sources (EOS appended),
  by our model in one padded batch (padding is masked), and the padded targets."""
  def padded(rows, start=()):
    rows = [list(start) + list(row) for row in rows]
    array = np.zeros((len(rows), max(map(len, rows))), np.int32)
    for i, row in enumerate(rows):
      array[i, :len(row)] = row
    return array
  source, target = padded([ids + [1] for ids in source_ids]), padded([ids + [1] for ids in target_ids])
  decoder_inputs = padded([ids for ids in target_ids], start=[1])
  logits = jax.jit(model.apply)({"params": params}, source, decoder_inputs, target)
  return np.asarray(logits, np.float32), target


def our_log_probs(model, params, source_ids, target_ids):
  """Teacher-forced log P of each target token (EOS included) by our model, one array per sentence."""
  logits, target = our_logits(model, params, source_ids, target_ids)
  log_probs = np.asarray(jax.nn.log_softmax(logits))
  return [log_probs[i, np.arange(len(ids) + 1), target[i, :len(ids) + 1]] for i, ids in enumerate(target_ids)]


def test_ctranslate2_scores_every_token_as_we_do(trained, exported):
  _, loaded, sources, references = trained
  tokenizer = loaded.tokenizer
  source_ids, target_ids = tokenizer.encode_batch(sources), tokenizer.encode_batch(references)
  pieces = lambda batch: [[tokenizer.id_to_piece(i) for i in ids] for ids in batch]
  translator = ctranslate2.Translator(exported["float32"], intra_threads=1)
  scored = translator.score_batch(pieces(source_ids), pieces(target_ids))
  expected = our_log_probs(loaded.model, loaded.params, source_ids, target_ids)
  for theirs, want in zip(scored, expected):
    assert len(theirs.log_probs) == len(want)  # the target's tokens and its EOS
    np.testing.assert_allclose(theirs.log_probs, want, rtol=0, atol=1e-4)


@pytest.mark.parametrize("beam_size", [1, 4])
def test_ctranslate2_translates_as_we_do(trained, exported, beam_size):
  """Greedy, and beam 4 with no length penalty (where the two engines' penalties agree): the same translations of
  every test sentence, through the same tokenizer, truncation and length limits."""
  _, loaded, sources, _ = trained
  want = inference.best(ours(loaded, sources, beam_size=beam_size, alpha=0.0))
  engine = ctranslate2_translator.Ctranslate2Translator(exported["float32"], threads=1)
  got = inference.best(engine.translate_n_best(sources, beam_size=beam_size, alpha=0.0))
  assert got == want


def test_int8_loses_less_than_one_bleu_point(trained, exported):
  _, loaded, sources, references = trained
  lang = loaded.config.target_lang
  float32 = bleu.bleu_report(inference.best(ours(loaded, sources)), references, lang=lang)["sacrebleu"]
  engine = ctranslate2_translator.Ctranslate2Translator(exported["int8"], threads=1)
  assert engine.translator.compute_type.startswith("int8")
  int8 = inference.best(engine.translate_n_best(sources))
  assert abs(bleu.bleu_report(int8, references, lang=lang)["sacrebleu"] - float32) < 1.0
  assert os.path.getsize(os.path.join(exported["int8"], "model.bin")) < (
      0.5 * os.path.getsize(os.path.join(exported["float32"], "model.bin")))


def test_huggingface_reloads_with_our_logits_translations_and_ids(trained, exported):
  _, loaded, sources, references = trained
  tokenizer = loaded.tokenizer
  model = transformers.MarianMTModel.from_pretrained(exported["huggingface"]).eval()
  their_tokenizer = transformers.MarianTokenizer.from_pretrained(exported["huggingface"])
  source_ids = tokenizer.encode_batch(sources)
  assert [their_tokenizer(s)["input_ids"] for s in sources] == [ids + [1] for ids in source_ids]

  target_ids = tokenizer.encode_batch(references)
  want, _ = our_logits(loaded.model, loaded.params, source_ids, target_ids)
  for i, (source, target) in enumerate(zip(source_ids, target_ids)):
    with torch.no_grad():
      got = model(input_ids=torch.tensor([source + [1]]), decoder_input_ids=torch.tensor([[1] + target])).logits
    np.testing.assert_allclose(got[0].numpy(), want[i, :len(target) + 1], rtol=0, atol=2e-4)

  settings = export.DecodingSettings(**export.read_info(exported["huggingface"])["decoding"])
  greedy = inference.best(ours(loaded, sources, beam_size=1))
  theirs = []
  for source, ids in zip(sources, source_ids):  # one at a time: each has its own length limit, as ours does
    limit = settings.output_limit(len(ids) + 1)
    with torch.no_grad():
      output = model.generate(**their_tokenizer([source], return_tensors="pt", truncation=True), num_beams=1,
                              do_sample=False,
                              max_length=limit + 1)
    theirs.append(their_tokenizer.decode(output[0], skip_special_tokens=True))
  assert theirs == greedy


def test_exported_directories_say_what_they_hold(trained, exported):
  workdir = trained[0]
  info = export.read_info(exported["int8"])
  assert info["format"] == "ctranslate2" and info["quantization"] == "int8" and info["step"] == tiny_sweep.STEPS
  assert info["workdir"] == os.path.abspath(workdir) and info["decoding"]["beam_size"] == 4
  readme = open(os.path.join(exported["huggingface"], "README.md")).read()
  assert "MarianMTModel.from_pretrained" in readme and "((5 + length) / 6)^alpha" in readme
  generation = json.load(open(os.path.join(exported["huggingface"], "generation_config.json")))
  assert generation["num_beams"] == 4 and generation["decoder_start_token_id"] == 1


def test_an_averaged_workdir_exports_with_its_steps(trained, tmp_path):
  from transformer_jax import average_checkpoints
  averaged = str(tmp_path / "averaged")
  average_checkpoints.average_last(trained[0], 2, output_workdir=averaged)
  info = export.export_run(averaged, "ctranslate2", str(tmp_path / "out"))
  assert info["averaged_steps"] == [4, tiny_sweep.STEPS]


def _random_params(cfg: ModelConfig, seed: int = 1, scale: float = 2.0):
  """Initial parameters times `scale`: above 1, a confident model whose outputs vary with the input."""
  dummy = np.ones((1, 4), np.int32)
  params = nn.unbox(Transformer(cfg).init(jax.random.PRNGKey(seed), dummy, dummy, dummy)["params"])
  return jax.tree_util.tree_map(lambda p: np.asarray(p) * scale, params)


@pytest.mark.parametrize("variant", [dict(d_k=24, d_v=24), dict(positional_encoding="learned"),
                                     dict(attention_bias=False), dict(norm_position="pre"),
                                     dict(norm_position="pre", positional_encoding="learned", attention_bias=False)])
def test_ctranslate2_takes_other_head_sizes_learned_positions_and_no_biases(variant, tmp_path):
  """Shapes the Hugging Face export refuses (pre-norm too): CTranslate2 computes them as our model does."""
  from transformer_jax.export import to_ctranslate2
  cfg = ModelConfig(**dict(dict(vocab_size=40, num_layers=2, d_model=32, d_ff=48, num_heads=2, d_k=16, d_v=16,
                                max_position=32), **variant))
  params = _random_params(cfg, scale=1.0)
  if cfg.norm_position == "pre":  # LayerNorm gains and biases off 1 and 0, so each must land in its place
    rng = np.random.default_rng(3)
    params = jax.tree_util.tree_map_with_path(
        lambda path, p: p + rng.normal(0, 0.3, p.shape).astype(np.float32) if "norm" in jax.tree_util.keystr(path)
        else p, params)
  pieces = ["<pad>", "</s>", "<unk>"] + [f"p{i}" for i in range(cfg.vocab_size - 3)]
  to_ctranslate2.write(str(tmp_path), params, cfg, pieces, "float32")
  rng = np.random.default_rng(0)
  sources = [list(rng.integers(3, cfg.vocab_size, size=n)) for n in (5, 9, 3)]
  targets = [list(rng.integers(3, cfg.vocab_size, size=n)) for n in (7, 4, 11)]
  scored = ctranslate2.Translator(str(tmp_path)).score_batch([[pieces[i] for i in s] for s in sources],
                                                             [[pieces[i] for i in t] for t in targets])
  expected = our_log_probs(Transformer(cfg), params, [list(map(int, s)) for s in sources],
                           [list(map(int, t)) for t in targets])
  for theirs, want in zip(scored, expected):
    np.testing.assert_allclose(theirs.log_probs, want, rtol=0, atol=1e-4)


@pytest.mark.parametrize("norm_position", ["post", "pre"])
def test_ctranslate2_greedy_finds_our_translations_of_a_random_model(tmp_path, norm_position):
  """Greedy search on a random model whose outputs vary with the input (the tiny trained run's mostly do not yet),
  each source with our length limit: the same token sequences."""
  from transformer_jax import decode
  from transformer_jax.export import to_ctranslate2
  cfg = ModelConfig(vocab_size=40, num_layers=2, d_model=32, d_ff=48, num_heads=2, d_k=16, d_v=16, max_position=64,
                    norm_position=norm_position)
  params = _random_params(cfg, seed=2, scale=1.0)
  pieces = ["<pad>", "</s>", "<unk>"] + [f"p{i}" for i in range(cfg.vocab_size - 3)]
  to_ctranslate2.write(str(tmp_path), params, cfg, pieces, "float32")
  translator = ctranslate2.Translator(str(tmp_path))
  rng = np.random.default_rng(1)
  sources = [list(map(int, rng.integers(3, cfg.vocab_size, size=int(n)))) for n in rng.integers(2, 12, size=24)]
  batch = np.zeros((len(sources), 16), np.int32)
  for row, ids in enumerate(sources):
    batch[row, :len(ids) + 1] = ids + [1]
  extra, longest = 40, 64
  model = Transformer(cfg)
  greedy, _ = decode.translate_greedy(model, params, batch, extra_length=extra, max_decode_length=longest)
  limits = [min(len(ids) + 1 + extra, longest) for ids in sources]

  def theirs(ids, beam_size, limit):
    # CTranslate2 counts EOS in its limit and stops at it; ours forces EOS there: one token fewer, same words.
    result = translator.translate_batch([[pieces[i] for i in ids]], beam_size=beam_size, length_penalty=0.0,
                                        max_decoding_length=limit - 1, min_decoding_length=0)[0]
    return [pieces.index(p) for p in result.hypotheses[0]]

  ours_greedy = [inference.hypothesis_ids(row)[:-1] for row in np.asarray(greedy)]  # without the EOS
  assert len({tuple(ids) for ids in ours_greedy}) >= len(sources) // 3  # outputs depend on the input
  assert [theirs(ids, 1, limit) for ids, limit in zip(sources, limits)] == ours_greedy


def _workdir_with(trained, tmp_path, **overrides) -> str:
  """A copy of the tiny run's config with `overrides`: export refuses before it reads any checkpoint."""
  workdir = tmp_path / "run"
  workdir.mkdir()
  config = json.load(open(os.path.join(trained[0], workdir_lib.CONFIG)))
  json.dump(dict(config, **overrides), open(workdir / workdir_lib.CONFIG, "w"))
  return str(workdir)


@pytest.mark.parametrize("fmt,overrides,message", [
    ("ctranslate2", dict(d_k=8, d_v=16), "d_k=8 and d_v=16 differ"),
    ("huggingface", dict(d_k=8, d_v=8), "d_k=8 with num_heads=2 is not d_model=32 / num_heads"),
    ("huggingface", dict(positional_encoding="learned"), "positional_encoding='learned'"),
])
def test_what_does_not_map_is_refused_naming_the_key(trained, tmp_path, fmt, overrides, message):
  with pytest.raises(ConfigError, match=message):
    export.export_run(_workdir_with(trained, tmp_path, **overrides), fmt, str(tmp_path / "out"))
  assert not os.path.exists(tmp_path / "out") and not os.path.exists(tmp_path / "out.partial")


def test_refusals_on_the_command_line_exit_with_one_message(trained, tmp_path):
  learned = _workdir_with(trained, tmp_path, positional_encoding="learned")
  occupied = tmp_path / "occupied"
  occupied.mkdir()
  (occupied / "keep.txt").write_text("mine")
  cases = [
      ([f"--workdir={learned}", "--format=huggingface"], "positional_encoding='learned'"),
      ([f"--workdir={trained[0]}", "--format=huggingface", "--quantization=int8"], "applies to --format=ctranslate2"),
      ([f"--workdir={trained[0]}", "--format=ctranslate2", f"--output={occupied}"], "exists and is not empty"),
  ]
  for flags, message in cases:
    flags = flags if any(f.startswith("--output") for f in flags) else flags + [f"--output={tmp_path / 'out'}"]
    result = run(["transformer_jax.export", *flags])
    assert result.returncode != 0 and message in result.stderr, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
  assert (occupied / "keep.txt").read_text() == "mine"
  with pytest.raises(WorkdirError):
    export.export_run(trained[0], "ctranslate2", str(occupied))


def test_huggingface_refuses_pre_norm_on_the_command_line(tmp_path):
  """Refused from the run's config.json alone, before any checkpoint is read: one Error line naming the key."""
  workdir = tmp_path / "run"
  workdir.mkdir()
  config = config_base.base_config()
  config.norm_position = "pre"
  json.dump(config.to_dict(), open(workdir / workdir_lib.CONFIG, "w"))
  result = run(["transformer_jax.export", f"--workdir={workdir}", "--format=huggingface",
                f"--output={tmp_path / 'out'}"])
  assert result.returncode == 2, result.stderr[-2000:]
  errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
  assert len(errors) == 1 and "norm_position='pre': MarianMTModel is post-norm only (export with " \
      "--format=ctranslate2)" in errors[0], result.stderr[-2000:]
  assert "Traceback" not in result.stderr and not os.path.exists(tmp_path / "out")
  # A config.json written before the key existed is post-norm, which both formats take.
  del config.norm_position
  assert not export.unsupported(config, "huggingface")


def test_translate_command_with_the_ctranslate2_engine(trained, exported, tmp_path):
  """The same command and line-for-line output as --workdir: blank lines stay blank, every line gets one line."""
  _, loaded, sources, _ = trained
  lines = [sources[0], "", sources[1], "   ", sources[2]]
  input_path = tmp_path / "in.txt"
  input_path.write_text("\n".join(lines) + "\n")
  output = tmp_path / "out.txt"
  result = run(["transformer_jax.translate", "--engine=ctranslate2", f"--model_dir={exported['float32']}",
                f"--input={input_path}", f"--output={output}", "--beam_size=1", "--threads=1"])
  assert result.returncode == 0, result.stderr[-2000:]
  greedy = inference.best(ours(loaded, sources[:3], beam_size=1))
  assert output.read_text().split("\n") == [greedy[0], "", greedy[1], "", greedy[2], ""]

  result = run(["transformer_jax.translate", "--engine=ctranslate2", f"--model_dir={exported['huggingface']}",
                f"--input={input_path}"])
  assert result.returncode != 0 and "holds a huggingface export" in result.stderr
  assert "Traceback" not in result.stderr
  result = run(["transformer_jax.translate", "--engine=ctranslate2", f"--workdir={trained[0]}",
                f"--input={input_path}"])
  assert result.returncode != 0 and "takes --model_dir" in result.stderr and "Traceback" not in result.stderr


def test_missing_engine_names_the_pip_command(monkeypatch):
  monkeypatch.setitem(sys.modules, "ctranslate2", None)  # what an environment without it gives import
  with pytest.raises(export.MissingDependencyError, match="pip install ctranslate2"):
    export.require("ctranslate2", "ctranslate2")


def test_decode_benchmark_reports_every_engine(trained, tmp_path):
  _, _, sources, references = trained
  (tmp_path / "src").write_text("\n".join(sources[:8]) + "\n")
  (tmp_path / "ref").write_text("\n".join(references[:8]) + "\n")
  output = tmp_path / "decode.json"
  result = run(["benchmarks.decode_bench", f"--workdir={trained[0]}", f"--source={tmp_path / 'src'}",
                f"--reference={tmp_path / 'ref'}", "--threads=1", "--repeats=1", f"--output={output}"])
  assert result.returncode == 0, result.stderr[-2000:]
  report = json.load(open(output))
  rows = {row["engine"]: row for row in report["results"]}
  assert sorted(rows) == ["ctranslate2_float32", "ctranslate2_int8", "jax"] and report["sentences"] == 8
  assert rows["jax"]["same_as_jax"] == 8 and all(row["sentences_per_second"] > 0 for row in rows.values())
  assert "| ctranslate2_int8 |" in result.stdout


def _hashes(directory) -> dict:
  import hashlib  # pylint: disable=import-outside-toplevel
  return {os.path.relpath(os.path.join(root, name), directory): hashlib.sha256(open(os.path.join(root, name),
                                                                                    "rb").read()).hexdigest()
          for root, _, names in os.walk(directory) for name in names}


def test_overwrite_never_deletes_a_run(trained, tmp_path):
  import shutil  # pylint: disable=import-outside-toplevel
  copy = tmp_path / "runs" / "copy"
  shutil.copytree(trained[0], copy)
  before = _hashes(copy)
  for output, where in [(copy, "is the workdir of a run"), (copy / "ct2", "lies inside the workdir of a run"),
                        (tmp_path / "runs", "holds the workdir of a run")]:
    result = run(["transformer_jax.export", f"--workdir={copy}", "--format=ctranslate2", f"--output={output}",
                  "--overwrite"])
    assert result.returncode == 2, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and where in errors[0] and str(copy) in errors[0], result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert _hashes(copy) == before
  help_text = run(["transformer_jax.export", "--helpfull"]).stdout
  assert "Delete everything in an existing --output directory" in help_text


def test_an_interrupted_overwrite_leaves_a_complete_export(trained, exported, tmp_path, monkeypatch):
  """Interrupted while the new model is written, the previous export stays; interrupted while the old one is
  deleted, the new one is already in place: the output is always one whole export."""
  import shutil  # pylint: disable=import-outside-toplevel
  from transformer_jax.export import to_ctranslate2  # pylint: disable=import-outside-toplevel
  output = tmp_path / "export"
  shutil.copytree(exported["int8"], output)
  previous = _hashes(output)
  write = to_ctranslate2.write

  def write_then_fail(directory, *args, **kwargs):
    write(directory, *args, **kwargs)
    raise KeyboardInterrupt

  monkeypatch.setattr(to_ctranslate2, "write", write_then_fail)
  with pytest.raises(KeyboardInterrupt):
    export.export_run(trained[0], "ctranslate2", str(output), overwrite=True)
  assert _hashes(output) == previous
  monkeypatch.setattr(to_ctranslate2, "write", write)

  rmtree = shutil.rmtree

  def delete_one_file_then_fail(directory, *args, **kwargs):
    if os.path.isdir(directory) and os.path.basename(str(directory)).startswith("export") and not str(
        directory).endswith(".partial"):
      os.remove(os.path.join(directory, "model.bin"))
      raise KeyboardInterrupt
    rmtree(directory, *args, **kwargs)

  monkeypatch.setattr(shutil, "rmtree", delete_one_file_then_fail)
  with pytest.raises(KeyboardInterrupt):
    export.export_run(trained[0], "ctranslate2", str(output), overwrite=True)
  assert _hashes(output) == _hashes(exported["float32"])
