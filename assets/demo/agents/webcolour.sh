#!/bin/sh
# Scripted demo agent: gives the heading a warmer colour; the screenshot diff shows it.
. "$(dirname "$0")/common.sh"
ask "plan: $FLIGHTDECK_TASK"
work "reading style.css"
sed 's/#0a5/#c0392b/' style.css > style.css.new && mv style.css.new style.css
work "changed the heading colour"
say "done: the heading is red"
