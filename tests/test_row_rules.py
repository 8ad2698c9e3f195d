"""The project's one generic data test, `row_rules` (dbt_project/tests/generic/row_rules.sql), run by dbt
on a seed small enough to work out by hand: every rule it checks fails on exactly the rows and values
worked out below, and `rows_since_tested` leaves out exactly what the last tested build read.

The failing rows are read back as dbt stored them (`store_failures`), so the oracle is the table below,
not the macro."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest

from continuum.pipeline import dbt

GENERIC_TEST = dbt.DBT_PROJECT_DIR / "tests" / "generic" / "row_rules.sql"

# Six rows: two loaded (and written) on 1 January, before the last tested build's mark; two on the 2nd,
# after it. Key 5 is shared by two old rows, key 2 by an old and a new row; one new row has no id, an
# unaccepted kind (z) and no parent; one old row is of kind b (the expression refuses it); parent 99 is
# not among the parents.
ITEMS = """\
id,kind,parent_id,loaded_at,refreshed_at
1,a,10,2026-01-01 00:00:00+00,2026-01-01 00:00:00+00
2,b,10,2026-01-01 00:00:00+00,2026-01-01 00:00:00+00
5,a,11,2026-01-01 00:00:00+00,2026-01-01 00:00:00+00
5,a,11,2026-01-01 00:00:00+00,2026-01-01 00:00:00+00
2,a,99,2026-01-02 00:00:00+00,2026-01-02 00:00:00+00
,z,,2026-01-02 00:00:00+00,2026-01-02 00:00:00+00
"""
PARENTS = "id\n10\n11\n"
MARK = "2026-01-01T12:00:00+00:00"  # the last tested build's mark: between the two days

RULES = {
    "not_null": ["id"],
    "accepted_values": {"kind": ["a", "b"]},
    "expressions": ["kind <> 'b'"],
    "unique": [["id"]],
    "references": [{"column": "parent_id", "to": "ref('parents')", "field": "id"}],
}
NOT_NULL = ("not_null", "id", None, 1)
NOT_ACCEPTED = ("accepted_values", "kind", "z", 1)
EXPRESSION = ("expression", "kind <> 'b'", None, 1)
SHARED_2 = ("unique", "id", "2", 2)  # counted over the whole table: the old row too
SHARED_5 = ("unique", "id", "5", 2)
NO_PARENT = ("references", "parent_id -> parents.id", "99", 1)

#: Each test's arguments beyond RULES, and the failures worked out by hand.
CASES = {
    "every_row": ({}, [NOT_NULL, NOT_ACCEPTED, EXPRESSION, SHARED_2, SHARED_5, NO_PARENT]),
    # the row-by-row rules read only the two new rows (kind b is old: not read); the grain counts only
    # the keys of the new rows (2 and null), over the whole table; references read every row
    "since_loaded": ({"rows_since_tested": "loaded"}, [NOT_NULL, NOT_ACCEPTED, SHARED_2, NO_PARENT]),
    # only the grain looks at what was written since: key 5's rows are both older
    "since_written": (
        {"rows_since_tested": "written"},
        [NOT_NULL, NOT_ACCEPTED, EXPRESSION, SHARED_2, NO_PARENT],
    ),
}

PROFILE = """\
rules:
  target: only
  outputs:
    only:
      type: duckdb
      path: "{{ env_var('RULES_WAREHOUSE') }}"
      threads: 1
"""


def project(tmp_path: Path) -> Path:
    root = tmp_path / "rules"
    (root / "seeds").mkdir(parents=True)
    (root / "tests" / "generic").mkdir(parents=True)
    shutil.copy(GENERIC_TEST, root / "tests" / "generic" / GENERIC_TEST.name)
    (root / "dbt_project.yml").write_text(
        "name: rules\nversion: '1.0'\nprofile: rules\ndata_tests:\n  +store_failures: true\n"
        "seeds:\n  +column_types: {loaded_at: timestamptz, refreshed_at: timestamptz}\n"
    )
    (root / "profiles.yml").write_text(PROFILE)
    (root / "seeds" / "items.csv").write_text(ITEMS)
    (root / "seeds" / "parents.csv").write_text(PARENTS)
    tests = [
        {"row_rules": {"name": f"items_{case}", "arguments": {**RULES, **extra}}}
        for case, (extra, _) in CASES.items()
    ]
    schema = {"version": 2, "seeds": [{"name": "items", "data_tests": tests}, {"name": "parents"}]}
    (root / "seeds" / "_seeds.yml").write_text(json.dumps(schema))  # JSON is YAML
    return root


def rules_env(tmp_path: Path, mark: str | None) -> dict[str, str]:
    """The environment of a build of the project: the last tested build's mark, or none."""
    marks = (dbt.TESTED_THROUGH_ENV, dbt.WRITTEN_TESTED_THROUGH_ENV)
    return {
        **{name: value for name, value in os.environ.items() if name not in marks},
        **({name: mark for name in marks} if mark else {}),
        "RULES_WAREHOUSE": str(tmp_path / "rules.duckdb"),
        "DBT_TARGET_PATH": str(tmp_path / "target"),
        "DBT_LOG_PATH": str(tmp_path / "logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }


def stored_failures(tmp_path: Path, env: dict[str, str]) -> dict[str, list[tuple]]:
    root = project(tmp_path)
    done = subprocess.run(
        [*dbt.dbt_command("build", project_dir=root), "--profiles-dir", str(root)],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr  # the tests fail, as they must
    query = "select rule, rule_column, bad_value, rows_failing from main_dbt_test__audit.items_{}"
    with duckdb.connect(env["RULES_WAREHOUSE"], read_only=True) as con:
        return {case: sorted(con.execute(query.format(case)).fetchall(), key=str) for case in CASES}


@pytest.mark.slow
def test_each_rule_fails_on_exactly_the_rows_worked_out_by_hand(tmp_path: Path):
    found = stored_failures(tmp_path, rules_env(tmp_path, MARK))
    for case, (_, expected) in CASES.items():
        assert found[case] == sorted(expected, key=str), case


@pytest.mark.slow
def test_without_a_mark_every_row_is_read(tmp_path: Path):
    """No build tested anything yet (the variables unset): every case reads every row."""
    found = stored_failures(tmp_path, rules_env(tmp_path, None))
    every_row = sorted(CASES["every_row"][1], key=str)
    assert found == {case: every_row for case in CASES}
