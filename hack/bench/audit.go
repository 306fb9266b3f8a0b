package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/hourglass-gitops/hourglass-gitops/api/v1alpha1"
)

// The audit log (hack/local-cluster.sh with HOURGLASS_AUDIT=1) holds every request at the Metadata
// level: who sent it, its verb, resource and the time the API server received it. The bench tells
// the two sides apart by their user agents, and the phases by those times.

// window is one phase of a side: the requests the API server received from from until to.
type window struct {
	name     string
	from, to time.Time
}

// auditLine is what the bench reads of an audit event.
type auditLine struct {
	Verb       string `json:"verb"`
	RequestURI string `json:"requestURI"`
	UserAgent  string `json:"userAgent"`
	User       struct {
		Username string `json:"username"`
	} `json:"user"`
	Received  time.Time `json:"requestReceivedTimestamp"`
	ObjectRef struct {
		Resource    string `json:"resource"`
		Subresource string `json:"subresource"`
		Namespace   string `json:"namespace"`
		Name        string `json:"name"`
	} `json:"objectRef"`
}

// key is "verb resource[/subresource]", the verb prefixed when the request was a dry run.
func (l *auditLine) key() string {
	res := l.ObjectRef.Resource
	if l.ObjectRef.Subresource != "" {
		res += "/" + l.ObjectRef.Subresource
	}
	verb := l.Verb
	if strings.Contains(l.RequestURI, "dryRun=") {
		verb = dryRunPrefix + verb
	}
	return verb + " " + res
}

// client names the component that sent a request: the controller of kube-controller-manager
// whose service account it used (generic-garbage-collector, replicaset-controller, ...), else
// the first word of its user agent (kube-scheduler, kwok, hourglass-controller, ...).
func (l *auditLine) client() string {
	if name, ok := strings.CutPrefix(l.User.Username, "system:serviceaccount:kube-system:"); ok {
		return name
	}
	name, _, _ := strings.Cut(l.UserAgent, "/")
	name, _, _ = strings.Cut(name, " ")
	if name == "" {
		return l.User.Username
	}
	return name
}

// readAudit calls f for every event of the audit log from line from on whose user agent starts
// with agent (every event for ""), and returns the number of lines read.
func readAudit(path, agent string, from int, f func(*auditLine)) (int, error) {
	file, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer file.Close()
	sc := bufio.NewScanner(file)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	line := 0
	for sc.Scan() {
		line++
		if line <= from {
			continue
		}
		var ev auditLine
		if json.Unmarshal(sc.Bytes(), &ev) != nil || !strings.HasPrefix(ev.UserAgent, agent) {
			continue
		}
		f(&ev)
	}
	return line, sc.Err()
}

// auditRequests counts the requests in an audit log by verb and resource, for one user agent
// prefix, from line from on. It returns the counts and the number of lines read.
func auditRequests(path, agent string, from int) (map[string]int, int, error) {
	counts := map[string]int{}
	lines, err := readAudit(path, agent, from, func(l *auditLine) { counts[l.key()]++ })
	return counts, lines, err
}

// side is one side of the bench for the audit log: the user agent its own requests carry and
// the windows of its phases.
type side struct {
	agent   string
	windows []window
}

// auditSides counts, in one pass over the audit log, each side's own requests by verb and
// resource (own) and every client's requests by client (byClient, auditLine.client) in each of
// its windows.
func auditSides(path string, sides []side) (own, byClient [][]map[string]int, err error) {
	own, byClient = make([][]map[string]int, len(sides)), make([][]map[string]int, len(sides))
	for s, sd := range sides {
		for range sd.windows {
			own[s] = append(own[s], map[string]int{})
			byClient[s] = append(byClient[s], map[string]int{})
		}
	}
	_, err = readAudit(path, "", 0, func(l *auditLine) {
		for s, sd := range sides {
			for i, w := range sd.windows {
				if l.Received.Before(w.from) || !l.Received.Before(w.to) {
					continue
				}
				byClient[s][i][l.client()]++
				if strings.HasPrefix(l.UserAgent, sd.agent) {
					own[s][i][l.key()]++
				}
			}
		}
	})
	return own, byClient, err
}

