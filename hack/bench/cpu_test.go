package main

import (
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestCPUWithin(t *testing.T) {
	at := func(s int) time.Time { return time.Date(2026, 12, 7, 10, 0, s, 0, time.UTC) }
	series := func(name string, from int, cpus ...int) *cpuSeries {
		se := &cpuSeries{name: name}
		for i, c := range cpus {
			se.samples = append(se.samples, cpuSample{at(from + i), time.Duration(c) * time.Second})
		}
		return se
	}
	s := &cpuSampler{series: map[int]*cpuSeries{
		// Seen from 0 s to 6 s, 1 s of CPU a second.
		1: series("kube-apiserver", 0, 10, 11, 12, 13, 14, 15, 16),
		// The controller, stopped at 3 s and started again at 4 s: two processes, one name.
		2: series("hourglass-controller", 0, 5, 5, 6, 7),
		3: series("hourglass-controller", 4, 1, 3, 3),
		// Gone before the window.
		4: series("kwok", 0, 1, 2),
	}}
	// The window starts and ends between samples: the last samples at or before each count.
	got := s.in(window{"image change", at(2).Add(500 * time.Millisecond), at(5).Add(500 * time.Millisecond)})
	want := map[string]time.Duration{
		"kube-apiserver": 3 * time.Second, // 15 − 12
		// 7 − 6 of the first process, and all 3 of the second, first seen within the window.
		"hourglass-controller": 4 * time.Second,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("CPU per process in the window (-want +got):\n%s", diff)
	}
}

func TestProcCPU(t *testing.T) {
	// This process keeps running until /proc shows some of its CPU time (counted in 10 ms ticks;
	// on a busy machine that may take a while, so the bound is generous).
	var cpu time.Duration
	ok := false
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		if cpu, ok = procCPU(os.Getpid()); !ok || cpu > 0 {
			break
		}
	}
	if !ok || cpu <= 0 {
		t.Fatalf("procCPU(self) = %v, %v; want some CPU time", cpu, ok)
	}
	if _, ok := procCPU(-1); ok {
		t.Errorf("procCPU(-1) reports a process")
	}
	if busy, ok := machineCPU(); !ok || busy <= 0 {
		t.Errorf("machineCPU() = %v, %v; want the machine's busy time", busy, ok)
	}
}
