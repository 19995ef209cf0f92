package main

import (
	"fmt"
	"os"

	"github.com/berthd/berth/pkg/runtime"
	_ "github.com/berthd/berth/pkg/shim"
)

func main() {
	// The stamp is read so the linker keeps it: berthd looks for it in
	// this file's bytes to know it is from the same build.
	fmt.Fprintf(os.Stderr, "berth-stage (build %s) runs berthd's container stages; it is started by berthd, not by hand\n", runtime.StageStamp)
	os.Exit(2)
}
