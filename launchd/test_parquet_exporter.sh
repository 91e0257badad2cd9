#!/usr/bin/env bash
# test_parquet_exporter.sh: the ops runbook's check of a day file, installed next to
# run_parquet_exporter.sh.
#
# Usage: test_parquet_exporter.sh [YYYY-MM-DD | PATH]
#   (none)       the newest day file in the configured out dir (flat or hive layout)
#   YYYY-MM-DD   that day's file in the out dir (each instance's, when several machines write it)
#   PATH         that file, a directory of day files, or an s3:// URL
#
# Validates through `parquet-exporter verify`, the binary's own checks, and prints for each
# file its `File:` line, then `Rows:`, `Size:` and `Compression:`, any warning or problem
# (indented), and last the one `Validation: OK` or `Validation: FAILED`.
#
# Exit status:
#   0    Validation: OK
#   1    Validation: FAILED
#   2    usage: a bad argument, or the config file could not be read
#   3    the day (or PATH) asked for has no day file
#   4    no day file at all: the out dir is empty, missing, or not a local directory
#   127  parquet-exporter not found
# Every status but 0 and 1 comes with one line on stderr saying which.
#
# Environment:
#   PARQUET_EXPORTER_BIN      the binary [default: next to this script, else on PATH]
#   PARQUET_EXPORTER_CONFIG   the config file [default: ~/02luka/config/parquet_exporter.toml]
#   PARQUET_EXPORTER_OUT_DIR  the out dir [default: the config's out_dir, else ~/02luka/g/analytics]
# Written for bash 3.2, the /bin/bash macOS ships.
set -euo pipefail

me=test_parquet_exporter.sh
usage="usage: $me [YYYY-MM-DD | PATH]"

# The binary, found as run_parquet_exporter.sh finds it, so the two always check the same one.
script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ -n "${PARQUET_EXPORTER_BIN:-}" ]; then
  bin=$PARQUET_EXPORTER_BIN
elif [ -x "$script_dir/parquet-exporter" ]; then
  bin=$script_dir/parquet-exporter
elif command -v parquet-exporter >/dev/null 2>&1; then
  bin=$(command -v parquet-exporter)
else
  echo "$me: parquet-exporter not found (set PARQUET_EXPORTER_BIN, put it next to this script, or on PATH)" >&2
  exit 127
fi
if [ ! -x "$bin" ]; then
  echo "$me: $bin is not an executable file" >&2
  exit 127
fi

if [ $# -gt 1 ]; then
  echo "$usage" >&2
  exit 2
fi
arg=${1:-}
case $arg in
  -h | --help)
    echo "$usage"
    exit 0
    ;;
  -*)
    echo "$me: unknown option $arg; $usage" >&2
    exit 2
    ;;
esac

paths=()
case $arg in
  '' | [0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9])
    # The binary knows the out dir (flag, environment, config, default) and what a day file is
    # in either layout; `history` lists the newest day's files, or the last 3660 days'.
    if [ -z "$arg" ]; then days=1; else days=3660; fi
    set +e
    json=$("$bin" history --json --days "$days")
    status=$?
    set -e
    if [ "$status" -eq 2 ]; then
      echo "$me: parquet-exporter could not read its configuration (above)" >&2
      exit 2
    elif [ "$status" -ne 0 ]; then
      echo "$me: no day file at all: the out dir cannot be listed (above); pass a day file's path or s3:// URL" >&2
      exit 4
    fi
    # Its JSON is pretty-printed, one field a line and keys sorted, so each listed file's day
    # comes before its path (a day with no file has a day and no path). A value with an escape
    # in it (a quote, a backslash or a control character in a path) is refused below.
    dir=$(printf '%s\n' "$json" | sed -nE 's/^ *"dir": "(.*)",?$/\1/p')
    listed=$(printf '%s\n' "$json" | sed -nE 's/^ *"(day|path)": "(.*)",?$/\1 \2/p')
    day=
    while IFS= read -r line; do
      case $line in
        'day '*) day=${line#day } ;;
        'path '*)
          if [ -z "$arg" ] || [ "$day" = "$arg" ]; then
            paths[${#paths[@]}]=${line#path }
          fi
          ;;
      esac
    done <<EOF
$listed
EOF
    if [ ${#paths[@]} -eq 0 ]; then
      if [ -z "$arg" ]; then
        echo "$me: no day file at all in $dir" >&2
        exit 4
      fi
      echo "$me: no day file for $arg in $dir" >&2
      exit 3
    fi
    for p in "${paths[@]}"; do
      case $p in
        *\\*)
          echo "$me: a day file's path in $dir has characters this script does not decode; pass the path itself" >&2
          exit 2
          ;;
      esac
    done
    ;;
  s3://*) paths=("$arg") ;;
  *)
    if [ ! -e "$arg" ]; then
      echo "$me: no day file at $arg" >&2
      exit 3
    fi
    paths=("$arg")
    ;;
esac

# verify prints a block per file (path, then indented Rows/Size/Compression/Schema/Day,
# warnings, its verdict and problems), then the set's lines and the set's Validation last.
# Kept: what the runbook reads, and every reason a file failed.
set +e
report=$("$bin" verify "${paths[@]}")
status=$?
set -e
printf '%s\n' "$report" | awk '
  /^  (Rows|Size|Compression): / { sub(/^  /, ""); print; next }
  /^  Warning: / { print; next }
  /^    - / { sub(/^  /, ""); print; next }
  /^Problem: / { print "  " $0; next }
  /^Validation: / { verdict = $0; next }
  /^ / || /^$/ || /^(Files|Schema across files|Missing days): / { next }
  { print "File: " $0 }
  END { if (verdict != "") print verdict }
'
case $status in
  0 | 1) exit "$status" ;;
  *)
    echo "Validation: FAILED"
    echo "$me: parquet-exporter verify exited $status (above)" >&2
    exit 1
    ;;
esac
