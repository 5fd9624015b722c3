#!/usr/bin/env bash
# Usage: scripts/ensure_debian_command.sh COMMAND PACKAGE "what needs it"
# Install Debian's PACKAGE when a fresh machine lacks COMMAND (the tests need chromium and promtool). A package's
# own service is not started by its install script (a policy-rc.d already there stays as it is).
set -euo pipefail
command_name=$1 package=$2 purpose=$3
if command -v "$command_name" >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "$command_name is missing: run 'sudo apt-get install -y $package' ($purpose needs it)" >&2
  exit 1
fi
echo "installing Debian's $package for $purpose"
export DEBIAN_FRONTEND=noninteractive
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get install -y -q "$package" >/dev/null 2>&1 \
  || { apt-get update -q >/dev/null && apt-get install -y -q "$package" >/dev/null; }
command -v "$command_name" >/dev/null
