package journald

import (
	"encoding/binary"
	"errors"
	"net"
	"sort"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// appendField appends one field of the native protocol: KEY=value and a
// newline, or — for a value holding a newline — KEY, a newline, the
// value's length as a little-endian uint64, the value and a newline.
func appendField(dst []byte, key, value string) []byte {
	dst = append(dst, key...)
	if !strings.ContainsRune(value, '\n') {
		dst = append(dst, '=')
		dst = append(dst, value...)
		return append(dst, '\n')
	}
	dst = append(dst, '\n')
	dst = binary.LittleEndian.AppendUint64(dst, uint64(len(value)))
	dst = append(dst, value...)
	return append(dst, '\n')
}

// encode is one entry: MESSAGE and PRIORITY first, then the other fields
// by name (so that the same entry always encodes the same).
func encode(message string, priority int, fields map[string]string) []byte {
	dst := appendField(nil, "MESSAGE", message)
	dst = appendField(dst, "PRIORITY", string(rune('0'+priority)))
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		dst = appendField(dst, k, fields[k])
	}
	return dst
}

// send writes one encoded entry to the journal socket at path, through
// a sealed memfd when it is too big for a datagram.
func send(conn *net.UnixConn, path string, entry []byte) error {
	addr := &net.UnixAddr{Name: path, Net: "unixgram"}
	_, err := conn.WriteToUnix(entry, addr)
	if err == nil {
		return nil
	}
	if !errors.Is(err, syscall.EMSGSIZE) && !errors.Is(err, syscall.ENOBUFS) {
		return err
	}
	fd, err := unix.MemfdCreate("journal-message", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	for b := entry; len(b) > 0; {
		n, err := unix.Write(fd, b)
		if err != nil {
			return err
		}
		b = b[n:]
	}
	// journald accepts only a memfd sealed against any change.
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_WRITE|unix.F_SEAL_SEAL); err != nil {
		return err
	}
	_, _, err = conn.WriteMsgUnix(nil, unix.UnixRights(fd), addr)
	return err
}

// sanitizeKey makes a label or variable name a journal field name:
// upper case letters, digits and underscores, not starting with one.
func sanitizeKey(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z':
			r -= 'a' - 'A'
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		default:
			r = '_'
		}
		if b.Len() == 0 && r == '_' {
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
