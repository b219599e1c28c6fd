#!/bin/bash
# Prints the path of an xmasq binary of layout 1 (the last commit before
# the flow table of bpf/ct.h), built from this repository's history into
# build/layout1/ the first time (old_xmasq.sh): attach --migrate is tested
# against the maps that build really pins.
exec "$(dirname "$0")/old_xmasq.sh" 167a0b9 layout1 "layout 1"
