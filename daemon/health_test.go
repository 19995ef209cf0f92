package daemon

import (
	"bytes"
	"testing"
)

func TestProbeOutputBounded(t *testing.T) {
	var o probeOutput
	o.write([]byte("out "))
	o.write([]byte("err "))
	for i := 0; i < 10000; i++ {
		o.write(bytes.Repeat([]byte("y\n"), 512))
	}
	if len(o.b) != maxHealthOutput {
		t.Fatalf("kept %d bytes, want %d", len(o.b), maxHealthOutput)
	}
	if !bytes.HasPrefix(o.b, []byte("out err y\n")) {
		t.Fatalf("order lost: %q", o.b[:16])
	}
	if cap(o.b) > 2*maxHealthOutput {
		t.Fatalf("grew to %d bytes of capacity", cap(o.b))
	}
	if s := o.String(); len(s) != maxHealthOutput+3 || s[len(s)-3:] != "..." {
		t.Fatalf("truncated output shown as %d bytes ending %q, want dockerd's \"...\"", len(s), s[len(s)-8:])
	}
	var whole probeOutput
	whole.write(bytes.Repeat([]byte("x"), maxHealthOutput))
	if whole.String() != string(bytes.Repeat([]byte("x"), maxHealthOutput)) {
		t.Fatal("an output of exactly the limit was marked truncated")
	}
}
