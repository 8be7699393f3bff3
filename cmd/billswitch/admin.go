package main

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/billswitch/billswitch/billpay"
	"github.com/billswitch/billswitch/ledger"
	"github.com/billswitch/billswitch/switch/bills"
	"github.com/billswitch/billswitch/switch/pcclient"
	"github.com/billswitch/billswitch/terminals"
)

// adminAPI serves the operator's endpoints on the admin port (loopback by default).
type adminAPI struct {
	cut     *bills.Cutover
	links   *terminals.Links
	clients *pcclient.Clients
	store   *ledger.Store
}

// cutover closes the business day now (POST /admin/cutover).
func (a adminAPI) cutover(w http.ResponseWriter, r *http.Request) {
	before := a.store.BusinessDate()
	next, err := a.cut.Now(r.Context())
	if a.store.BusinessDate() == before {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	out := map[string]string{"closed": dateString(before), "business_date": dateString(next)}
	if err != nil {
		// The day is closed; only announcing it to some PC failed (they learn the
		// date from DE 15 of the next response anyway).
		out["warning"] = err.Error()
	}
	writeJSON(w, http.StatusOK, out)
}

// linkState lists PC connections, accepted and dialled, with their sign-on, and the
// store-and-forward state of the PCs the host dials (GET /admin/links).
func (a adminAPI) linkState(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"business_date": dateString(a.store.BusinessDate()),
		"connections":   a.links.Snapshot(),
		"dialled":       a.clients.Status(),
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// clearingAfterCutover is a cutover announcer that clears the day just closed, in the
// background, so that registers and payouts exist while the host keeps running (the
// CLI cannot open the store then).
type clearingAfterCutover struct {
	core  *billpay.Core
	store *ledger.Store
	dir   string
	tz    *time.Location
	log   zerolog.Logger

	mu   sync.Mutex
	last ledger.Date // the business date before the latest cutover
	wg   sync.WaitGroup
}

func (c *clearingAfterCutover) Announce(_ context.Context, next ledger.Date) error {
	c.mu.Lock()
	closed := c.last
	c.last = next
	c.mu.Unlock()
	if closed == 0 || closed >= next {
		return nil
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
		defer cancel()
		res, err := runClearing(ctx, c.core, c.store, closed, c.dir, c.tz, nil, c.log)
		if err != nil {
			c.log.Error().Err(err).Str("date", dateString(closed)).Msg("clearing after cutover failed; run `billswitch clearing run` for that date")
			return
		}
		c.log.Info().Str("date", dateString(closed)).Int("payments", res.Payments).Int("files", len(res.Files)).
			Dur("took", time.Since(start)).Msg("day cleared")
	}()
	return nil
}

func (c *clearingAfterCutover) wait() { c.wg.Wait() }
