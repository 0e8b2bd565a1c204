#!/bin/sh
# Stands in for `docker compose` in the latency benchmark: during `up` it prints a
# timestamped line every 100 ms, so a receiver can tell how long each line took to
# arrive; every other subcommand (version, config, …) goes to the real compose.
for arg in "$@"; do
  if [ "$arg" = "up" ]; then
    cat "$DOCKER_CONFIG/config.json" >/dev/null 2>&1  # compose reads it first, before anything
    i=0
    while [ "$i" -lt "${BENCH_LINES:-60}" ]; do
      echo "tick $i $(date +%s.%N)"
      sleep 0.1
      i=$((i + 1))
    done
    exit 0
  fi
done
exec docker compose "$@"
