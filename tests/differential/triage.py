"""Find and print a minimal divergent input for each case (a developer tool, not a test).

    PYTHONPATH=python python tests/differential/triage.py [case-id-regex] [max_examples]

Divergences already described by a KNOWN row are ignored, so what it prints is new.
"""

from __future__ import annotations

import re
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from harness import Divergence, check
from hypothesis import HealthCheck, find, settings
from hypothesis.errors import NoSuchExample
from known_divergences import by_case


def all_cases():
    import cases_ops

    cases = list(cases_ops.ALL)
    import glob
    import os

    here = os.path.dirname(os.path.abspath(__file__))
    families = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(here, "cases_nn_*.py")))
    for mod in ("cases_index", "cases_nn", "cases_creation", *families):
        try:
            cases += __import__(mod).ALL
        except ImportError:
            pass
    return cases


def first_divergence(case, n):
    def fails(a):
        try:
            check(case, a)
        except Divergence:
            return not any(k.when(a) for k in by_case(case.id))
        except Exception as e:  # noqa: BLE001 (a harness problem: show it too)
            print(f"   harness error in {case.id}: {type(e).__name__}: {e}"[:300], flush=True)
            return False
        return False

    try:
        a = find(case.args, fails, settings=settings(max_examples=n, database=None, deadline=None,
                                                     suppress_health_check=list(HealthCheck)))
    except NoSuchExample:
        return None
    try:
        check(case, a)
    except Divergence as e:
        return a, str(e)
    return a, "(flaky)"


if __name__ == "__main__":
    warnings.simplefilter("ignore")
    pat = re.compile(sys.argv[1] if len(sys.argv) > 1 else ".*")
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    for case in all_cases():
        if not pat.search(case.id):
            continue
        r = first_divergence(case, n)
        if r:
            print(f"== {case.id}\n   {r[1].splitlines()[0][:300]}\n   {r[0]!r}"[:1200], flush=True)
