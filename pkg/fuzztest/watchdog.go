package fuzztest

import (
	"fmt"
	"runtime"
	"time"
)

// Watchdog panics, with every goroutine's stack, when the input takes
// longer than d: go's fuzzing engine has no time limit per input, and a
// panic in any goroutine makes the engine record the input as a crasher.
// Call the returned function when the input is done.
func Watchdog(d time.Duration) (stop func()) {
	t := time.AfterFunc(d, func() {
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		panic(fmt.Sprintf("input still running after %v (a hang):\n%s", d, buf[:n]))
	})
	return func() { t.Stop() }
}
