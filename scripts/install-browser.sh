#!/usr/bin/env bash
# Installs the Chromium that the browser tests drive, and the CJK fonts that the Japanese page
# (and the README screenshots) need. Playwright's own browser download cannot run here, so the
# Debian build is used (tests launch /usr/bin/chromium).
# Idempotent: installs only the packages that are missing, so a machine that already has
# Chromium still gets the fonts.
set -euo pipefail

CHROMIUM=${CHROMIUM:-/usr/bin/chromium}

PACKAGES=(chromium chromium-driver fonts-noto-cjk)
missing=()
for pkg in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done
# A Chromium installed some other way still counts as present.
if [[ -x $CHROMIUM ]]; then
    kept=()
    for pkg in "${missing[@]}"; do
        [[ $pkg == chromium || $pkg == chromium-driver ]] || kept+=("$pkg")
    done
    missing=("${kept[@]}")
fi

if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
        SUDO=sudo
    else
        SUDO=
    fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -q
    $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
"$CHROMIUM" --version
fc-list :lang=ja family | grep -q . || { echo "no Japanese font after install" >&2; exit 1; }
