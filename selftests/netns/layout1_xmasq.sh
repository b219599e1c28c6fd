#!/bin/bash
# Prints the path of an xmasq binary of layout 1 (the last commit before
# the flow table of bpf/ct.h), building it from this repository's history
# into build/layout1/ the first time. attach --migrate is tested against
# the maps that build really pins. Exit 1 (and a reason on stderr) when
# the history is not there (a shallow clone, an export).
LAYOUT1_COMMIT=167a0b9
cd "$(dirname "$0")/../.." || exit 1
out=$PWD/build/layout1
if [ -x "$out/build/xmasq" ] && [ "$(cat "$out/.commit" 2>/dev/null)" = $LAYOUT1_COMMIT ]; then
	echo "$out/build/xmasq"
	exit 0
fi
if ! git cat-file -e "$LAYOUT1_COMMIT^{commit}" 2>/dev/null; then
	echo "commit $LAYOUT1_COMMIT (layout 1) is not in this repository's history" >&2
	exit 1
fi
rm -rf "$out"
mkdir -p "$out"
git archive "$LAYOUT1_COMMIT" | tar -x -C "$out" || exit 1
if ! make -C "$out" --no-print-directory -j2 build/xmasq >"$out/make.log" 2>&1; then
	echo "building layout 1 ($LAYOUT1_COMMIT) failed: see $out/make.log" >&2
	exit 1
fi
echo $LAYOUT1_COMMIT >"$out/.commit"
echo "$out/build/xmasq"
