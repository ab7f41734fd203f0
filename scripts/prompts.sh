#!/bin/sh
# prompts.sh — makes the spoken prompts the firmware ships with
# (firmware/prompts/data/*.ul, raw G.711 μ-law at 8 kHz) with espeak-ng,
# installing it from Debian's archive first if it is missing. The output is
# the same byte for byte for the same espeak-ng version (data/VERSION); see
# docs/prompts.md.
set -eu
cd "$(dirname "$0")/.."

if ! command -v espeak-ng >/dev/null 2>&1; then
	sudo=""
	if [ "$(id -u)" -ne 0 ]; then
		if command -v sudo >/dev/null 2>&1; then
			sudo=sudo
		else
			echo "prompts: espeak-ng missing — run as root or install it (apt-get install espeak-ng)" >&2
			exit 1
		fi
	fi
	echo "prompts: installing espeak-ng"
	export DEBIAN_FRONTEND=noninteractive
	# Installing from a stale or empty package list fails; refresh it once.
	if ! $sudo apt-get install -y -qq --no-install-recommends espeak-ng >/dev/null 2>&1; then
		$sudo apt-get update -qq >/dev/null
		$sudo apt-get install -y -qq --no-install-recommends espeak-ng >/dev/null
	fi
fi

exec ${GO:-go} run ./scripts/prompts -out firmware/prompts/data "$@"
