# tipring — the two commands a newcomer needs are `make run` and `make test`.

GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
BIN      := bin

.PHONY: all build run test check unit interop bench fuzz peers prompts clean

all: build

build:
	@mkdir -p $(BIN)
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/tipring ./firmware/cmd/tipring
	$(GO) build -trimpath -o $(BIN)/devprovider ./scripts/devprovider
	$(GO) build -trimpath -o $(BIN)/devbilling ./scripts/devbilling

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
