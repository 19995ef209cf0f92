package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
)

// pkg is the part of `go list -json` that the check reads.
type pkg struct {
	ImportPath string
	Imports    []string
	Module     *struct{ Path string }
	Error      *struct{ Err string }
}

func main() {
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: go run ./hack/layers [packages]  (default ./...)")
	}
	flag.Parse()
	patterns := flag.Args()
	if len(patterns) == 0 {
		patterns = []string{"./..."}
	}
	cmd := exec.Command("go", append([]string{"list", "-e", "-json"}, patterns...)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		fatal(err)
	}
	if err := cmd.Start(); err != nil {
		fatal(err)
	}
	bad, err := violations(out)
	if err != nil {
		fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		fatal(fmt.Errorf("go list: %w", err))
	}
	for _, v := range bad {
		fmt.Println(v)
	}
	if len(bad) > 0 {
		fmt.Fprintf(os.Stderr, "layers: %d import(s) break DESIGN.md's layers\n", len(bad))
		os.Exit(1)
	}
}

// violations decodes a `go list -json` stream and returns one line per
// import that check refuses.
func violations(r io.Reader) ([]string, error) {
	dec := json.NewDecoder(r)
	var bad []string
	for {
		var p pkg
		err := dec.Decode(&p)
		if errors.Is(err, io.EOF) {
			return bad, nil
		}
		if err != nil {
			return nil, err
		}
		if p.Error != nil {
			return nil, fmt.Errorf("%s: %s", p.ImportPath, p.Error.Err)
		}
		if p.Module == nil {
			continue
		}
		prefix := p.Module.Path + "/"
		from, ok := strings.CutPrefix(p.ImportPath, prefix)
		if !ok {
			continue
		}
		for _, imp := range p.Imports {
			to, ok := strings.CutPrefix(imp, prefix)
			if !ok {
				continue
			}
			if why := check(from, to); why != "" {
				bad = append(bad, fmt.Sprintf("%s imports %s: %s", from, to, why))
			}
		}
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "layers:", err)
	os.Exit(2)
}
