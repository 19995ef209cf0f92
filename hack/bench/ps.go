package main

// Issue 6's listing figure: `docker ps -a` with -ps-containers created
// containers (1000 by default), through the CLI; the daemon's part of it,
// GET /containers/json?all=1 alone on a warm connection; and the CLI's
// part, the same command against an engine that answers at once.

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"sync"
	"time"
)

// floor is the same `docker ps -a` against an engine that answers at
// once with berthd's response: the CLI's own part (start-up, decoding,
// formatting), which no engine can go below.
type psFigures struct{ cli, api, floor time.Duration }

func measurePs(e engine, n, runs int) (psFigures, error) {
	var f psFigures
	l, err := startLoaded(e, "bench-ps-", "psbench:latest")
	if err != nil {
		return f, err
	}
	defer l.close()
	r, root, cli := l.r, l.root, l.cli
	// Created, never started: what is listed is the same for every
	// engine, and creating is quick enough on both to make 1000.
	c := client(r.sock, 4)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += 4 {
				body := fmt.Sprintf(`{"Image":"psbench","Cmd":["true"],"Labels":{"n":"%d"}}`, i)
				resp, err := c.Post(fmt.Sprintf("http://d/v1.41/containers/create?name=ps%d", i), "application/json", bytes.NewReader([]byte(body)))
				if err != nil {
					errs <- err
					return
				}
				out, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusCreated {
					errs <- fmt.Errorf("create: %d %s", resp.StatusCode, out)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return f, err
	}
	var cliTimes, apiTimes []time.Duration
	for i := 0; i < runs; i++ {
		t0 := time.Now()
		out, err := dockerOut(r.sock, cli, nil, "ps", "-a")
		if err != nil {
			return f, err
		}
		cliTimes = append(cliTimes, time.Since(t0))
		if lines := bytes.Count([]byte(out), []byte("\n")); lines != n {
			return f, fmt.Errorf("docker ps -a listed %d containers, want %d", lines, n)
		}
	}
	api := client(r.sock, 1)
	var list []byte
	for i := 0; i < runs; i++ {
		t0 := time.Now()
		resp, err := api.Get("http://d/v1.41/containers/json?all=1")
		if err != nil {
			return f, err
		}
		list, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		apiTimes = append(apiTimes, time.Since(t0))
	}
	f.cli, f.api = median(cliTimes), median(apiTimes)
	if e.name == "berthd" {
		if f.floor, err = psFloor(root, list, runs); err != nil {
			return f, err
		}
	}
	return f, nil
}

// psFloor times docker ps -a against an HTTP server that answers the
// ping and the listing at once with list.
func psFloor(root string, list []byte, runs int) (time.Duration, error) {
	sock, stop, err := instantEngine(root, "1.50", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(list)
	})
	if err != nil {
		return 0, err
	}
	defer stop()
	cli := filepath.Join(root, "cli-instant")
	return medianOf(runs, func() error {
		_, err := dockerOut(sock, cli, nil, "ps", "-a")
		return err
	})
}

func printPsFigures(engines []engine, n, runs int) error {
	res, err := perEngine(engines, "ps", func(e engine) (psFigures, error) { return measurePs(e, n, runs) })
	if err != nil {
		return err
	}
	fmt.Printf("%-34s (median of %d runs, %d created containers)\n", "listing figures", runs, n)
	row := func(name string, get func(psFigures) time.Duration) {
		d, ok := res["dockerd"]
		msRow(name, get(res["berthd"]), get(d), ok)
	}
	row("docker ps -a", func(f psFigures) time.Duration { return f.cli })
	row("GET /containers/json?all=1", func(f psFigures) time.Duration { return f.api })
	fmt.Printf("%-34s %14s\n", "docker ps -a, instant engine", fmt.Sprintf("%.1f ms", ms(res["berthd"].floor)))
	return nil
}
