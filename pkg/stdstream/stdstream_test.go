package stdstream

import (
	"bytes"
	"strings"
	"testing"

	"github.com/moby/moby/api/pkg/stdcopy"
)

func TestFramesDemultiplexWithStdCopy(t *testing.T) {
	var wire bytes.Buffer
	out, errw := NewWriter(&wire, Stdout), NewWriter(&wire, Stderr)
	out.Write([]byte("hello "))
	errw.Write([]byte("oops\n"))
	big := strings.Repeat("x", maxFrame+10)
	out.Write([]byte(big))
	var gotOut, gotErr bytes.Buffer
	if _, err := stdcopy.StdCopy(&gotOut, &gotErr, &wire); err != nil {
		t.Fatal(err)
	}
	if gotOut.String() != "hello "+big || gotErr.String() != "oops\n" {
		t.Fatalf("stdout %d bytes, stderr %q", gotOut.Len(), gotErr.String())
	}
}
