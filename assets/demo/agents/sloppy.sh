#!/bin/sh
# Scripted demo agent: adds a dark mode toggle but leaves a TODO behind, so the smoke check
# fails; retried with the check's output (FLIGHTDECK_FEEDBACK_FILE), it leaves none. About 30
# steps.
. "$(dirname "$0")/common.sh"
say "task: $FLIGHTDECK_TASK"
ask "plan: $FLIGHTDECK_TASK"
for i in 1 2 3 4 5; do work "sketching the toggle ($i/5)"; done
cat >> style.css <<'CSS'

body.dark {
  color: #eee;
  background: #111;
}
CSS
work "added body.dark styles"
if [ -n "$FLIGHTDECK_FEEDBACK_FILE" ] && grep -q "TODO markers left" "$FLIGHTDECK_FEEDBACK_FILE"; then
  # Retried with the smoke check's output: it says the TODO must go.
  say "read the failing check: no TODO may be left, so none is"
  cat >> app.js <<'JS'

document.body.addEventListener("dblclick", () => document.body.classList.toggle("dark"));
JS
else
  cat >> app.js <<'JS'

// TODO: remember the choice across visits
document.body.addEventListener("dblclick", () => document.body.classList.toggle("dark"));
JS
fi
work "wired a double-click toggle"
ask "review the dark mode toggle"
for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21; do work "polishing ($i/21)"; done
if [ -n "$FLIGHTDECK_FEEDBACK_FILE" ]; then say "done"; else say "done (I left a TODO for later)"; fi
