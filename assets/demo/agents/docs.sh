#!/bin/sh
# Scripted demo agent: documents the page in the README, in about 25 steps.
. "$(dirname "$0")/common.sh"
say "task: $FLIGHTDECK_TASK"
for f in README.md index.html app.js; do work "reading $f"; done
ask "plan a Usage section for: $FLIGHTDECK_TASK"
work "planning a Usage section"
printf '\n## Usage\n\n' >> README.md
work "writing Usage"
printf 'Press **Greet again** to greet the next person on the list.\n' >> README.md
for i in 1 2 3 4 5 6 7 8; do work "checking wording ($i/8)"; done
printf '\n## Names\n\nThe names live in `app.js`; add yours to the list.\n' >> README.md
work "writing Names"
ask "review the README wording"
for i in 1 2 3 4 5 6 7 8 9 10; do work "proofreading ($i/10)"; done
say "done: README has Usage and Names sections"
