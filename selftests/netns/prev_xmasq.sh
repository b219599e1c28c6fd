#!/bin/bash
# Prints the path of an xmasq binary of the last build before rule_meta
# became BPF_F_MMAPABLE, building it from this repository's history into
# build/prevmeta/ the first time: attach's carrying over of that map is
# tested against the maps that build really pins. Exit 1 (and a reason on
# stderr) when the history is not there (a shallow clone, an export).
PREV_COMMIT=a18cb79
cd "$(dirname "$0")/../.." || exit 1
out=$PWD/build/prevmeta
if [ -x "$out/build/xmasq" ] && [ "$(cat "$out/.commit" 2>/dev/null)" = $PREV_COMMIT ]; then
	echo "$out/build/xmasq"
	exit 0
fi
if ! git cat-file -e "$PREV_COMMIT^{commit}" 2>/dev/null; then
	echo "commit $PREV_COMMIT (rule_meta without BPF_F_MMAPABLE) is not in this repository's history" >&2
	exit 1
fi
rm -rf "$out"
mkdir -p "$out"
git archive "$PREV_COMMIT" | tar -x -C "$out" || exit 1
if ! make -C "$out" --no-print-directory -j2 build/xmasq >"$out/make.log" 2>&1; then
	echo "building $PREV_COMMIT failed: see $out/make.log" >&2
	exit 1
fi
echo $PREV_COMMIT >"$out/.commit"
echo "$out/build/xmasq"
