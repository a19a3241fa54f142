"""Property-based fuzz of every floor job's steps (issue 12, finding 3): whatever a scanner, a
clumsy thumb or a hand-made request sends into the scan field and the hidden step fields of any
job in the registry (``stock.floor.engine.JOBS``, receive-order included), and into the look-up, the
answer is a page (200) or a redirect (302), never a 500, and nothing is written.

Garbage: any text (control characters and NUL included; Hypothesis leaves out lone surrogates,
which form data cannot carry anyway), very long text, and hidden values shaped like the real
ones (``item:``, ``loc:``, ``lot:``, ``new:``, ``po:``) with ids that do not exist or are not
numbers. Derandomized and bounded (EXAMPLES per job), so every run sends the same requests.
"""

from __future__ import annotations

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stock.floor.engine import JOBS
from tests.stock.factories import ledger_snapshot

EXAMPLES = 20  # per job; each example sends 1 to 3 forms
CASES: dict[str, int] = {}  # examples run per job, for the note (pytest -s prints them)

garbage_text = st.one_of(
    st.text(max_size=30),
    st.text(alphabet=st.characters(codec="utf-8", max_codepoint=0x1F), max_size=10),  # control characters, NUL
    st.builds(lambda c, n: c * n, st.sampled_from(["X", "\x00", "9", "é", "-"]), st.integers(65, 3000)),
)
missing_id = st.one_of(st.integers(10**6, 10**12), st.integers(-(10**6), -1), st.just(10**30)).map(str)
hidden_value = st.one_of(
    garbage_text,
    st.builds(lambda prefix, rest: prefix + rest, st.sampled_from(["item:", "loc:", "lot:", "po:"]), missing_id),
    st.builds(
        lambda prefix, rest: prefix + rest, st.sampled_from(["item:", "loc:", "lot:", "new:", "po:"]), garbage_text
    ),
)
STEP_NAMES = (
    "item",
    "quantity",
    "lot",
    "expiry",
    "destination",
    "source",
    "pick_bin",
    "pick_lot",
    "reason",
    "bin",
    "order",
)
form = st.fixed_dictionaries(
    {"scan": garbage_text},
    optional={
        **{f"s_{name}": hidden_value for name in STEP_NAMES},
        "key": garbage_text,
        "clear": st.sampled_from(STEP_NAMES),
        "choice": garbage_text,
    },
)


@pytest.fixture
def manager_client(world) -> Client:
    """The manager may do every job in AMS; a 500 comes back as a response, not an exception."""
    client = Client(raise_request_exception=False)
    client.force_login(world.manager)
    session = client.session
    session["floor_warehouse"] = world.ams.pk
    session.save()
    return client


@pytest.mark.parametrize("slug", sorted(JOBS))
def test_garbage_in_any_step_of_any_job_is_never_a_500_and_writes_nothing(world, manager_client, slug):
    before = ledger_snapshot()
    CASES[slug] = 0

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(forms=st.lists(form, min_size=1, max_size=3), code=garbage_text)
    def fuzz(forms: list[dict[str, str]], code: str) -> None:
        CASES[slug] += 1
        url = f"/floor/{slug}/"
        for data in forms:
            response = manager_client.post(url, data)
            assert response.status_code in (200, 302), (data, response.status_code)
        carried = {f"s_{name}": value for name, value in forms[0].items() if name.startswith("s_")} | {"done": code}
        assert manager_client.get(url, carried).status_code == 200
        assert manager_client.get("/floor/lookup/", {"code": code}).status_code == 200
        assert ledger_snapshot() == before

    fuzz()
    print(f"floor fuzz {slug}: {CASES[slug]} examples")  # noqa: T201 - the case counts for the note
