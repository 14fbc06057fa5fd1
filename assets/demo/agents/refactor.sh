#!/bin/sh
# Scripted demo agent: extracts the greeting into a function, in about 35 steps.
. "$(dirname "$0")/common.sh"
say "task: $FLIGHTDECK_TASK"
work "reading app.js"
ask "plan: $FLIGHTDECK_TASK"
for i in 1 2 3 4 5; do work "analysing call sites ($i/5)"; done
cat > app.js <<'JS'
const names = ["Ada", "Grace", "Linus", "Margaret"];
let count = 0;

function greeting(n) {
  return "Hello, " + names[n % names.length] + "!";
}

document.getElementById("again").addEventListener("click", () => {
  count += 1;
  document.getElementById("greeting").textContent = greeting(count);
});
JS
work "extracted greeting(n)"
ask "review greeting(n) in app.js"
for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do work "re-running the page in my head ($i/20)"; done
for i in 1 2 3 4 5 6 7 8; do work "tidying ($i/8)"; done
say "done: greeting(n) is a function now"
