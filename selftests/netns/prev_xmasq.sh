#!/bin/bash
# Prints the path of an xmasq binary of the last build before rule_meta
# became BPF_F_MMAPABLE, built from this repository's history into
# build/prevmeta/ the first time (old_xmasq.sh): attach's carrying over of
# that map is tested against the maps that build really pins.
exec "$(dirname "$0")/old_xmasq.sh" a18cb79 prevmeta "rule_meta without BPF_F_MMAPABLE"
