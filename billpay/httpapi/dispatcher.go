package httpapi

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/billswitch/billswitch/billpay"
)

// Dispatcher delivers each provider's notices to its webhook: at least once, in
// sequence order (so in order per account), one batch in flight per provider, a batch
// acknowledged in the core's outbox only after a 2xx answer; failures are retried with
// capped exponential backoff and jitter, forever. Notices live in the core's durable
// outbox, so a provider that is down for hours, or a restart of the host, loses
// nothing. Providers without a webhook URL poll (GET …/notices, POST …/notices/ack).
type Dispatcher struct {
	s       *Server
	client  *http.Client
	targets []*ProviderAccess
	mu      sync.Mutex
	kicks   map[string]chan struct{}
	state   map[string]*DeliveryStatus
}

// DeliveryStatus is one provider's webhook delivery state (admin view, tests).
type DeliveryStatus struct {
	Provider      string    `json:"provider"`
	Delivered     uint64    `json:"delivered"`      // notices acknowledged by 2xx since start
	LastSeq       uint64    `json:"last_seq"`       // highest sequence delivered
	Failures      uint64    `json:"failures"`       // failed attempts since start
	ConsecFailure int       `json:"consec_failure"` // failed attempts in a row now
	LastError     string    `json:"last_error,omitempty"`
	LastSuccess   time.Time `json:"last_success"`
}

func newDispatcher(s *Server) *Dispatcher {
	d := &Dispatcher{s: s, kicks: map[string]chan struct{}{}, state: map[string]*DeliveryStatus{}}
	d.client = s.httpClient
	if d.client == nil {
		d.client = &http.Client{Timeout: s.cfg.Webhook.Timeout}
	}
	for i := range s.cfg.Providers {
		p := &s.cfg.Providers[i]
		if p.WebhookURL != "" {
			d.targets = append(d.targets, p)
			d.kicks[p.Code] = make(chan struct{}, 1)
			d.state[p.Code] = &DeliveryStatus{Provider: p.Code}
		}
	}
	return d
}

// SetHTTPClient replaces the client that posts webhooks (before Run).
func (d *Dispatcher) SetHTTPClient(c *http.Client) { d.client = c }

// Kick tells the dispatcher new notices may be waiting (it also polls).
func (d *Dispatcher) Kick() {
	for _, ch := range d.kicks {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// Status returns each webhook provider's delivery state.
func (d *Dispatcher) Status() []DeliveryStatus {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]DeliveryStatus, 0, len(d.targets))
	for _, t := range d.targets {
		out = append(out, *d.state[t.Code])
	}
	return out
}

// Run delivers until ctx ends; it returns when every provider's loop has stopped.
func (d *Dispatcher) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, t := range d.targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.loop(ctx, t)
		}()
	}
	wg.Wait()
	return nil
}

func (d *Dispatcher) loop(ctx context.Context, t *ProviderAccess) {
	cfg := d.s.cfg.Webhook
	log := d.s.log.With().Str("provider", t.Code).Logger()
	failures := 0
	wait := func(dur time.Duration, kickable bool) bool {
		tm := time.NewTimer(dur)
		defer tm.Stop()
		var kick chan struct{}
		if kickable {
			kick = d.kicks[t.Code]
		}
		select {
		case <-ctx.Done():
			return false
		case <-tm.C:
		case <-kick:
		}
		return true
	}
	for ctx.Err() == nil {
		ns, err := d.s.core.PendingNotices(ctx, t.Code, 0, cfg.Batch)
		if err == nil && len(ns) == 0 {
			if !wait(cfg.PollInterval, true) {
				return
			}
			continue
		}
		if err == nil {
			err = d.post(ctx, t, ns)
			if err == nil {
				seqs := make([]uint64, len(ns))
				for i, n := range ns {
					seqs[i] = n.Seq
				}
				err = d.s.core.AckNotices(ctx, t.Code, seqs...)
				if err == nil {
					failures = 0
					d.mu.Lock()
					st := d.state[t.Code]
					st.Delivered += uint64(len(ns))
					st.LastSeq = seqs[len(seqs)-1]
					st.ConsecFailure = 0
					st.LastError = ""
					st.LastSuccess = d.s.clock()
					d.mu.Unlock()
					continue
				}
			}
		}
		if ctx.Err() != nil {
			return
		}
		failures++
		d.mu.Lock()
		st := d.state[t.Code]
		st.Failures++
		st.ConsecFailure = failures
		st.LastError = err.Error()
		d.mu.Unlock()
		back := backoff(cfg.MinBackoff, cfg.MaxBackoff, failures)
		log.Warn().Err(err).Int("attempt", failures).Dur("retry_in", back).Msg("notice delivery failed")
		if !wait(back, false) {
			return
		}
	}
}

// backoff is min·2^(n−1) capped at max, with ±25 % jitter.
func backoff(minB, maxB time.Duration, n int) time.Duration {
	b := minB
	for i := 1; i < n && b < maxB; i++ {
		b *= 2
	}
	if b > maxB {
		b = maxB
	}
	j := time.Duration(rand.Int64N(int64(b)/2+1)) - b/4
	return b + j
}

// webhookBody is what a provider's webhook receives.
type webhookBody struct {
	Provider string       `json:"provider"`
	Notices  []noticeJSON `json:"notices"`
}

func (d *Dispatcher) post(ctx context.Context, t *ProviderAccess, ns []*billpay.Notice) error {
	digits := 2
	if p, ok := d.s.core.Registry().Provider(t.Code); ok {
		digits = p.MinorDigits
	}
	body := webhookBody{Provider: t.Code, Notices: make([]noticeJSON, len(ns))}
	for i, n := range ns {
		body.Notices[i] = noticeOut(n, digits)
	}
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.WebhookURL, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Billswitch-Delivery", fmt.Sprintf("%s-%d-%d", t.Code, ns[0].Seq, ns[len(ns)-1].Seq))
	if t.WebhookSecret != "" {
		m := hmac.New(sha256.New, []byte(t.WebhookSecret))
		m.Write(b)
		req.Header.Set("X-Billswitch-Signature", "sha256="+hex.EncodeToString(m.Sum(nil)))
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("webhook answered %s", resp.Status)
	}
	return nil
}
