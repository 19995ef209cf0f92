package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/seccomp"
	"github.com/berthd/berth/pkg/wire"
)

// Snapshot is what a new program image needs to go on holding a started
// ephemeral container that its process created: a shim that re-executes
// itself (pkg/shim's rebirth) to drop the memory that creating the
// container left behind. The init stays the process's child across the
// execve, so Adopt can wait for it as Create's caller could.
//
// The spec travels as JSON and is decoded by the adopting process only
// when an exec needs it: decoding it builds encoding/json's caches for
// every runtime-spec type, a quarter of a MiB that an idle shim would
// otherwise keep. The snapshot itself goes in pkg/wire's encoding
// (AppendBinary, ReadSnapshot), for the same reason.
type Snapshot struct {
	ID          string
	Bundle      string
	Rootfs      string
	Pid         int
	StartTime   uint64
	Created     time.Time
	CgroupPath  string
	Annotations map[string]string
	Spec        json.RawMessage
	Seccomp     *seccomp.Program
}

// AppendBinary appends the snapshot in pkg/wire's encoding, for a
// process that must not build encoding/json's caches to read it.
func (s *Snapshot) AppendBinary(b []byte) ([]byte, error) {
	w := wire.NewWriter(b)
	w.String(s.ID)
	w.String(s.Bundle)
	w.String(s.Rootfs)
	w.Int(int64(s.Pid))
	w.Uint(s.StartTime)
	w.Int(s.Created.UnixNano())
	w.String(s.CgroupPath)
	w.Uint(uint64(len(s.Annotations)))
	for k, v := range s.Annotations {
		w.String(k)
		w.String(v)
	}
	w.Bytes(s.Spec)
	w.Bool(s.Seccomp != nil)
	if s.Seccomp != nil {
		w.Bytes(s.Seccomp.BPF)
		w.Uint(uint64(s.Seccomp.Flags))
	}
	return w.Data(), nil
}

// ReadSnapshot reads a snapshot that AppendBinary wrote from r. Its Spec
// and seccomp program alias r's input.
func ReadSnapshot(r *wire.Reader) (*Snapshot, error) {
	s := &Snapshot{
		ID: r.String(), Bundle: r.String(), Rootfs: r.String(), Pid: int(r.Int()), StartTime: r.Uint(),
	}
	s.Created = time.Unix(0, r.Int()).UTC()
	s.CgroupPath = r.String()
	if n := r.Uint(); n > 0 && r.Err(false) == nil {
		s.Annotations = make(map[string]string, min(n, 1024))
		for i := uint64(0); i < n && r.Err(false) == nil; i++ {
			k := r.String()
			s.Annotations[k] = r.String()
		}
	}
	s.Spec = r.Bytes()
	if r.Bool() {
		s.Seccomp = &seccomp.Program{BPF: r.Bytes(), Flags: uint(r.Uint())}
	}
	return s, r.Err(false)
}

// Snapshot describes the container for Adopt. Only an ephemeral container
// that has been started can be handed over: a created one still holds its
// start pipe, and a container with a state directory is found by Load.
func (c *Container) Snapshot() (*Snapshot, error) {
	if c.dir != "" {
		return nil, errors.New("only an ephemeral container can be handed over")
	}
	c.startMu.Lock()
	created := c.startW != nil
	c.startMu.Unlock()
	if created {
		return nil, errdefs.Conflict(fmt.Errorf("container %s has not been started", c.st.ID))
	}
	c.specMu.Lock()
	raw := c.specJSON
	spec := c.st.Spec
	c.specMu.Unlock()
	if raw == nil {
		var err error
		if raw, err = json.Marshal(spec); err != nil {
			return nil, err
		}
	}
	st := c.st
	return &Snapshot{
		ID: st.ID, Bundle: st.Bundle, Rootfs: st.Rootfs, Pid: st.Pid, StartTime: st.StartTime,
		Created: st.Created, CgroupPath: st.CgroupPath, Annotations: st.Annotations,
		Spec: raw, Seccomp: c.seccomp,
	}, nil
}

// Adopt takes over the container that s describes, started by this
// process before it re-executed itself: its init is this process's child,
// to be reaped by its PID (Init is nil).
func (r *Runtime) Adopt(s *Snapshot) (*Container, error) {
	if !validID(s.ID) || s.Pid <= 0 {
		return nil, errdefs.InvalidParameter(fmt.Errorf("invalid snapshot of container %q", s.ID))
	}
	st := &state{
		ID: s.ID, Bundle: s.Bundle, Rootfs: s.Rootfs, Pid: s.Pid, StartTime: s.StartTime,
		Created: s.Created, CgroupPath: s.CgroupPath, Annotations: s.Annotations,
		Seccomp: s.Seccomp,
	}
	return &Container{rt: r, st: st, seccomp: s.Seccomp, specJSON: s.Spec}, nil
}

// spec is the container's spec, decoded from specJSON on first use in an
// adopted container.
func (c *Container) spec() (*specs.Spec, error) {
	c.specMu.Lock()
	defer c.specMu.Unlock()
	if c.st.Spec == nil && c.specJSON != nil {
		var s specs.Spec
		if err := json.Unmarshal(c.specJSON, &s); err != nil {
			return nil, fmt.Errorf("container %s: spec: %w", c.st.ID, err)
		}
		c.st.Spec, c.specJSON = &s, nil
	}
	if c.st.Spec == nil {
		return nil, fmt.Errorf("container %s has no spec", c.st.ID)
	}
	return c.st.Spec, nil
}
