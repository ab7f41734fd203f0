#!/bin/sh
# mkdisk.sh — the disk image `tipring flash` writes to a board's SD card or
# eMMC: a partition table whose partitions are the ones the board's
# descriptor (boards/<name>/board.toml, [storage]) names as slot A, slot B
# and data, each an ext4 filesystem built from a directory with
# mkfs.ext4 -d, without mounting anything or needing a loop device.
#
#   scripts/mkdisk.sh BOARD OUT.img [SLOT_A_DIR]
#
# SLOT_A_DIR holds the files of the update image to boot first (the files
# an update unpacks into a slot); without it slot A gets a README that says
# so, and the board is then brought up by `tipring update`. Partitions the
# descriptor does not name (the Raspberry Pi's FAT boot partition, p1) are
# created empty, typed, for the board's boot files. Sizes in MiB, from the
# environment: SLOT_MB (256), DATA_MB (64), BOOT_MB (64). Needs sfdisk
# (fdisk) and mkfs.ext4 (e2fsprogs); scripts/install-peers.sh installs them.
set -eu

[ $# -ge 2 ] || { echo "usage: scripts/mkdisk.sh BOARD OUT.img [SLOT_A_DIR]" >&2; exit 2; }
board=$1 out=$2 slota=${3:-}
SLOT_MB=${SLOT_MB:-256} DATA_MB=${DATA_MB:-64} BOOT_MB=${BOOT_MB:-64}
root=$(cd "$(dirname "$0")/.." && pwd)
desc="$root/boards/$board/board.toml"
[ -f "$desc" ] || { echo "mkdisk: no board $board ($desc missing)" >&2; exit 1; }
for tool in sfdisk mkfs.ext4; do
	command -v $tool >/dev/null 2>&1 || { echo "mkdisk: $tool missing: run scripts/install-peers.sh as root" >&2; exit 1; }
done

# key KEY prints a string value of the descriptor's [storage] table.
key() {
	awk -v k="$1" '
		/^[ \t]*\[/ { in_storage = ($0 ~ /^[ \t]*\[storage\]/) ; next }
		in_storage && $1 == k { v = $0; sub(/^[^=]*=[ \t]*"/, "", v); sub(/".*/, "", v); print v; exit }
	' "$desc"
}
a=$(key slot_a) b=$(key slot_b) d=$(key data)
for v in "$a" "$b" "$d"; do
	case $v in
	/dev/*[0-9]) ;;
	*) echo "mkdisk: board $board keeps its storage as \"$v\", not partitions of a disk: there is no disk image to make" >&2; exit 1 ;;
	esac
done
# partnum DEV prints the partition number: /dev/mmcblk0p2 → 2, /dev/sda3 → 3.
partnum() { echo "$1" | sed 's/.*[^0-9]\([0-9][0-9]*\)$/\1/'; }
disk() { echo "$1" | sed 's/p\{0,1\}[0-9][0-9]*$//'; }
if [ "$(disk "$a")" != "$(disk "$b")" ] || [ "$(disk "$a")" != "$(disk "$d")" ]; then
	echo "mkdisk: $a, $b and $d are not on one disk; make one image per disk" >&2
	exit 1
fi
na=$(partnum "$a") nb=$(partnum "$b") nd=$(partnum "$d")
max=$na
for n in $nb $nd; do [ "$n" -gt "$max" ] && max=$n; done
if [ "$max" -gt 4 ]; then
	echo "mkdisk: partition $max needs an extended partition table; not supported yet" >&2
	exit 1
fi

# The layout: partitions 1..max in order, 1 MiB aligned. sfdisk numbers
# them in the order given, so a partition the descriptor does not name
# still takes its place.
table="label: dos
unit: sectors
"
start=2048 total=2048
layout=""
n=1
while [ "$n" -le "$max" ]; do
	case $n in
	"$na") mb=$SLOT_MB type=83 role=slot-a ;;
	"$nb") mb=$SLOT_MB type=83 role=slot-b ;;
	"$nd") mb=$DATA_MB type=83 role=data ;;
	*) mb=$BOOT_MB type=c role=boot ;;
	esac
	size=$((mb * 2048))
	table="$table$start,$size,$type
"
	layout="$layout $n:$role:$start:$size"
	start=$((start + size))
	n=$((n + 1))
done
total=$((start + 2048))

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ -z "$slota" ]; then
	slota="$tmp/slot-a"
	mkdir -p "$slota"
	cat >"$slota/README" <<EOF
tipring slot A placeholder for board $board.
The update image was not given to scripts/mkdisk.sh; install one with
  tipring update FILE
once the board runs, or rebuild this disk with its files as SLOT_A_DIR.
EOF
fi
mkdir -p "$tmp/empty"

rm -f "$out"
truncate -s $((total * 512)) "$out"
printf '%s' "$table" | sfdisk -q "$out"
for p in $layout; do
	IFS=: read -r n role pstart psize <<EOF
$p
EOF
	src="$tmp/empty"
	[ "$role" = slot-a ] && src=$slota
	[ "$role" = boot ] && continue
	# -E offset writes the filesystem inside the partition of the file;
	# the size argument, in KiB, bounds it to the partition.
	mkfs.ext4 -q -F -L "tipring-$role" -d "$src" -E offset=$((pstart * 512)) "$out" $((psize / 2))k
done
echo "mkdisk: $out: $(($(wc -c <"$out") / 1048576)) MiB for $board:$(for p in $layout; do printf ' p%s=%s' "${p%%:*}" "$(echo "$p" | cut -d: -f2)"; done)"
