#!/bin/bash
# Evaluator ingest rate: fill a ring with N realistic records (as nginx
# would write them), then time `llm-evaluator drain` into a throwaway
# PostgreSQL (default settings; fsync on) for a few batch sizes.
#
#   bash bench/ingest.sh [records] [text bytes]
#
# LLO_EVALUATOR: another llm-evaluator binary to time (e.g. one built from
# an older commit in a worktree, for a before/after in the same session);
# LLO_INGEST_BATCHES: the batch sizes (default "1000 5000 20000");
# LLO_INGEST_RULES: "none" (calls stored unscored), "shipped" (scored by
# conf.d/llm-rules.conf, verdicts written), or both (the default).  Each
# record's text is its own, so the rules cache never hits: the worst case.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
records=${1:-200000}
tbytes=${2:-200}
dir=$(mktemp -d /tmp/llo-ingest.XXXXXX)
chown postgres "$dir"
pgbin=/usr/lib/postgresql/15/bin
port=$(perl -MIO::Socket::INET -e \
    'print IO::Socket::INET->new(Listen=>1,LocalAddr=>"127.0.0.1:0")->sockport')

cleanup() {
    runuser -u postgres -- "$pgbin/pg_ctl" -D "$dir/data" -m immediate \
        stop > /dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup EXIT

runuser -u postgres -- "$pgbin/initdb" -D "$dir/data" -A trust -U postgres \
    -E UTF8 --locale=C > /dev/null
runuser -u postgres -- "$pgbin/pg_ctl" -D "$dir/data" -w -l "$dir/pg.log" \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1" start > /dev/null
psql -X -q -h 127.0.0.1 -p "$port" -U postgres -c 'create database llo'

cc -O2 -I"$repo/ngx_llm_observer_module" -o "$dir/ring_fill" \
    "$repo/bench/ring_fill.c" "$repo/ngx_llm_observer_module/llo_ring.c" \
    "$repo/ngx_llm_observer_module/llo_record.c"

ev() {
    "${LLO_EVALUATOR:-$repo/build/llm-evaluator}" -o ring_path="$dir/ring" \
        -o "pg_conninfo=host=127.0.0.1 port=$port dbname=llo user=postgres" \
        -o sql_dir="$repo/sql" -o log_level=warn "$@"
}

ev migrate > /dev/null

echo "PostgreSQL 15 (fsync on), $(nproc) cores, $records records," \
     "$tbytes bytes of response text each"

for batch in ${LLO_INGEST_BATCHES:-1000 5000 20000}; do
for rules in ${LLO_INGEST_RULES:-none shipped}; do
    rm -f "$dir/ring"
    "$dir/ring_fill" "$dir/ring" 1g "$records" "$tbytes" > /dev/null
    psql -X -q -h 127.0.0.1 -p "$port" -U postgres -d llo \
        -c 'truncate llm_requests, llm_evaluations'
    rf=
    [ "$rules" = shipped ] && rf="$repo/conf.d/llm-rules.conf"
    start=$(date +%s.%N)
    ev -o batch_size="$batch" -o rules_file="$rf" drain > /dev/null
    end=$(date +%s.%N)
    rows=$(psql -X -A -t -h 127.0.0.1 -p "$port" -U postgres -d llo \
        -c 'select count(*) from llm_requests')
    verdicts=$(psql -X -A -t -h 127.0.0.1 -p "$port" -U postgres -d llo \
        -c 'select count(*) from llm_evaluations')
    awk -v n="$rows" -v v="$verdicts" -v s="$start" -v e="$end" \
        -v b="$batch" -v r="$rules" \
        'BEGIN { printf "batch %5d, rules %-7s: %d rows, %d verdicts in " \
                 "%.2f s = %.0f records/s\n", b, r, n, v, e - s, n / (e - s) }'
done
done
