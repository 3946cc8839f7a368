#!/bin/sh
# test_install.sh -- install linstab into a temporary directory and use it
# as an outside program would (registered with meson test as 'install').
#
#   test_install.sh BUILD_DIR SOURCE_DIR VERSION SANITIZE CC [CC ARGS...]
#
# 1. meson install --destdir into a fresh temporary directory;
# 2. linstab.pc is found there, reports VERSION, and its include directory
#    holds exactly the headers of SOURCE_DIR/include (same bytes); each one
#    compiles on its own;
# 3. the shared library exports exactly the functions the installed headers
#    declare (a missing LINSTAB_API hides one) and no other symbol;
# 4. tests/install/consumer.c, copied out of the source tree, is compiled
#    with `CC $(pkg-config --cflags --libs linstab)` (the installed headers
#    only) and run against the installed liblinstab.so; then again linked
#    against liblinstab.a with `pkg-config --static`; it prints its numbers
#    and exits non-zero when one differs from its closed form.
# SANITIZE is meson's b_sanitize ("none", "address,undefined", ...): the
# consumer is compiled with the same -fsanitize so that it links with an
# instrumented library.  Exits 0 when everything holds, 1 otherwise.
set -u
build=$1 src=$2 version=$3 sanitize=$4
shift 4
cc="$*"
san=""
[ "$sanitize" != "none" ] && [ -n "$sanitize" ] && san="-fsanitize=$sanitize"

