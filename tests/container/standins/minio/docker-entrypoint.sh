#!/bin/sh
# As the official image: arguments that are not a command are the minio server's.
set -e
case "$1" in server|gateway|--*) set -- minio "$@" ;; esac
exec "$@"
