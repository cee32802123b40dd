"""Beam-search decoding of one trained model: our jitted beam search against the same model exported to
CTranslate2 (float32 and int8), on the same test set with the same CPU threads, interleaved A B C A B C.

  python -m benchmarks.decode_bench --workdir=runs/demo --threads=2 --repeats=2 --output=decode.json

Each engine first translates the whole set once untimed (our decoder compiles one program per source length there),
then the timed passes alternate between engines, so a noisy machine slows all of them alike. Reported per engine:
the median pass in sentences/s and target tokens/s (SentencePiece tokens of the translations, EOS included),
sacreBLEU against the references, and how many translations equal ours. The sources are the run's test split
(--source/--reference read files instead, one sentence per line). CPU only: it needs ctranslate2, and TensorFlow
for the run's test split.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time

from absl import app, flags

from benchmarks.common import logger, versions

FLAGS = flags.FLAGS
log = logger("decode_bench")


def _define_flags():
  flags.DEFINE_string("workdir", None, "Workdir of a trained run (or an averaged one).", required=True)
  flags.DEFINE_string("source", None, "Source sentences, one per line (default: the run's test split).")
  flags.DEFINE_string("reference", None, "References of --source, one per line.")
  flags.DEFINE_integer("threads", 2, "CPU cores of every engine: the process is pinned to this many cores, ours runs "
                       "one XLA device on each and CTranslate2 gets as many threads (--ctranslate2_workers).")
  flags.DEFINE_bool("ctranslate2_workers", True, "CTranslate2 translates --threads batches at once, one thread each "
                    "(inter_threads; its fastest layout on a CPU); false: one batch at a time on --threads threads.")
  flags.DEFINE_integer("repeats", 2, "Timed passes per engine.")
  flags.DEFINE_integer("beam_size", 4, "Beam size.")
  flags.DEFINE_integer("batch_size", None, "Sentences per batch, every engine (default: the run's decode_batch_size).")
  flags.DEFINE_list("engines", ["jax", "ctranslate2_float32", "ctranslate2_int8"], "Engines to time.")
  flags.DEFINE_string("output", None, "Write the results as JSON here.")
  flags.DEFINE_string("profile_dir", None, "Instead of timing: trace our beam search on one batch of the set (the "
                      "middle one by length) into this directory and print where its time goes.")


def _test_set(config):
  if FLAGS.source:
    read = lambda path: open(path, encoding="utf-8").read().rstrip("\n").split("\n")
    return read(FLAGS.source), read(FLAGS.reference) if FLAGS.reference else None
  from transformer_jax.data import input_pipeline  # pylint: disable=g-import-not-at-top  (TensorFlow)
  split = input_pipeline.load_text_split(config, "test")
  return split.sources, split.targets


def _engines(workdir: str, export_dir: str, names: list[str], batch_size: int) -> dict:
  """name -> translate(sentences) -> best translations, each engine loaded once."""
  from transformer_jax import export, inference
  from transformer_jax.export import ctranslate2_translator
  engines = {}
  if "jax" in names:
    config, tokenizer, model, params, mesh = inference.load_on_devices(workdir)
    engines["jax"] = lambda sentences: inference.best(inference.translate_with_config(
        model, params, tokenizer, sentences, config, mesh, beam_size=FLAGS.beam_size, batch_size=batch_size))
  for name in names:
    if not name.startswith("ctranslate2_"):
      continue
    quantization = name.removeprefix("ctranslate2_")
    path = os.path.join(export_dir, quantization)
    export.export_run(workdir, "ctranslate2", path, quantization=quantization)
    workers = FLAGS.threads if FLAGS.ctranslate2_workers else 1
    translator = ctranslate2_translator.Ctranslate2Translator(path, workers=workers,
                                                              threads=FLAGS.threads // workers)
    engines[name] = lambda sentences, translator=translator: inference.best(translator.translate_n_best(
        sentences, beam_size=FLAGS.beam_size, batch_size=batch_size))
  unknown = set(names) - set(engines)
  if unknown:
    raise app.UsageError(f"--engines: unknown {sorted(unknown)}; choose from jax, ctranslate2_<quantization>")
  return engines


def _category(opcode: str, op_name: str) -> str:
  """Which part of a beam-search step an HLO op belongs to, from its op_name metadata."""
  del opcode
  if "decode_step" in op_name:
    if "attend_slots" in op_name and "take_along_axis" in op_name:
      return "model: self-attention, gathering each beam's history from the slots"
    for needle, name in (("self_attention_norm", "model: layer norms"), ("cross_attention_norm", "model: layer norms"),
                         ("ffn_norm", "model: layer norms"), ("self_attention", "model: self-attention over the slots"),
                         ("cross_attention", "model: cross-attention"), ("ffn", "model: feed-forward"),
                         ("logits", "model: output projection")):
      if needle in op_name:
        return name
    return "model: embeddings and the rest"
  for needle, name in (("encode", "encoder"), ("vmap", "cache reorder"), ("top_k", "top_k"),
                       ("log_softmax", "log_softmax")):
    if needle in op_name:
      return name
  return "other (search bookkeeping, ops without metadata)"


def profile(workdir: str, sentences: list[str], directory: str, batch_size: int) -> None:
  """Traces 3 beam searches of one batch, laid out as the translate command decodes it (split over one XLA device
  per core), and sums XLA's per-thunk times by _category."""
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from transformer_jax import config_base, decode, inference, profiling, sharding  # pylint: disable=g-import-not-at-top
  config, tokenizer, model, params, mesh = inference.load_on_devices(workdir)
  sources = inference.encode_sources(tokenizer, sentences, config.bucket_lengths[-1])
  order = np.argsort([len(ids) for ids in sources], kind="stable")
  middle = len(order) // 2
  chunk = [sources[i] for i in order[max(middle - batch_size // 2, 0):][:batch_size]]
  source = np.zeros((batch_size, inference.padded_length(max(map(len, chunk)), model.config.max_position)), np.int32)
  for row, ids in enumerate(chunk):
    source[row, :len(ids)] = ids
  source = jax.device_put(source, sharding.batch_sharding(mesh))
  options = dict(beam_size=FLAGS.beam_size, alpha=config.length_penalty_alpha, extra_length=config.decode_extra_length,
                 max_decode_length=config.max_decode_length, mesh=mesh, n_best=1,  # the best, as the passes ask
                 length_penalty_form=config_base.length_penalty_form(config))
  jax.block_until_ready(decode.translate_beam(model, params, source, **options))
  calls = 3
  with jax.profiler.trace(directory, create_perfetto_trace=True):
    start = time.perf_counter()
    for _ in range(calls):
      tokens, _ = jax.block_until_ready(decode.translate_beam(model, params, source, **options))
    wall = (time.perf_counter() - start) / calls
  hlo = decode.translate_beam.lower(model, params, source, **options).compile().as_text()
  with open(os.path.join(directory, "translate_beam.hlo.txt"), "w") as f:
    f.write(hlo)
  by_category = profiling.thunk_microseconds(directory, hlo, _category)
  total = sum(by_category.values())
  tokens = inference.to_host(tokens)
  longest = max(len(inference.hypothesis_ids(row)) for row in tokens.reshape(-1, tokens.shape[-1]))
  print(f"One batch: {len(chunk)} sentences over {mesh.size} devices, sources padded to {source.shape[1]}, longest "
        f"hypothesis {longest} tokens; {wall * 1000:.1f} ms per call, summed thunk time "
        f"{total / calls / 1000:.1f} ms per call (all devices)")
  print("| part of the step | ms per call | share |\n|---|---|---|")
  for name, microseconds in by_category.most_common():
    print(f"| {name} | {microseconds / calls / 1000:.1f} | {100 * microseconds / total:.1f}% |")


def main(argv):
  del argv
  # Before JAX starts: XLA's CPU devices (one per core, as the training and translate commands have) and their
  # thread pool take the cores the process may run on.
  os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:FLAGS.threads])
  from transformer_jax import cpu_devices  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
  from transformer_jax import bleu, cli, workdir as workdir_lib  # pylint: disable=g-import-not-at-top
  cli.quiet_library_logs()
  config = workdir_lib.load_config(FLAGS.workdir)
  tokenizer = workdir_lib.load_tokenizer(FLAGS.workdir)
  sources, references = _test_set(config)
  if FLAGS.profile_dir:
    profile(FLAGS.workdir, sources, FLAGS.profile_dir, FLAGS.batch_size or int(config.decode_batch_size))
    return
  log(f"{len(sources)} sentences, beam {FLAGS.beam_size}, {FLAGS.threads} threads, engines {FLAGS.engines}")
  with tempfile.TemporaryDirectory() as export_dir:
    engines = _engines(FLAGS.workdir, export_dir, FLAGS.engines, FLAGS.batch_size or int(config.decode_batch_size))
    outputs, seconds = {}, {name: [] for name in engines}
    for name, translate in engines.items():
      start = time.perf_counter()
      outputs[name] = translate(sources)
      log(f"{name}: untimed first pass {time.perf_counter() - start:.1f} s")
    for repeat in range(FLAGS.repeats):
      for name, translate in engines.items():
        start = time.perf_counter()
        translations = translate(sources)
        seconds[name].append(time.perf_counter() - start)
        if translations != outputs[name]:
          log(f"{name}: pass {repeat + 1} translated differently from its first pass")
        log(f"{name}: pass {repeat + 1} {seconds[name][-1]:.2f} s")

  results = []
  baseline = outputs.get("jax")
  for name, translations in outputs.items():
    median = statistics.median(seconds[name])
    tokens = sum(len(ids) + 1 for ids in tokenizer.encode_batch(translations))
    row = dict(engine=name, seconds=seconds[name], median_seconds=median,
               sentences_per_second=len(sources) / median, target_tokens_per_second=tokens / median,
               target_tokens=tokens,
               sacrebleu=bleu.bleu_report(translations, references, lang=config.target_lang)["sacrebleu"]
               if references else None,
               same_as_jax=sum(a == b for a, b in zip(translations, baseline)) if baseline else None)
    results.append(row)
  jax_median = next((r["median_seconds"] for r in results if r["engine"] == "jax"), None)
  print(f"| engine | median s ({FLAGS.repeats} passes) | sentences/s | target tokens/s | sacreBLEU | "
        f"same as jax | speed vs jax |")
  print("|---|---|---|---|---|---|---|")
  for r in results:
    ratio = f"{jax_median / r['median_seconds']:.2f}x" if jax_median else "-"
    print(f"| {r['engine']} | {r['median_seconds']:.2f} ({', '.join(f'{s:.2f}' for s in r['seconds'])}) | "
          f"{r['sentences_per_second']:.1f} | {r['target_tokens_per_second']:.0f} | "
          f"{r['sacrebleu']:.2f} | {r['same_as_jax']}/{len(sources)} | {ratio} |")
  if FLAGS.output:
    import ctranslate2  # pylint: disable=g-import-not-at-top
    from jax import devices as jax_devices  # pylint: disable=g-import-not-at-top
    with open(FLAGS.output, "w") as f:
      json.dump(dict(workdir=os.path.abspath(FLAGS.workdir), sentences=len(sources), beam_size=FLAGS.beam_size,
                     threads=FLAGS.threads, ctranslate2_workers=FLAGS.ctranslate2_workers,
                     jax_devices=[str(d) for d in jax_devices()], cpu_count=os.cpu_count(), command=" ".join(sys.argv),
                     versions=dict(versions(), ctranslate2=ctranslate2.__version__), results=results), f, indent=2)


if __name__ == "__main__":
  _define_flags()
  app.run(main)
