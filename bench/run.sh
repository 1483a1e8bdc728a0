#!/bin/bash
# Throughput of nginx proxy_pass with llm_observer off, on, and on with
# llm_observer_auth + per-key limits ("keys"), in the same run, against a
# fast local upstream (nginx itself serving canned bodies); the tiktoken
# tokenizer is loaded (make tok-data), so "on" and "keys" count every
# prompt before forwarding:
#   - a ~1 KB chat completion (JSON)
#   - a 200-event chat.completion.chunk SSE stream (~63 KB)
# Rounds alternate off/on; the median of each is reported with the ratio.
# Also the worker's CPU per call: utime + stime from /proc before and after
# each round over the requests wrk completed (it includes the canned
# upstream, served by the same worker), far steadier than req/s on a
# machine whose 2 cores wrk shares.
# Also prints the ring append and parser micro-benchmarks.
#
#   bash bench/run.sh [seconds per round] [rounds]
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-8}
rounds=${2:-3}
conns=${LLO_BENCH_CONNS:-32}
dir=$(mktemp -d /tmp/llo-bench.XXXXXX)
chmod 0777 "$dir"
# the ring goes where it would in production: tmpfs, not a disk
ring=/dev/shm/llo-bench.$$.ring
nginx_pid=

cleanup() {
    [ -n "$nginx_pid" ] && kill -QUIT "$nginx_pid" 2>/dev/null || true
    sleep 0.3
    rm -rf "$dir" "$ring"
}
trap cleanup EXIT

free_port() {
    perl -MIO::Socket::INET -e \
        'print IO::Socket::INET->new(Listen=>1,LocalAddr=>"127.0.0.1:0")->sockport'
}

perl "$repo/bench/make_bodies.pl" "$dir"

tok="$repo/build/tiktoken/o200k_base.tiktoken"
[ -s "$tok" ] || { echo "bench: $tok missing: make tok-data" >&2; exit 1; }
digest=$(printf '%s' llo-bench-key | sha256sum | cut -d' ' -f1)

port=$(free_port)
uport=$(free_port)

cat > "$dir/nginx.conf" <<CONF
load_module $repo/build/ngx_http_llm_observer_module.so;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    llm_observer_ring $ring size=4g;
    llm_observer_tokenizer o200k_base $tok;
    llm_observer_limits zone=bench_keys:1m;
    llm_observer_key sha256:$digest name=bench team=bench
        rpm=1000000000 tpm=1000000000;

    upstream fast {
        server 127.0.0.1:$uport;
        keepalive 64;
    }

    server {
        listen 127.0.0.1:$uport;
        location = /v1/chat/completions {
            default_type application/json;
            alias $dir/chat.json;
        }
        location = /stream/v1/chat/completions {
            types { } default_type text/event-stream;
            alias $dir/stream.sse;
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
            # a location's proxy_set_header replaces the server's
            proxy_set_header Connection "";
            proxy_set_header Authorization "";
            proxy_pass http://fast/;
        }
    }
}
CONF

/usr/sbin/nginx -p "$dir" -c "$dir/nginx.conf"
sleep 0.5
nginx_pid=$(cat "$dir/nginx.pid")

curl -sf -X POST "http://127.0.0.1:$port/on/v1/chat/completions" -o /dev/null
curl -sf -X POST -H "Authorization: Bearer llo-bench-key" \
    -d '{"model":"gpt-4o-mini","messages":[]}' \
    "http://127.0.0.1:$port/keys/v1/chat/completions" -o /dev/null
curl -sf -X POST "http://127.0.0.1:$port/on/stream/v1/chat/completions" \
    -o /dev/null

worker=$(pgrep -P "$nginx_pid" | head -1)
hz=$(getconf CLK_TCK)

# the worker's utime + stime, in clock ticks
ticks() {
    awk '{ print $14 + $15 }' "/proc/$worker/stat"
}

# one round: "req/s cpu-us-per-call"
rps() {
    local t0 t1 out
    t0=$(ticks)
    out=$(wrk -t1 -c"$conns" -d"${secs}s" -s "$repo/bench/post.lua" "$1")
    t1=$(ticks)
    awk -v t="$((t1 - t0))" -v hz="$hz" '
        / requests in / { n = $1 }
        /Requests\/sec/ { r = $2 }
        END { printf "%s %.1f\n", r, t * 1000000 / hz / n }' <<< "$out"
}

median() {
    sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'
}

echo "nginx $(/usr/sbin/nginx -v 2>&1 | sed 's/.*\///'), 1 worker;" \
     "wrk -t1 -c$conns, ${secs}s x $rounds rounds each; $(nproc) cores"

for kind in json sse; do
    path=/v1/chat/completions
    [ "$kind" = sse ] && path=/stream/v1/chat/completions
    : > "$dir/off.$kind"
    : > "$dir/on.$kind"
    : > "$dir/keys.$kind"

    for i in $(seq "$rounds"); do
        rps "http://127.0.0.1:$port/off$path" >> "$dir/off.$kind"
        rps "http://127.0.0.1:$port/on$path" >> "$dir/on.$kind"
        rps "http://127.0.0.1:$port/keys$path" >> "$dir/keys.$kind"
    done

    for col in 1 2; do
        off=$(cut -d' ' -f$col "$dir/off.$kind" | median)
        on=$(cut -d' ' -f$col "$dir/on.$kind" | median)
        keys=$(cut -d' ' -f$col "$dir/keys.$kind" | median)
        unit="req/s"
        [ "$col" = 2 ] && unit="cpu us/call"
        printf '%-5s off %9.1f   on %9.1f (%.3f)   keys %9.1f (%.3f) %s   ' \
            "$kind" "$off" \
            "$on" "$(awk -v a="$on" -v b="$off" 'BEGIN { print a / b }')" \
            "$keys" "$(awk -v a="$keys" -v b="$off" 'BEGIN { print a / b }')" \
            "$unit"
        echo "(off: $(cut -d' ' -f$col "$dir/off.$kind" | tr '\n' ' ')on:" \
             "$(cut -d' ' -f$col "$dir/on.$kind" | tr '\n' ' ')keys:" \
             "$(cut -d' ' -f$col "$dir/keys.$kind" | tr '\n' ' '))"
    done
done

"$repo/build/llm-evaluator" -o ring_path="$ring" ring-stat \
    | grep -E '^(committed|drops|torn) ' | tr '\n' ' ' || true
echo

if [ -x "$repo/build/unit/test_ring" ]; then
    echo "ring append:"
    LLO_BENCH=1 CK_DEFAULT_TIMEOUT=600 CK_RUN_CASE=bench "$repo/build/unit/test_ring" 2>&1 \
        | grep -i 'ns' || true
fi

if [ -x "$repo/build/unit/test_parse" ]; then
    echo "parser:"
    LLO_BENCH=1 CK_DEFAULT_TIMEOUT=600 CK_RUN_CASE=bench "$repo/build/unit/test_parse" 2>&1 \
        | grep -i 'MB/s' || true
fi

if [ -x "$repo/build/unit/test_rules" ]; then
    echo "rules:"
    LLO_BENCH=1 CK_DEFAULT_TIMEOUT=600 "$repo/build/unit/test_rules" 2>&1 \
        | grep '^bench:' || true
fi
