package main

import "github.com/berthd/berth/pkg/runtime"

// The container init and exec stages are re-execs of this binary (from a
// sealed memfd copy). They must run before cobra or the daemon do anything,
// so they are dispatched from init: every package this one imports has
// initialised by then, but main has not started.
func init() {
	runtime.InitStage()
}