// dryRunPrefix marks the dry-run requests among the audited writes: the API server stores nothing.
const dryRunPrefix = "dry-run "

// dryRuns picks the dry runs out of counts.
func dryRuns(counts map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range counts {
		if strings.HasPrefix(k, dryRunPrefix) {
			out[k] = v
		}
	}
	return out
}

// isWrite tells the writes among the keys: not a read, not a dry run.
func isWrite(key string) bool {
	verb, _, _ := strings.Cut(key, " ")
	switch verb {
	case "create", "update", "patch", "delete", "deletecollection":
		return true
	}
	return false
}

// isRead tells the reads among the keys.
func isRead(key string) bool {
	verb, _, _ := strings.Cut(key, " ")
	return verb == "get" || verb == "list" || verb == "watch"
}

// total counts the writes in m, leaving out reads and dry runs.
func total(m map[string]int) int {
	t := 0
	for k, v := range m {
		if isWrite(k) {
			t += v
		}
	}
	return t
}

// sum counts every request in m that keep accepts.
func sum(m map[string]int, keep func(string) bool) int {
	t := 0
	for k, v := range m {
		if keep(k) {
			t += v
		}
	}
	return t
}

// perPhaseTable prints the requests per Performer by verb and resource, the sides next to each
// other in each phase: writes, then reads, then dry runs. counts holds per side one map per phase.
func perPhaseTable(n int, phaseNames, sides []string, counts [][]map[string]int) {
	tableHead("verb resource", phaseNames, sides)
	phaseRows(n, phaseNames, sides, counts, []rowGroup{
		{"writes", isWrite},
		{"reads", isRead},
		{"dry runs", func(k string) bool { return strings.HasPrefix(k, dryRunPrefix) }},
	})
	row(n, phaseNames, sides, counts, "**all requests**", func(m map[string]int) int { return sum(m, func(string) bool { return true }) })
}

// clientTable prints every client's requests per Performer, the sides next to each other in each
// phase: what each side costs the API server, the requests of the components it sets to work
// included.
func clientTable(n int, phaseNames, sides []string, counts [][]map[string]int) {
	tableHead("client", phaseNames, sides)
	phaseRows(n, phaseNames, sides, counts, []rowGroup{{"all requests", func(string) bool { return true }}})
}

// tableHead prints the head of a table with a column per phase and side.
func tableHead(first string, phaseNames, sides []string) {
	head, line := "| "+first+" |", "|---|"
	for _, ph := range phaseNames {
		for _, side := range sides {
			head += fmt.Sprintf(" %s: %s |", ph, side)
			line += "---|"
		}
	}
	fmt.Println(head)
	fmt.Println(line)
}

// rowGroup is a set of rows (the keys keep accepts), followed by their sum.
type rowGroup struct {
	label string
	keep  func(string) bool
}

// phaseRows prints a row per key of counts and a sum row per group.
func phaseRows(n int, phaseNames, sides []string, counts [][]map[string]int, groups []rowGroup) {
	keys := map[string]bool{}
	for _, side := range counts {
		for _, m := range side {
			for k := range m {
				keys[k] = true
			}
		}
	}
	sorted := slices.Sorted(maps.Keys(keys))
	for _, g := range groups {
		for _, k := range sorted {
			if g.keep(k) {
				row(n, phaseNames, sides, counts, k, func(m map[string]int) int { return m[k] })
			}
		}
		row(n, phaseNames, sides, counts, "**"+g.label+"**", func(m map[string]int) int { return sum(m, g.keep) })
	}
}

// row prints one table row: get's count per Performer for every phase and side.
func row(n int, phaseNames, sides []string, counts [][]map[string]int, label string, get func(m map[string]int) int) {
	r := "| " + label + " |"
	for i := range phaseNames {
		for s := range sides {
			if v := get(counts[s][i]); v == 0 {
				r += " – |"
			} else {
				r += fmt.Sprintf(" %.2f |", float64(v)/float64(n))
			}
		}
	}
	fmt.Println(r)
}

