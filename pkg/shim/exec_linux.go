package shim

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthd/berth/pkg/runtime"
)

// execOutput is one output stream of an exec's process.
type execOutput struct {
	f      *os.File
	stream byte
}

func (s *server) exec(c *unixConn, dec *json.Decoder, req request) {
	enc := json.NewEncoder(c)
	var proc *specs.Process
	if len(req.Process) > 0 {
		if err := json.Unmarshal(req.Process, &proc); err != nil {
			_ = enc.Encode(Response{Error: "exec: " + err.Error()})
			return
		}
	}
	if proc == nil || req.ExecID == "" {
		_ = enc.Encode(Response{Error: "exec needs a process and an id"})
		return
	}
	opts := runtime.ExecOpts{Process: *proc}
	var readers []execOutput
	var stdin *os.File
	var pty *os.File
	var closeAfter []*os.File
	if proc.Terminal {
		parent, child, err := runtime.NewConsoleSocketPair()
		if err != nil {
			_ = enc.Encode(errorResponse(err))
			return
		}
		defer parent.Close()
		opts.ConsoleSocket = child
		closeAfter = append(closeAfter, child)
		defer func() {
			if pty != nil {
				pty.Close()
			}
		}()
		p, err := s.startExec(opts, closeAfter)
		if err != nil {
			_ = enc.Encode(errorResponse(err))
			return
		}
		if pty, err = runtime.RecvConsole(parent); err != nil {
			_ = p.Kill()
			_, _ = p.Wait()
			_ = enc.Encode(errorResponse(err))
			return
		}
		if cs := proc.ConsoleSize; cs != nil {
			_ = resize(pty, uint16(cs.Width), uint16(cs.Height))
		}
		s.mu.Lock()
		s.execs[req.ExecID] = pty
		s.mu.Unlock()
		defer func() {
			s.mu.Lock()
			delete(s.execs, req.ExecID)
			s.mu.Unlock()
		}()
		out, _ := dupFile(pty)
		readers = append(readers, execOutput{out, Stdout})
		stdin = pty
		s.streamExec(c, dec, enc, p, readers, stdin, false)
		return
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		_ = enc.Encode(errorResponse(err))
		return
	}
	errR, errW, _ := os.Pipe()
	inR, inW, _ := os.Pipe()
	opts.Stdout, opts.Stderr, opts.Stdin = outW, errW, inR
	p, err := s.startExec(opts, []*os.File{outW, errW, inR})
	if err != nil {
		outR.Close()
		errR.Close()
		inW.Close()
		_ = enc.Encode(errorResponse(err))
		return
	}
	readers = append(readers, execOutput{outR, Stdout}, execOutput{errR, Stderr})
	s.streamExec(c, dec, enc, p, readers, inW, true)
}

func (s *server) startExec(opts runtime.ExecOpts, closeAfter []*os.File) (*os.Process, error) {
	p, err := s.ctr.Exec(context.Background(), opts)
	for _, f := range closeAfter {
		f.Close()
	}
	return p, err
}

func (s *server) streamExec(c *unixConn, dec *json.Decoder, enc *json.Encoder, p *os.Process, readers []execOutput, stdin *os.File, closeStdin bool) {
	if err := enc.Encode(Response{Pid: p.Pid}); err != nil {
		_ = p.Kill()
	}
	var wmu sync.Mutex
	go func() {
		_, _ = io.Copy(stdin, afterJSON(dec, c))
		if closeStdin {
			stdin.Close()
		}
	}()
	var wg sync.WaitGroup
	for _, r := range readers {
		wg.Add(1)
		// A reader may outlive the request (see below): a rebirth would
		// close its pipe under a process the exec left running.
		s.mu.Lock()
		s.execOutputs++
		s.mu.Unlock()
		go func(f *os.File, stream byte) {
			defer func() {
				s.mu.Lock()
				s.execOutputs--
				s.mu.Unlock()
				s.scheduleIdle()
			}()
			defer wg.Done()
			defer f.Close()
			buf := make([]byte, 32*1024)
			for {
				n, err := f.Read(buf)
				if n > 0 {
					wmu.Lock()
					_ = writeFrame(c, stream, buf[:n])
					wmu.Unlock()
				}
				if err != nil {
					return
				}
			}
		}(r.f, r.stream)
	}
	st, err := p.Wait()
	code := 255
	if err == nil {
		code = st.ExitCode()
		if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = 128 + int(ws.Signal())
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
	}
	wmu.Lock()
	_ = writeFrame(c, ExitFrame, []byte(strconv.Itoa(code)))
	wmu.Unlock()
	_ = c.CloseWrite()
}
