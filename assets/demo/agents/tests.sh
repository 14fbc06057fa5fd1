#!/bin/sh
# Scripted demo agent: adds a test page for the greeting, in about 40 steps.
. "$(dirname "$0")/common.sh"
say "task: $FLIGHTDECK_TASK"
ask "plan: $FLIGHTDECK_TASK"
for i in 1 2 3 4 5 6; do work "reading the page ($i/6)"; done
mkdir -p tests
cat > tests/greeting.test.html <<'HTML'
<!doctype html>
<meta charset="utf-8">
<title>greeting tests</title>
<iframe id="page" src="../index.html"></iframe>
<script>
  const page = document.getElementById("page");
  page.addEventListener("load", () => {
    const doc = page.contentDocument;
    doc.getElementById("again").click();
    const text = doc.getElementById("greeting").textContent;
    document.title = text === "Hello, Grace!" ? "PASS" : "FAIL: " + text;
  });
</script>
HTML
work "wrote tests/greeting.test.html"
ask "review tests/greeting.test.html"
for i in $(seq 1 30); do work "running the test in my head ($i/30)"; done
say "done: one test for the greeting"
