package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	"github.com/berthd/berth/image/tarexport/archivetest"
)

// Image figures: load and save throughput of a generated image of random
// (incompressible) files in 5 layers, through the Engine API of each
// engine, and GNU tar's speed at extracting the same layers on the same
// disk for reference. All rates are MB/s of 10^6 bytes: the archive's
// bytes for load, the saved stream's for save, the layer tars' for untar.

type imageFigures struct {
	load, save float64
}

const benchRef = "bench-image:512"

// syncAll flushes every filesystem, so that no step pays for the dirty
// pages an earlier one (or the other engine) left behind.
func syncAll() { syscall.Sync() }

func rate(bytes int64, d time.Duration) float64 { return float64(bytes) / 1e6 / d.Seconds() }

func medianF(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// longClient is client() without its 10 s timeout, for big transfers.
func longClient(sock string) *http.Client {
	c := client(sock, 1)
	c.Timeout = 0
	return c
}

// benchLoad posts the archive to /images/load and checks the stream for
// an error message.
func benchLoad(sock, archive string) (time.Duration, error) {
	f, err := os.Open(archive)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	t0 := time.Now()
	resp, err := longClient(sock).Post("http://d/images/load?quiet=1", "application/x-tar", f)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	for {
		var m struct {
			Error       string `json:"error"`
			ErrorDetail *struct{ Message string }
			Message     string `json:"message"`
		}
		if err := dec.Decode(&m); err == io.EOF {
			break
		} else if err != nil {
			return 0, err
		}
		if m.Error != "" || m.ErrorDetail != nil || m.Message != "" {
			return 0, fmt.Errorf("load: %s%s", m.Error, m.Message)
		}
	}
	d := time.Since(t0)
	if resp.StatusCode != 200 {
		return 0, fmt.Errorf("load: status %d", resp.StatusCode)
	}
	return d, nil
}

// benchSave reads GET /images/{ref}/get to the end.
func benchSave(sock string) (int64, time.Duration, error) {
	t0 := time.Now()
	resp, err := longClient(sock).Get("http://d/images/" + benchRef + "/get")
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return 0, 0, fmt.Errorf("save: status %d", resp.StatusCode)
	}
	n, err := io.Copy(io.Discard, bufio.NewReaderSize(resp.Body, 1<<20))
	return n, time.Since(t0), err
}

func benchRemove(sock string) error {
	req, _ := http.NewRequest(http.MethodDelete, "http://d/images/"+benchRef+"?force=1", nil)
	resp, err := longClient(sock).Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("rmi: status %d", resp.StatusCode)
	}
	return nil
}

// benchUntar extracts each layer with GNU tar into a fresh directory and
// syncs the filesystem (berthd makes each layer durable before it is
// used; extraction without that would measure the page cache).
func benchUntar(dir string, layers []archivetest.Layer) (time.Duration, error) {
	out := filepath.Join(dir, "untar")
	defer os.RemoveAll(out)
	t0 := time.Now()
	for i, l := range layers {
		d := filepath.Join(out, fmt.Sprint(i))
		if err := os.MkdirAll(d, 0o755); err != nil {
			return 0, err
		}
		if b, err := exec.Command("tar", "-xf", l.Path, "-C", d).CombinedOutput(); err != nil {
			return 0, fmt.Errorf("tar: %v %s", err, b)
		}
	}
	syncAll()
	return time.Since(t0), nil
}

// measureImages starts every engine once, then runs the load, save and
// remove steps of each engine and the untar reference in turn, runs
// times, so that each figure sees the same machine state.
func measureImages(engines []engine, mib, runs int) (map[string]imageFigures, float64, error) {
	dir, err := os.MkdirTemp("", "bench-image-")
	if err != nil {
		return nil, 0, err
	}
	defer os.RemoveAll(dir)
	fmt.Fprintf(os.Stderr, "writing a %d MiB image of 5 random layers...\n", mib)
	archive, _, layers, err := archivetest.RandomImage(dir, "img", benchRef, 1, 5, 8, int64(mib)<<20/5)
	if err != nil {
		return nil, 0, err
	}
	st, err := os.Stat(archive)
	if err != nil {
		return nil, 0, err
	}
	var layerBytes int64
	for _, l := range layers {
		layerBytes += l.Size
	}
	type eng struct {
		e     engine
		r     *running
		loads []float64
		saves []float64
		err   error
		root  string
	}
	var es []*eng
	defer func() {
		for _, x := range es {
			if x.r != nil {
				x.r.stop()
			}
			os.RemoveAll(x.root)
		}
	}()
	for _, e := range engines {
		root := filepath.Join(dir, e.name)
		r, _, err := start(e, root)
		x := &eng{e: e, r: r, root: root, err: err}
		es = append(es, x)
		if err != nil && e.name == "berthd" {
			return nil, 0, err
		}
	}
	var untars []float64
	for i := 0; i < runs; i++ {
		for _, x := range es {
			if x.err != nil {
				continue
			}
			syncAll()
			d, err := benchLoad(x.r.sock, archive)
			if err != nil {
				x.err = err
				continue
			}
			x.loads = append(x.loads, rate(st.Size(), d))
			syncAll()
			n, d, err := benchSave(x.r.sock)
			if err != nil {
				x.err = err
				continue
			}
			x.saves = append(x.saves, rate(n, d))
			if err := benchRemove(x.r.sock); err != nil {
				x.err = err
			}
		}
		syncAll()
		d, err := benchUntar(dir, layers)
		if err != nil {
			return nil, 0, err
		}
		untars = append(untars, rate(layerBytes, d))
	}
	out := map[string]imageFigures{}
	for _, x := range es {
		if x.err != nil {
			fmt.Fprintf(os.Stderr, "%s image figures: %v\n", x.e.name, x.err)
			if x.e.name == "berthd" {
				return nil, 0, x.err
			}
			continue
		}
		out[x.e.name] = imageFigures{load: medianF(x.loads), save: medianF(x.saves)}
	}
	return out, medianF(untars), nil
}
