"""explore: the page driven in a real headless Chromium on a tiny trained run compared with a second one; the
per-head summary against naive loops; bad input; the command; and the attention images in TensorBoard's event file.

The translations shown are checked against inference.translate_n_best (the batched translate path, not the one the
explorer uses), the pieces against the tokenizer, the dev curve against dev_curve.jsonl.
"""

import glob
import io
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
import sentencepiece as spm

import tiny_sweep
from transformer_jax import explore, inference, visualize

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
SENTENCE = "The dog sees the cat."
DECODE_TIMEOUT = 600  # the first request compiles the beam search of two models on a busy 2-core machine


@pytest.fixture(scope="module")
def workdirs(tmp_path_factory):
  _, root = tiny_sweep.trained_sweep(tmp_path_factory)
  return [os.path.join(root, name) for name in reversed(tiny_sweep.RUN_NAMES)]  # 2 heads first, then 1 head


@pytest.fixture(scope="module")
def served(workdirs):
  explorer = explore.build_explorer(workdirs[0], compare_workdir=workdirs[1], num_dev_sentences=20)
  server = explore.make_server(explorer, "127.0.0.1", 0)
  thread = threading.Thread(target=server.serve_forever, daemon=True)
  thread.start()
  yield explorer, f"http://127.0.0.1:{server.server_address[1]}/"
  server.shutdown()
  server.server_close()


@pytest.fixture(scope="module")
def browser():
  if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
    message = (f"the browser test needs {CHROMIUM} and {CHROMEDRIVER}: install Debian's chromium and chromium-driver "
               "(apt-get install chromium chromium-driver; CI's .ci/run does)")
    if os.environ.get("CI"):
      pytest.fail(message)
    pytest.skip(message)
  from selenium import webdriver  # pylint: disable=g-import-not-at-top
  from selenium.webdriver.chrome.service import Service  # pylint: disable=g-import-not-at-top
  profile = tempfile.mkdtemp(prefix="explore_chromium_")
  options = webdriver.ChromeOptions()
  options.binary_location = CHROMIUM
  # Without the background-networking flags Chromium stalls on a closed network.
  for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--window-size=1600,1200"):
    options.add_argument(flag)
  driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)  # a given driver: nothing downloaded
  driver.set_script_timeout(60)
  yield driver
  driver.quit()
  shutil.rmtree(profile, ignore_errors=True)


def _wait_state(driver, states, timeout=DECODE_TIMEOUT) -> str:
  deadline = time.time() + timeout
  while time.time() < deadline:
    state = driver.execute_script("return document.body.dataset.state")
    if state in states:
      return state
    time.sleep(0.2)
  raise AssertionError(f"page still {state!r} after {timeout} s; message: "
                       f"{driver.find_element('id', 'message').text!r}")


def _submit(driver, sentence: str) -> str:
  """Types (or, for long text, sets) the sentence, presses Translate and waits for the outcome; returns the state."""
  box = driver.find_element("id", "sentence")
  box.clear()
  if len(sentence) < 200:
    box.send_keys(sentence)
  else:
    driver.execute_script("arguments[0].value = arguments[1]", box, sentence)
  driver.find_element("id", "translate").click()
  return _wait_state(driver, ("done", "error"))


def _open(driver, url):
  driver.get(url)
  _wait_state(driver, ("idle",), timeout=60)


def _expected_n_best(loaded, sentence):
  config, tokenizer, model, params = loaded
  return inference.translate_n_best(
      model, params, tokenizer, [sentence], n_best=config.beam_size, beam_size=config.beam_size,
      alpha=config.length_penalty_alpha, extra_length=config.decode_extra_length,
      max_decode_length=config.max_decode_length, max_source_length=config.bucket_lengths[-1], batch_size=1)[0]


