#!/bin/bash
# Prints the path of an xmasq binary built from this repository's HEAD
# with one more entry in each prog array (progs46, progs4, progs6_xdp),
# into build/grown/ the first time: the build before a change that resizes
# a prog array, for the upgrade test (netns_ipv6_upgrade.sh). Exit 1 (and a
# reason on stderr) when HEAD cannot be archived or the build fails.
cd "$(dirname "$0")/../.." || exit 1
commit=$(git rev-parse HEAD 2>/dev/null) || {
	echo "no git history here to build HEAD from" >&2
	exit 1
}
out=$PWD/build/grown
if [ -x "$out/build/xmasq" ] && [ "$(cat "$out/.commit" 2>/dev/null)" = "$commit" ]; then
	echo "$out/build/xmasq"
	exit 0
fi
rm -rf "$out"
mkdir -p "$out"
git archive "$commit" | tar -x -C "$out" || exit 1
# max_entries of the prog arrays named, each one more
python3 - "$out/bpf/maps.h" <<'PY' || exit 1
import re, sys
path = sys.argv[1]
text = open(path).read()
for name in ("progs46", "progs4", "progs6_xdp"):
    pat = re.compile(r"(__uint\(max_entries, )(\d+)(\);\n(?:[^}]*\n)*?\} %s SEC)" % name)
    text, n = pat.subn(lambda m: m.group(1) + str(int(m.group(2)) + 1) + m.group(3), text, count=1)
    if n != 1:
        sys.exit("grown_xmasq.sh: no max_entries found for %s in bpf/maps.h" % name)
open(path, "w").write(text)
PY
if ! make -C "$out" --no-print-directory -j2 build/xmasq >"$out/make.log" 2>&1; then
	echo "building HEAD ($commit) with grown prog arrays failed: see $out/make.log" >&2
	exit 1
fi
echo "$commit" >"$out/.commit"
echo "$out/build/xmasq"
