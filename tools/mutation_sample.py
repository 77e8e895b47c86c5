"""Keep a seeded random sample of N mutants in a cosmic-ray session (tools/mutation.sh, MUTATION_SAMPLE).

    python tools/mutation_sample.py SESSION.sqlite N SEED

Run after `cosmic-ray init` and `cr-filter-operators`: of the mutants still to run (the population,
M of them: those without a result, so the filtered operators are not in it), N are kept and the other
M − N are deleted from the session (their `work_items` and `mutation_specs` rows), so that
`cosmic-ray exec` runs the N only. The session records what was done in a table of its own,
`dualgrad_sample(population, sample, seed)`, which `tools/mutation_table.py` reads to report the
score as an estimate with its interval ("sampled N of M").

Reproducible: `cosmic-ray init` names its jobs with fresh random ids, so the draw never looks at
them. The population is sorted by what a mutant is (operator, its occurrence in the module, its
arguments, its place) and the seed draws from that order (`numpy.random.default_rng(seed)`): the same
module, config, N and seed give the same mutants on every init. The draw also survives an edit
that adds no mutable code (a `.T`, a renamed variable: the operator and occurrence keys stay).
"""

from __future__ import annotations

import sqlite3
import sys

import numpy as np

TABLE = "dualgrad_sample"


def population(db: sqlite3.Connection) -> list[tuple]:
    """The mutants still to run, as (key, job_id), sorted by key (the order the seed draws from)."""
    rows = db.execute(
        "SELECT s.operator_name, s.occurrence, s.operator_args, s.start_pos_row, s.start_pos_col, "
        "       s.module_path, w.job_id "
        "FROM work_items w JOIN mutation_specs s ON s.job_id = w.job_id "
        "WHERE w.job_id NOT IN (SELECT job_id FROM work_results)").fetchall()
    return sorted((tuple("" if v is None else v for v in r[:-1]), r[-1]) for r in rows)


def draw(keys: list, n: int, seed: int) -> list:
    """The indices of n of len(keys) sorted keys, drawn without replacement by the seed (sorted)."""
    if n < 1:
        raise ValueError(f"the sample size must be at least 1, got {n}")
    if n >= len(keys):
        return list(range(len(keys)))
    return sorted(int(i) for i in np.random.default_rng(seed).choice(len(keys), size=n, replace=False))


def sample_session(path, n: int, seed: int) -> tuple[int, int]:
    """Keep n of the session's pending mutants (all of them when n ≥ their number): (kept, population)."""
    db = sqlite3.connect(path)
    try:
        if db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?", (TABLE,)).fetchone():
            raise ValueError(f"{path} is sampled already: init a new session")
        pop = population(db)
        keep = {pop[i][1] for i in draw([k for k, _ in pop], n, seed)}
        drop = [(job,) for _, job in pop if job not in keep]
        db.executemany("DELETE FROM mutation_specs WHERE job_id = ?", drop)
        db.executemany("DELETE FROM work_items WHERE job_id = ?", drop)
        db.execute(f"CREATE TABLE {TABLE} (population INTEGER, sample INTEGER, seed INTEGER)")
        db.execute(f"INSERT INTO {TABLE} VALUES (?, ?, ?)", (len(pop), len(keep), seed))
        db.commit()
        return len(keep), len(pop)
    finally:
        db.close()


def sampled(path) -> tuple[int, int, int] | None:
    """(population, sample, seed) of a sampled session, None for a full one."""
    db = sqlite3.connect(path)
    try:
        if not db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?", (TABLE,)).fetchone():
            return None
        return tuple(db.execute(f"SELECT population, sample, seed FROM {TABLE}").fetchone())
    finally:
        db.close()


def main(argv):
    if len(argv) != 3:
        sys.exit("usage: python tools/mutation_sample.py SESSION.sqlite N SEED")
    kept, total = sample_session(argv[0], int(argv[1]), int(argv[2]))
    print(f"mutation_sample: kept {kept} of {total} mutants (seed {argv[2]})")


if __name__ == "__main__":
    main(sys.argv[1:])
