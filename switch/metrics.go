package hostswitch

import (
	"net/http"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the host's Prometheus metrics, on a registry of their own (never the
// global default one). Other packages may register their collectors on Registry.
type Metrics struct {
	Registry *prometheus.Registry

	conns      *prometheus.GaugeVec     // link
	accepted   *prometheus.CounterVec   // link
	refused    *prometheus.CounterVec   // link, reason
	closed     *prometheus.CounterVec   // link, reason
	acceptErrs *prometheus.CounterVec   // link
	messages   *prometheus.CounterVec   // link, mti, rc
	latency    *prometheus.HistogramVec // link, mti
	dropped    *prometheus.CounterVec   // link, reason

	hostRequests *prometheus.CounterVec // link, mti, rc

	hot hotMetrics
}

// served MTI labels, in a fixed order: the index of hotMetrics.
var hotMTIs = [...]string{"0100", "0110", "0200", "0201", "0210", "0400", "0401", "0410", "0420", "0421", "0430",
	"0500", "0510", "0800", "0810", "other"}

// hotMetrics caches, per link (pc, terminal), MTI label and response-code label (00–99,
// other), the children of messages and latency that every request updates: looking
// them up by label values hashed three strings and took a lock twice per request.
type hotMetrics struct {
	msg [2][len(hotMTIs)][101]atomic.Pointer[prometheus.Counter]
	lat [2][len(hotMTIs)]atomic.Pointer[prometheus.Observer]
}

func hotMTI(label string) int {
	for i, m := range hotMTIs {
		if m == label {
			return i
		}
	}
	return len(hotMTIs) - 1
}

// observeMessage counts one answered request and its latency (seconds).
func (m *Metrics) observeMessage(linkIdx int, link, mti, rc string, seconds float64) {
	ml, rl := mtiLabel(mti), rcLabel(rc)
	mi, ri := hotMTI(ml), 100
	if rl != "other" {
		ri = int(rl[0]-'0')*10 + int(rl[1]-'0')
	}
	cp := &m.hot.msg[linkIdx][mi][ri]
	c := cp.Load()
	if c == nil {
		v := m.messages.WithLabelValues(link, ml, rl)
		c = &v
		cp.Store(c)
	}
	(*c).Inc()
	op := &m.hot.lat[linkIdx][mi]
	o := op.Load()
	if o == nil {
		v := m.latency.WithLabelValues(link, ml)
		o = &v
		op.Store(o)
	}
	(*o).Observe(seconds)
}

// NewMetrics builds the host's metrics on a new registry, with the Go runtime and
// process collectors.
func NewMetrics() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		conns: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "billswitch_connections", Help: "Live ISO 8583 connections by link.",
		}, []string{"link"}),
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "billswitch_connections_accepted_total", Help: "Connections accepted and served, by link.",
		}, []string{"link"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "billswitch_connections_refused_total", Help: "Connections closed at accept, by link and reason.",
		}, []string{"link", "reason"}),
		closed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "billswitch_connections_closed_total", Help: "Connections closed, by link and reason.",
		}, []string{"link", "reason"}),
		acceptErrs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "billswitch_accept_errors_total", Help: "Errors returned by Accept, by link.",
		}, []string{"link"}),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "billswitch_messages_total", Help: "Requests answered, by link, request MTI and response code.",
		}, []string{"link", "mti", "rc"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "billswitch_message_latency_seconds",
			Help:    "From a request's frame read to its response packed and queued, by link and request MTI.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"link", "mti"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "billswitch_frames_dropped_total", Help: "Frames read and not answered, by link and reason.",
		}, []string{"link", "reason"}),
		hostRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "billswitch_host_requests_total", Help: "Host-initiated requests on accepted connections, by link, MTI and response code (none: no response).",
		}, []string{"link", "mti", "rc"}),
	}
	reg.MustRegister(m.hostRequests, m.conns, m.accepted, m.refused, m.closed, m.acceptErrs, m.messages, m.latency, m.dropped,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// knownMTI keeps the MTI label's cardinality bounded: a peer may send any four digits.
func mtiLabel(mti string) string {
	switch mti {
	case "0100", "0110", "0200", "0201", "0210", "0400", "0401", "0410", "0420", "0421", "0430",
		"0500", "0510", "0800", "0810":
		return mti
	}
	return "other"
}

// adminHandler serves /metrics, /healthz and /readyz.
func adminHandler(m *Metrics, ready *atomic.Bool) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !ready.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not ready\n"))
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	return mux
}
