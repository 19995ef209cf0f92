package journald

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berthd/berth/daemon/logger"
)

func TestEncode(t *testing.T) {
	got := encode("two\nlines", 3, map[string]string{"B": "b", "A": "a"})
	var want []byte
	want = append(want, "MESSAGE\n"...)
	want = binary.LittleEndian.AppendUint64(want, 9)
	want = append(want, "two\nlines\nPRIORITY=3\nA=a\nB=b\n"...)
	if !bytes.Equal(got, want) {
		t.Fatalf("%q; want %q", got, want)
	}
}

func TestSanitizeKey(t *testing.T) {
	for in, want := range map[string]string{"com.example.tier": "COM_EXAMPLE_TIER", "_x-y": "X_Y", "Stage9": "STAGE9"} {
		if got := sanitizeKey(in); got != want {
			t.Errorf("%q → %q; want %q", in, got, want)
		}
	}
}

// receive reads one entry from the test journal socket, from the
// datagram or from the memfd it carries.
func receive(t *testing.T, conn *net.UnixConn) []byte {
	t.Helper()
	buf := make([]byte, 1<<20)
	oob := make([]byte, 64)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		t.Fatal(err)
	}
	if n > 0 {
		return buf[:n]
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		t.Fatalf("an empty datagram without one fd: %v", err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fds[0]), "memfd")
	defer f.Close()
	seals, err := unix.FcntlInt(f.Fd(), unix.F_GET_SEALS, 0)
	if err != nil || seals&unix.F_SEAL_WRITE == 0 {
		t.Fatalf("memfd not sealed: %x %v", seals, err)
	}
	// The descriptor shares the sender's offset, at the end of the data.
	b, err := io.ReadAll(io.NewSectionReader(f, 0, 1<<30))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSend: small entries arrive as datagrams, a big one through a
// sealed memfd, at the socket BERTH_JOURNAL_SOCKET names.
func TestSend(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "journal.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("BERTH_JOURNAL_SOCKET", sock)
	l, err := New(logger.Info{Config: map[string]string{"labels": "team"}, ContainerID: strings.Repeat("c", 64),
		ContainerName: "/j", ContainerImageName: "busybox", ContainerLabels: map[string]string{"team": "core"}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	when := time.Unix(1700000000, 5)
	if err := l.Log(&logger.Message{Line: []byte("hello"), Source: "stderr", Time: when}); err != nil {
		t.Fatal(err)
	}
	got := string(receive(t, conn))
	for _, f := range []string{"MESSAGE=hello\n", "PRIORITY=3\n", "CONTAINER_NAME=j\n", "CONTAINER_TAG=cccccccccccc\n",
		"SYSLOG_IDENTIFIER=cccccccccccc\n", "IMAGE_NAME=busybox\n", "TEAM=core\n", "CONTAINER_LOG_ORDINAL=1\n",
		"SYSLOG_TIMESTAMP=" + when.Format(time.RFC3339Nano) + "\n"} {
		if !strings.Contains(got, f) {
			t.Errorf("entry lacks %q: %q", f, got)
		}
	}
	big := strings.Repeat("x", 600<<10) // more than a datagram may hold
	if err := l.Log(&logger.Message{Line: []byte(big), Source: "stdout", Time: when}); err != nil {
		t.Fatal(err)
	}
	if got := string(receive(t, conn)); !strings.HasPrefix(got, "MESSAGE="+big+"\nPRIORITY=6\n") {
		t.Fatalf("big entry of %d bytes arrived wrong", len(got))
	}
}

func TestNotEnabled(t *testing.T) {
	t.Setenv("BERTH_JOURNAL_SOCKET", filepath.Join(t.TempDir(), "none"))
	if _, err := New(logger.Info{ContainerID: strings.Repeat("c", 64)}); err == nil || err.Error() != "journald is not enabled on this host" {
		t.Fatalf("no journal: %v", err)
	}
	if err := Validate(map[string]string{"journald-x": "1"}); err == nil || err.Error() != "unknown log opt 'journald-x' for journald log driver" {
		t.Fatalf("unknown opt: %v", err)
	}
}
