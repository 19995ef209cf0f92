package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// criOptions are the flags of the CRI figures.
type criOptions struct {
	berthd   string
	kit      string // the offline critest kit (../shared/cri)
	kitWork  string // its WORKDIR: built tools and stand-in images
	registry string // the kit's registry, left running
	runs     int
	pods     int
}

// measureCRISide starts one side, measures it and stops it, leaving
// nothing behind.
func measureCRISide(start func() (*criSide, error), o criOptions) (criFigures, string, error) {
	s, err := start()
	if err != nil {
		return criFigures{}, "", err
	}
	defer s.stop()
	f, err := s.measure(o.runs, o.pods)
	if err != nil {
		return f, "", fmt.Errorf("%v (log: %s)", err, s.logPath)
	}
	var phases strings.Builder
	if s.name == "berthd" {
		if log, err := os.ReadFile(s.logPath); err == nil {
			for _, p := range []struct{ prefix, what string }{
				{"pod run phases: ", "RunPodSandbox"},
				{"start phases: ", "container starts, pause and sleep"},
				{"pod stop phases: ", "StopPodSandbox"},
				{"pod remove phases: ", "RemovePodSandbox"},
			} {
				fmt.Fprintf(&phases, "berthd %s phases (median ms): %s\n", p.what, medianPhases(log, p.prefix))
			}
		}
	}
	return f, phases.String(), nil
}

// criBenchFigures prints the CRI figures: berthd's, and containerd's
// beside them when the kit can start one; a side that cannot run says why.
func criBenchFigures(o criOptions) error {
	if _, err := os.Stat(filepath.Join(o.kit, "containerd-reference.sh")); err != nil {
		fmt.Printf("%-34s skipped: no critest kit at %s\n", "CRI figures", o.kit)
		return nil
	}
	if !registryUp(o.registry) {
		fmt.Printf("%-34s skipped: the kit's registry does not answer at %s (%s/prepare-images.sh up)\n", "CRI figures", o.registry, o.kit)
		return nil
	}
	res := map[string]criFigures{}
	b, phases, err := measureCRISide(func() (*criSide, error) { return startBerthCRI(o.berthd, o.registry) }, o)
	if err != nil {
		return fmt.Errorf("berthd: %v", err)
	}
	res["berthd"] = b
	skipped := containerdUnavailable(o.kit)
	if skipped == "" {
		c, _, err := measureCRISide(func() (*criSide, error) { return startContainerdCRI(o.kit, o.kitWork, o.registry) }, o)
		if err != nil {
			skipped = err.Error()
		} else {
			res["containerd"] = c
		}
	}
	c, haveC := res["containerd"]
	header := fmt.Sprintf("%-34s %14s", "CRI pod figures", "berthd")
	if haveC {
		header += fmt.Sprintf(" %14s %10s", "containerd", "ratio")
	}
	fmt.Printf("%s   (CRI gRPC, median of %d pods; CNI bridge; busybox sleep)\n", header, o.runs)
	row := func(name, unit string, get func(criFigures) float64) {
		line := fmt.Sprintf("%-34s %14s", name, fmt.Sprintf("%.2f %s", get(b), unit))
		if haveC && get(b) > 0 {
			line += fmt.Sprintf(" %14s %9.1fx", fmt.Sprintf("%.2f %s", get(c), unit), get(c)/get(b))
		}
		fmt.Println(line)
	}
	row("run+create+start pod to running", "ms", func(f criFigures) float64 { return f.startAll })
	row("  RunPodSandbox", "ms", func(f criFigures) float64 { return f.run })
	row("  CreateContainer", "ms", func(f criFigures) float64 { return f.create })
	row("  StartContainer", "ms", func(f criFigures) float64 { return f.start })
	row("  then RUNNING in ContainerStatus", "ms", func(f criFigures) float64 { return f.running })
	row("StopPodSandbox+RemovePodSandbox", "ms", func(f criFigures) float64 { return f.stopAll })
	row("  StopPodSandbox", "ms", func(f criFigures) float64 { return f.stop })
	row("  RemovePodSandbox", "ms", func(f criFigures) float64 { return f.remove })
	if o.pods > 0 {
		mib := func(get func(criFigures) float64) func(criFigures) float64 {
			return func(f criFigures) float64 { return get(f) / 1024 }
		}
		fmt.Printf("%-34s (%d pods running; shims per side: berthd %d%s)\n", "memory per pod", o.pods, b.shims, containerdShims(res))
		row("daemon RSS growth / pods", "MiB", mib(func(f criFigures) float64 { return f.daemonPerPod }))
		row("shim RSS per pod", "MiB", mib(func(f criFigures) float64 { return f.shimPerPod }))
		row("daemon share + shim RSS per pod", "MiB", mib(func(f criFigures) float64 { return f.daemonPerPod + f.shimPerPod }))
		row("shim Pss per pod", "MiB", mib(func(f criFigures) float64 { return f.shimPss }))
	}
	fmt.Print(phases)
	if skipped != "" {
		fmt.Printf("%-34s skipped: %s\n", "containerd CRI figures", skipped)
	}
	fmt.Println("CRI targets (issue 21): ratio >= 2.0x for start, for stop+remove and for daemon share + shim")
	return nil
}

func containerdShims(res map[string]criFigures) string {
	if c, ok := res["containerd"]; ok {
		return fmt.Sprintf(", containerd %d", c.shims)
	}
	return ""
}
