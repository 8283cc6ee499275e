# backupbot — the two commands a newcomer needs are `make run` and `make test`.
GO      ?= go
BIN     ?= bin
FUZZTIME ?= 20s

.PHONY: run test build bench lint fuzz clean

## run: the service with embedded defaults (miniredis, ./var repository, console adapter)
run:
	$(GO) run ./cmd/backupbot serve

## test: the whole suite; starts (and afterwards stops) the servers the tests need
test:
	bash scripts/test.sh

## build: both binaries into ./bin
build:
	mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ ./cmd/backupbot ./cmd/backupctl

## bench: engine vs restic on ../shared/bench data, queue latency benchmarks
bench: build
	bash scripts/bench.sh

## lint: gofmt check and go vet
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

## fuzz: the parser fuzz test for FUZZTIME
fuzz:
	$(GO) test ./commands -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME)

clean:
	rm -rf $(BIN)
