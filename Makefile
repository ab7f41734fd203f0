# tipring — the two commands a newcomer needs are `make run` and `make test`.

GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
# Inlining stays on where audio runs every 20 ms (the runtime, the media
# engine, the boards and their DSP, the line, pion's RTP/RTCP) and is off
# everywhere else: that keeps the arm binary inside its 10 MB budget at no
# cost a caller can hear (docs/performance.md has both figures).
MODULE   := github.com/tipring/tipring
HOT      := runtime sync sync/atomic time syscall math encoding/binary internal/... \
            github.com/pion/rtp github.com/pion/rtcp \
            $(MODULE)/sip/media/... $(MODULE)/boards/... $(MODULE)/firmware/line
GCFLAGS  := -gcflags=all=-l $(foreach p,$(HOT),-gcflags=$(p)=)
# The device talks HTTP/1.1 to everything (billing, provisioning, support,
# the management API): net/http's bundled HTTP/2 is 0.46 MB it never uses.
# An image adds board_NAME, so it carries its own board only.
TAGS     := nethttpomithttp2
BIN      := bin
comma    := ,

.PHONY: all build cross run test check unit interop bench fuzz peers prompts clean qemu image

all: build

build:
	@mkdir -p $(BIN)
	$(GO) build -trimpath -tags "$(TAGS)" $(GCFLAGS) -ldflags "$(LDFLAGS)" -o $(BIN)/tipring ./firmware/cmd/tipring
	ln -sfn ../firmware/prompts/data $(BIN)/prompts
	$(GO) build -trimpath -o $(BIN)/devprovider ./scripts/devprovider
	$(GO) build -trimpath -o $(BIN)/devbilling ./scripts/devbilling

# The firmware stripped for another architecture, built as an image for
# BOARD carries it: GOOS=linux GOARCH=arm GOARM=7 make cross BOARD=rpifxs OUT=/tmp/tipring-arm
# (without BOARD, every board is compiled in, as in a development build).
OUT ?= $(BIN)/tipring-$(GOARCH)
cross:
	CGO_ENABLED=0 $(GO) build -trimpath -tags "$(TAGS)$(if $(BOARD),$(comma)board_$(BOARD))" $(GCFLAGS) -ldflags "$(LDFLAGS)" -o $(OUT) ./firmware/cmd/tipring

# A signed update image for a board: make image BOARD=rpifxs [VERSION=v1.2.0]
# KEY=release.key (or TIPRING_SIGNING_KEY in the environment); DEV=1 signs
# with the development key instead (test images only). mkimage adds the
# tag board_$(BOARD). docs/boards.md.
image:
	$(GO) run ./scripts/mkimage --board "$(BOARD)" --version $(VERSION) --ldflags "$(LDFLAGS)" --goflags "$(GCFLAGS)" --tags "$(TAGS)" --out $(BIN) $(if $(KEY),--key $(KEY)) $(if $(DEV),--dev-key)

# The firmware on the simulated board, with the development provider, on
# loopback. The README shows the calls to try.
run: build
	scripts/run-dev.sh

# Every test: static checks, unit tests (race detector on), fuzz seeds, and
# interop against real Kamailio, SIPp and baresip (installed when missing).
test: peers check qemu
	$(GO) test -race -count=1 -timeout 20m ./...

# The cross-builds (arm, arm64, mipsle) started under qemu-user, and the unit
# tests of sip, meter, boards and firmware run on arm and mipsle; docs/boards.md.
qemu: peers
	scripts/qemu-test.sh

check:
	@bad=$$(gofmt -l $$(git ls-files '*.go') 2>/dev/null); if [ -n "$$bad" ]; then echo "gofmt needed: $$bad"; exit 1; fi
	$(GO) vet ./...

peers:
	scripts/install-peers.sh

bench: build peers
	scripts/bench.sh

# Run each fuzzer for FUZZTIME (default 30s); seeds live in testdata/fuzz.
FUZZTIME ?= 30s
fuzz:
	scripts/fuzz.sh $(FUZZTIME)

# Regenerate the spoken prompts (firmware/prompts/data) with espeak-ng;
# the result is committed. See docs/prompts.md.
prompts:
	scripts/prompts.sh

clean:
	rm -rf $(BIN) .run