def test_page_translates_and_draws_every_heatmap_of_both_runs(served, browser):
  explorer, url = served
  _open(browser, url)
  assert _submit(browser, SENTENCE) == "done", browser.find_element("id", "message").text
  columns = browser.find_elements("css selector", ".run")
  assert len(columns) == 2
  for r, (column, run) in enumerate(zip(columns, explorer.runs)):
    model = run.loaded[2]
    expected = _expected_n_best(run.loaded, SENTENCE)
    assert column.find_element("css selector", ".translation").text == expected[0][0]
    rows = column.find_elements("css selector", "table.n-best tr")[1:]
    assert [row.find_elements("tag name", "td")[1].text for row in rows] == [text for text, _ in expected]
    np.testing.assert_allclose([float(row.find_elements("tag name", "td")[2].text) for row in rows],
                               [score for _, score in expected], atol=2e-4)

    heatmaps = browser.execute_script("""
        return [...document.querySelectorAll(`.run[data-run="${arguments[0]}"] svg.heatmap`)].map(svg => ({
          kind: svg.dataset.kind, layer: Number(svg.dataset.layer), head: Number(svg.dataset.head),
          width: svg.getBoundingClientRect().width, height: svg.getBoundingClientRect().height,
          queries: [...svg.querySelectorAll("text.qlabel")].map(t => t.textContent),
          keys: [...svg.querySelectorAll("text.klabel")].map(t => t.textContent),
          cells: [...svg.querySelectorAll("rect.cell")].map(c => [Number(c.dataset.q), Number(c.dataset.k),
                                                                  Number(c.dataset.w)])}));""", r)
    layers, heads = model.config.num_layers, model.config.num_heads
    expected_maps = {(kind, layer, head) for kind in visualize.KINDS for layer in range(layers)
                     for head in range(heads)}
    assert {(m["kind"], m["layer"], m["head"]) for m in heatmaps} == expected_maps
    assert len(heatmaps) == len(expected_maps)
    sp = spm.SentencePieceProcessor(model_file=os.path.join(run.workdir, "sentencepiece.model"))
    source_pieces = sp.encode(SENTENCE, out_type=str) + ["</s>"]
    for m in heatmaps:
      assert m["width"] > 20 and m["height"] > 20, m["kind"]  # laid out, visible
      predicted = m["queries"] if m["kind"] != "encoder_self" else None
      if m["kind"] in ("encoder_self", "cross"):
        assert m["keys"] == source_pieces
      if m["kind"] == "encoder_self":
        assert m["queries"] == source_pieces
      else:  # decoder positions, labelled with the pieces they predict: the shown translation and </s>
        assert predicted[-1] == "</s>"
        assert sp.decode([sp.piece_to_id(p) for p in predicted[:-1]]) == expected[0][0]
      if m["kind"] == "decoder_self":
        assert m["keys"] == ["</s>"] + m["queries"][:-1]  # each position reads the piece before the one it predicts
      grid = np.zeros((len(m["queries"]), len(m["keys"])))
      for q, k, w in m["cells"]:
        grid[q, k] = w
      assert len(m["cells"]) == grid.size
      np.testing.assert_allclose(grid.sum(1), 1.0, atol=1e-3 * grid.shape[1])  # each row: a distribution
      if m["kind"] == "decoder_self":
        assert np.all(np.triu(grid, k=1) == 0)  # nothing from the future


def test_hovering_a_piece_outlines_its_row_and_column(served, browser):
  from selenium.webdriver.common.action_chains import ActionChains  # pylint: disable=g-import-not-at-top
  _, url = served
  _open(browser, url)
  assert _submit(browser, SENTENCE) == "done"
  index = 1
  piece = browser.find_element("css selector", f'.run[data-run="0"] .piece[data-side="src"][data-i="{index}"]')
  ActionChains(browser).move_to_element(piece).perform()
  outlines = browser.execute_script("""
      return [...document.querySelectorAll('.run[data-run="0"] svg.heatmap')].map(svg => {
        const row = svg.querySelector(".hl-row"), col = svg.querySelector(".hl-col");
        return {kind: svg.dataset.kind, cell: Number(svg.dataset.cell),
                row: getComputedStyle(row).visibility === "visible" ? Number(row.getAttribute("y")) : null,
                col: getComputedStyle(col).visibility === "visible" ? Number(col.getAttribute("x")) : null};
      });""")
  assert "hovered" in piece.get_attribute("class")
  for outline in outlines:
    at = index * outline["cell"]
    # A source piece is a query of encoder self-attention only, and a key of encoder self- and cross-attention.
    assert outline["row"] == (at if outline["kind"] == "encoder_self" else None), outline
    assert outline["col"] == (None if outline["kind"] == "decoder_self" else at), outline


def _naive_summary(weights, kind):
  """Loops over one head's [queries, keys] weights."""
  queries, keys = len(weights), len(weights[0])
  entropy = sum(-sum(w * math.log2(w) for w in row if w > 0) for row in weights) / queries
  stats = {"entropy": entropy, "max": sum(max(row) for row in weights) / queries}
  if kind != "cross":
    stats["distance"] = sum(weights[q][k] * abs(k - q) for q in range(queries) for k in range(keys)) / queries
    stats["self"] = sum(weights[q][q] for q in range(queries)) / queries
    stats["previous"] = sum(weights[q][q - 1] for q in range(1, queries)) / (queries - 1)
  if kind != "decoder_self":
    stats["eos"] = sum(row[-1] for row in weights) / queries
  return stats


