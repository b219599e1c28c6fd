#!/bin/bash
# old_xmasq.sh COMMIT NAME WHAT: prints the path of an xmasq binary built
# from COMMIT of this repository's history, into build/NAME/ the first
# time, so that upgrade tests run this build against the maps an older one
# really pins. WHAT says what the commit is (for the error). Exit 1 (and a
# reason on stderr) when the history is not there (a shallow clone, an
# export) or the build fails.
commit=$1 name=$2 what=$3
cd "$(dirname "$0")/../.." || exit 1
out=$PWD/build/$name
if [ -x "$out/build/xmasq" ] && [ "$(cat "$out/.commit" 2>/dev/null)" = "$commit" ]; then
	echo "$out/build/xmasq"
	exit 0
fi
if ! git cat-file -e "$commit^{commit}" 2>/dev/null; then
	echo "commit $commit ($what) is not in this repository's history" >&2
	exit 1
fi
rm -rf "$out"
mkdir -p "$out"
git archive "$commit" | tar -x -C "$out" || exit 1
if ! make -C "$out" --no-print-directory -j2 build/xmasq >"$out/make.log" 2>&1; then
	echo "building $commit ($what) failed: see $out/make.log" >&2
	exit 1
fi
echo "$commit" >"$out/.commit"
echo "$out/build/xmasq"
