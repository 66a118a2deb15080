#!/bin/sh
# As the official image: options alone mean redis-server; the server runs as user redis, unprotected
# (reachable from the other containers of the network without a password, as the official build is).
set -e
case "$1" in -*|*.conf) set -- redis-server "$@" ;; esac
if [ "$1" = redis-server ]; then
    shift
    set -- redis-server --bind '* -::*' --protected-mode no "$@"
    if [ "$(id -u)" = 0 ]; then
        chown -R redis:redis /data 2>/dev/null || true
        exec setpriv --reuid=redis --regid=redis --init-groups "$@"
    fi
fi
exec "$@"
