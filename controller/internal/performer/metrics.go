package performer

import (
	"context"
	"sort"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	"github.com/fluxcd/pkg/runtime/conditions"
	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hourglass-gitops/hourglass-gitops/api/v1alpha1"
)

// Metric names, for the alerts and the dashboard in overlays/components/monitoring.
const (
	metricPerformers        = "hourglass_performers"
	metricReady             = "hourglass_performers_ready"
	metricBound             = "hourglass_performers_bound"
	metricStalled           = "hourglass_performers_stalled"
	metricNotReadySince     = "hourglass_performer_not_ready_since_timestamp_seconds"
	metricRolloutDuration   = "hourglass_performer_rollout_duration_seconds"
	metricCollectorDuration = "hourglass_performer_metrics_collect_duration_seconds"
)

var (
	descPerformers = prometheus.NewDesc(metricPerformers,
		"Performers by namespace and phase.", []string{"namespace", "phase"}, nil)
	descReady = prometheus.NewDesc(metricReady,
		"Performers whose Ready condition is True, by namespace.", []string{"namespace"}, nil)
	descBound = prometheus.NewDesc(metricBound,
		"Performers served by a Performer declared in Git (Bound condition True), by namespace.", []string{"namespace"}, nil)
	descStalled = prometheus.NewDesc(metricStalled,
		"Performers whose Stalled condition is True, by namespace and reason.", []string{"namespace", "reason"}, nil)
	descNotReadySince = prometheus.NewDesc(metricNotReadySince,
		"For each Performer that is not Ready: when its Ready condition last changed (Unix time). Ready Performers have no series.",
		[]string{"namespace", "performer", "reason"}, nil)
	descCollect = prometheus.NewDesc(metricCollectorDuration,
		"How long reading the Performers from the cache took for this scrape.", nil, nil)
)

// RolloutDuration observes how long a rollout took: from creation to the first Ready for a new
// Performer, from spec.lastUpgrade to Ready for an image or version change.
var RolloutDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
	Name:    metricRolloutDuration,
	Help:    "Seconds from a Performer's creation (kind=create) or the start of its upgrade (kind=upgrade) to Ready.",
	Buckets: []float64{1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1800},
}, []string{"kind"})

// Collector reports Performers by phase, readiness, binding and stall reason from the
// controller's informer cache at each scrape: no request reaches the API server. Only the leader
// reports (its cache holds the Performers; a standby's would have to be filled for it), so a
// query over several replicas needs no deduplication.
type Collector struct {
	reader  client.Reader
	elected <-chan struct{}
	now     func() time.Time
}

// NewCollector reads Performers from reader once elected is closed.
func NewCollector(reader client.Reader, elected <-chan struct{}) *Collector {
	return &Collector{reader: reader, elected: elected, now: time.Now}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPerformers, descReady, descBound, descStalled, descNotReadySince, descCollect} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	select {
	case <-c.elected:
	default:
		return
	}
	start := c.now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var list v1alpha1.PerformerList
	if err := c.reader.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		return
	}
	for _, m := range summarize(list.Items) {
		ch <- m
	}
	ch <- prometheus.MustNewConstMetric(descCollect, prometheus.GaugeValue, c.now().Sub(start).Seconds())
}

type nsPhase struct{ namespace, phase string }
type nsReason struct{ namespace, reason string }

// summarize turns Performers into the collector's metrics, in a stable order.
func summarize(items []v1alpha1.Performer) []prometheus.Metric {
	phases := map[nsPhase]int{}
	ready, bound := map[string]int{}, map[string]int{}
	stalled := map[nsReason]int{}
	var out []prometheus.Metric
	for i := range items {
		p := &items[i]
		ns := p.Namespace
		phase := string(p.Status.Phase)
		if phase == "" {
			phase = string(v1alpha1.PhasePending)
		}
		phases[nsPhase{ns, phase}]++
		ready[ns] += 0
		bound[ns] += 0
		if conditions.IsReady(p) {
			ready[ns]++
		} else if c := conditions.Get(p, meta.ReadyCondition); c != nil {
			out = append(out, prometheus.MustNewConstMetric(descNotReadySince, prometheus.GaugeValue,
				float64(c.LastTransitionTime.Unix()), ns, p.Name, c.Reason))
		} else {
			out = append(out, prometheus.MustNewConstMetric(descNotReadySince, prometheus.GaugeValue,
				float64(p.CreationTimestamp.Unix()), ns, p.Name, "NotObserved"))
		}
		if conditions.IsTrue(p, v1alpha1.BoundCondition) {
			bound[ns]++
		}
		if conditions.IsStalled(p) {
			stalled[nsReason{ns, conditions.GetReason(p, meta.StalledCondition)}]++
		}
	}
	for k, n := range phases {
		out = append(out, prometheus.MustNewConstMetric(descPerformers, prometheus.GaugeValue, float64(n), k.namespace, k.phase))
	}
	for ns, n := range ready {
		out = append(out, prometheus.MustNewConstMetric(descReady, prometheus.GaugeValue, float64(n), ns))
	}
	for ns, n := range bound {
		out = append(out, prometheus.MustNewConstMetric(descBound, prometheus.GaugeValue, float64(n), ns))
	}
	for k, n := range stalled {
		out = append(out, prometheus.MustNewConstMetric(descStalled, prometheus.GaugeValue, float64(n), k.namespace, k.reason))
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Desc().String() < out[j].Desc().String() })
	return out
}

// observeRollout records the duration of a rollout that has just reached Ready.
func observeRollout(old, p *v1alpha1.Performer, upgraded bool, now time.Time) {
	switch {
	case upgraded && p.Status.LastUpgrade != nil:
		RolloutDuration.WithLabelValues("upgrade").Observe(now.Sub(p.Status.LastUpgrade.Time).Seconds())
	case !upgraded && old.Status.ReadyTime == nil && p.Status.ReadyTime != nil:
		RolloutDuration.WithLabelValues("create").Observe(sinceCreation(p, now))
	}
}

func sinceCreation(p *v1alpha1.Performer, now time.Time) float64 {
	created := p.CreationTimestamp
	if created.IsZero() {
		created = metav1.NewTime(now)
	}
	return now.Sub(created.Time).Seconds()
}
