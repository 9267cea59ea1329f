#!/usr/bin/env bash
# usage: deb.sh SOURCE_DIR WORK_DIR PROJECT_VERSION
# Builds lockbox_VERSION_amd64.deb with dpkg-buildpackage from a copy of SOURCE_DIR and checks
# what it holds. Installing it (apt install ./lockbox_*.deb, the unit under systemd, purge) is
# the manual fresh-root step of docs/design.md ("Installing").
set -euo pipefail
src=${1:?usage: deb.sh SOURCE_DIR WORK_DIR PROJECT_VERSION}
work=${2:?usage: deb.sh SOURCE_DIR WORK_DIR PROJECT_VERSION}
project_version=${3:?usage: deb.sh SOURCE_DIR WORK_DIR PROJECT_VERSION}
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
pass() { echo "ok: $*"; }
skip() {
	if [[ ${LOCKBOX_MUST_WORK:-} == 1 ]]; then
		echo "FAIL: package_deb cannot run ($*) and LOCKBOX_MUST_WORK=1"
		exit 1
	fi
	echo "SKIP: $*"
	exit 77
}

for tool in dpkg-buildpackage dpkg-checkbuilddeps dh lintian; do
	command -v "$tool" >/dev/null || skip "needs $tool (apt-get install dpkg-dev debhelper lintian)"
done
(cd "$src" && dpkg-checkbuilddeps) || skip "build dependencies of debian/control are missing"

rm -rf "$work"
mkdir -p "$work/lockbox"
# The source as a user's clone has it: no build trees, no VCS data, no packaging leftovers.
tar -C "$src" --exclude=./.git --exclude='./build*' --exclude='./obj-*' \
	--exclude=./fresh-debian-logs --exclude=./debian/lockbox --exclude=./debian/tmp \
	--exclude=./debian/.debhelper --exclude=./debian/files --exclude='./debian/*.substvars' \
	--exclude=./debian/debhelper-build-stamp --exclude=./tests/fuzz/out --exclude=__pycache__ \
	-cf - . | tar -C "$work/lockbox" -xf -
version=$(cd "$work/lockbox" && dpkg-parsechangelog -S Version)
[[ ${version%%-*} == "$project_version" ]] && pass "debian/changelog $version matches project() $project_version" ||
	fail "debian/changelog version $version, CMake project version $project_version"

start=$SECONDS
if ! (cd "$work/lockbox" && DEB_BUILD_OPTIONS="parallel=$(nproc) noautodbgsym" \
	dpkg-buildpackage -b -us -uc) >"$work/build.log" 2>&1; then
	tail -n 40 "$work/build.log"
	fail "dpkg-buildpackage -b -us -uc (log: $work/build.log)"
	exit 1
fi
deb=$work/lockbox_${version}_amd64.deb
[[ -f $deb ]] || { ls "$work"; fail "no $deb"; exit 1; }
pass "dpkg-buildpackage built ${deb##*/} in $((SECONDS - start)) s"

# File list: everything a host needs, nothing under /usr/local or elsewhere.
dpkg-deb -c "$deb" | awk '{print $1, $6}' >"$work/contents"
want=(
	./usr/sbin/lockboxd ./usr/sbin/lockboxctl ./usr/bin/lockbox ./usr/libexec/lockbox/lockbox
	./usr/include/lockbox/client.h ./lib/systemd/system/lockboxd.service ./etc/lockbox/lockbox.json
	./usr/share/man/man8/lockboxd.8.gz ./usr/share/man/man8/lockboxctl.8.gz
	./usr/share/man/man1/lockbox.1.gz ./usr/share/man/man5/lockbox.json.5.gz
	./usr/share/doc/lockbox/copyright ./usr/share/doc/lockbox/examples/lockbox.json
	./usr/share/doc/lockbox/examples/Dockerfile ./usr/share/doc/lockbox/design.md.gz
)
for f in "${want[@]}"; do
	grep -q " $f\$" "$work/contents" || fail "package lacks $f"
