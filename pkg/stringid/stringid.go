package stringid

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"
)

// ShortLen is how many digits a short ID has.
const ShortLen = 12

// TruncateID returns the short form of id: without an algorithm prefix
// ("sha256:"), at most ShortLen characters.
func TruncateID(id string) string {
	if i := strings.IndexByte(id, ':'); i >= 0 {
		id = id[i+1:]
	}
	if len(id) > ShortLen {
		id = id[:ShortLen]
	}
	return id
}

// GenerateRandomID returns 64 random hex digits whose short form is not
// all decimal digits, so that a short ID can never be mistaken for a
// number (dockerd's rule; the CLI would read it as one).
func GenerateRandomID() string {
	b := make([]byte, 32)
	for {
		// crypto/rand.Read does not fail (Go 1.24+: it crashes the
		// program instead).
		_, _ = rand.Read(b)
		id := hex.EncodeToString(b)
		if _, err := strconv.ParseUint(id[:ShortLen], 10, 64); err == nil {
			continue
		}
		return id
	}
}
