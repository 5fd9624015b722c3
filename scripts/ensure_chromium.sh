#!/usr/bin/env bash
# The browser tests drive Debian's Chromium; install it when a fresh machine lacks it.
exec "$(dirname "$0")/ensure_debian_command.sh" chromium chromium "the browser tests"
