package main

// Network figures of issue 7, through the docker CLI against a berthd of
// their own (private roots, bridge benchBridge+"n" and address pool):
//
//   - the cost of network setup inside `docker run --rm busybox true`: the
//     median on the default bridge minus the median with --network none;
//   - container-to-container TCP throughput through a bridge (two
//     containers on one user network) as a ratio to host loopback (the same
//     two programs in the host's namespace with --network host).
//
// The throughput tool is netblast/, built statically and bind-mounted into
// busybox containers.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

type netFigures struct {
	runBridge, runNone time.Duration
	bridgeMBs, loopMBs float64
}

func netBenchArgs(root string) []string {
	args := berthArgs(root)
	for i, a := range args {
		if a == "--bridge" {
			args[i+1] = benchBridge + "n"
		}
	}
	return append(args, "--default-address-pool", "base=10.176.0.0/12,size=24")
}

func measureNetwork(berthd string, runs, mib int) (nf netFigures, err error) {
	work, err := os.MkdirTemp("", "berth-netbench-")
	if err != nil {
		return nf, err
	}
	defer os.RemoveAll(work)
	blast := filepath.Join(work, "netblast")
	build := exec.Command("go", "build", "-o", blast, "./hack/bench/netblast")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return nf, fmt.Errorf("build netblast: %v\n%s", err, out)
	}
	root := filepath.Join(work, "d")
	r, _, err := start(engine{name: "berthd", bin: berthd, args: netBenchArgs}, root)
	if err != nil {
		return nf, err
	}
	defer func() {
		r.stop()
		exec.Command("ip", "link", "del", benchBridge+"n").Run()
	}()
	docker := dockerOn(r.sock, filepath.Join(work, "cli"))
	tar := filepath.Join(work, "bb.tar")
	if err := writeTestImage(tar, "netbench:latest"); err != nil {
		return nf, err
	}
	if _, err := docker("load", "-i", tar); err != nil {
		return nf, err
	}
	timeRuns := func(extra ...string) (time.Duration, error) {
		var ds []time.Duration
		args := append(append([]string{"run", "--rm"}, extra...), "netbench", "true")
		docker(args...) // warm-up
		for i := 0; i < runs; i++ {
			t0 := time.Now()
			if _, err := docker(args...); err != nil {
				return 0, err
			}
			ds = append(ds, time.Since(t0))
		}
		return median(ds), nil
	}
	// Interleave-free but back to back, so both see the same machine.
	if nf.runNone, err = timeRuns("--network", "none"); err != nil {
		return nf, err
	}
	if nf.runBridge, err = timeRuns(); err != nil {
		return nf, err
	}

	mount := blast + ":/netblast:ro"
	throughput := func(netArgs []string, addr func(sink string) (string, error)) (float64, error) {
		sink, err := docker(append(append([]string{"run", "-d", "-v", mount}, netArgs...), "netbench", "/netblast", "sink", "5201")...)
		if err != nil {
			return 0, err
		}
		defer docker("rm", "-f", sink)
		target, err := addr(sink)
		if err != nil {
			return 0, err
		}
		var v []float64
		for i := 0; i < 3; i++ {
			out, err := docker(append(append([]string{"run", "--rm", "-v", mount}, netArgs...), "netbench", "/netblast", "send", target, strconv.Itoa(mib))...)
			if err != nil {
				return 0, err
			}
			f, err := strconv.ParseFloat(out, 64)
			if err != nil {
				return 0, fmt.Errorf("netblast said %q", out)
			}
			v = append(v, f)
		}
		return medianF(v), nil
	}
	if _, err := docker("network", "create", "benchnet"); err != nil {
		return nf, err
	}
	defer docker("network", "rm", "benchnet")
	nf.bridgeMBs, err = throughput([]string{"--network", "benchnet"}, func(sink string) (string, error) {
		ip, err := docker("inspect", "-f", "{{(index .NetworkSettings.Networks \"benchnet\").IPAddress}}", sink)
		return ip + ":5201", err
	})
	if err != nil {
		return nf, err
	}
	nf.loopMBs, err = throughput([]string{"--network", "host"}, func(string) (string, error) { return "127.0.0.1:5201", nil })
	return nf, err
}

func printNetwork(nf netFigures, runs, mib int) {
	fmt.Printf("%-34s (berthd, docker CLI; run medians of %d, throughput median of 3 x %d MiB)\n", "network figures", runs, mib)
	fmt.Printf("%-34s %14s\n", "docker run --rm true, --network none", fmt.Sprintf("%.1f ms", ms(nf.runNone)))
	fmt.Printf("%-34s %14s\n", "docker run --rm true, default bridge", fmt.Sprintf("%.1f ms", ms(nf.runBridge)))
	fmt.Printf("%-34s %14s\n", "network setup cost (bridge - none)", fmt.Sprintf("%.1f ms", ms(nf.runBridge)-ms(nf.runNone)))
	fmt.Printf("%-34s %14s\n", "TCP container to container, bridge", fmt.Sprintf("%.0f MB/s", nf.bridgeMBs))
	fmt.Printf("%-34s %14s\n", "TCP host loopback (--network host)", fmt.Sprintf("%.0f MB/s", nf.loopMBs))
	fmt.Printf("%-34s %14s\n", "bridge / loopback", fmt.Sprintf("%.0f%%", 100*nf.bridgeMBs/nf.loopMBs))
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
