"""The summary table of a tools/mutation.sh run, read from cosmic-ray's session databases.

    python tools/mutation_table.py OUT_DIR MODULE...        # markdown table on stdout
    python tools/mutation_table.py OUT_DIR MODULE... --survivors   # and every survivor's diff

generated: mutants cosmic-ray made, less the operators the config excludes (bitwise, shifts);
killed: the test command failed (timeouts counted apart); survived: it passed.
A sampled session (tools/mutation.sh with MUTATION_SAMPLE=N, see tools/mutation_sample.py) ran N of
the M mutants: its row says "sampled N of M", and its score is an estimate of the whole module's,
given with its 95 % Wilson score interval.
"""

import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mutation_sample import sampled  # noqa: E402


def wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """The Wilson score interval of a proportion k/n (95 % for the default z): the p whose normal
    test |k/n − p| ≤ z·√(p(1 − p)/n) accepts, i.e. (p̂ + z²/2n ± z·√(p̂(1 − p̂)/n + z²/4n²)) / (1 + z²/n).
    Inside [0, 1] even at k = 0 or k = n, where the plain p̂ ± z·√(p̂(1 − p̂)/n) collapses to a point."""
    if n <= 0 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n and n >= 1, got k={k}, n={n}")
    p, z2 = k / n, z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def score_text(caught: int, tested: int, sample=None) -> str:
    """'72.5 %', or for a sampled session '72.5 % (95 % CI 57.2–84.0 %; sampled 40 of 594)'."""
    if not tested:
        return "-"
    text = f"{100 * caught / tested:.1f} %"
    if sample is not None:
        lo, hi = wilson(caught, tested)
        text += f" (95 % CI {100 * lo:.1f}–{100 * hi:.1f} %; sampled {sample[1]} of {sample[0]})"
    return text


def counts(session: Path):
    from cosmic_ray.work_db import WorkDB, use_db  # here: wilson and score_text need no cosmic-ray
    from cosmic_ray.work_item import TestOutcome, WorkerOutcome

    done = {"killed": 0, "timed out": 0, "survived": 0, "incompetent": 0, "pending": 0}
    survivors = []
    with use_db(session, WorkDB.Mode.open) as db:
        for item, result in db.completed_work_items:
            if result.worker_outcome == WorkerOutcome.SKIPPED:
                continue
            if result.test_outcome == TestOutcome.SURVIVED:
                done["survived"] += 1
                survivors.append((item, result))
            elif result.test_outcome == TestOutcome.KILLED:
                done["timed out" if result.output == "timeout" else "killed"] += 1
            else:
                done["incompetent"] += 1
        done["pending"] = sum(1 for _ in db.pending_work_items)
    return done, survivors


def module_path(out: Path, m: str) -> str:
    """The mutated file, as the run's config names it (manual/<m>.py unless it says otherwise)."""
    config = out / f"{m}.toml"
    for line in (config.read_text().splitlines() if config.exists() else []):
        if line.startswith("module-path"):
            return line.split("=", 1)[1].strip().strip('"')
    return f"manual/{m}.py"


def main(argv):
    show = "--survivors" in argv
    argv = [a for a in argv if a != "--survivors"]
    out, modules = Path(argv[0]), argv[1:]
    print("| module | generated | killed | timed out | survived | score | run time |")
    print("|---|---|---|---|---|---|---|")
    listed = []
    for m in modules:
        done, survivors = counts(out / f"{m}.sqlite")
        generated = sum(done.values())
        caught = done["killed"] + done["timed out"]
        tested = caught + done["survived"]
        seconds = (out / f"{m}.seconds").read_text().strip() if (out / f"{m}.seconds").exists() else "?"
        pending = f" ({done['pending']} not run)" if done["pending"] else ""
        score = score_text(caught, tested, sampled(out / f"{m}.sqlite"))
        print(f"| {module_path(out, m)} | {generated}{pending} | {done['killed']} | {done['timed out']} | "
              f"{done['survived']} | {score} | {seconds} |")
        listed += survivors
    if show:
        for item, result in listed:
            for mutation in item.mutations:
                print(f"\n## {mutation.module_path}:{mutation.start_pos[0]} {mutation.operator_name} ({item.job_id})")
            print(result.diff or "")


if __name__ == "__main__":
    main(sys.argv[1:])
