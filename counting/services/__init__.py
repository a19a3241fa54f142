"""Counting's business actions (docs/counting.md), one function each; every public name is
re-exported here (``from counting.services import count_submit``).

- ``counts``: ``count_start``, ``count_line_record``, ``count_bin_empty``, ``count_submit``,
  ``count_line_approve``, ``count_line_reject`` (and ``count_create``, the one builder of a count);
- ``planning``: ``abc_classify``, ``item_class_override``, ``count_plan``;
- ``policies``: class policies and the tolerance rule.

Counting never writes stock: corrections go through ``stock.services.stock_adjust``.
"""

from .counts import (
    count_bin_empty,
    count_create,
    count_line_approve,
    count_line_record,
    count_line_reject,
    count_start,
    count_submit,
)
from .errors import CountingError, CountStateConflict
from .planning import abc_classify, abc_split, count_plan, item_class_override, plan_candidates, working_days
from .policies import class_policies, item_class, within_tolerance

__all__ = [
    "CountStateConflict",
    "CountingError",
    "abc_classify",
    "abc_split",
    "class_policies",
    "count_bin_empty",
    "count_create",
    "count_line_approve",
    "count_line_record",
    "count_line_reject",
    "count_plan",
    "count_start",
    "count_submit",
    "item_class",
    "item_class_override",
    "plan_candidates",
    "within_tolerance",
    "working_days",
]
