package system

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/berthd/berth/integration/internal/harness"
)

// GET /system/df from API 1.52: a summary per requested type; without
// verbose the lists of earlier versions come beside them, with verbose
// they move into the summaries' Items; before 1.52 only the lists.
func TestMiscDiskUsageSummaries(t *testing.T) {
	dd := harness.Fresh(t, harness.Options{})
	dd.LoadTestImages(t)
	id := strings.TrimSpace(dd.DockerT(t, "run", "-d", "--pull=never", "busybox", "top"))
	defer dd.Docker("rm", "-f", id)
	dd.DockerT(t, "create", "--pull=never", "-v", "miscdfvol:/v", "busybox", "true")

	type usage struct {
		ActiveCount, TotalCount, TotalSize, Reclaimable int64
		Items                                           []json.RawMessage
	}
	var du struct {
		LayersSize                                               *int64
		Images, Containers, Volumes, BuildCache                  []json.RawMessage
		ImageUsage, ContainerUsage, VolumeUsage, BuildCacheUsage *usage
	}
	read := func(path string) string {
		t.Helper()
		du.LayersSize, du.Images, du.Containers, du.Volumes, du.BuildCache = nil, nil, nil, nil, nil
		du.ImageUsage, du.ContainerUsage, du.VolumeUsage, du.BuildCacheUsage = nil, nil, nil, nil
		resp, body := dd.Do(t, "GET", path, "")
		if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &du) != nil {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
		}
		return body
	}

	body := read("/v1.52/system/df?verbose=1")
	if du.Images != nil || du.Containers != nil || du.LayersSize != nil {
		t.Fatalf("verbose carries the legacy lists: %s", body)
	}
	iu, cu, vu := du.ImageUsage, du.ContainerUsage, du.VolumeUsage
	if iu == nil || cu == nil || vu == nil || du.BuildCacheUsage == nil {
		t.Fatalf("summaries missing: %s", body)
	}
	// The test images are all unused but busybox, which the running
	// container uses; two containers, one running; one volume, in use.
	if iu.ActiveCount != 1 || iu.TotalCount != int64(len(iu.Items)) || iu.TotalCount < 1 || iu.TotalSize <= 0 || iu.Reclaimable >= iu.TotalSize {
		t.Errorf("images: %+v", iu)
	}
	if cu.ActiveCount != 1 || cu.TotalCount != 2 || len(cu.Items) != 2 {
		t.Errorf("containers: %+v", cu)
	}
	if vu.TotalCount != 1 || vu.ActiveCount != 1 || len(vu.Items) != 1 || vu.Reclaimable != 0 {
		t.Errorf("volumes: %+v", vu)
	}

	// Without verbose: summaries without items, and the lists beside.
	body = read("/v1.56/system/df?type=container&type=volume")
	if du.ContainerUsage == nil || len(du.ContainerUsage.Items) != 0 || len(du.Containers) != 2 || len(du.Volumes) != 1 {
		t.Fatalf("non-verbose: %s", body)
	}
	if du.ImageUsage != nil || du.Images != nil || du.BuildCacheUsage != nil {
		t.Fatalf("types not asked for are answered: %s", body)
	}
	// Before 1.52: the lists alone.
	body = read("/v1.51/system/df")
	if du.ImageUsage != nil || du.ContainerUsage != nil || du.LayersSize == nil || len(du.Containers) != 2 {
		t.Fatalf("v1.51: %s", body)
	}
	// The CLI's `docker system df` still reads it.
	if out := dd.DockerT(t, "system", "df", "--format", "{{.Type}} {{.TotalCount}} {{.Active}}"); !strings.Contains(out, "Containers 2 1") {
		t.Fatalf("docker system df: %s", out)
	}
	dd.Docker("container", "prune", "-f")
	dd.Docker("volume", "rm", "-f", "miscdfvol")
}
