// The monitoring tests check the alerts and the dashboard of overlays/components/monitoring with
// Prometheus's own promtool (hack/promtool.sh builds it; make test sets PROMTOOL): the rules load,
// each alert fires, and stays quiet, as its unit tests in testdata say, and every dashboard query
// parses and names only metrics the controller exports.
package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/yaml"

	"github.com/hourglass-gitops/hourglass-gitops/controller/internal/performer"
	// The events recorder registers its dropped-events counter when imported.
	_ "github.com/hourglass-gitops/hourglass-gitops/controller/internal/recorder"
)

const component = "../overlays/components/monitoring"

func promtool(t *testing.T) string {
	t.Helper()
	p := os.Getenv("PROMTOOL")
	if p == "" {
		t.Fatal("PROMTOOL is not set: run `make test-go`, or set PROMTOOL=$(hack/promtool.sh), which builds promtool from the Go module proxy")
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("PROMTOOL=%s: %v (hack/promtool.sh builds it)", p, err)
	}
	return p
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestAlerts: promtool loads the PrometheusRule's groups and runs the alerts' unit tests.
func TestAlerts(t *testing.T) {
	tool := promtool(t)
	raw, err := os.ReadFile(filepath.Join(component, "prometheusrule.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var rule struct {
		Kind string
		Spec struct {
			Groups []any `json:"groups"`
		}
	}
	if err := yaml.Unmarshal(raw, &rule); err != nil {
		t.Fatal(err)
	}
	if rule.Kind != "PrometheusRule" || len(rule.Spec.Groups) == 0 {
		t.Fatalf("prometheusrule.yaml: kind %q with %d groups, want a PrometheusRule with groups", rule.Kind, len(rule.Spec.Groups))
	}
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules.yaml")
	groups, err := yaml.Marshal(map[string]any{"groups": rule.Spec.Groups})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(rules, groups, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Log(run(t, tool, "check", "rules", rules))

	tests, err := os.ReadFile("testdata/alerts_test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	testFile := filepath.Join(dir, "alerts_test.yaml")
	if err := os.WriteFile(testFile, []byte(strings.Replace(string(tests), "- RULES", "- "+rules, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Log(run(t, tool, "test", "rules", testFile))

	// Every alert has a unit test.
	var alerts, tested []string
	for _, m := range regexp.MustCompile(`(?m)^\s+- alert: (\w+)`).FindAllStringSubmatch(string(raw), -1) {
		alerts = append(alerts, m[1])
	}
	seen := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)alertname: (\w+)`).FindAllStringSubmatch(string(tests), -1) {
		if !seen[m[1]] {
			seen[m[1]] = true
			tested = append(tested, m[1])
		}
	}
	sort.Strings(alerts)
	sort.Strings(tested)
	if d := cmp.Diff(alerts, tested); d != "" {
		t.Errorf("alerts without a unit test, or tests of no alert (-alerts +tested):\n%s", d)
	}
}

// grafanaVars stands in for the dashboard's variables so that promtool can parse a query.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "$namespace", ".*")

var hourglassMetric = regexp.MustCompile(`\bhourglass_[a-z_]+`)

// TestDashboard: every panel has queries, each parses, and each hourglass_ metric it names is one
// the controller exports.
func TestDashboard(t *testing.T) {
	tool := promtool(t)
	raw, err := os.ReadFile(filepath.Join(component, "dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	if err := dec.Decode(&dash); err != nil {
		t.Fatalf("dashboard.json: %v", err)
	}
	if dash.UID == "" || len(dash.Panels) == 0 {
		t.Fatalf("dashboard.json has uid %q and %d panels", dash.UID, len(dash.Panels))
	}
	exported := exportedMetrics()
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			expr := grafanaVars.Replace(tg.Expr)
			if out, err := exec.Command(tool, "--experimental", "promql", "format", expr).CombinedOutput(); err != nil {
				t.Errorf("panel %q: query %q does not parse: %v\n%s", p.Title, tg.Expr, err, out)
			}
			for _, name := range hourglassMetric.FindAllString(expr, -1) {
				if !exported[name] {
					t.Errorf("panel %q: %s is no metric the controller exports (%v)", p.Title, name, keys(exported))
				}
			}
		}
	}
}

// exportedMetrics names the hourglass_ series the controller exports, histogram series included.
func exportedMetrics() map[string]bool {
	out := map[string]bool{}
	ch := make(chan *prometheus.Desc, 64)
	go func() {
		performer.NewCollector(nil, nil).Describe(ch)
		performer.RolloutDuration.Describe(ch)
		close(ch)
	}()
	fq := regexp.MustCompile(`fqName: "([^"]+)"`)
	for d := range ch {
		name := fq.FindStringSubmatch(d.String())[1]
		out[name] = true
		for _, s := range []string{"_bucket", "_sum", "_count"} {
			out[name+s] = true
		}
	}
	// The events recorder registers its counter with controller-runtime's registry when imported.
	families, _ := ctrlmetrics.Registry.Gather()
	for _, f := range families {
		if strings.HasPrefix(f.GetName(), "hourglass_") {
			out[f.GetName()] = true
		}
	}
	return out
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		if !strings.HasSuffix(k, "_bucket") && !strings.HasSuffix(k, "_sum") && !strings.HasSuffix(k, "_count") {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}
