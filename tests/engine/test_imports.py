"""The coordinator stays light: torch is imported only when a torch-based part is used."""

from __future__ import annotations

import subprocess
import sys

import pytest


def _torch_imported_after(code: str) -> bool:
    script = f"import sys\n{code}\nprint('torch' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1] == "True"


@pytest.mark.parametrize("module", ["segevo.engine", "segevo.engine.run"])
def test_importing_the_engine_does_not_import_torch(module: str) -> None:
    assert not _torch_imported_after(f"import {module}")


def test_a_ranknet_strategy_imports_torch_only_when_it_fits() -> None:
    setup = (
        "from segevo.engine.problem import load_problem\n"
        "from segevo.engine.strategies import make_strategy\n"
        "problem = load_problem('synthetic', seed=0, n_var=4, n_values=3)\n"
        "strategy = make_strategy('mosegnas', problem, surrogate='ranknet',"
        " surrogate_options={'epochs': 2})\n"
    )
    assert not _torch_imported_after(setup)
    fit = "import numpy as np\nX = problem.sample(6, np.random.default_rng(0))\n"
    fit += "strategy.fit_model(X, np.linspace(0.1, 0.6, 6))\n"
    assert _torch_imported_after(setup + fit)
