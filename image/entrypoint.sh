#!/bin/sh
# Started as root: give the data directory to the dockhand user, let that user use the
# Docker socket through the socket's own group (its gid differs from host to host),
# then drop root. Started as another user (`--user`): run as that user unchanged.
set -eu
if [ "$(id -u)" != 0 ]; then
  exec "$@"
fi
data=${DOCKHAND_DATA_DIR:-/opt/dockhand}
mkdir -p "$data"
# First start, or a data directory an earlier root-run version left: hand it over once.
if [ "$(stat -c %u "$data")" != "$(id -u dockhand)" ]; then
  chown -R dockhand:dockhand "$data"
fi
socket=${DOCKER_HOST:-unix:///var/run/docker.sock}
socket=${socket#unix://}
if [ -S "$socket" ]; then
  gid=$(stat -c %g "$socket")
  group=$(getent group "$gid" | cut -d: -f1 || true)
  if [ -z "$group" ]; then
    group=docker-host
    groupadd --gid "$gid" "$group"
  fi
  usermod -a -G "$group" dockhand
fi
export HOME=/home/dockhand
exec setpriv --reuid=dockhand --regid=dockhand --init-groups -- "$@"
