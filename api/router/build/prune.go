package build

import (
	"context"
	"net/http"
	"strconv"

	"github.com/berthd/berth/api/server/httputils"
	"github.com/berthd/berth/daemon/backend"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/filters"
)

// pruneOptions parses POST /build/prune's query. API 1.48 renamed
// keep-storage to reserved-space and added max-used-space and
// min-free-space; before it only keep-storage exists.
func pruneOptions(ctx context.Context, r *http.Request) (backend.BuildCachePruneOptions, error) {
	opts := backend.BuildCachePruneOptions{All: httputils.BoolValue(r, "all")}
	f, err := filters.FromJSON(r.Form.Get("filters"))
	if err != nil {
		return opts, err
	}
	opts.Filters = f
	bytesParam := func(name string) (int64, error) {
		v := r.Form.Get(name)
		if v == "" {
			return 0, nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, errdefs.InvalidParameterf("%s is in bytes and expects an integer, got %v", name, v)
		}
		return n, nil
	}
	if httputils.VersionLessThan(ctx, "1.48") {
		opts.ReservedSpace, err = bytesParam("keep-storage")
		return opts, err
	}
	if opts.ReservedSpace, err = bytesParam("reserved-space"); err != nil {
		return opts, err
	}
	if opts.ReservedSpace == 0 {
		if opts.ReservedSpace, err = bytesParam("keep-storage"); err != nil {
			return opts, err
		}
	}
	if opts.MaxUsedSpace, err = bytesParam("max-used-space"); err != nil {
		return opts, err
	}
	opts.MinFreeSpace, err = bytesParam("min-free-space")
	return opts, err
}
