// Package wire owns a compact binary encoding for the state one berth
// process hands to another image of the same binary: a shim to the image
// it re-executes itself into (pkg/shim). Fields go in an order both sides
// know, as unsigned or zig-zag varints and length-prefixed bytes; there is
// no schema and no versioning, as both sides are the same program.
//
// Why not encoding/json: decoding a struct makes encoding/json build and
// keep the encoders and field tables of every type its fields reach, and
// a process that must stay small for as long as a container runs (the
// shim) would keep them for nothing.
package wire
