#!/bin/bash
# Prove the built module loads into the distro nginx: nginx -t on a minimal
# configuration that loads it and turns it on.
set -eu
nginx_bin=$1
module=$(realpath "$2")
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cat > "$dir/nginx.conf" <<CONF
load_module $module;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { }
http {
    access_log off;
    llm_observer_ring $dir/ring size=1m;
    server {
        listen 127.0.0.1:1;
        location / { llm_observer on; return 204; }
    }
}
CONF
if ! out=$("$nginx_bin" -t -p "$dir" -c "$dir/nginx.conf" 2>&1); then
    echo "loadcheck: nginx -t failed with the module loaded:" >&2
    echo "$out" >&2
    exit 1
fi
echo "loadcheck: $module loads into $($nginx_bin -v 2>&1 | sed 's/.*: //')"