def test_head_summary_matches_naive_loops_and_the_page_shows_it(served, browser):
  _, url = served
  _open(browser, url)
  assert _submit(browser, SENTENCE) == "done"
  result = browser.execute_script("return lastResult")
  for run in result["runs"]:
    for kind, layers in run["attention"].items():
      for layer, heads in enumerate(layers):
        for head, weights in enumerate(heads):
          expected = _naive_summary(weights, kind)
          got = run["summary"][kind][layer][head]
          assert set(got) == set(expected), kind
          for name, value in expected.items():
            assert got[name] == pytest.approx(value, abs=2e-3), (kind, layer, head, name)
  select = browser.find_element("css selector", '.run[data-run="0"] select.metric')
  for metric in ("entropy", "max"):
    select.find_element("css selector", f'option[value="{metric}"]').click()
    cell = browser.find_element("css selector", '.run[data-run="0"] table.summary[data-kind="cross"] '
                                                'td[data-layer="0"][data-head="1"]')
    shown = float(cell.text.split("\n")[0])
    assert shown == pytest.approx(result["runs"][0]["summary"]["cross"][0][1][metric], abs=0.006)


def test_dev_sentences_references_and_dev_curves(served, browser, workdirs):
  explorer, url = served
  _open(browser, url)
  options = browser.find_elements("css selector", "#dev-list option")
  assert len(options) == len(explorer.dev_pairs) > 0
  options[0].click()
  source, reference = explorer.dev_pairs[0]
  assert browser.find_element("id", "sentence").get_attribute("value") == source
  browser.find_element("id", "translate").click()
  assert _wait_state(browser, ("done", "error")) == "done"
  assert browser.find_element("css selector", ".reference").text == f"reference: {reference}"

  # One line per workdir, one point per row of its dev_curve.jsonl.
  curves = [[json.loads(line) for line in open(os.path.join(w, "dev_curve.jsonl"))] for w in workdirs]
  for metric in ("dev_bleu", "dev_loss"):
    lines = browser.find_elements("css selector", f'svg.curve[data-metric="{metric}"] polyline')
    assert [len(line.get_attribute("points").split()) for line in lines] == [len(c) for c in curves]


def test_bad_input_is_explained_and_the_server_keeps_serving(served, browser):
  explorer, url = served
  _open(browser, url)
  message = lambda: browser.find_element("id", "message").text
  assert _submit(browser, "   ") == "error" and "empty" in message()
  assert _submit(browser, "word " * 300) == "error" and f"at most {explore.MAX_SENTENCE_CHARS}" in message()
  assert _submit(browser, "x" * 40_000) == "error" and "bytes" in message()
  long_words = " ".join(f"dog{i}" for i in range(150))  # under the character limit, over the model's length
  assert _submit(browser, long_words) == "error" and "pieces long" in message()

  browser.find_element("id", "beam-size").clear()
  browser.find_element("id", "beam-size").send_keys("0")
  assert _submit(browser, SENTENCE) == "error" and "Beam size" in message()
  browser.find_element("id", "beam-size").clear()
  browser.find_element("id", "beam-size").send_keys("2")

  # Bytes a browser never sends from the text box, posted by the page's own fetch.
  answer = browser.execute_async_script("""
      const done = arguments[arguments.length - 1];
      fetch("/api/translate", {method: "POST", body: new Uint8Array([123, 34, 115, 34, 58, 34, 255, 34, 125])})
        .then(r => r.json().then(j => done([r.status, j.error])));""")
  assert answer[0] == 400 and "not valid UTF-8" in answer[1]

  # A second request while one decodes: hold the decode lock as a running request would.
  with explorer.decoding:
    assert _submit(browser, SENTENCE) == "error" and "Busy" in message()
    assert browser.find_element("id", "message").get_attribute("class") == "busy"

  assert _submit(browser, SENTENCE) == "done", message()
  column = browser.find_element("css selector", '.run[data-run="0"]')
  assert len(column.find_elements("css selector", "table.n-best tr")) - 1 == len(
      _expected_n_best_with_beam(explorer.runs[0].loaded, SENTENCE, 2))


def _expected_n_best_with_beam(loaded, sentence, beam_size):
  config, tokenizer, model, params = loaded
  return inference.translate_n_best(
      model, params, tokenizer, [sentence], n_best=beam_size, beam_size=beam_size,
      alpha=config.length_penalty_alpha, extra_length=config.decode_extra_length,
      max_decode_length=config.max_decode_length, max_source_length=config.bucket_lengths[-1], batch_size=1)[0]


