package shim

import (
	"os"
	"os/signal"
)

// ignore swallows the signals instead of setting SIG_IGN: an ignored
// disposition survives execve and the container would inherit it (a
// shell that ignores SIGTERM never stops), while a handled one is reset.
func ignore(sigs ...os.Signal) {
	ch := make(chan os.Signal, 8)
	signal.Notify(ch, sigs...)
	go func() {
		for range ch {
		}
	}()
}
