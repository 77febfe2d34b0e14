#!/usr/bin/env bash
# Regenerate every app's 0001_initial from the models, keeping the hand-written 0002s (starter
# data, the summary's SQL). Only while nothing is deployed: a database migrated with the old
# files must be dropped and migrated afresh. See docs/migrations.md.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
# In dependency order, so that each app's 0001 depends on the 0001s of the apps before it.
APPS="teams reasons deals outbox followups insights crm surveys"
HANDWRITTEN="reasons/migrations/0002_starter_taxonomy.py followups/migrations/0002_starter_sequences.py
insights/migrations/0002_rates_and_summary.py"

aside=$(mktemp -d)
for file in $HANDWRITTEN; do mkdir -p "$aside/$(dirname "$file")" && mv "$file" "$aside/$file"; done
for app in $APPS; do find "$app/migrations" -maxdepth 1 -name '0*.py' -delete; done
for app in $APPS; do "$BIN/python" manage.py makemigrations "$app" -v0; done
for file in $HANDWRITTEN; do mv "$aside/$file" "$file"; done
rm -rf "$aside"
"$BIN/ruff" check --fix -q . && "$BIN/ruff" format -q .
"$BIN/python" manage.py makemigrations --check --dry-run
ls $(for app in $APPS; do echo "$app/migrations/0*.py"; done)
