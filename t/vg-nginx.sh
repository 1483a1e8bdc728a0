#!/bin/sh
# nginx under valgrind (memcheck) for the integration tests:
#
#   mkdir -m 1777 /tmp/vg
#   NGINX_BIN=t/vg-nginx.sh prove -I t/lib t/080.keys.t
#   grep -hv 'could not unlink' /tmp/vg/*      # nothing: no error
#
# Every nginx process (master and the workers it forks) writes its own
# log to $LLO_VG_DIR (default /tmp/vg).  "nginx -t" and "-v" run plainly.

case " $* " in
    *" -t "*|*" -v "*|*" -V "*) exec /usr/sbin/nginx "$@" ;;
esac

exec valgrind --quiet --trace-children=yes \
    --log-file="${LLO_VG_DIR:-/tmp/vg}/vg.%p.log" /usr/sbin/nginx "$@"
