package logging

import (
	"encoding/binary"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// journalFields decodes one entry of journald's native protocol.
func journalFields(t *testing.T, b []byte) map[string]string {
	t.Helper()
	fields := map[string]string{}
	for len(b) > 0 {
		nl := strings.IndexByte(string(b), '\n')
		if nl < 0 {
			t.Fatalf("entry without its last newline: %q", b)
		}
		line := string(b[:nl])
		if k, v, ok := strings.Cut(line, "="); ok {
			fields[k] = v
			b = b[nl+1:]
			continue
		}
		// KEY\n, a little-endian uint64 length, the value, \n.
		n := binary.LittleEndian.Uint64(b[nl+1:])
		fields[line] = string(b[nl+9 : nl+9+int(n)])
		b = b[nl+9+int(n)+1:]
	}
	return fields
}

// TestJournald: entries arrive at the journal socket (a private one,
// through BERTH_JOURNAL_SOCKET) with dockerd's fields, the chosen labels
// and env upper-cased, and the line's time.
func TestJournald(t *testing.T) {
	os.Remove(journalSocket)
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: journalSocket, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(journalSocket)
	r := newReceiver()
	r.addr = journalSocket
	readPackets(t, conn, r, same)

	const name = "journaled"
	before := time.Now()
	runLogged(t, name, "journald", []string{"labels=team", "env=STAGE", "tag={{.ImageName}}/{{.Name}}"}, "echo out-line; echo err-line >&2")
	id := strings.TrimSpace(d.DockerT(t, "inspect", "-f", "{{.Id}}", name))
	f := journalFields(t, r.waitFor(t, "MESSAGE=out-line\n"))
	for k, want := range map[string]string{
		"MESSAGE": "out-line", "PRIORITY": "6", "CONTAINER_ID": id[:12], "CONTAINER_ID_FULL": id,
		"CONTAINER_NAME": name, "CONTAINER_TAG": "busybox/" + name, "SYSLOG_IDENTIFIER": "busybox/" + name,
		"IMAGE_NAME": "busybox", "TEAM": "core", "STAGE": "prod",
	} {
		if f[k] != want {
			t.Errorf("%s = %q; want %q (all: %v)", k, f[k], want, f)
		}
	}
	if ts, err := time.Parse(time.RFC3339Nano, f["SYSLOG_TIMESTAMP"]); err != nil || ts.Before(before) || ts.After(time.Now()) {
		t.Errorf("SYSLOG_TIMESTAMP %q: %v", f["SYSLOG_TIMESTAMP"], err)
	}
	if f := journalFields(t, r.waitFor(t, "MESSAGE=err-line\n")); f["PRIORITY"] != "3" {
		t.Errorf("stderr entry %v", f)
	}
	cacheHas(t, name, "out-line\n", "err-line\n")
	dockerFails(t, "unknown log opt 'journald-x' for journald log driver", "create", "--log-driver", "journald", "--log-opt", "journald-x=1", "busybox")
}
