# shellcheck shell=bash
# The check harness of .ci/cross and .ci/ci-templates (the same output as .ci/client-packages):
# each check runs in a subshell under set -e with its output in a log, shown only on failure.
# The caller sets WORK (a temp dir) and HARNESS_NAME, and ends with `summary`.

START=$SECONDS
exec 3>&1   # checks write their log to a file; info lines go straight to the console
passed=0 failed=0
failures=()
n=0
info() { printf '      %s\n' "$*" >&3; }
fail() { printf 'assertion failed: %s\n' "$*"; return 1; }
check() { # check NAME FUNCTION [ARGS...]
    local name=$1 log t0 rc
    shift
    n=$((n + 1))
    log=$WORK/log.$n
    t0=$SECONDS
    ( set -e; "$@" ) > "$log" 2>&1
    rc=$?
    if [[ $rc == 0 ]]; then
        passed=$((passed + 1))
        printf 'PASS  %-72s %4ss\n' "$name" $((SECONDS - t0))
    else
        failed=$((failed + 1))
        failures+=("$name")
        printf 'FAIL  %-72s %4ss (exit %s); last lines of its log:\n' "$name" $((SECONDS - t0)) "$rc"
        tail -n 60 "$log" | sed 's/^/    | /'
    fi
}
summary() {
    echo
    if [[ ${#failures[@]} -gt 0 ]]; then printf '%s: failed: %s\n' "$HARNESS_NAME" "${failures[@]}"; fi
    echo "$HARNESS_NAME: took $((SECONDS - START))s"
    echo "$HARNESS_NAME: $passed passed, $failed failed"
    [[ $failed == 0 ]]
}