fail() { echo "test_install: FAIL: $*" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/linstab-install.XXXXXX") || fail "mktemp"
trap 'rm -rf "$tmp"' EXIT INT TERM
dest=$tmp/dest

# 1. install (what the build already made; no rebuild from inside a test)
meson install -C "$build" --no-rebuild --destdir "$dest" >"$tmp/install.log" 2>&1 ||
    { cat "$tmp/install.log" >&2; fail "meson install --destdir $dest"; }

# 2. the pkg-config file, relocated into the temporary prefix
pc=$(find "$dest" -name linstab.pc -path '*/pkgconfig/*')
[ -n "$pc" ] && [ "$(printf '%s\n' "$pc" | wc -l)" -eq 1 ] || fail "no single linstab.pc installed (found: $pc)"
prefix=$(sed -n 's/^prefix=//p' "$pc")
[ -n "$prefix" ] || fail "$pc has no prefix= line"
unset CPATH C_INCLUDE_PATH LIBRARY_PATH PKG_CONFIG_SYSROOT_DIR
PKG_CONFIG_PATH=$(dirname "$pc")
export PKG_CONFIG_PATH
# the files sit under $dest$prefix: say so in the one line that names the
# prefix (every other path of linstab.pc is relative to it; the
# dependencies' .pc files stay as they are)
sed -i "s|^prefix=.*|prefix=$dest$prefix|" "$pc" || fail "relocating $pc"
pkgc() { pkg-config "$@"; }
[ "$(pkgc --variable=pcfiledir linstab)" = "$(dirname "$pc")" ] || fail "pkg-config does not read $pc"
got=$(pkgc --modversion linstab) || fail "pkg-config --modversion linstab"
[ "$got" = "$version" ] || fail "linstab.pc says version $got, the project is $version"
incdir=$(pkgc --variable=includedir linstab)
libdir=$(pkgc --variable=libdir linstab)
case $incdir in "$dest"/*) ;; *) fail "includedir $incdir is not in the temporary prefix" ;; esac
case $libdir in "$dest"/*) ;; *) fail "libdir $libdir is not in the temporary prefix" ;; esac
cflags=$(pkgc --cflags linstab) || fail "pkg-config --cflags linstab"
case " $cflags " in *" -I$src/"*|*" -I$build"*) fail "--cflags points into the source or build tree: $cflags" ;; esac

(cd "$src/include" && find . -name '*.h' | sort) >"$tmp/want.txt"
(cd "$incdir" && find . -name '*.h' | sort) >"$tmp/have.txt"
missing=$(comm -23 "$tmp/want.txt" "$tmp/have.txt")
extra=$(comm -13 "$tmp/want.txt" "$tmp/have.txt")
[ -z "$missing" ] || fail "headers not installed (add them to install_headers in meson.build): $missing"
[ -z "$extra" ] || fail "installed headers that include/ does not have: $extra"
while read -r h; do
    cmp -s "$src/include/$h" "$incdir/$h" || fail "installed $h differs from include/$h"
    printf '#include <%s>\nint linstab_header_check;\n' "${h#./}" >"$tmp/one.c"
    # shellcheck disable=SC2086
    $cc $cflags -std=c17 -Wall -Werror -fsyntax-only "$tmp/one.c" 2>"$tmp/one.log" ||
        { cat "$tmp/one.log" >&2; fail "installed ${h#./} does not compile on its own"; }
done <"$tmp/want.txt"
echo "test_install: $(wc -l <"$tmp/have.txt") headers installed, each compiles alone; linstab.pc version $got"

# 3. exports of the shared library = functions declared by the headers
so=$(find "$libdir" -maxdepth 1 -name 'liblinstab.so.*' -type f | head -n 1)
[ -n "$so" ] || fail "no liblinstab.so.* in $libdir"
[ -f "$libdir/liblinstab.a" ] || fail "no liblinstab.a in $libdir"
(cd "$incdir" && find . -name '*.h' | sed 's|^\./\(.*\)|#include <\1>|') >"$tmp/all.c"
# shellcheck disable=SC2086
$cc $cflags -E -P "$tmp/all.c" >"$tmp/all.i" || fail "preprocessing the installed headers"
# functions: linstab_NAME followed by '('; types (typedef'd names) are not functions
grep -o 'linstab_[A-Za-z0-9_]*[[:space:]]*(' "$tmp/all.i" | sed 's/[[:space:]]*($//' | sort -u >"$tmp/called.txt"
grep -o '\(enum\|struct\|union\)[[:space:]]\+linstab_[A-Za-z0-9_]*\|}[[:space:]]*linstab_[A-Za-z0-9_]*[[:space:]]*;\|(\*[[:space:]]*linstab_[A-Za-z0-9_]*)' \
    "$tmp/all.i" | grep -o 'linstab_[A-Za-z0-9_]*' | sort -u >"$tmp/types.txt"
comm -23 "$tmp/called.txt" "$tmp/types.txt" >"$tmp/declared.txt"
nm -D --defined-only "$so" | awk '{print $NF}' | sort -u >"$tmp/exported.txt"
hidden=$(comm -23 "$tmp/declared.txt" "$tmp/exported.txt")
[ -z "$hidden" ] || fail "declared in the installed headers but not exported by $(basename "$so") (LINSTAB_API missing?): $hidden"
stray=$(comm -13 "$tmp/declared.txt" "$tmp/exported.txt")
[ -z "$stray" ] || fail "$(basename "$so") exports symbols that no installed header declares: $stray"
echo "test_install: $(wc -l <"$tmp/exported.txt") functions exported, each declared by an installed header"

# 4. a program built against the installed library only
mkdir "$tmp/consumer" && cp "$src/tests/install/consumer.c" "$tmp/consumer/" || fail "copying consumer.c"
cd "$tmp/consumer" || fail "cd $tmp/consumer"
libs=$(pkgc --libs linstab) || fail "pkg-config --libs linstab"
# shellcheck disable=SC2086
$cc -std=c17 -Wall -Werror $san $cflags consumer.c -o consumer_shared $libs -lm 2>cc.log ||
    { cat cc.log >&2; fail "compiling consumer.c: $cc $san $cflags consumer.c $libs -lm"; }
readelf -d consumer_shared | grep -q 'NEEDED.*liblinstab\.so' || fail "consumer_shared does not link liblinstab.so"
LD_LIBRARY_PATH=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} ldd ./consumer_shared >ldd.log 2>&1
grep 'liblinstab' ldd.log | grep -q "=> $libdir/" || { cat ldd.log >&2; fail "consumer_shared does not load $libdir's liblinstab"; }
LD_LIBRARY_PATH=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} ./consumer_shared ||
    fail "consumer.c linked with the installed liblinstab.so (above)"

slibs=$(pkgc --static --libs linstab) || fail "pkg-config --static --libs linstab"
# the archive, although the shared library sits beside it
slibs=$(printf '%s\n' "$slibs" | sed 's/\(^\|[[:space:]]\)-llinstab\([[:space:]]\|$\)/\1-l:liblinstab.a\2/')
# shellcheck disable=SC2086
$cc -std=c17 -Wall -Werror $san $cflags consumer.c -o consumer_static $slibs -lm 2>cc.log ||
    { cat cc.log >&2; fail "linking consumer.c statically: $cc $san $cflags consumer.c $slibs -lm"; }
readelf -d consumer_static | grep -q 'NEEDED.*liblinstab' && fail "consumer_static still needs liblinstab.so"
./consumer_static || fail "consumer.c linked with the installed liblinstab.a (above)"
echo "test_install: consumer.c agrees with its closed forms, linked shared and static"
exit 0
