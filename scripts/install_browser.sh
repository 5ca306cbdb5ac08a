#!/usr/bin/env bash
# Headless Chromium for the browser test (tests/campaigns/test_admin_browser.py).
# Debian packages only: no browser download from the internet. Idempotent: does
# nothing when /usr/bin/chromium and /usr/bin/chromedriver are already there.
set -euo pipefail

if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
  echo "chromium already installed: $(/usr/bin/chromium --version 2>/dev/null || echo unknown)"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
# Another apt run (unattended upgrades, a parallel job) may hold the lock: wait for it.
$SUDO apt-get -o DPkg::Lock::Timeout=300 update -qq
$SUDO apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends chromium chromium-driver
echo "installed: $(/usr/bin/chromium --version 2>/dev/null || echo chromium)"
