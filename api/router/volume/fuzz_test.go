package volume

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/moby/moby/api/types/volume"

	"github.com/berthd/berth/api/server/servertest"
	"github.com/berthd/berth/volume/local"
)

// fuzzBackend makes the local driver's checks and accepts what passes.
type fuzzBackend struct{ Backend }

func (fuzzBackend) VolumeCreate(_ context.Context, req volume.CreateRequest) (*volume.Volume, error) {
	if req.Driver == "" || req.Driver == "local" {
		if req.Name != "" {
			if err := local.ValidateName(req.Name); err != nil {
				return nil, err
			}
		}
		if err := local.ValidateOpts(req.DriverOpts); err != nil {
			return nil, err
		}
	}
	if _, err := json.Marshal(req); err != nil {
		return nil, err
	}
	return &volume.Volume{Name: req.Name, Driver: "local", Labels: req.Labels, Options: req.DriverOpts, Scope: "local"}, nil
}

// FuzzVolumeCreate drives POST /volumes/create through the server's
// middleware: no panic reaches the client, and a body that is not JSON is
// a 400.
func FuzzVolumeCreate(f *testing.F) {
	h := servertest.Handler(New(fuzzBackend{}))
	for _, s := range []string{
		`{"Name":"data","Driver":"local","DriverOpts":{},"Labels":{"a":"b"}}`,
		`{"Name":"tmp","DriverOpts":{"type":"tmpfs","device":"tmpfs","o":"size=100m,uid=1000"}}`,
		`{"Name":"nfs","DriverOpts":{"type":"nfs","o":"addr=127.0.0.1,rw","device":":/export"}}`,
		`{"Name":"b","DriverOpts":{"type":"none","o":"bind","device":"/etc"}}`,
		`{"Name":"q","DriverOpts":{"size":"10G"}}`, `{"Name":"q","DriverOpts":{"size":"-1"}}`,
		`{"Name":"../../etc"}`, `{"Name":"a"}`, `{"Name":"/abs"}`, `{"Name":"x","Driver":"nope"}`,
		`{"Name":"c","ClusterVolumeSpec":{"Group":"g","AccessMode":{"Scope":"single","Sharing":"none"}}}`,
		`{}`, `null`, `{"Name":null,"DriverOpts":null}`, `{`,
	} {
		f.Add("1.50", []byte(s))
	}
	f.Add("1.41", []byte(`{"Name":"c","ClusterVolumeSpec":{}}`))
	f.Fuzz(func(t *testing.T, version string, body []byte) {
		rec := servertest.Do(h, "POST", version, "/volumes/create", "", body)
		servertest.CheckBody(t, rec, body)
	})
}
