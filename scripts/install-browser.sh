#!/usr/bin/env bash
# Installs the Chromium that the browser tests drive. Playwright's own browser download
# cannot run here, so the Debian build is used (tests launch /usr/bin/chromium).
# Idempotent: does nothing when Chromium is already installed.
set -euo pipefail

if [[ -x /usr/bin/chromium ]]; then
    exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
    SUDO=sudo
else
    SUDO=
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends chromium chromium-driver fonts-noto-cjk
/usr/bin/chromium --version
