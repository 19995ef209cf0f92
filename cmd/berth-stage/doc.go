// Command berth-stage is the program berthd runs its containers' shims,
// init stages and exec stages from (a sealed in-memory copy of it). It
// holds only pkg/runtime and pkg/shim, whose package initialisation takes
// over the process when berthd starts one; started by hand it has
// nothing to do. berthd falls back to running those stages from itself
// when this binary is missing or from another build.
package main
