"""One environment list per project per refresh, however long the refresh takes (issue 25).

The list cache used to keep a list for 5 s. On a loaded machine one refresh outlived that and
listed a project again. Here the load is a slow BRMS: project B's list takes 6 s, and with
`--parallel 1` the reads run in state order (A, B, A), so A's second read comes more than 5 s
after A's list, every time.
"""

from __future__ import annotations

import pytest

from gorules_tokens_localbrms.testing import ENVIRONMENTS_ROUTE
from support.brms import config_entry

pytestmark = pytest.mark.engine

SLOW_LIST_MS = 6000  # more than the old cache's 5 s


def test_a_refresh_lists_each_project_once_even_when_it_outlives_any_time_limit(token_stack, seeded, brms) -> None:
    other = brms.seed(project_key="other")
    ts = token_stack([
        config_entry(seeded, "staging", name="a-staging"),
        config_entry(other, "staging", name="b-staging"),
        config_entry(seeded, "production", name="a-production"),
    ])
    ts.up()
    slow = brms.add_fault(method="GET", path=f"/api/projects/{other['projectId']}/environments", delay_ms=SLOW_LIST_MS)
    brms.reset_metrics()

    ts.stack.refresh(parallel=1, on_output=lambda _line: None)

    b_lists = next(f for f in brms.faults() if f["id"] == slow["id"])["matched"]
    all_lists = brms.request_count(method="GET", route=ENVIRONMENTS_ROUTE)
    assert b_lists == 1
    assert all_lists - b_lists == 1  # project A: its second token's read came > 6 s after A's list
