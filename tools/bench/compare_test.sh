#!/usr/bin/env bash
# tools/bench/compare.sh on two fixture runs (testdata/compare_*.json): a
# ratio that fell by more than 10% is reported and fails the command, one
# that fell by less or rose is not, a lower-is-better ratio (CPU per
# request) that rose is, and rows present on one side only are named.
# No timing here: the fixtures are fixed numbers.
# Args: compare.sh OLD.json NEW.json
set -uo pipefail
compare="$1" old="$2" new="$3"
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

out=$("$compare" "$old" "$new"); rc=$?
echo "$out"
[ "$rc" = 1 ] || fail "a drop over 10%: exit status $rc, expected 1"
worse=$(echo "$out" | sed -n '/^== Ratios worse/,/^$/p')
echo "$worse" | grep -q '| core | drops by 20% | 1.00 | 0.80 | -20% |' || fail "20% drop not reported"
echo "$worse" | grep -q 'cpu per request rises by 20%' || fail "lower-is-better rise not reported"
echo "$worse" | grep -q 'drops by 5%' && fail "5% drop reported"
echo "$worse" | grep -q 'rises by 30%' && fail "a rise reported"
echo "$worse" | grep -q 'falls by 50%' && fail "lower-is-better fall reported"
echo "$out" | sed -n '/^== Rows in OLD missing from NEW/,/^$/p' | grep -q '^- dtls: only in old$' ||
  fail "row missing from NEW not named"
echo "$out" | sed -n '/^== Rows in NEW missing from OLD/,/^$/p' | grep -q '^- uplink: only in new$' ||
  fail "row missing from OLD not named"

"$compare" "$old" "$old" >/dev/null; rc=$?
[ "$rc" = 0 ] || fail "same file twice: exit status $rc, expected 0"
"$compare" "$old" >/dev/null 2>&1; rc=$?
[ "$rc" = 2 ] || fail "one argument: exit status $rc, expected 2"

[ "$failures" = 0 ] && echo PASS
[ "$failures" = 0 ]
