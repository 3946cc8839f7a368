#!/usr/bin/env bash
# tools/mutate.sh -- mutation testing of linstab's core formulas.
#
# Applies, one at a time, the single-line mutations listed in
# tools/mutations.txt to a scratch copy of the tree (never to this
# checkout), rebuilds the plain build there incrementally, runs the unit and
# CLI suites and reports, per mutation, whether a test failed ("caught") or
# the whole suite passed ("survived"), and the total caught / total.
#
# Usage: tools/mutate.sh [--list FILE] [--only REGEX] [--keep] [--jobs N]
#   --list FILE   mutation list (default tools/mutations.txt)
#   --only REGEX  run only the mutations whose description matches REGEX
#   --keep        keep the scratch tree (printed) instead of deleting it
#   --jobs N      test processes (default 1: the machine is shared)
#
# mutations.txt: one mutation per line, TAB-separated fields
#   file    pattern    replacement    description    [tests]
# `pattern` is a literal string that must occur on exactly one line of
# `file` (exactly once there); that occurrence is replaced by the literal
# `replacement`.  The script fails loudly (exit 2) if a pattern matches 0 or
# more than 1 lines, or if the mutated tree does not compile (a mutation
# must be a formula change, not a syntax error).  The optional `tests` field
# is a comma-separated list of meson test names to run first (a fast path
# for the likely catcher); the full unit+cli suite runs when they pass.
# Lines that are empty or start with '#' are ignored.
#
# The scratch copy holds the working tree's tracked and untracked
# (non-ignored) files, so uncommitted tests count.  Exit status: 0 when the
# list ran (whatever the figure), 2 on a bad list or a broken baseline.
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
list="$here/tools/mutations.txt"
only=""
keep=0
jobs=1
while [ $# -gt 0 ]; do
    case "$1" in
    --list) list="$2"; shift 2 ;;
    --only) only="$2"; shift 2 ;;
    --keep) keep=1; shift ;;
    --jobs) jobs="$2"; shift 2 ;;
    -h|--help) sed -n '2,28p' "$0"; exit 0 ;;
    *) echo "mutate.sh: error: unknown option '$1'" >&2; exit 2 ;;
    esac
done
[ -f "$list" ] || { echo "mutate.sh: error: no mutation list '$list'" >&2; exit 2; }
py=/usr/bin/python3
[ -x "$py" ] || py=python3

scratch="$(mktemp -d /tmp/mut-XXXXXX)"
cleanup() { if [ "$keep" = 0 ]; then rm -rf "$scratch"; else echo "scratch tree kept: $scratch"; fi; }
trap cleanup EXIT

# the working tree's files (tracked + untracked, not ignored) into the scratch tree
(cd "$here" && git ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
    tar --null -T - -cf -) | tar -x -C "$scratch"

# check every pattern against the pristine tree before building anything
check_pattern() { # file pattern -> prints the line number, or fails
    "$py" - "$scratch/$1" "$2" <<'EOF'
import sys
path, pat = sys.argv[1], sys.argv[2]
lines = open(path).read().split('\n')
hits = [i for i, l in enumerate(lines) if pat in l]
if len(hits) != 1 or lines[hits[0]].count(pat) != 1:
    sys.stderr.write("mutate.sh: error: pattern %r matches %d lines of %s%s\n"
                     % (pat, len(hits), path, "".join("\n  line %d: %s" % (i + 1, lines[i].strip()) for i in hits[:5])))
    sys.exit(1)
print(hits[0] + 1)
EOF
}
apply_mutation() { # file pattern replacement
    "$py" - "$scratch/$1" "$2" "$3" <<'EOF'
import sys
path, pat, rep = sys.argv[1:4]
s = open(path).read()
lines = s.split('\n')
hits = [i for i, l in enumerate(lines) if pat in l]
assert len(hits) == 1
lines[hits[0]] = lines[hits[0]].replace(pat, rep, 1)
open(path, 'w').write('\n'.join(lines))
EOF
}

