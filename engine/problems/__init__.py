"""Built-in problem plugins: ``table:PATH.csv``, ``synthetic`` and ``mosegnas``.

They are registered by name in :mod:`segevo.engine.problem` (``mosegnas`` is imported only
when it is loaded, as it needs the supernet); see :func:`segevo.engine.problem.load_problem`.
"""

from __future__ import annotations

from segevo.engine.problems.synthetic import SyntheticProblem
from segevo.engine.problems.table import TableProblem
from segevo.engine.problems.tabular import TabularProblem

__all__ = ["SyntheticProblem", "TableProblem", "TabularProblem"]