// rolloutPauses finds, for every rollout the controller started in each window of namespace
// ns, the longest pause between two of its steps the audit log shows: from the controller's apply
// of the Deployment, through kube-controller-manager's updates of its status and every write to
// its pods (created, bound, marked Ready, deleted), to the controller's last status write of the
// Performer. A rollout reported as Pending or Upgrading first had a pause longer than the quiet
// period. The pauses of each window come sorted.
func rolloutPauses(path, ns string, ws []window) ([][]time.Duration, error) {
	type rollouts struct {
		applied  map[string]time.Time   // Deployment → the controller's first apply
		reported map[string]time.Time   // Deployment → the controller's last status write
		steps    map[string][]time.Time // Deployment → the cluster's steps
	}
	per := make([]rollouts, len(ws))
	for i := range per {
		per[i] = rollouts{map[string]time.Time{}, map[string]time.Time{}, map[string][]time.Time{}}
	}
	_, err := readAudit(path, "", 0, func(l *auditLine) {
		ref := &l.ObjectRef
		if ref.Namespace != ns || !isWrite(l.key()) {
			return
		}
		i := slices.IndexFunc(ws, func(w window) bool { return !l.Received.Before(w.from) && l.Received.Before(w.to) })
		if i < 0 {
			return
		}
		r := &per[i]
		switch {
		case strings.HasPrefix(l.UserAgent, controllerAgent):
			if ref.Resource == "deployments" && ref.Subresource == "" {
				if _, ok := r.applied[ref.Name]; !ok {
					r.applied[ref.Name] = l.Received
				}
			}
			if ref.Resource == "performers" && ref.Subresource == "status" {
				r.reported[v1alpha1.WorkloadName(ref.Name)] = l.Received
			}
		case strings.HasPrefix(l.UserAgent, "hourglass-bench"):
		case ref.Resource == "deployments" && ref.Subresource == "status":
			r.steps[ref.Name] = append(r.steps[ref.Name], l.Received)
		case ref.Resource == "pods":
			// A pod is named <Deployment>-<ReplicaSet hash>-<suffix>.
			if i := strings.LastIndexByte(ref.Name, '-'); i > 0 {
				if j := strings.LastIndexByte(ref.Name[:i], '-'); j > 0 {
					r.steps[ref.Name[:j]] = append(r.steps[ref.Name[:j]], l.Received)
				}
			}
		}
	})
	out := make([][]time.Duration, len(ws))
	for i, r := range per {
		for name, start := range r.applied {
			end, ok := r.reported[name]
			if !ok || end.Before(start) {
				continue
			}
			seq := []time.Time{start, end}
			for _, t := range r.steps[name] {
				if t.After(start) && t.Before(end) {
					seq = append(seq, t)
				}
			}
			slices.SortFunc(seq, time.Time.Compare)
			var longest time.Duration
			for k := 1; k < len(seq); k++ {
				longest = max(longest, seq[k].Sub(seq[k-1]))
			}
			out[i] = append(out[i], longest)
		}
		slices.Sort(out[i])
	}
	return out, err
}

// pauseRow is a table row of the longest pauses of a phase's rollouts (sorted).
func pauseRow(phase string, pauses []time.Duration) string {
	if len(pauses) == 0 {
		return fmt.Sprintf("| %s | 0 | – | – | – | – | – |", phase)
	}
	over := func(d time.Duration) string {
		i, _ := slices.BinarySearch(pauses, d+1)
		return fmt.Sprintf("%.0f %%", 100*float64(len(pauses)-i)/float64(len(pauses)))
	}
	at := func(q float64) string { return secs(pauses[int(q*float64(len(pauses)-1))]) }
	return fmt.Sprintf("| %s | %d | %s | %s | %s | %s | %s |", phase, len(pauses), at(0.5), at(0.9), at(1),
		over(time.Minute), over(2*time.Minute))
}