declare -a F P R D T
count=0
while IFS=$'\t' read -r file pat rep desc tests || [ -n "${file:-}" ]; do
    [ -z "${file:-}" ] && continue
    case "$file" in \#*) continue ;; esac
    if [ -z "${desc:-}" ]; then
        echo "mutate.sh: error: $list: line for $file needs file, pattern, replacement, description" >&2
        exit 2
    fi
    if [ -n "$only" ] && ! printf '%s' "$desc" | grep -Eq -- "$only"; then continue; fi
    [ -f "$scratch/$file" ] || { echo "mutate.sh: error: no file $file" >&2; exit 2; }
    check_pattern "$file" "$pat" >/dev/null || exit 2
    F[$count]="$file"; P[$count]="$pat"; R[$count]="$rep"; D[$count]="$desc"; T[$count]="${tests:-}"
    count=$((count + 1))
done < "$list"
[ "$count" -gt 0 ] || { echo "mutate.sh: error: no mutation selected" >&2; exit 2; }
echo "mutate.sh: $count mutations, scratch tree $scratch"

cd "$scratch"
meson setup build >/dev/null
if ! ninja -C build -j 1 >build/ninja.log 2>&1; then
    echo "mutate.sh: error: the unmutated tree does not build (see $scratch/build/ninja.log)" >&2
    keep=1; exit 2
fi
run_suite() { # extra meson test args...
    meson test -C build --no-rebuild --suite unit --suite cli --num-processes "$jobs" \
        --maxfail 1 "$@" >build/mut-test.log 2>&1
}
if ! run_suite; then
    echo "mutate.sh: error: the unmutated suite fails (see $scratch/build/mut-test.log)" >&2
    keep=1; exit 2
fi

caught=0
survivors=()
for ((i = 0; i < count; i++)); do
    f="${F[$i]}"
    cp -p "$f" "$f.orig"
    line="$(check_pattern "$f" "${P[$i]}")"
    apply_mutation "$f" "${P[$i]}" "${R[$i]}"
    # the library and the first tests' executables only; the full build
    # (every executable relinked) only when they pass
    targets=(src/liblinstab.a)
    if [ -n "${T[$i]}" ]; then
        IFS=',' read -r -a first <<<"${T[$i]}"
        for t in "${first[@]}"; do
            targets+=("tests/test_$t")
            case "$t" in cli*) targets+=(tools/linstab) ;; esac
        done
    fi
    if ! ninja -C build -j 1 "${targets[@]}" >build/ninja.log 2>&1; then
        mv "$f.orig" "$f"
        echo "mutate.sh: error: mutation $((i + 1)) ($f:$line, ${D[$i]}) does not compile:" >&2
        grep -m 5 error build/ninja.log >&2 || true
        keep=1; exit 2
    fi
    verdict=survived
    by=""
    if [ -n "${T[$i]}" ]; then
        IFS=',' read -r -a first <<<"${T[$i]}"
        if ! run_suite "${first[@]}"; then verdict=caught; fi
    fi
    if [ "$verdict" = survived ]; then
        if ! ninja -C build -j 1 >build/ninja.log 2>&1; then
            mv "$f.orig" "$f"
            echo "mutate.sh: error: mutation $((i + 1)) ($f:$line, ${D[$i]}) does not build" >&2
            keep=1; exit 2
        fi
        if ! run_suite; then verdict=caught; fi
    fi
    if [ "$verdict" = caught ]; then
        by="$(grep -Eo '[a-z_]+ +(FAIL|TIMEOUT)' build/mut-test.log | head -1 | awk '{print $1}')"
        caught=$((caught + 1))
    else
        survivors+=("$f:$line ${D[$i]}")
    fi
    mv "$f.orig" "$f"
    touch "$f" # newer than the mutated object: the next build recompiles it
    printf '%3d %-8s %-22s %s%s\n' "$((i + 1))" "$verdict" "$f:$line" "${D[$i]}" "${by:+ (by $by)}"
done
ninja -C build -j 1 >build/ninja.log 2>&1 || true

pct=$(awk -v c="$caught" -v t="$count" 'BEGIN { printf "%.1f", 100 * c / t }')
echo "caught $caught / $count ($pct %)"
if [ "${#survivors[@]}" -gt 0 ]; then
    echo "survivors:"
    for s in "${survivors[@]}"; do echo "  $s"; done
fi
