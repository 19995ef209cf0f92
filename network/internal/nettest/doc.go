// Package nettest gives berth's network tests throw-away network
// namespaces and device names, removed when the test ends whether it passed
// or failed, and the project's rule for missing prerequisites: skip on a
// developer machine, fail under CI=true.
package nettest
