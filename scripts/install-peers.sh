#!/bin/sh
# install-peers.sh — make sure the interop peers the tests start are present:
# Kamailio (registrar/proxy), SIPp (Debian package sip-tester) and baresip;
# and the tools other tests run: espeak-ng (the prompts are regenerated and
# compared byte for byte), curl (the commands of docs/devbilling.md),
# nftables and iproute2 (NAT built in network namespaces, diag/nat), fdisk,
# e2fsprogs and mount's losetup (disk images and flashing to loop devices),
# and qemu-user (the unit tests on arm and mipsle, scripts/qemu-test.sh).
# Idempotent and quiet: installs only what is missing (as root, from Debian's
# archive), then prints the versions. Run by `make test` before the tests.
set -eu

# package:binary pairs; kamailio's binary lives in /usr/sbin.
need=""
for pair in kamailio:kamailio sip-tester:sipp baresip:baresip espeak-ng:espeak-ng curl:curl nftables:nft iproute2:ip fdisk:sfdisk e2fsprogs:mkfs.ext4 mount:losetup; do
	pkg=${pair%%:*}
	bin=${pair#*:}
	if ! command -v "$bin" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$bin" ]; then
		need="$need $pkg"
	fi
done
# qemu-user (scripts/qemu-test.sh): the static emulators, unless the
# dynamic ones of qemu-user are here (the two packages conflict).
if ! command -v qemu-arm-static >/dev/null 2>&1 && ! command -v qemu-arm >/dev/null 2>&1; then
	need="$need qemu-user-static"
fi
# The modules and the codecs the tests load come in the same packages, but
# a partial install (binary without modules) is checked too.
if command -v kamailio >/dev/null 2>&1 || [ -x /usr/sbin/kamailio ]; then
	found=""
	for f in /usr/lib/*/kamailio/modules/tm.so /usr/lib/kamailio/modules/tm.so; do
		[ -e "$f" ] && found=1
	done
	[ -n "$found" ] || need="$need kamailio"
fi

if [ -n "$need" ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "install-peers: missing:$need — run this script as root (apt-get install$need)" >&2
		exit 1
	fi
	echo "install-peers: installing$need"
	export DEBIAN_FRONTEND=noninteractive
	# Installing from a stale or empty package list fails; refresh it once.
	if ! apt-get install -y -qq --no-install-recommends $need >/dev/null 2>&1; then
		apt-get update -qq >/dev/null
		apt-get install -y -qq --no-install-recommends $need >/dev/null
	fi
fi

kam=$(command -v kamailio 2>/dev/null || echo /usr/sbin/kamailio)
echo "kamailio: $("$kam" -v 2>/dev/null | sed -n 's/^version: //p' | head -n 1)"
echo "sipp:     $(sipp -v 2>/dev/null | sed -n 's/^ *\(SIPp v[^ ]*\).*/\1/p' | head -n 1)"
echo "baresip:  $(baresip -h 2>&1 | sed -n 's/^\(baresip v[^ ]*\).*/\1/p' | head -n 1)"
