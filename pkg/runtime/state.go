package runtime

import (
	"encoding/json"
	"os"
	"path/filepath"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthd/berth/pkg/seccomp"
)

// DefaultRoot is where container state lives unless the caller says
// otherwise.
const DefaultRoot = "/run/berth/runtime"

// state is Root/<id>/state.json.
type state struct {
	ID          string            `json:"id"`
	Bundle      string            `json:"bundle"`
	Rootfs      string            `json:"rootfs"`
	Pid         int               `json:"pid"`
	StartTime   uint64            `json:"startTime"` // /proc/PID/stat field 22, guards against PID reuse
	Created     time.Time         `json:"created"`
	CgroupPath  string            `json:"cgroupPath"`
	Annotations map[string]string `json:"annotations,omitempty"`
	// Spec is kept so that exec can default to the container's settings.
	Spec *specs.Spec `json:"spec"`
	// Seccomp is the container's compiled filter, which execs get too. A
	// caller that passed the program may have left the profile out of
	// Spec (the shim does: it is most of a spec's JSON).
	Seccomp *seccomp.Program `json:"seccompProgram,omitempty"`
}

func (s *state) save(dir string) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(dir, "state.json"), b, 0o600)
}

// writeAtomic replaces a file by rename without fsync: the state describes
// live processes, which a power loss ends anyway (runc keeps it on tmpfs).
func writeAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Chmod(perm)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(name, path)
	}
	if err != nil {
		os.Remove(name)
	}
	return err
}

func loadState(dir string) (*state, error) {
	b, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if err != nil {
		return nil, err
	}
	var s state
	return &s, json.Unmarshal(b, &s)
}
