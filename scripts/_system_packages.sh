# Debian packages the test suite needs, installed when missing (sourced by scripts/test.sh):
# - Pango and HarfBuzz's subsetter for WeasyPrint (the purchase-order PDF, purchasing/documents.py;
#   without the subsetter WeasyPrint warns on every PDF, and warnings fail the tests);
# - Chromium for the browser tests (tests/floor/test_floor_browser.py and others).
# Without root or apt-get it only says what is missing: the PDF test then fails and the browser
# tests skip.
_missing=()
_libraries="$(ldconfig -p)"  # read once: grep -q closing a pipe early fails the pipe under pipefail
if ! grep -q libpangoft2-1.0 <<<"$_libraries" || ! grep -q libharfbuzz-subset <<<"$_libraries"; then
  _missing+=(libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0)
fi
[ -x /usr/bin/chromium ] || _missing+=(chromium)
if [ "${#_missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "== installing Debian packages: ${_missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${_missing[@]}" >/dev/null
  else
    echo "!! missing Debian packages (install them as root): ${_missing[*]}" >&2
  fi
fi
unset _missing _libraries
