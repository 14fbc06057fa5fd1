#!/bin/sh
# Scripted demo agent: moves the styles to CSS variables, slowly (about 60 steps): the one to
# pause and resume.
. "$(dirname "$0")/common.sh"
say "task: $FLIGHTDECK_TASK"
for i in $(seq 1 20); do work "surveying colours ($i/20)"; done
cat > style.css <<'CSS'
:root {
  --fg: #222;
  --bg: #fafafa;
  --accent: #0a5;
}

body {
  font-family: sans-serif;
  margin: 4rem auto;
  max-width: 40rem;
  color: var(--fg);
  background: var(--bg);
}

h1 {
  color: var(--accent);
}

button {
  padding: 0.5rem 1rem;
}
CSS
work "introduced --fg, --bg, --accent"
for i in $(seq 1 38); do work "checking every rule ($i/38)"; done
say "done: colours come from CSS variables"
