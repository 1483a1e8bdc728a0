#!/bin/bash
# Instructions per call, off / on / keys, counted by valgrind's callgrind:
# this machine exposes no hardware counters (perf stat says "not
# supported"), and an instruction count does not move with the load of
# the other core as req/s and CPU time do.
#
# One nginx process (master_process off) serves both the proxying
# locations of bench/run.sh and the canned upstream; each run starts it
# under callgrind, sends one call to warm up (the first call of a process
# pays one-time work: OpenSSL's provider set-up alone is ~3 million
# instructions) and then N keep-alive POSTs to one location with curl, and
# stops it.  The same run with the warm-up call alone is subtracted; per
# call is (run - that) / N, so the upstream's share is in every column
# and the module's cost is on - off, keys - off.
#
#   bash bench/instr.sh [calls]         (make bench runs it)
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
calls=${1:-200}
dir=$(mktemp -d /tmp/llo-instr.XXXXXX)
chmod 0777 "$dir"
ring=/dev/shm/llo-instr.$$.ring

# LLO_INSTR_KEEP=1 keeps the callgrind files (callgrind_annotate them)
cleanup() {
    rm -f "$ring"
    if [ -n "${LLO_INSTR_KEEP:-}" ]; then
        echo "instr: callgrind files in $dir"
    else
        rm -rf "$dir"
    fi
}
trap cleanup EXIT

command -v valgrind > /dev/null \
    || { echo "instr: valgrind missing: make deps" >&2; exit 1; }

tok="$repo/build/tiktoken/o200k_base.tiktoken"
[ -s "$tok" ] || { echo "instr: $tok missing: make tok-data" >&2; exit 1; }

perl "$repo/bench/make_bodies.pl" "$dir" > /dev/null
digest=$(printf '%s' llo-bench-key | sha256sum | cut -d' ' -f1)
body='{"model":"gpt-4o-mini","stream":false,"messages":[{"role":"user",'
body+='"content":"Write one sentence about the sea."}]}'

port=$(perl -MIO::Socket::INET -e \
    'print IO::Socket::INET->new(Listen=>1,LocalAddr=>"127.0.0.1:0")->sockport')
uport=$((port + 1))

cat > "$dir/nginx.conf" <<CONF
load_module $repo/build/ngx_http_llm_observer_module.so;
master_process off;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    llm_observer_ring $ring size=64m;
    llm_observer_tokenizer o200k_base $tok;
    llm_observer_limits zone=bench_keys:1m;
    llm_observer_key sha256:$digest name=bench rpm=1000000000 tpm=1000000000;

    upstream fast {
        server 127.0.0.1:$uport;
        keepalive 8;
    }

    server {
        listen 127.0.0.1:$uport;
        location = /v1/chat/completions {
            default_type application/json;
            alias $dir/chat.json;
        }
    }

    server {
        listen 127.0.0.1:$port;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_method GET;
        proxy_buffering off;

        location /off/ { llm_observer off; proxy_pass http://fast/; }
        location /on/  { llm_observer on;  proxy_pass http://fast/; }
        location /keys/ {
            llm_observer_auth on;
            proxy_set_header Connection "";
            proxy_pass http://fast/;
        }
    }
}
CONF

# instructions of one nginx run that serves n calls to location loc
run() {
    local loc=$1 n=$2 out="$dir/cg.$1.$2" pid i
    valgrind --tool=callgrind --callgrind-out-file="$out" \
        /usr/sbin/nginx -p "$dir" -c "$dir/nginx.conf" 2> "$dir/vg.log" &
    pid=$!

    for i in $(seq 200); do
        curl -s -o /dev/null "http://127.0.0.1:$port/off/nope" && break
        sleep 0.1
    done

    curl -s -o /dev/null -X POST -H "Authorization: Bearer llo-bench-key" \
        -H 'Content-Type: application/json' --data "$body" \
        "http://127.0.0.1:$port/$loc/v1/chat/completions"

    if [ "$n" -gt 0 ]; then
        curl -s -X POST -H "Authorization: Bearer llo-bench-key" \
            -H 'Content-Type: application/json' --data "$body" \
            -w '%{http_code}\n' -o /dev/null \
            "http://127.0.0.1:$port/$loc/v1/chat/completions?i=[1-$n]" \
            | sort | uniq -c | awk -v l="$loc" '$2 != 200 {
                print "instr: " l ": " $1 " calls answered " $2 > "/dev/stderr"
                bad = 1 } END { exit bad }' || { kill "$pid"; exit 1; }
    fi

    kill -QUIT "$pid"
    wait "$pid" || true
    awk '/^(summary|totals):/ { print $2; exit }' "$out"
}

echo "nginx $(/usr/sbin/nginx -v 2>&1 | sed 's/.*\///'), callgrind," \
     "$calls calls each after one to warm up, ~1 KB chat completion (JSON)"

for loc in off on keys; do
    base=$(run "$loc" 0)
    total=$(run "$loc" "$calls")
    awk -v t="$total" -v b="$base" -v n="$calls" -v l="$loc" \
        'BEGIN { printf "%-5s %9.0f instructions per call\n", l, (t - b) / n }'
done
