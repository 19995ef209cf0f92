package build

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"

	"github.com/berthd/berth/pkg/atomicfile"
)

// Cache maps a step (its parent image and the config it would commit,
// whose Cmd names the instruction and, for COPY/ADD, the checksum of the
// files) to the image the step made. dockerd finds the same match by
// comparing each child image's container_config with the step's; berth
// keeps the key beside the images instead, in one small file, so a probe
// is a map lookup.
type Cache struct {
	path string
	mu   sync.Mutex
	m    map[string]string
}

// OpenCache reads (or starts) the cache kept at path.
func OpenCache(path string) *Cache {
	c := &Cache{path: path, m: map[string]string{}}
	if b, err := os.ReadFile(path); err == nil {
		json.Unmarshal(b, &c.m)
	}
	return c
}

func cacheKey(parent string, probe *dockerspec.DockerOCIImageConfig) string {
	b, _ := json.Marshal(probe)
	h := sha256.New()
	h.Write([]byte(parent))
	h.Write([]byte{0})
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

func (c *Cache) get(key string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[key]
}

func (c *Cache) put(key, id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[key] = id
	c.saveLocked()
}

func (c *Cache) forget(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, key)
	c.saveLocked()
}

func (c *Cache) saveLocked() {
	b, err := json.Marshal(c.m)
	if err != nil {
		return
	}
	os.MkdirAll(filepath.Dir(c.path), 0o700)
	atomicfile.WriteFile(c.path, b, 0o600)
}

// Len is the number of cached steps (system df).
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

// Tidy drops the entries whose image is gone (removed by rmi or image
// prune) and reports how many are left. The entries that still name an
// image stay: they are how the classic builder finds that image again,
// and dockerd's classic cache (the images' parent links and configs) is
// not touched by build prune either.
func (c *Cache) Tidy(exists func(id string) bool) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(c.m)
	for k, id := range c.m {
		if !exists(id) {
			delete(c.m, k)
		}
	}
	if len(c.m) != n {
		c.saveLocked()
	}
	return len(c.m)
}
