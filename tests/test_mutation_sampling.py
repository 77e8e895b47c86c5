"""tools/mutation_sample.py (a seeded random sample of a cosmic-ray session's mutants) and the Wilson
interval of tools/mutation_table.py, on tiny hand-made sessions of cosmic-ray 8's schema: no mutation
run, no cosmic-ray needed (one test reads the sampled session with cosmic-ray when it is installed)."""

from __future__ import annotations

import importlib.util
import itertools
import sqlite3
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SAMPLE = _load("mutation_sample")
TABLE = _load("mutation_table")

# cosmic-ray 8.7's session tables, as `cosmic-ray init` creates them (sqlite_master of a real session)
SCHEMA = """
CREATE TABLE work_items (job_id VARCHAR NOT NULL, PRIMARY KEY (job_id));
CREATE TABLE mutation_specs (module_path VARCHAR, operator_name VARCHAR, operator_args JSON, occurrence INTEGER,
    start_pos_row INTEGER, start_pos_col INTEGER, end_pos_row INTEGER, end_pos_col INTEGER,
    definition_name VARCHAR, job_id VARCHAR NOT NULL, PRIMARY KEY (job_id),
    FOREIGN KEY(job_id) REFERENCES work_items (job_id));
CREATE TABLE work_results (worker_outcome VARCHAR(9), output TEXT, test_outcome VARCHAR(11), diff TEXT,
    job_id VARCHAR NOT NULL, PRIMARY KEY (job_id), FOREIGN KEY(job_id) REFERENCES work_items (job_id));
"""
OPERATORS = ("core/NumberReplacer", "core/ReplaceComparisonOperator_Eq_NotEq", "core/AddNot",
             "core/ReplaceBinaryOperator_Add_Sub", "core/ReplaceBinaryOperator_BitOr_Add")


def mutants(n_per_operator=12):
    """(operator, occurrence, row, col) of a small module: n mutants per operator."""
    return [(op, k, 10 + 3 * k + i, 4 + i) for i, op in enumerate(OPERATORS) for k in range(n_per_operator)]


