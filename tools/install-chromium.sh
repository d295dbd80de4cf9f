#!/usr/bin/env bash
# Installs headless Chromium for the browser tests (tests/pester/Browser.Tests.ps1) when it is missing.
# Debian/Ubuntu with apt and root (CI); elsewhere it says what to do. NEURALJIT_SKIP_BROWSER_TESTS=1 opts out of those tests.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then exit 0; fi
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
    command -v chromium
else
    echo "install-chromium: chromium is not installed and this is not a root Debian/Ubuntu shell; install the 'chromium' package, or set NEURALJIT_SKIP_BROWSER_TESTS=1 to skip the browser tests." >&2
    exit 1
fi
