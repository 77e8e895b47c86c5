#!/usr/bin/env bash
# Mutation score of selected modules with cosmic-ray, in a scratch copy of the committed tree.
#
#   tools/mutation.sh                      # every module in MODULES below
#   tools/mutation.sh initializers losses  # some of them
#   MUTATION_FROM=/tmp/before MUTATION_DIR=/tmp/after tools/mutation.sh losses
#                                          # only the survivors of an earlier run, with today's tests
#   MUTATION_REV=4d354f9 tools/mutation.sh embedding   # the tree of another commit (a "before" run)
#   MUTATION_SAMPLE=40 MUTATION_SEED=0 tools/mutation.sh stack
#                                          # a seeded random sample of 40 of the module's mutants
#
# Slow (minutes to an hour per module on one core): NOT part of CI. Needs `pip install -e '.[mutation]'`.
# cosmic-ray writes each mutant into the source file on disk, so the run never touches this work
# tree: it exports `git archive HEAD` (committed files only; MUTATION_REV names another commit) to
# $MUTATION_DIR (default /tmp/dualgrad-mutation) and mutates there. Results: $MUTATION_DIR/<module>.sqlite, one report per
# module ($MUTATION_DIR/<module>.txt) and the summary table on stdout. Everything runs under
# `nice -n 15` on one thread (BLAS, XLA), one mutant at a time.
#
# Each module is tested with its own targeted command (the tests that exercise it, `-x` so that a
# killed mutant stops at its first failure), under the hypothesis profile "mutation" (derandomized:
# a mutant is killed or survives the same way on every run). Bitwise and shift operators
# (|, &, ^, <<, >>), meaningless on the float arrays these modules compute with, are not generated.
#
# MUTATION_FROM=DIR reruns only the mutants that survived the session in DIR (another directory than
# $MUTATION_DIR): valid when the module is unchanged (checked) and tests were only added since, so
# that a mutant killed then is killed now (derandomized profile, same earlier tests in the command).
#
# MUTATION_SAMPLE=N (MUTATION_SEED=S, default 0) runs a random sample of N of the module's mutants,
# the same N for the same module, config and seed (tools/mutation_sample.py: drawn from the mutants
# sorted by operator and occurrence, not by cosmic-ray's random job ids); the table gives the score
# with its 95 % Wilson interval, "sampled N of M". With MUTATION_FROM, the earlier session's sample.
set -euo pipefail

REPO="$(cd "$(dirname "$0")/.." && pwd)"
OUT="${MUTATION_DIR:-/tmp/dualgrad-mutation}"
TIMEOUT="${MUTATION_TIMEOUT:-120}"   # seconds per mutant; a mutant past it counts as timed out
FROM="${MUTATION_FROM:-}"            # rerun only the survivors of the session in this directory
REV="${MUTATION_REV:-HEAD}"          # the commit whose tree is mutated and tested
SAMPLE="${MUTATION_SAMPLE:-}"        # run a random sample of this many mutants per module
SEED="${MUTATION_SEED:-0}"           # the sample's seed
if [ -n "$FROM" ]; then
  FROM="$(cd "$FROM" && pwd)" && OUT="$(mkdir -p "$OUT" && cd "$OUT" && pwd)"
  [ "$FROM" != "$OUT" ] || { echo "tools/mutation.sh: error: MUTATION_FROM must differ from MUTATION_DIR" >&2; exit 2; }
fi

