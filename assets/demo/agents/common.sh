# Shared by the scripted demo agents: a pace and a way to say what they do.
# FLIGHTDECK_DEMO_STEP sets the seconds per step (tests make it short).
STEP="${FLIGHTDECK_DEMO_STEP:-1}"
say() { printf '[scripted agent] %s\n' "$*"; }
work() { say "$1"; sleep "$STEP"; }
# Ask the demo's model (through the run's metering gateway, which counts the tokens and the
# cost, and holds the call while the run is paused) and say what it answered.
ask() {
  [ -n "$FLIGHTDECK_DEMO_BIN" ] || return 0
  say "asked the model \"$1\": $("$FLIGHTDECK_DEMO_BIN" demo-ask "$1" 2>/dev/null)"
}
