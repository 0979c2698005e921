# Kirjaamo's entry points. Scripts and people rely on these names: dev, test, build, bench.
GO      ?= go
MODULES := $(shell $(GO) list -m -f '{{.Dir}}' 2>/dev/null)
TESTFLAGS ?= -count=1 -timeout 20m

.PHONY: dev build test test-short test-modules test-gowork-off vet gofmt exhaustive workflowcheck openapi fuzz bench bench-processing clean \
	cluster cluster-down cluster-bin cluster-test

## dev: run the whole platform in one process on embedded servers, with the demo registers.
dev: build
	./bin/kirjaamo dev

## build: put the kirjaamo binary in bin/: the dev build, with `kirjaamo dev` and `kirjaamo bench` on
## embedded servers. The production binary, without them, is ./services/cmd/kirjaamo (deploy/Dockerfile).
build:
	$(GO) build -o bin/kirjaamo ./services/devstack/cmd/kirjaamo

## test: gofmt, every module's vet, the exhaustive linter, the API description's lint and its client,
## every module's tests, the same modules built alone (GOWORK=off), workflowcheck, and a short run of
## every fuzz target.
test: gofmt vet exhaustive openapi test-modules test-gowork-off workflowcheck fuzz

## test-short: the quick lane, every test that needs no server (no PostgreSQL, NATS, Temporal,
## browser or npm), in every module: under 90 seconds on the 2-core machine with a warm build cache.
test-short: gofmt
	@set -e; for m in $(MODULES); do echo "== test -short $$m"; (cd $$m && $(GO) test -short -count=1 ./...); done

gofmt:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi

vet:
	@set -e; for m in $(MODULES); do echo "== vet $$m"; (cd $$m && $(GO) vet ./...); done

## exhaustive: every switch statement and map literal over an enumeration names each of its members;
## a default case does not stand in for one (the linter's -d is off), so a new right, operation,
## status or outcome code is handled on purpose wherever one is decided. Where a switch covers only
## part of another package's enumeration on purpose, an //exhaustive:ignore says so, with why.
EXHAUSTIVE ?= $(GO) run github.com/nishanths/exhaustive/cmd/exhaustive@v0.17.1

exhaustive:
	@set -e; for m in $(MODULES); do echo "== exhaustive $$m"; (cd $$m && $(EXHAUSTIVE) -check=switch,mapliteral ./...); done

test-modules:
	@set -e; for m in $(MODULES); do echo "== test $$m"; (cd $$m && $(GO) test $(TESTFLAGS) ./...); done

test-gowork-off:
	@set -e; for m in $(MODULES); do echo "== build (GOWORK=off) $$m"; (cd $$m && GOWORK=off $(GO) build ./... && GOWORK=off $(GO) vet ./...); done

## openapi: contracts/openapi.yaml is the contract: it passes the ruleset of tools/openapilint
## (OpenAPI 3.1 structure, unique operationIds, a license, examples valid against their schemas, the
## problem-details schema on every 4xx and 5xx), and the Go client generated from it
## (services/apiclient, which the API tests use) is regenerated and must be what is committed.
## The route-coverage test (services, TestEveryRouteIsDescribedAndEveryPathServed) runs with the tests.
## The lint is a module of its own, outside the workspace, so that libopenapi's requirements stay
## out of every other module's build list.
openapi:
	cd tools/openapilint && GOWORK=off $(GO) test -count=1 ./... && GOWORK=off $(GO) run ./cmd/openapi-lint ../../contracts/openapi.yaml
	cd services/apiclient && $(GO) generate ./
	@if [ -n "$$(git status --porcelain -- services/apiclient)" ]; then git status --short -- services/apiclient; \
		echo "services/apiclient is not what contracts/openapi.yaml generates: commit the regenerated client"; exit 1; fi

workflowcheck:
	cd workflows && $(GO) run go.temporal.io/sdk/contrib/tools/workflowcheck@v0.6.0 ./...

## fuzz: each fuzz target of an input decoder (the contracts' messages and texts, the APIs' JSON, the
## sign-in's return_to, both sites' forms and APIs) for FUZZTIME; `go test` alone runs their seed
## corpora (testdata/fuzz). A failing input is written to the package's testdata/fuzz: commit it.
FUZZTIME ?= 3s
FUZZ_TARGETS := contracts:.:FuzzSubmitRequest contracts:.:FuzzTypedText contracts:.:FuzzTask contracts:.:FuzzResult \
	contracts:.:FuzzDeclaration services:./internal/web:FuzzReadJSON services:./internal/web:FuzzSameOrigin \
	services:./portal:FuzzRequestForm services:./portal:FuzzAPI services:./office:FuzzRegistration services:./office:FuzzCaseForms

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do m=$${t%%:*}; rest=$${t#*:}; p=$${rest%%:*}; f=$${rest#*:}; \
		echo "== fuzz $$m $$p $$f"; (cd $$m && $(GO) test -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) $$p); done

## bench: the rules engine's benchmark, then the platform against the bare Temporal engine. The
## platform run's last line is "ratio R": the bare engine's makespan over the platform's.
bench: build
	cd rules && $(GO) test -run '^$$' -bench . -benchmem ./...
	./bin/kirjaamo bench

## cluster: the production shape on this machine, without Docker: PostgreSQL, three NATS nodes over
## TLS, the Temporal server on PostgreSQL, each service its own process of the production binary (two
## orchestrators), the demo adapters with their own credentials, the dev identity provider and
## mailbox. It runs in the background, state in .cluster/; it prints the same addresses as make dev.
## cluster-down stops it.
CLUSTER_BIN := bin/cluster

cluster: build cluster-bin
	./bin/kirjaamo cluster up -detach

cluster-down: build
	./bin/kirjaamo cluster down

## cluster-bin: every server and service of the cluster, built from the versions in go.mod: the
## production kirjaamo, kirjaamo-nats-auth, nats-server, the Temporal server with its SQL tool, the
## demo adapter, the identity provider and the mailbox.
cluster-bin:
	@mkdir -p $(CLUSTER_BIN)
	$(GO) build -o $(CLUSTER_BIN)/ ./services/cmd/kirjaamo ./services/natsauth/cmd/kirjaamo-nats-auth
	cd services/devstack && $(GO) build -o ../../$(CLUSTER_BIN)/ ./cmd/kirjaamo-temporal ./cmd/kirjaamo-demo-adapter \
		./cmd/kirjaamo-devidp ./cmd/kirjaamo-mailbox github.com/nats-io/nats-server/v2

## cluster-test: the cluster fault test (.ci/run runs it): 100 erasures while a NATS node (the
## JetStream leader among them), an orchestrator, an adapter and the Temporal server are killed.
cluster-test: cluster-bin
	cd services/devstack && KIRJAAMO_CLUSTER_BIN=$(CURDIR)/$(CLUSTER_BIN) $(GO) test -count=1 -timeout 10m -run TestTheClusterSurvivesKills -v ./cluster/

## bench-processing: the processing events (issue #14): events/s stored from JetStream by the
## processing service, then one person's page timed as STORED more events are loaded in bulk
## (default 1,000,000; BENCHMARKS.md has the run at 100,000,000 and what it needs).
STORED ?= 1000000
bench-processing: build
	./bin/kirjaamo bench processing -stored $(STORED)

clean:
	rm -rf bin
