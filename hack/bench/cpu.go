package main

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// machineName is the row of the whole machine's busy CPU time (/proc/stat) in the CPU table.
const machineName = "machine (every process)"

// cpuSample is a process's CPU time (user + system) so far, read at t.
type cpuSample struct {
	t   time.Time
	cpu time.Duration
}

// cpuSeries is one process's samples; a process started again (the controller's restart) has a
// series of its own under the same name.
type cpuSeries struct {
	name    string
	samples []cpuSample
}

// cpuSampler reads, every interval, the CPU time of the local cluster's processes (its pids/
// folder: "<pid> <executable>" per file, the bench's controller among them) and of the whole
// machine, so that each phase's CPU can be told per process and side afterwards.
type cpuSampler struct {
	pidsDir string
	mu      sync.Mutex
	series  map[int]*cpuSeries // by pid
	done    chan struct{}
	wg      sync.WaitGroup
}

func startCPUSampler(pidsDir string, interval time.Duration) *cpuSampler {
	s := &cpuSampler{pidsDir: pidsDir, series: map[int]*cpuSeries{}, done: make(chan struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			s.sample()
			select {
			case <-s.done:
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

func (s *cpuSampler) stop() {
	close(s.done)
	s.wg.Wait()
}

func (s *cpuSampler) sample() {
	procs := map[int]string{}
	entries, _ := os.ReadDir(s.pidsDir)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(s.pidsDir, e.Name()))
		if err != nil {
			continue
		}
		if f := strings.Fields(string(b)); len(f) > 0 {
			if pid, err := strconv.Atoi(f[0]); err == nil {
				procs[pid] = strings.TrimSuffix(e.Name(), ".pid")
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	add := func(pid int, name string, cpu time.Duration) {
		se := s.series[pid]
		if se == nil {
			se = &cpuSeries{name: name}
			s.series[pid] = se
		}
		se.samples = append(se.samples, cpuSample{now, cpu})
	}
	for pid, name := range procs {
		if cpu, ok := procCPU(pid); ok {
			add(pid, name, cpu)
		}
	}
	if cpu, ok := machineCPU(); ok {
		add(0, machineName, cpu)
	}
}

// in returns each process's CPU time within w, by name.
func (s *cpuSampler) in(w window) map[string]time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]time.Duration{}
	for _, se := range s.series {
		if d, ok := cpuWithin(se, w); ok {
			out[se.name] += d
		}
	}
	return out
}

// cpuWithin is the CPU time a series spent between w's start and end, from the last samples at
// or before each; false when the process was not seen in w. A process first seen after w started
// counts from zero: it started within w.
func cpuWithin(se *cpuSeries, w window) (time.Duration, bool) {
	ss := se.samples
	if len(ss) == 0 || ss[len(ss)-1].t.Before(w.from) || ss[0].t.After(w.to) {
		return 0, false
	}
	// last returns the index of the last sample at or before t, or -1.
	last := func(t time.Time) int {
		i, found := slices.BinarySearchFunc(ss, t, func(s cpuSample, t time.Time) int { return s.t.Compare(t) })
		if found {
			return i
		}
		return i - 1
	}
	var start time.Duration
	if i := last(w.from); i >= 0 {
		start = ss[i].cpu
	}
	return ss[last(w.to)].cpu - start, true
}

// procCPU reads a process's user + system CPU time from /proc/PID/stat.
func procCPU(pid int) (time.Duration, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) <= 13 {
		return 0, false
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(ut+st) * time.Second / 100, true // USER_HZ
}

// machineCPU reads the whole machine's busy CPU time (every state but idle and iowait) from
// /proc/stat.
func machineCPU() (time.Duration, bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, false
	}
	var busy int64
	for i, v := range f[1:] {
		if i == 3 || i == 4 || i >= 8 { // idle, iowait; guest time is already in user
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, false
		}
		busy += n
	}
	return time.Duration(busy) * time.Second / 100, true
}

// cpuTable prints each process's CPU time in every phase of every side, and the whole machine's
// against what it had: the window's length times its cores.
func cpuTable(phaseNames, names []string, sides []side, s *cpuSampler) {
	byWindow := make([][]map[string]time.Duration, len(sides))
	procs := map[string]bool{}
	for i, sd := range sides {
		for _, w := range sd.windows {
			m := s.in(w)
			byWindow[i] = append(byWindow[i], m)
			for name := range m {
				procs[name] = true
			}
		}
	}
	tableHead("process", phaseNames, names)
	delete(procs, machineName)
	cell := func(i, p int, f func(w window, m map[string]time.Duration) string) string {
		if p >= len(sides[i].windows) {
			return " – |"
		}
		return " " + f(sides[i].windows[p], byWindow[i][p]) + " |"
	}
	line := func(label string, f func(w window, m map[string]time.Duration) string) {
		r := "| " + label + " |"
		for p := range phaseNames {
			for i := range sides {
				r += cell(i, p, f)
			}
		}
		fmt.Println(r)
	}
	for _, name := range slices.Sorted(maps.Keys(procs)) {
		line(name, func(_ window, m map[string]time.Duration) string {
			if d, ok := m[name]; ok {
				return fmt.Sprintf("%.1f", d.Seconds())
			}
			return "–"
		})
	}
	cores := runtime.NumCPU()
	line(machineName, func(w window, m map[string]time.Duration) string {
		capacity := w.to.Sub(w.from) * time.Duration(cores)
		return fmt.Sprintf("%.1f of %.1f (%.0f %%)", m[machineName].Seconds(), capacity.Seconds(), 100*m[machineName].Seconds()/capacity.Seconds())
	})
}
