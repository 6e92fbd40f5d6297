// Package workpb holds the Go code generated from work.proto, the Work
// service of the lameduck examples (proto package lameduck.examples.work.v1).
// The generated files are committed; CI does not regenerate them. To
// regenerate after editing work.proto, install protoc and the plugins
// (google.golang.org/protobuf/cmd/protoc-gen-go,
// google.golang.org/grpc/cmd/protoc-gen-go-grpc) and run go generate.
package workpb

//go:generate protoc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative work.proto
