"""Compare a Tempest run with the expected-pass list (tests/tempest/run.sh).

Usage: results.py CSV [CSV...] --expected FILE [--listed FILE] [--update]
                  [--retry-out FILE]

Each CSV is `subunit2csv` output of one run (test,status,start_time,stop_time);
a later CSV overrides an earlier one for the tests it holds (the retry of the
expected tests that failed).  A test id is Tempest's full id, attributes in
brackets included (`...test_x[id-<uuid>,smoke]`), as `tempest run --load-list`
takes it.

Statuses: success -> passed; skip -> skipped; FAILED -> failed; a
`setUpClass (module.Class)` entry that failed is a failure of the class (its
tests never report).  An expected test that did not pass (failed, skipped or
absent from the run) is a regression.

--listed FILE: the ids the run selected (`tempest run --list-tests`): only
  the expected tests among them count (a --regex subset).
--retry-out FILE: write the regressions (one id a line) and exit 3 if there
  are any, without printing the verdict (the caller reruns them once).
--update: add every test that passed to FILE (sorted); the list only grows:
  a listed test that did not pass stays listed and still fails the run.
Exit: 0 when no expected test regressed, 1 otherwise.
"""

import csv
import sys


# subunit2csv's statuses of a test that did not pass.
FAILED = ("fail", "failure", "error", "uxsuccess")


def load(paths):
    status = {}
    for path in paths:
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                test = row.get("test") or ""
                if test:
                    status[test] = row.get("status") or ""
    return status


def read_list(path):
    try:
        with open(path) as f:
            return [
                line.strip()
                for line in f
                if line.strip() and not line.lstrip().startswith("#")
            ]
    except FileNotFoundError:
        return []


HEADER = """# Tempest 47.0.0 compute API tests that pass against nova-rs (tests/tempest/run.sh).
# A run fails when one of these does not pass. Grown with `tests/tempest/run.sh --update`;
# the list only grows: remove a line by hand, with the reason in the commit.
"""


def main(argv):
    csvs, expected_path, update, retry_out, listed_path = [], None, False, None, None
    it = iter(argv)
    for a in it:
        if a == "--expected":
            expected_path = next(it)
        elif a == "--update":
            update = True
        elif a == "--listed":
            listed_path = next(it)
        elif a == "--retry-out":
            retry_out = next(it)
        else:
            csvs.append(a)
    if not csvs or not expected_path:
        print(__doc__, file=sys.stderr)
        return 2

    status = load(csvs)
    tests = {t: s for t, s in status.items() if not t.startswith("setUpClass")}
    classes = {t: s for t, s in status.items() if t.startswith("setUpClass")}
    passed = sorted(t for t, s in tests.items() if s == "success")
    skipped = sorted(t for t, s in tests.items() if s == "skip")
    failed = sorted(t for t, s in tests.items() if s in FAILED)
    class_failed = sorted(t for t, s in classes.items() if s in FAILED)
    expected = read_list(expected_path)
    listed = set(read_list(listed_path)) if listed_path else None
    ok = set(passed)
    selected = [t for t in expected if listed is None or t in listed]
    regressed = [t for t in selected if t not in ok]

    if retry_out is not None:
        with open(retry_out, "w") as f:
            f.write("".join(t + "\n" for t in regressed))
        return 3 if regressed else 0

    new = sorted(ok - set(expected))
    for t in failed + class_failed:
        print(f"tempest: FAILED {t}")
    if new:
        print(f"tempest: {len(new)} passing test(s) not on the expected list:")
        for t in new:
            print(f"tempest:   + {t}")
    for t in regressed:
        why = tests.get(t)
        why = "failed" if why in FAILED else {"skip": "skipped", None: "did not run"}.get(why, why)
        print(f"tempest: REGRESSION ({why}) {t}")
    if update:
        grown = sorted(set(expected) | ok)
        with open(expected_path, "w") as f:
            f.write(HEADER)
            f.write("".join(t + "\n" for t in grown))
        print(f"tempest: {expected_path}: {len(expected)} -> {len(grown)} tests")
    if listed is not None:
        print(f"tempest: {len(listed)} tests selected, {len(tests)} reported")
    print(
        f"tempest: expected {len(selected)} (of {len(expected)} listed), regressions "
        f"{len(regressed)}, failed classes (setUpClass) {len(class_failed)}"
    )
    # Skipped: every selected test that neither passed nor failed (a skipped
    # class reports one setUpClass entry, not its tests).
    if listed is not None:
        not_run = len(listed - ok - set(failed))
    else:
        not_run = len(skipped)
    print(f"{len(passed)} passed, {len(failed) + len(class_failed)} failed, {not_run} skipped")
    return 1 if regressed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
