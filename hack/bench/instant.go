package main

import (
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"time"
)

// instantEngine serves, on a socket in dir, an engine that answers the
// CLI's ping at once and any other request with answer: a figure's time
// through the CLI against it is the CLI's own part, which no engine can
// go below. stop closes it.
func instantEngine(dir, apiVersion string, answer http.HandlerFunc) (sock string, stop func(), err error) {
	sock = filepath.Join(dir, "instant.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Api-Version", apiVersion)
		w.Header().Set("Ostype", "linux")
		if r.URL.Path == "/_ping" {
			w.Write([]byte("OK"))
			return
		}
		answer(w, r)
	})}
	go srv.Serve(l)
	return sock, func() { srv.Close() }, nil
}

// medianOf runs fn n times and returns the median of their times.
func medianOf(n int, fn func() error) (time.Duration, error) {
	var ds []time.Duration
	for i := 0; i < n; i++ {
		t0 := time.Now()
		if err := fn(); err != nil {
			return 0, err
		}
		ds = append(ds, time.Since(t0))
	}
	return median(ds), nil
}

// msRow prints a time figure for berthd and, when there is one,
// dockerd's with the ratio.
func msRow(name string, b time.Duration, d time.Duration, haveD bool) {
	line := fmt.Sprintf("%-34s %14s", name, fmt.Sprintf("%.1f ms", ms(b)))
	if haveD {
		line += fmt.Sprintf(" %14s %9.1fx", fmt.Sprintf("%.1f ms", ms(d)), ms(d)/ms(b))
	}
	fmt.Println(line)
}
