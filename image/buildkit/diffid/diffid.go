package diffid

import (
	"github.com/moby/buildkit/cache"
	"github.com/opencontainers/go-digest"
)

// key is the record's metadata key; its value is immutable, like the
// committed layer it describes.
const key = "berth.diffid"

// Get returns the diff ID recorded on ref's own layer, "" when none is.
func Get(ref cache.RefMetadata) digest.Digest {
	d, err := digest.Parse(ref.GetString(key))
	if err != nil {
		return ""
	}
	return d
}

// Set records the diff ID of ref's own layer. A record that has it
// already is not written again (each write is a metadata transaction).
func Set(ref cache.RefMetadata, d digest.Digest) error {
	if Get(ref) == d {
		return nil
	}
	return ref.SetString(key, d.String(), "")
}
