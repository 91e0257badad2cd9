#!/usr/bin/env bash
# run_parquet_exporter.sh: what ops scripts and the launchd/systemd schedule call.
#
# Finds the binary ($PARQUET_EXPORTER_BIN, then next to this script, then PATH), passes every
# argument through (so `run_parquet_exporter.sh --dry` works), appends a timestamped header,
# the run's output (stdout and stderr, merged) and its exit status to the log, shows the same
# output on stdout, and exits with the exporter's own status.
#
# Environment:
#   PARQUET_EXPORTER_BIN   the binary to run
#   PARQUET_EXPORTER_LOG   the log file [default: ~/02luka/g/logs/parquet_exporter.log]
#   PARQUET_EXPORTER_LOG_MAX_BYTES  rotate the log before a run once it is this big
#                                   [default: 5000000, 5 MB; 0 never rotates;
#                                   otherwise 1000 to 1000000000 (1 GB)]
#   PARQUET_EXPORTER_LOG_KEEP       rotated logs kept, LOG.1 (newest) to LOG.N
#                                   [default: 3; 0 to 100]
# A value out of range is clamped into it, with a warning on stderr and in the log: the run
# still happens, and a KEEP of millions no longer spends minutes renaming before it.
# With the intraday schedule the wrapper runs 144 times a day; rotation keeps the log's disk
# use under (KEEP + 1) x MAX_BYTES plus one run's output.
# Written for bash 3.2, the /bin/bash macOS ships.
set -u

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ -n "${PARQUET_EXPORTER_BIN:-}" ]; then
  bin=$PARQUET_EXPORTER_BIN
elif [ -x "$script_dir/parquet-exporter" ]; then
  bin=$script_dir/parquet-exporter
elif command -v parquet-exporter >/dev/null 2>&1; then
  bin=$(command -v parquet-exporter)
else
  echo "run_parquet_exporter.sh: parquet-exporter not found (set PARQUET_EXPORTER_BIN, put it next to this script, or on PATH)" >&2
  exit 127
fi
if [ ! -x "$bin" ]; then
  echo "run_parquet_exporter.sh: $bin is not an executable file" >&2
  exit 127
fi

log=${PARQUET_EXPORTER_LOG:-${HOME:?HOME is not set}/02luka/g/logs/parquet_exporter.log}
if ! mkdir -p "$(dirname "$log")"; then
  echo "run_parquet_exporter.sh: cannot create the log directory for $log" >&2
  exit 1
fi
# Appending through a link would write into whatever file it points at.
if [ -L "$log" ] || { [ -e "$log" ] && [ ! -f "$log" ]; }; then
  echo "run_parquet_exporter.sh: $log is a symbolic link or not a regular file; refusing to write to it (remove it, or set PARQUET_EXPORTER_LOG)" >&2
  exit 1
fi

max_bytes=${PARQUET_EXPORTER_LOG_MAX_BYTES:-5000000}
keep=${PARQUET_EXPORTER_LOG_KEEP:-3}
case $max_bytes$keep in
  *[!0-9]*) echo "run_parquet_exporter.sh: PARQUET_EXPORTER_LOG_MAX_BYTES and PARQUET_EXPORTER_LOG_KEEP must be whole numbers" >&2; exit 2 ;;
esac
notes=
# within NAME VALUE LOW HIGH: sets $within to the whole number VALUE, clamped to LOW..HIGH,
# and says so when it was outside. Leading zeros go first: bash reads 08 as octal, and a
# number too long for its arithmetic is over HIGH anyway.
within() {
  within=${2#"${2%%[!0]*}"}
  if [ -z "$within" ]; then
    within=0
  elif [ ${#within} -gt 10 ]; then
    within=$(($4 + 1))
  fi
  if [ "$within" -gt "$4" ] || [ "$within" -lt "$3" ]; then
    if [ "$within" -gt "$4" ]; then within=$4; else within=$3; fi
    notes="${notes}run_parquet_exporter.sh: $1=$2 is outside $3..$4; using $within
"
  fi
}
within PARQUET_EXPORTER_LOG_KEEP "$keep" 0 100
keep=$within
if [ -n "${max_bytes#"${max_bytes%%[!0]*}"}" ]; then
  within PARQUET_EXPORTER_LOG_MAX_BYTES "$max_bytes" 1000 1000000000
  max_bytes=$within
else
  max_bytes=0
fi
printf '%s' "$notes" >&2
# Rotate by size before this run writes: LOG -> LOG.1 -> ... -> LOG.KEEP, the oldest dropped.
# mkdir is atomic, so of two runs starting together (02:30) only one rotates. A run still
# appending to the old file keeps writing into LOG.1 through its open descriptor.
# A rotation marker left by a run that was killed mid-rotation is cleared after 5 minutes.
find "$log.rotating" -maxdepth 0 -type d -mmin +5 -exec rmdir {} \; 2>/dev/null
if [ "$max_bytes" -gt 0 ] && [ -f "$log" ] && [ "$(wc -c <"$log")" -ge "$max_bytes" ] &&
  mkdir "$log.rotating" 2>/dev/null; then
  if [ "$keep" -gt 0 ]; then
    rm -f "$log.$keep"
    i=$keep
    while [ "$i" -gt 1 ]; do
      prev=$((i - 1))
      if [ -e "$log.$prev" ]; then mv -f "$log.$prev" "$log.$i"; fi
      i=$prev
    done
    mv -f "$log" "$log.1"
  else
    rm -f "$log"
  fi
  rmdir "$log.rotating"
fi

# The header names the arguments, but never a URL: one may hold a password (the exporter
# refuses those on its command line, but only after this line is written).
{
  printf '\n===== %s parquet-exporter' "$(date -u '+%Y-%m-%dT%H:%M:%SZ')"
  hide_next=0
  for arg in "$@"; do
    if [ "$hide_next" = 1 ]; then
      printf ' ***'
      hide_next=0
      continue
    fi
    case $arg in
      --redis-url) printf ' %s' "$arg"; hide_next=1 ;;
      --redis-url=*) printf ' --redis-url=***' ;;
      *://*) printf ' ***' ;;
      *) printf ' %q' "$arg" ;;
    esac
  done
  printf ' (pid %s, %s)\n' "$$" "$bin"
  printf '%s' "$notes"
} >>"$log"

# PIPESTATUS keeps the exporter's status; tee's would otherwise replace it.
"$bin" "$@" 2>&1 | tee -a "$log"
status=${PIPESTATUS[0]}

printf '===== %s exit %s\n' "$(date -u '+%Y-%m-%dT%H:%M:%SZ')" "$status" >>"$log"
exit "$status"
