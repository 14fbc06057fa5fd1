#!/bin/sh
# Scripted demo agent: moves the styles to CSS variables, slowly (about 60 steps): the one to
# pause and resume. It asks the model every few steps, and its runs have a small budget of their
# own (the demo's config), so a run of it pauses on its budget midway.
. "$(dirname "$0")/common.sh"
say "task: $FLIGHTDECK_TASK"
ask "plan: $FLIGHTDECK_TASK"
for i in $(seq 1 20); do
  work "surveying colours ($i/20)"
  [ $((i % 5)) -eq 0 ] && ask "which colours are left after $i of 20 rules?"
done
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
for i in $(seq 1 38); do
  work "checking every rule ($i/38)"
  [ $((i % 5)) -eq 0 ] && ask "does rule $i of 38 use the variables?"
done
say "done: colours come from CSS variables"
