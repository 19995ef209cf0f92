package unpack

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// Reassemble writes to w the layer tar that Apply extracted into dir,
// byte for byte, from the reassembly record Apply wrote.
func Reassemble(dir string, record io.Reader, w io.Writer) error {
	rootfd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(rootfd)
	rr := recordReader{r: bufio.NewReaderSize(record, 64<<10)}
	buf := make([]byte, 1<<20)
	var raw []byte
	for {
		rec, err := rr.next(raw)
		if err != nil {
			return err
		}
		switch rec.kind {
		case recEnd:
			return nil
		case recRaw:
			raw = rec.raw
			if _, err := w.Write(rec.raw); err != nil {
				return err
			}
		case recFile:
			if err := copyFile(rootfd, rec.path, rec.size, w, buf); err != nil {
				return err
			}
		}
	}
}

func copyFile(rootfd int, rel string, size int64, w io.Writer, buf []byte) error {
	var fd int
	var err error
	for {
		fd, err = unix.Openat2(rootfd, rel, &unix.OpenHow{
			Flags:   unix.O_RDONLY | unix.O_NOFOLLOW | unix.O_CLOEXEC,
			Resolve: resolveBeneath,
		})
		if !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("reassemble layer: open %s: %w", rel, err)
	}
	f := os.NewFile(uintptr(fd), rel)
	defer f.Close()
	n, err := io.CopyBuffer(struct{ io.Writer }{w}, io.LimitReader(f, size), buf)
	if err != nil {
		return err
	}
	if n != size {
		return fmt.Errorf("reassemble layer: %s has %d bytes, the layer recorded %d", rel, n, size)
	}
	return nil
}
