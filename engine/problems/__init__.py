"""Built-in problem plugins: ``table:PATH.csv`` and ``synthetic`` (see :mod:`segevo.engine.problem`)."""

from __future__ import annotations

from segevo.engine.problems.synthetic import SyntheticProblem
from segevo.engine.problems.table import TableProblem
from segevo.engine.problems.tabular import TabularProblem

__all__ = ["SyntheticProblem", "TableProblem", "TabularProblem"]
