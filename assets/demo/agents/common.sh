# Shared by the scripted demo agents: a pace and a way to say what they do.
# FLIGHTDECK_DEMO_STEP sets the seconds per step (tests make it short).
STEP="${FLIGHTDECK_DEMO_STEP:-1}"
say() { printf '[scripted agent] %s\n' "$*"; }
work() { say "$1"; sleep "$STEP"; }
