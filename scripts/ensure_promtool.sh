#!/usr/bin/env bash
# The alert rules (docs/alerts.yml) are checked and unit-tested by promtool, from Debian's prometheus package.
exec "$(dirname "$0")/ensure_debian_command.sh" promtool prometheus "the alert-rule tests"
