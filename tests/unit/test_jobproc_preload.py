"""The forkserver preload covers what each job process would otherwise import again (driftline.jobproc)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# In a fresh interpreter: import what the preload imports (without building the landmask), then run
# worker.py as multiprocessing runs it in each job process, and list the modules that imported.
PROBE = """
import importlib, json, runpy, sys
import multiprocessing.connection  # the forkserver runs on multiprocessing
from driftline.jobproc import PRELOAD_MODULES
for name in PRELOAD_MODULES:
    importlib.import_module(name)
before = set(sys.modules)
runpy.run_path("worker.py", run_name="__mp_main__")
print(json.dumps(sorted(set(sys.modules) - before - {"__mp_main__"})))
"""


def test_worker_script_imports_nothing_beyond_the_preload():
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
