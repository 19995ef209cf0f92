// Command rtswap is the attacker of the runtime regression tests: run in a
// container that shares a volume with the one being started, it changes
// that volume as fast as a program can.
//
//	rtswap unlink PATH            remove PATH, forever
//	rtswap exchange DIR TARGET    make DIR/d a directory and DIR/e a symlink
//	                              to TARGET, then exchange them, forever
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: rtswap unlink PATH | exchange DIR TARGET")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "unlink":
		for {
			_ = unix.Unlink(os.Args[2])
		}
	case "exchange":
		if len(os.Args) != 4 {
			os.Exit(2)
		}
		dir := os.Args[2]
		d, e := filepath.Join(dir, "d"), filepath.Join(dir, "e")
		if err := os.MkdirAll(d, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		_ = os.Remove(e)
		if err := os.Symlink(os.Args[3], e); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println("swapping")
		for {
			_ = unix.Renameat2(unix.AT_FDCWD, d, unix.AT_FDCWD, e, unix.RENAME_EXCHANGE)
		}
	}
	os.Exit(2)
}