def make_session(path, specs, filtered=("BitOr",), order_seed=0):
    """A session as `cosmic-ray init` + `cr-filter-operators` leave it: one work item per mutant with a
    fresh random job id, inserted in a shuffled order, the filtered operators' items marked SKIPPED."""
    import random

    specs = list(specs)
    random.Random(order_seed).shuffle(specs)
    db = sqlite3.connect(path)
    db.executescript(SCHEMA)
    for op, occurrence, row, col in specs:
        job = uuid.uuid4().hex
        db.execute("INSERT INTO work_items VALUES (?)", (job,))
        db.execute("INSERT INTO mutation_specs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   ("manual/m.py", op, '"{}"', occurrence, row, col, row, col + 1, "f", job))
        if any(f in op for f in filtered):
            db.execute("INSERT INTO work_results VALUES ('SKIPPED', 'Filtered operator', NULL, NULL, ?)", (job,))
    db.commit()
    db.close()
    return path


def pending(path):
    """The (operator, occurrence) of the mutants a `cosmic-ray exec` of the session would run."""
    db = sqlite3.connect(path)
    rows = db.execute("SELECT s.operator_name, s.occurrence FROM work_items w JOIN mutation_specs s "
                      "ON s.job_id = w.job_id WHERE w.job_id NOT IN (SELECT job_id FROM work_results)").fetchall()
    db.close()
    return set(rows)


def test_a_sample_keeps_n_of_the_pending_mutants_and_records_it(tmp_path):
    path = make_session(tmp_path / "s.sqlite", mutants())
    population = pending(path)
    assert len(population) == 48  # 60 generated, the 12 BitOr ones filtered
    kept, total = SAMPLE.sample_session(path, 10, seed=0)
    assert (kept, total) == (10, 48)
    after = pending(path)
    assert len(after) == 10 and after <= population  # a subset, no filtered operator in it
    assert SAMPLE.sampled(path) == (48, 10, 0)
    db = sqlite3.connect(path)
    # the deleted mutants leave no orphan spec, the filtered ones keep their SKIPPED result
    assert db.execute("SELECT COUNT(*) FROM mutation_specs").fetchone()[0] == 10 + 12
    assert db.execute("SELECT COUNT(*) FROM work_items").fetchone()[0] == 10 + 12
    assert db.execute("SELECT COUNT(*) FROM mutation_specs WHERE job_id NOT IN "
                      "(SELECT job_id FROM work_items)").fetchone()[0] == 0
    assert db.execute("SELECT COUNT(*) FROM work_results WHERE worker_outcome = 'SKIPPED'").fetchone()[0] == 12
    db.close()


def test_the_same_seed_draws_the_same_mutants_whatever_the_job_ids_and_their_order(tmp_path):
    """cosmic-ray's job ids are random per init and its rows come in any order: the draw ignores both."""
    draws = []
    for i in range(3):
        path = make_session(tmp_path / f"s{i}.sqlite", mutants(), order_seed=i)
        SAMPLE.sample_session(path, 10, seed=7)
        draws.append(pending(path))
    assert draws[0] == draws[1] == draws[2]


def test_the_draw_survives_an_edit_that_moves_columns_but_adds_no_mutant(tmp_path):
    """A `.T` added on a line moves the columns after it: operator and occurrence still name each mutant."""
    a = make_session(tmp_path / "a.sqlite", mutants())
    b = make_session(tmp_path / "b.sqlite", [(op, k, row, col + 2) for op, k, row, col in mutants()], order_seed=1)
    for path in (a, b):
        SAMPLE.sample_session(path, 10, seed=0)
    assert pending(a) == pending(b)


def test_other_seeds_draw_other_samples_spread_over_the_population(tmp_path):
    draws = []
    for seed in range(20):
        path = make_session(tmp_path / f"s{seed}.sqlite", mutants())
        SAMPLE.sample_session(path, 10, seed=seed)
        draws.append(frozenset(pending(path)))
    assert len(set(draws)) == 20
    # every pending mutant is drawn by some seed, and no operator is left out or always taken
    assert frozenset().union(*draws) == pending(make_session(tmp_path / "all.sqlite", mutants()))
    per_operator = {op: sum(op == o for d in draws for o, _ in d) for op in OPERATORS[:4]}
    assert all(20 <= c <= 80 for c in per_operator.values()), per_operator  # 50 expected each


def test_draw_is_uniform_without_replacement():
    counts = [0] * 8
    for seed in range(400):
        idx = SAMPLE.draw(list(range(8)), 2, seed)
        assert len(set(idx)) == 2 and idx == sorted(idx)
        for i in idx:
            counts[i] += 1
    assert all(60 <= c <= 140 for c in counts), counts  # 100 expected each, sd ≈ 9


def test_a_sample_at_least_the_population_keeps_everything_and_n_below_1_is_refused(tmp_path):
    path = make_session(tmp_path / "s.sqlite", mutants(3))
    everything = pending(path)
    assert SAMPLE.sample_session(path, 100, seed=0) == (12, 12)
    assert pending(path) == everything and SAMPLE.sampled(path) == (12, 12, 0)
    with pytest.raises(ValueError, match="at least 1"):
        SAMPLE.draw(list(range(5)), 0, 0)


def test_a_session_is_sampled_once_and_a_full_one_says_so(tmp_path):
    path = make_session(tmp_path / "s.sqlite", mutants())
    assert SAMPLE.sampled(path) is None
    SAMPLE.sample_session(path, 10, seed=0)
    with pytest.raises(ValueError, match="sampled already"):
        SAMPLE.sample_session(path, 5, seed=0)
    assert len(pending(path)) == 10


def test_cosmic_ray_reads_a_sampled_session(tmp_path):
    """The rows the sampler deletes leave a session cosmic-ray itself opens: N pending, the filtered skipped."""
    work_db = pytest.importorskip("cosmic_ray.work_db")
    path = make_session(tmp_path / "s.sqlite", mutants())
    SAMPLE.sample_session(path, 10, seed=0)
    with work_db.use_db(path, work_db.WorkDB.Mode.open) as db:
        assert len(db.pending_work_items) == 10
        assert db.num_work_items == 22 and db.num_results == 12


# ---- the Wilson score interval -----------------------------------------------------------------

# (k, n) -> the 95 % interval, from the closed form by hand (Wilson 1927; e.g. 0 of 10: 0 to 0.2775)
KNOWN = {(0, 10): (0.0, 0.27753), (10, 10): (0.72247, 1.0), (5, 10): (0.23659, 0.76341),
         (36, 40): (0.76951, 0.96040), (20, 40): (0.35199, 0.64801)}


@pytest.mark.parametrize("k,n", sorted(KNOWN))
def test_wilson_known_values(k, n):
    lo, hi = TABLE.wilson(k, n)
    assert lo == pytest.approx(KNOWN[k, n][0], abs=5e-5) and hi == pytest.approx(KNOWN[k, n][1], abs=5e-5)


def test_wilson_agrees_with_scipy_and_holds_the_estimate():
    stats = pytest.importorskip("scipy.stats")
    for n, k in itertools.chain(((40, k) for k in range(41)), ((1, 0), (1, 1), (7, 3), (300, 241))):
        lo, hi = TABLE.wilson(k, n)
        ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        assert (lo, hi) == pytest.approx((ci.low, ci.high), abs=1e-9), (k, n)
        assert 0.0 <= lo <= k / n <= hi <= 1.0
        if 0 < k < n:
            assert lo < k / n < hi
        assert TABLE.wilson(n - k, n) == pytest.approx((1 - hi, 1 - lo), abs=1e-12)  # symmetric


def test_wilson_narrows_as_the_sample_grows_and_refuses_nonsense():
    widths = [TABLE.wilson(3 * n // 4, n) for n in (8, 40, 400, 4000)]
    assert all(b[1] - b[0] < a[1] - a[0] for a, b in zip(widths, widths[1:]))
    for k, n in ((1, 0), (-1, 10), (11, 10)):
        with pytest.raises(ValueError):
            TABLE.wilson(k, n)


def test_the_score_of_a_sampled_session_carries_its_interval_and_sample_size():
    assert TABLE.score_text(30, 40) == "75.0 %"
    assert TABLE.score_text(0, 0, (708, 40, 0)) == "-"
    text = TABLE.score_text(30, 40, (708, 40, 0))
    lo, hi = TABLE.wilson(30, 40)
    assert text == f"75.0 % (95 % CI {100 * lo:.1f}–{100 * hi:.1f} %; sampled 40 of 708)"
