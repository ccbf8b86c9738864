#!/bin/sh
# Pod 0 of the StatefulSet is the primary; every other pod replicates from it
# through its stable name in the headless Service.
set -eu
ordinal="${HOSTNAME##*-}"
set -- redis-server /etc/redis/redis.conf --maxmemory "${REDIS_MAXMEMORY:-128mb}"
if [ "$ordinal" != "0" ]; then
  set -- "$@" --replicaof "$PRIMARY_HOST" 6379
fi
exec "$@"
