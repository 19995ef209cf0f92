// Command layers fails when a package of the module imports across the
// layers that DESIGN.md draws: arrows point down only, api → daemon
// (through daemon/backend) → container|image|network|plugin|volume → pkg. It reads
// `go list -json` so that it sees exactly what the compiler builds, and is
// run by `make lint` (and so by CI).
//
// Only the packages' own imports are checked, not their tests': a router's
// test may borrow a manager's validation to make its fake backend honest
// without the server depending on that manager.
package main
