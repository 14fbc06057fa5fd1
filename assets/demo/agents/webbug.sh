#!/bin/sh
# Scripted demo agent: adds a footer to the page. Its first version throws in the browser (a
# typo); after reading flightdeck's browser report it fixes the typo.
. "$(dirname "$0")/common.sh"
if [ -n "$FLIGHTDECK_FEEDBACK_FILE" ]; then
  say "reading the browser report"
  work "the report says: $(grep -m1 -o 'uncaught exception[^:]*: [^[]*' "$FLIGHTDECK_FEEDBACK_FILE" | cut -c1-90)"
  sed 's/footr\.textContent/footer.textContent/' app.js > app.js.new && mv app.js.new app.js
  work "fixed the typo in app.js"
  say "done: the footer works"
  exit 0
fi
ask "plan: $FLIGHTDECK_TASK"
for f in index.html app.js; do work "reading $f"; done
cat >> app.js <<'JS'

const footer = document.createElement("p");
footr.textContent = "Made with flightdeck";
document.body.appendChild(footer);
JS
work "added a footer"
say "done: footer added"
