#!/usr/bin/env bash
# Refresh the Chinese catalog after changing user-visible strings:
#   scripts/i18n.sh           extract, merge into translations/zh_CN, compile
# Then translate the new (empty or fuzzy) entries in translations/zh/LC_MESSAGES/messages.po
# and run it again to compile. tests/test_i18n.py fails while any entry is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
pybabel -q extract -F babel.cfg -k _l -k lazy_gettext -k lazy_ngettext:1,2 -k lazy_pgettext:1c,2 -o translations/messages.pot --no-location --sort-output .
if [ -f translations/zh/LC_MESSAGES/messages.po ]; then
  pybabel -q update -i translations/messages.pot -d translations -l zh --no-fuzzy-matching --ignore-obsolete
else
  pybabel -q init -i translations/messages.pot -d translations -l zh
fi
pybabel -q compile -d translations -l zh
