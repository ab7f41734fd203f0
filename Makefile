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
BIN      := bin

.PHONY: all build cross run test check unit interop bench fuzz peers prompts clean

all: build

build:
	@mkdir -p $(BIN)
	$(GO) build -trimpath $(GCFLAGS) -ldflags "$(LDFLAGS)" -o $(BIN)/tipring ./firmware/cmd/tipring
	ln -sfn ../firmware/prompts/data $(BIN)/prompts
	$(GO) build -trimpath -o $(BIN)/devprovider ./scripts/devprovider
	$(GO) build -trimpath -o $(BIN)/devbilling ./scripts/devbilling

# The firmware stripped for another architecture, built as an image carries
# it: GOOS=linux GOARCH=arm GOARM=7 make cross OUT=/tmp/tipring-arm
OUT ?= $(BIN)/tipring-$(GOARCH)
cross:
	CGO_ENABLED=0 $(GO) build -trimpath $(GCFLAGS) -ldflags "$(LDFLAGS)" -o $(OUT) ./firmware/cmd/tipring

# The firmware on the simulated board, with the development provider, on
# loopback. The README shows the calls to try.
run: build
	scripts/run-dev.sh

# Every test: static checks, unit tests (race detector on), fuzz seeds, and
# interop against real Kamailio, SIPp and baresip (installed when missing).
test: peers check
	$(GO) test -race -count=1 -timeout 20m ./...

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
