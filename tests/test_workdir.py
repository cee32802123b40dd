"""The workdir's shared files: a reader in another process never sees one half-written."""

import json
import subprocess
import sys

from tests.helpers import ROOT, env
from transformer_jax import workdir as workdir_lib

WRITER = """
import sys
from transformer_jax import workdir as workdir_lib
for i in range(400):  # sizes alternate between about 150 KB and a few bytes, so a torn read cannot parse
  workdir_lib.write_json(sys.argv[1], "batch_settings.json", {"i": i, "rows": list(range(30000 if i % 2 else 1))})
"""


def test_a_reader_never_sees_a_half_written_file(tmp_path):
  workdir_lib.write_json(str(tmp_path), "batch_settings.json", {"i": 0, "rows": [0]})
  writer = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], cwd=ROOT, env=env(devices=None))
  reads, errors = 0, []
  while writer.poll() is None:
    try:
      value = workdir_lib.read_json(str(tmp_path), "batch_settings.json")
      assert len(value["rows"]) == (30000 if value["i"] % 2 else 1)
      reads += 1
    except (ValueError, KeyError) as error:
      errors.append(repr(error))
  assert writer.returncode == 0
  assert reads > 20 and not errors, errors[:3]
  assert json.load(open(tmp_path / "batch_settings.json"))["i"] == 399
  assert sorted(p.name for p in tmp_path.iterdir()) == ["batch_settings.json"]  # no temporary file left