def test_compare_step_loads_two_checkpoints_of_one_run(workdirs):
  explorer = explore.build_explorer(workdirs[0], compare_step=4, num_dev_sentences=0)
  assert [run.step for run in explorer.runs] == [tiny_sweep.STEPS, 4]
  late, early = (run.loaded[3] for run in explorer.runs)
  assert any(not np.array_equal(a, b) for a, b in zip(*(jax_leaves(p) for p in (late, early))))
  with pytest.raises(ValueError, match=f"has steps 4, {tiny_sweep.STEPS}"):
    explore.build_explorer(workdirs[0], compare_step=5, num_dev_sentences=0)
  with pytest.raises(ValueError, match="not both"):
    explore.build_explorer(workdirs[0], compare_workdir=workdirs[1], compare_step=4)


def jax_leaves(params):
  import jax  # pylint: disable=g-import-not-at-top
  return [np.asarray(x) for x in jax.tree_util.tree_leaves(params)]


def test_the_command_serves_on_localhost(workdirs):
  process = subprocess.Popen(
      [sys.executable, "-m", "transformer_jax.explore", f"--workdir={workdirs[0]}", "--port=0",
       "--num_dev_sentences=3"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=tiny_sweep.ENV)
  try:
    lines = []
    for line in process.stdout:
      lines.append(line)
      if "http://" in line:
        break
    served_url = next((text for text in lines if "http://" in text), None)
    assert served_url, "".join(lines[-30:])
    address = served_url.split("http://")[1].split("/")[0]
    assert address.startswith("127.0.0.1:")
    with urllib.request.urlopen(f"http://{address}/api/info", timeout=60) as response:
      info = json.load(response)
    assert [run["step"] for run in info["runs"]] == [tiny_sweep.STEPS]
    assert len(info["dev"]) == 3
    with pytest.raises(urllib.error.HTTPError) as error:
      urllib.request.urlopen(urllib.request.Request(f"http://{address}/api/translate", data=b"{}"), timeout=60)
    assert error.value.code == 400 and "sentence" in json.load(error.value)["error"]
  finally:
    process.terminate()
    process.wait(timeout=30)


def test_tensorboard_holds_cross_attention_images_of_each_dev_evaluation(workdirs):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from PIL import Image  # pylint: disable=g-import-not-at-top
  workdir = workdirs[0]
  images = {}
  for path in glob.glob(os.path.join(workdir, "events.out.tfevents.*")):
    for event in tf.compat.v1.train.summary_iterator(path):
      for value in event.summary.value:
        if value.metadata.plugin_data.plugin_name == "images":
          images[(value.tag, event.step)] = tf.make_ndarray(value.tensor)
  eval_steps = [json.loads(line)["step"] for line in open(os.path.join(workdir, "dev_curve.jsonl"))]
  layers = json.load(open(os.path.join(workdir, "config.json")))["num_layers"]
  # The dev examples of train.py: the first three dev sentences, with their translations at that step.
  expected = {(f"dev_attention/sentence{s}/cross_layer{layer}", step) for s in range(3) for layer in range(layers)
              for step in eval_steps}
  assert set(images) == expected
  for (tag, _), tensor in images.items():
    width, height = int(tensor[0]), int(tensor[1])  # an image summary: width, height, then the encoded images
    picture = np.asarray(Image.open(io.BytesIO(tensor[2])))
    assert picture.shape[:2] == (height, width) and height > 100 and width > 100, tag
    assert picture.std() > 10, tag  # drawn, not blank


def test_dev_curve_time_continues_across_resumes(tmp_path):
  # Each invocation's clock starts at 0: the third and fifth rows come from resumed runs.
  seconds = [100.0, 200.0, 30.0, 90.0, 10.0]
  with open(tmp_path / "dev_curve.jsonl", "w") as f:
    for step, value in enumerate(seconds):
      f.write(json.dumps({"step": 100 * (step + 1), "train_seconds": value, "dev_bleu": 1.0, "dev_loss": 2.0}) + "\n")
    f.write('{"step": 600, "train_sec')  # a line cut short by a stopped run
  rows = explore.read_dev_curve(str(tmp_path))
  assert [row["seconds"] for row in rows] == [100.0, 200.0, 200.0 + 30.0, 200.0 + 90.0, 200.0 + 90.0 + 10.0]
  assert explore.read_dev_curve(str(tmp_path / "absent")) == []