declare -A TESTS=(
  [initializers]="tests/test_contracts_init.py tests/test_determinism.py tests/test_mlp.py"
  [losses]="tests/test_losses.py tests/test_gradients.py tests/test_contracts_losses.py tests/test_contracts_registry.py"
  [activations]="tests/test_activations.py tests/test_gradients.py tests/test_contracts_registry.py"
  [optimizers]="tests/test_optimizers.py tests/test_contracts_state.py"
  [inplace_losses]="tests/test_train_step.py tests/test_contracts_inplace.py"
  [persistence]="tests/test_contracts_persistence.py tests/test_contracts_load.py tests/test_persistence.py tests/test_persistence_faults.py"
  # the layers: the tests that call them (node ids; a whole tests/test_layers.py + test_stacks.py takes
  # over a minute per mutant on the shared machine)
  [embedding]="tests/test_contracts_dtype.py tests/test_contracts_embedding.py tests/test_layers.py::test_layer_matches_jax[embedding]
               tests/test_layers.py::test_layer_matches_jax[embedding_2d] tests/test_layers.py::test_repeated_ids_accumulate
               tests/test_layers.py::test_check_layer_hyperparameters_ids_and_valid"
  [dropout]="tests/test_contracts_dtype.py tests/test_contracts_eval.py tests/test_layers.py::test_layer_matches_jax[dropout]
             tests/test_layers.py::test_dropout_p_zero_is_the_identity_and_the_mask_comes_from_the_seed"
  # the float32 criterion (issue 19): its unit tests first, then check_layer in float32 and half precision on
  # the least stable layers (the whole of test_float32_layers.py, every layer, takes 75 s per mutant here)
  [precision]="tests/test_contracts_precision.py
               tests/test_float32_layers.py::test_factor_and_floor_are_overridable
               tests/test_float32_layers.py::test_a_dropped_term_fails_and_the_message_gives_all_three_values
               tests/test_float32_layers.py::test_an_eps_in_the_wrong_place_fails_in_float32
               tests/test_float32_layers.py::test_every_catalogued_layer_mistake_fails_in_float32_too
               tests/test_float32_layers.py::test_the_floor_is_relative_to_the_case_not_to_the_leaf
               tests/test_float32_layers.py::test_a_correct_float32_layer_never_fails[layernorm]
               tests/test_float32_layers.py::test_a_correct_float32_layer_never_fails[batchnorm]
               tests/test_float32_layers.py::test_a_correct_float32_layer_never_fails[cross_entropy_loss]
               tests/test_float32_layers.py::test_a_correct_float32_layer_never_fails[dense]
               tests/test_torch_adapter.py::test_half_precisions_pass_a_correct_function_and_fail_a_wrong_one
               tests/test_torch_adapter.py::test_the_tanh_derivative_with_the_exact_forward_is_caught[float32]"
  # the one network description (594 mutants) and the engine's intermediates (307): sampled runs
  # (MUTATION_SAMPLE, docs/mutation-testing.md). stack: its contract tests first, then the tests that call
  # manual.stack (test_stacks.py less its spec-only tests and the bucketed reference's; 30 s unmutated)
  [stack]="tests/test_contracts_stack.py tests/test_stack_check.py tests/test_contracts_eval.py
           tests/test_stacks.py::test_random_stacks_match_jax
           tests/test_stacks.py::test_random_networks_of_every_layer_match_jax
           tests/test_stacks.py::test_a_wrong_layer_among_every_layer_is_caught_and_named
           tests/test_stacks.py::test_an_mlp_stack_is_the_network_spec_of_the_fast_path
           tests/test_stacks.py::test_a_wrong_layer_in_a_stack_is_caught_and_shrunk
           tests/test_stacks.py::test_a_batchnorm_dropout_stack_learns_spirals_like_the_plain_mlp"
  [intermediates]="tests/test_contracts_intermediates.py tests/test_intermediates.py"
)
declare -A PATHS=([embedding]="manual/layers/embedding.py" [dropout]="manual/layers/dropout.py"
                  [precision]="dualgrad/engine/precision.py" [intermediates]="dualgrad/engine/intermediates.py")
                  # else manual/<m>.py
ORDER=(initializers losses activations optimizers inplace_losses persistence embedding dropout precision stack
       intermediates)
MODULES=("$@")
[ ${#MODULES[@]} -eq 0 ] && MODULES=("${ORDER[@]}")

rm -rf "$OUT/src" && mkdir -p "$OUT/src"
git -C "$REPO" archive "$REV" | tar -x -C "$OUT/src"
cd "$OUT/src"
export PYTHONPATH="$OUT/src" HYPOTHESIS_PROFILE=mutation PYTHONDONTWRITEBYTECODE=1 \
       OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 \
       XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"

for m in "${MODULES[@]}"; do
  [ -n "${TESTS[$m]:-}" ] || { echo "tools/mutation.sh: error: unknown module $m (known: ${ORDER[*]})" >&2; exit 2; }
  path="${PATHS[$m]:-manual/$m.py}"
  tests=""
  for t in ${TESTS[$m]}; do [ -e "${t%%::*}" ] && tests="$tests $t"; done  # contract tests may not exist yet
  cat > "$OUT/$m.toml" <<TOML
[cosmic-ray]
module-path = "$path"
timeout = $TIMEOUT
excluded-modules = []
test-command = "python -m pytest -x -q -p no:cacheprovider$tests"

[cosmic-ray.distributor]
name = "local"

[cosmic-ray.filters.operators-filter]
exclude-operators = ["core/ReplaceBinaryOperator_.*_(BitOr|BitAnd|BitXor|LShift|RShift)",
                     "core/ReplaceBinaryOperator_(BitOr|BitAnd|BitXor|LShift|RShift)_.*"]
TOML
  if [ -n "$FROM" ]; then
    cmp -s "$FROM/src/$path" "$path" ||
      { echo "tools/mutation.sh: error: $path differs from $FROM's: run it in full" >&2; exit 2; }
    cp "$FROM/$m.sqlite" "$OUT/$m.sqlite"
    python -c 'import sqlite3, sys; c = sqlite3.connect(sys.argv[1])
c.execute("DELETE FROM work_results WHERE test_outcome = ?", ("SURVIVED",)); c.commit()' "$OUT/$m.sqlite"
  else
    rm -f "$OUT/$m.sqlite"
    cosmic-ray init "$OUT/$m.toml" "$OUT/$m.sqlite"
    cr-filter-operators "$OUT/$m.sqlite" "$OUT/$m.toml"
    [ -z "$SAMPLE" ] || python "$REPO/tools/mutation_sample.py" "$OUT/$m.sqlite" "$SAMPLE" "$SEED"
  fi
  nice -n 15 cosmic-ray baseline "$OUT/$m.toml"  # the unmutated code must pass its test command
  start=$(date +%s)
  nice -n 15 cosmic-ray exec "$OUT/$m.toml" "$OUT/$m.sqlite"
  echo "$(( $(date +%s) - start )) s" > "$OUT/$m.seconds"
  cr-report --show-pending "$OUT/$m.sqlite" > "$OUT/$m.txt" || true
done

python "$REPO/tools/mutation_table.py" "$OUT" "${MODULES[@]}"
