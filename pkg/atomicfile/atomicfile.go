package atomicfile

import (
	"os"
	"path/filepath"
)

// WriteFile atomically replaces path with data, created with perm: the
// data and the directory entry are both fsync'd.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return WriteFiles(filepath.Dir(path), File{Name: filepath.Base(path), Data: data, Perm: perm})
}

// File is one file of a WriteFiles batch.
type File struct {
	Name string // within the batch's directory
	Data []byte
	Perm os.FileMode
}

// WriteFiles replaces files in dir as WriteFile would, one after the other
// in the order given, with one fsync of the directory for all of them
// instead of one each. A process killed midway leaves the files before
// the one being written replaced and the others untouched; after a power
// loss each file holds its old or its new content.
func WriteFiles(dir string, files ...File) error {
	tmps := make([]string, 0, len(files))
	defer func() {
		for _, t := range tmps {
			os.Remove(t)
		}
	}()
	for _, f := range files {
		tmp, err := writeTemp(dir, f.Name, f.Data, f.Perm, true)
		if err != nil {
			return err
		}
		tmps = append(tmps, tmp)
	}
	for i, f := range files {
		if err := os.Rename(tmps[i], filepath.Join(dir, f.Name)); err != nil {
			return err
		}
		tmps[i] = ""
	}
	return SyncDir(dir)
}

// WriteFileNoDirSync replaces path with data by rename after an fsync of
// the data, but does not fsync the directory. After a power loss path
// holds the old or the new content, never a torn or empty file; only the
// replacement itself may be lost. It is for files that must stay readable
// whatever happens (a container's config) but whose latest change a power
// loss makes moot (the container's running state): one fsync instead of
// WriteFile's two.
func WriteFileNoDirSync(path string, data []byte, perm os.FileMode) error {
	return replace(path, data, perm, true)
}

// SyncDir fsyncs a directory so that entries created, renamed or removed in
// it survive a crash.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// WriteFileVolatile replaces path with data by rename, without fsync. A
// reader or a daemon restarted after being killed sees the old or the new
// content, never a mix. After a power loss it may see the old content,
// or, on file systems without ext4's flush on replace-by-rename (XFS), an
// empty file: its readers must take an empty or unreadable file as
// "nothing recorded". It is for files that describe live state (running
// processes, their addresses) which a power loss ends anyway, on paths
// where an fsync's milliseconds are paid per container start or stop.
func WriteFileVolatile(path string, data []byte, perm os.FileMode) error {
	return replace(path, data, perm, false)
}

// replace renames a temporary file with data, fsync'd when sync is set,
// over path, and leaves the directory alone.
func replace(path string, data []byte, perm os.FileMode, sync bool) error {
	tmp, err := writeTemp(filepath.Dir(path), filepath.Base(path), data, perm, sync)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// writeTemp writes data to a new temporary file beside name in dir, with
// perm, fsync'd when sync is set, and returns its path; on failure it
// leaves nothing behind.
func writeTemp(dir, name string, data []byte, perm os.FileMode, sync bool) (string, error) {
	tmp, err := os.CreateTemp(dir, "."+name+".tmp*")
	if err != nil {
		return "", err
	}
	err = tmp.Chmod(perm)
	if err == nil {
		_, err = tmp.Write(data)
	}
	if err == nil && sync {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp.Name())
		return "", err
	}
	return tmp.Name(), nil
}
