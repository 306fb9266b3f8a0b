package performer_test

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hourglass-gitops/hourglass-gitops/api/v1alpha1"
	"github.com/hourglass-gitops/hourglass-gitops/controller/internal/performer"
)

// The collector reports what the Performers' status says: one Ready, one Stalled (a
// ServiceAccount the test manager does not allow), one waiting for its pod.
func TestCollectorCountsPerformers(t *testing.T) {
	t.Parallel()
	ns := env.Namespace(t)
	bringUp(t, newPerformer(ns, "ready"))
	stalled := newPerformer(ns, "stalled", func(p *v1alpha1.Performer) { p.Spec.Config.ServiceAccountName = "not-allowed" })
	create(t, stalled)
	waitPerformer(t, stalled, "Stalled", isStalled(v1alpha1.SecurityNotAllowedReason))
	waiting := newPerformer(ns, "waiting")
	create(t, waiting)
	waitPerformer(t, waiting, "observed", func(p *v1alpha1.Performer) bool { return p.Status.ObservedGeneration == p.Generation })

	elected := make(chan struct{})
	c := performer.NewCollector(k, elected)
	if got := gather(t, c, ns); len(got) != 0 {
		t.Errorf("before the election the collector reported %v, want nothing (a standby reports nothing)", got)
	}
	close(elected)
	got := gather(t, c, ns)
	want := map[string]float64{
		`hourglass_performers{phase="Running"}`:                     1,
		`hourglass_performers{phase="Failed"}`:                      1,
		`hourglass_performers{phase="Pending"}`:                     1,
		`hourglass_performers_ready{}`:                              1,
		`hourglass_performers_bound{}`:                              0,
		`hourglass_performers_stalled{reason="SecurityNotAllowed"}`: 1,
		`hourglass_performer_not_ready_since_timestamp_seconds{performer="stalled",reason="SecurityNotAllowed"}`: 1,
		`hourglass_performer_not_ready_since_timestamp_seconds{performer="waiting",reason="Progressing"}`:        1,
	}
	// The timestamps are checked for being recent, then counted as present.
	for k, v := range got {
		if v > 1e9 {
			got[k] = 1
		}
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("metrics of namespace %s (-want +got):\n%s", ns, d)
	}
}

// gather collects c and keeps the samples of namespace ns, keyed by name and the other labels.
func gather(t *testing.T, c prometheus.Collector, ns string) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			labels, inNS := "", false
			for _, l := range m.GetLabel() {
				if l.GetName() == "namespace" {
					inNS = l.GetValue() == ns
					continue
				}
				if labels != "" {
					labels += ","
				}
				labels += fmt.Sprintf("%s=%q", l.GetName(), l.GetValue())
			}
			if inNS {
				out[f.GetName()+"{"+labels+"}"] = m.GetGauge().GetValue()
			}
		}
	}
	return out
}
