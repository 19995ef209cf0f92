package shim

import (
	"os"
	"path/filepath"
)

// writeAtomic replaces path with data through a temporary file and a
// rename, so a reader sees the old or the new content, never a mix. It
// does not fsync: everything in a shim's directory describes processes
// that do not survive a power loss, and after one the daemon marks the
// containers exited whatever the files say. The fsyncs would cost
// milliseconds on every container start and exit.
func writeAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(name)
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		os.Remove(name)
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(name)
		return err
	}
	if err := os.Rename(name, path); err != nil {
		os.Remove(name)
		return err
	}
	return nil
}