done
grep -Eq ' \./usr/lib/([a-z0-9_-]+/)?liblockbox-client\.a$' "$work/contents" || fail "package lacks liblockbox-client.a"
grep -q '^drwx------ \./var/lib/lockbox/$' "$work/contents" || fail "/var/lib/lockbox is not 0700: $(grep var/lib/lockbox "$work/contents")"
for f in ./usr/sbin/lockboxd ./usr/sbin/lockboxctl ./usr/bin/lockbox; do
	grep -q "^-rwxr-xr-x $f\$" "$work/contents" || fail "$f is not 0755"
done
stray=$(awk '{print $2}' "$work/contents" | grep -Ev '^\./($|etc/($|lockbox/)|lib/($|systemd/)|usr/|var/($|lib/($|lockbox/)))' || true)
[[ -z $stray ]] || fail "unexpected paths in the package: $stray"
grep -q '/usr/local' "$work/contents" && fail "paths under /usr/local"
((fails == 0)) && pass "file list ($(wc -l <"$work/contents") entries)"

# Control data: the one conffile, the system user, the purge clean-up, the unit enabled.
mkdir -p "$work/control" "$work/root"
dpkg-deb -e "$deb" "$work/control"
dpkg-deb -x "$deb" "$work/root"
conffiles=$(cat "$work/control/conffiles" 2>/dev/null || true)
[[ $conffiles == /etc/lockbox/lockbox.json ]] && pass "conffiles: $conffiles" || fail "conffiles: '$conffiles'"
grep -q 'adduser --system' "$work/control/postinst" || fail "postinst does not create the lockbox user"
grep -q "deb-systemd-helper enable 'lockboxd.service'" "$work/control/postinst" || fail "postinst does not enable lockboxd.service"
grep -q 'purge' "$work/control/postrm" || fail "postrm has no purge step"
[[ $(dpkg-deb -f "$deb" Version) == "$version" ]] || fail "control Version $(dpkg-deb -f "$deb" Version)"

# The unit names the installed binary; systemd-analyze verify accepts it (paths pointed at
# the extracted tree, man pages found there).
unit=$work/root/lib/systemd/system/lockboxd.service
grep -q '^ExecStart=/usr/sbin/lockboxd --config /etc/lockbox/lockbox.json$' "$unit" || fail "ExecStart: $(grep ExecStart "$unit")"
if command -v systemd-analyze >/dev/null; then
	sed "s|/usr/sbin/|$work/root/usr/sbin/|g" "$unit" >"$work/lockboxd.service"
	man_opt=()
	command -v man >/dev/null || man_opt=(--man=no)
	if out=$(MANPATH=$work/root/usr/share/man systemd-analyze verify "${man_opt[@]}" "$work/lockboxd.service" 2>&1); then
		pass "systemd-analyze verify lockboxd.service"
	else
		fail "systemd-analyze verify: $out"
	fi
fi

# --version prints the package version.
for b in usr/sbin/lockboxd usr/sbin/lockboxctl usr/bin/lockbox; do
	got=$("$work/root/$b" --version 2>&1) || true
	[[ $got == "${b##*/} $version" ]] && pass "$b --version: $got" || fail "$b --version: '$got', want '${b##*/} $version'"
done
"$work/root/usr/sbin/lockboxd" --check-config "$work/root/etc/lockbox/lockbox.json" >/dev/null ||
	fail "the shipped /etc/lockbox/lockbox.json does not pass --check-config"

# lintian: no error (overrides in debian/lockbox.lintian-overrides say why).
lintian "$work/lockbox_${version}_amd64.changes" >"$work/lintian.out" 2>&1 || true
cat "$work/lintian.out"
if grep -q '^E: ' "$work/lintian.out"; then
	fail "lintian reports errors"
else
	pass "lintian: no errors ($(grep -c '^W: ' "$work/lintian.out" || true) warnings)"
fi

((fails == 0)) || { echo "package_deb: $fails failure(s)"; exit 1; }
echo "package_deb: all passed"
