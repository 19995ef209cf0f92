package shim

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
)

func TestErrorResponseKeepsErrno(t *testing.T) {
	b, err := json.Marshal(errorResponse(fmt.Errorf("exec: %q: %w", "/etc", syscall.EISDIR)))
	if err != nil {
		t.Fatal(err)
	}
	var r Response
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	got := responseError(r)
	if got.Error() != `exec: "/etc": is a directory` || !errors.Is(got, syscall.EISDIR) {
		t.Fatalf("through the wire: %q (EISDIR %v)", got, errors.Is(got, syscall.EISDIR))
	}
	if got := responseError(Response{Error: "no such file or directory"}); errors.Is(got, syscall.ENOENT) {
		t.Fatal("an error without an errno was given one from its words")
	}
}

func TestReadyErrorLine(t *testing.T) {
	line := readyErrorLine(fmt.Errorf("create: %w", syscall.EACCES))
	if !strings.HasSuffix(line, "\n") {
		t.Fatalf("%q is not a line", line)
	}
	err := readyError(strings.TrimSpace(line))
	if err.Error() != "create: permission denied" || !errors.Is(err, syscall.EACCES) {
		t.Fatalf("%q read back as %q (EACCES %v)", line, err, errors.Is(err, syscall.EACCES))
	}
	// Without an errno, and in the older form.
	for line, want := range map[string]string{"error 0: shim: bad config": "shim: bad config", "error: shim: bad config": "shim: bad config"} {
		err := readyError(line)
		if err.Error() != want || errors.Is(err, syscall.ENOENT) {
			t.Errorf("%q read back as %q", line, err)
		}
		var n syscall.Errno
		if errors.As(err, &n) {
			t.Errorf("%q read back with errno %v", line, n)
		}
	}
}

func TestExternalErrno(t *testing.T) {
	for words, want := range map[string]syscall.Errno{
		`exec failed: unable to start container process: exec: "x": executable file not found in $PATH`: syscall.ENOENT,
		`exec: "/x": stat /x: no such file or directory`:                                                syscall.ENOENT,
		`exec: "/etc/passwd": permission denied`:                                                        syscall.EACCES,
		`exec: "/etc": is a directory`:                                                                  syscall.EISDIR,
		`container not running`:                                                                         0,
	} {
		if got := externalErrno(words); got != want {
			t.Errorf("externalErrno(%q) = %v, want %v", words, got, want)
		}
	}
}
