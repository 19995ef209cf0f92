package daemon

import (
	"crypto/sha256"
	"encoding/hex"
	"os"

	ctr "github.com/berthd/berth/container"
)

// The generated resolv.conf says that berth leaves it alone once it has
// been edited, as dockerd's does: the digest of what berth last wrote is
// kept beside it (resolv.conf.hash, dockerd's name), and a file that no
// longer matches it is the user's. Each start writes it anew.

func resolvConfHashPath(path string) string { return path + ".hash" }

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// forgetResolvConf lets the next write replace the file whatever it holds:
// a starting container gets a fresh one.
func forgetResolvConf(c *ctr.Container) {
	if c.ResolvConfPath != "" {
		os.Remove(resolvConfHashPath(c.ResolvConfPath))
	}
}

// updateResolvConf writes content to path unless the file was edited
// since berth last wrote it.
func updateResolvConf(path string, content []byte) error {
	if want, err := os.ReadFile(resolvConfHashPath(path)); err == nil {
		if cur, err := os.ReadFile(path); err == nil && digestOf(cur) != string(want) {
			return nil
		}
	}
	if err := writeInPlace(path, content); err != nil {
		return err
	}
	return os.WriteFile(resolvConfHashPath(path), []byte(digestOf(content)), 0o644)
}
