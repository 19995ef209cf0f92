package archive

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// isSparse reports whether an entry's content has holes (a GNU sparse
// file, in the old or the PAX format).
func isSparse(hdr *tar.Header) bool {
	if hdr.Typeflag == tar.TypeGNUSparse {
		return true
	}
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

// copyContent copies a file's content from r into the file fd, in
// writes of up to len(buf).
//
// With writeback it also starts the writeback of a big file's pages as it
// goes (sync_file_range WRITE, which does not wait for the disk): the
// layer store makes the layer durable with one syncfs before publishing
// it, and that syncfs then finds most pages already written instead of
// starting all the I/O at the end, when there is nothing left to overlap
// it with. That took a fifth off the load of a 512 MiB image.
func copyContent(fd int, r io.Reader, buf []byte, writeback bool) (int64, error) {
	var written, flushed int64
	for {
		n := 0
		var err error
		// Stop short of a read smaller than the 64 KiB read buffers
		// below us: they would copy it through themselves.
		for (n == 0 || len(buf)-n >= 64<<10) && err == nil {
			var m int
			m, err = r.Read(buf[n:])
			n += m
		}
		if n > 0 {
			if err := writeAll(fd, buf[:n]); err != nil {
				return written, err
			}
			written += int64(n)
			if writeback && written-flushed >= flushEvery {
				unix.SyncFileRange(fd, flushed, written-flushed, unix.SYNC_FILE_RANGE_WRITE)
				flushed = written
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return written, err
		}
	}
	if writeback && written >= flushMin && written > flushed {
		unix.SyncFileRange(fd, flushed, written-flushed, unix.SYNC_FILE_RANGE_WRITE)
	}
	return written, nil
}

func writeAll(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return err
		}
		b = b[n:]
	}
	return nil
}

// copySparse writes size bytes from r into f, seeking over all-zero blocks
// so that holes stay holes. The archive chooses size freely (its holes
// cost it nothing, archive/tar expands them into zeros for us), so a
// petabyte takes days of CPU: ctx is checked every few blocks, so that
// a client going away or a cancel ends it.
func copySparse(ctx context.Context, f *os.File, r io.Reader, size int64, buf []byte) error {
	const blk = 64 << 10
	const checkEvery = 256 // blocks, 16 MiB
	b := buf[:blk]
	var written int64
	for i := 0; written < size; i++ {
		if i%checkEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		n, err := io.ReadFull(r, b[:min(int64(blk), size-written)])
		if n > 0 {
			if allZero(b[:n]) {
				if _, err := f.Seek(int64(n), io.SeekCurrent); err != nil {
					return err
				}
			} else if _, err := f.Write(b[:n]); err != nil {
				return err
			}
			written += int64(n)
		}
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				break
			}
			return err
		}
	}
	if written != size {
		return io.ErrUnexpectedEOF
	}
	return f.Truncate(size)
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
