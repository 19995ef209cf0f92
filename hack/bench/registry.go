package main

// The registry figures: push and pull of a generated 512 MiB, 5-layer
// image of random files (the generator of the image figures) to and from
// Debian's docker-registry on 127.0.0.1, through the docker CLI, for each
// engine in the same run. Each push goes to a registry with empty storage
// (so nothing is mounted or skipped) and each pull starts from a daemon
// without the image's layers.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/berthd/berth/image/tarexport/archivetest"
	"github.com/berthd/berth/pkg/registrytest"
)

type registryResult struct {
	push, pull time.Duration
}

// measureRegistry starts the engine with extra flags, loads the image and
// times n pushes (each to an empty registry) and n pulls (each into a
// daemon without the image).
func measureRegistry(e engine, n int, imagePath, ref string, port int, extra []string) (registryResult, error) {
	var f registryResult
	root, err := os.MkdirTemp("", "bench-reg-"+e.name+"-")
	if err != nil {
		return f, err
	}
	defer os.RemoveAll(root)
	args := e.args
	e.args = func(r string) []string { return append(args(r), extra...) }
	r, _, err := start(e, root)
	if err != nil {
		return f, err
	}
	defer r.stop()
	cli := filepath.Join(root, "cli")
	os.MkdirAll(cli, 0o700)
	if _, err := dockerOut(r.sock, cli, nil, "load", "-i", imagePath); err != nil {
		return f, err
	}
	remote := fmt.Sprintf("127.0.0.1:%d/bench/big:%s", port, e.name)
	if _, err := dockerOut(r.sock, cli, nil, "tag", ref, remote); err != nil {
		return f, err
	}
	var pushes, pulls []time.Duration
	for i := 0; i < n; i++ {
		reg, err := registrytest.Start(root, port)
		if err != nil {
			return f, err
		}
		t0 := time.Now()
		_, err = dockerOut(r.sock, cli, nil, "push", remote)
		pushes = append(pushes, time.Since(t0))
		if err == nil {
			// Drop every name so that the layers go too.
			if _, err = dockerOut(r.sock, cli, nil, "rmi", remote, ref); err == nil {
				t0 = time.Now()
				_, err = dockerOut(r.sock, cli, nil, "pull", remote)
				pulls = append(pulls, time.Since(t0))
			}
			if err == nil {
				_, err = dockerOut(r.sock, cli, nil, "tag", remote, ref)
			}
		}
		reg.Stop()
		if err != nil {
			return f, err
		}
	}
	f.push, f.pull = median(pushes), median(pulls)
	return f, nil
}

// registryFigures prints the push and pull figures of every engine.
func registryFigures(engines []engine, n int) error {
	if _, err := exec.LookPath("docker-registry"); err != nil {
		return fmt.Errorf("docker-registry (Debian package docker-registry) is not installed")
	}
	dir, err := os.MkdirTemp("", "bench-registry-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	const ref = "bench-registry:512"
	fmt.Fprintln(os.Stderr, "writing a 512 MiB image of 5 random layers for the registry figures...")
	img, _, _, err := archivetest.RandomImage(dir, "reg", ref, 2, 5, 8, 512<<20/5)
	if err != nil {
		return err
	}
	port, err := registrytest.FreeLoopbackPort()
	if err != nil {
		return err
	}
	// Loopback is insecure by default for both; the flag says it anyway.
	extra := []string{"--insecure-registry", fmt.Sprintf("127.0.0.1:%d", port)}
	res, err := perEngine(engines, "registry", func(e engine) (registryResult, error) { return measureRegistry(e, n, img, ref, port, extra) })
	if err != nil {
		return err
	}
	fmt.Printf("%-34s %14s %14s %10s\n", "registry, 512 MiB 5 layers (median of "+strconv.Itoa(n)+")", "berthd", "dockerd", "ratio")
	row := func(name string, get func(registryResult) time.Duration) {
		b, ok := res["berthd"]
		if !ok {
			return
		}
		line := fmt.Sprintf("%-34s %14s", name, fmt.Sprintf("%.2f s", get(b).Seconds()))
		if dres, ok := res["dockerd"]; ok {
			line += fmt.Sprintf(" %14s %9.2fx", fmt.Sprintf("%.2f s", get(dres).Seconds()), get(dres).Seconds()/get(b).Seconds())
		}
		fmt.Println(line)
	}
	row("docker push", func(f registryResult) time.Duration { return f.push })
	row("docker pull", func(f registryResult) time.Duration { return f.pull })
	return nil
}
