package image

import (
	"context"
	"io"

	imagetypes "github.com/moby/moby/api/types/image"

	"github.com/berthd/berth/daemon/backend"
	"github.com/berthd/berth/pkg/filters"
)

// Backend is what the image routes need from the daemon.
type Backend interface {
	Images(ctx context.Context, opts backend.ImageListOptions) ([]*imagetypes.Summary, error)
	ImageInspect(ctx context.Context, name string, opts backend.ImageInspectOptions) (*backend.ImageInspectResponse, error)
	ImageHistory(ctx context.Context, name string) ([]*imagetypes.HistoryResponseItem, error)
	TagImage(ctx context.Context, name, repo, tag string) error
	ImageDelete(ctx context.Context, name string, force, prune bool) ([]imagetypes.DeleteResponse, error)
	ImagesPrune(ctx context.Context, f filters.Args) (*imagetypes.PruneReport, error)
	// LoadImage reads an archive, reporting to out as it goes.
	LoadImage(ctx context.Context, r io.Reader, quiet bool, out backend.LoadOutput) error
	// PrepareExport resolves the names to save; the returned function
	// writes the archive. Splitting the two lets a bad name be a clean
	// error status instead of a broken tar stream.
	PrepareExport(ctx context.Context, names []string) (func(io.Writer) error, error)
	// ImportImage makes an image from a rootfs tarball and returns its ID.
	ImportImage(ctx context.Context, r io.Reader, opts backend.ImageImportOptions) (string, error)
}
