#!/bin/sh
# Regenerates the Go code from plugin.proto. Needs protoc (Debian:
# apt-get install protobuf-compiler) and the pinned generators:
#   go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
#   go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
# gen_test.go checks that the committed files match.
set -eu
cd "$(dirname "$0")"
out=${1:-.}
PATH="$PATH:$(go env GOPATH)/bin" protoc -I . --go_out="$out" --go_opt=paths=source_relative \
	--go-grpc_out="$out" --go-grpc_opt=paths=source_relative plugin.proto
