#!/usr/bin/env bash
# docs/CONFIG.md documents every config key that each binary's --help
# lists, in that binary's section, and no key that the binary does not
# know. The key lists come from the binaries themselves (the same
# TargetBinary::config_keys that the config parser checks against).
#   config_doc_test.sh CONFIG.md NAME=BINARY...
set -uo pipefail
doc="$1"
shift
fails=0

# help_keys BINARY: the first word of each line under "Config keys:".
help_keys() {
  "$1" --help | sed -n '/^Config keys:$/,$p' | tail -n +2 | awk 'NF { print $1 }'
}

# doc_keys NAME: the backquoted keys in the first column of the tables of
# the section "## NAME" of CONFIG.md.
doc_keys() {
  awk -v section="## $1" '
    /^## / { inside = ($0 == section) ; next }
    inside && /^\| `/ {
      split($0, columns, "|")
      cell = columns[2]
      while (match(cell, /`[^`]+`/)) {
        print substr(cell, RSTART + 1, RLENGTH - 2)
        cell = substr(cell, RSTART + RLENGTH)
      }
    }' "$doc"
}

for pair in "$@"; do
  name="${pair%%=*}"
  binary="${pair#*=}"
  help=$(help_keys "$binary")
  documented=$(doc_keys "$name")
  [ -n "$help" ] || { echo "FAIL $name: --help lists no config keys"; fails=$((fails + 1)); }
  [ -n "$documented" ] || { echo "FAIL $name: no '## $name' table in $doc"; fails=$((fails + 1)); }
  for key in $help; do
    if ! grep -qxF -- "$key" <<<"$documented"; then
      echo "FAIL $name: '$key' is in --help but not in docs/CONFIG.md"
      fails=$((fails + 1))
    fi
  done
  for key in $documented; do
    if ! grep -qxF -- "$key" <<<"$help"; then
      echo "FAIL $name: docs/CONFIG.md documents '$key', which --help does not list"
      fails=$((fails + 1))
    fi
  done
  echo "$name: $(wc -w <<<"$help") keys in --help"
done
echo "$fails failures"
[ "$fails" -eq 0 ]
