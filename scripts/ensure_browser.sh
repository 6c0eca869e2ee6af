#!/usr/bin/env bash
# Make sure the browser tests have a Chromium (or Chrome) and a matching ChromeDriver, as `make test` needs.
#   1. $RSSM_CHROME and $RSSM_CHROMEDRIVER, if set; else Debian's /usr/bin/chromium and /usr/bin/chromedriver;
#      else chromium, chromium-browser or google-chrome, and chromedriver, on PATH (tests_browser/conftest.py
#      looks in the same order);
#   2. none found, as root with apt-get: install Debian's chromium and chromium-driver;
#   3. otherwise stop with one line saying what to install.
set -euo pipefail

find_browser() {
    local chrome="${RSSM_CHROME:-}" driver="${RSSM_CHROMEDRIVER:-}"
    if [[ -z "$chrome" ]]; then
        for candidate in /usr/bin/chromium chromium chromium-browser google-chrome google-chrome-stable; do
            chrome=$(command -v "$candidate" 2>/dev/null) && break || chrome=""
        done
    fi
    if [[ -z "$driver" ]]; then
        for candidate in /usr/bin/chromedriver chromedriver; do
            driver=$(command -v "$candidate" 2>/dev/null) && break || driver=""
        done
    fi
    [[ -n "$chrome" && -x "$chrome" && -n "$driver" && -x "$driver" ]]
}

if find_browser; then
    exit 0
fi
if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
    echo "== installing chromium and chromium-driver for the browser tests"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq chromium chromium-driver
    find_browser && exit 0
fi
echo "make test: the browser tests need Chromium and ChromeDriver: install Debian's chromium and chromium-driver" \
     "(or Chrome and a matching chromedriver on PATH, or set RSSM_CHROME and RSSM_CHROMEDRIVER)" >&2
exit 1
