package bills

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/billswitch/billswitch/ledger"
)

// Announcer announces a new business date to processing centres: *hostswitch.Host
// (accepted PC connections, via HostAnnouncer) and *pcclient.Clients (PCs the host
// dials) are the two.
type Announcer interface {
	Announce(ctx context.Context, next ledger.Date) error
}

// HostAnnouncer adapts Host.AnnounceCutover (MMDD) to Announcer.
type HostAnnouncer struct {
	Host interface {
		AnnounceCutover(ctx context.Context, date string) error
	}
}

// Announce sends 0800/201 with DE 15 = next on every signed-on accepted PC connection.
func (a HostAnnouncer) Announce(ctx context.Context, next ledger.Date) error {
	return a.Host.AnnounceCutover(ctx, mmdd(next))
}

// CutoverConfig configures the cutover.
type CutoverConfig struct {
	Ledger ledger.Ledger
	// Announcers get the new date after the ledger moved to it (errors are logged and
	// returned joined; the cutover itself stands).
	Announcers []Announcer
	// At is the local time of the daily cutover ("HH:MM", default "00:00") in Location
	// (default Asia/Baku).
	At       string
	Location *time.Location
	Now      func() time.Time // default time.Now
	Logger   zerolog.Logger
}

// Cutover moves the business date: daily at the configured local time (Run) and on
// command (Now), then announces the new date (0800/201) to every signed-on PC.
type Cutover struct {
	cfg    CutoverConfig
	hh, mm int
	mu     sync.Mutex // one cutover at a time
}

// NewCutover checks the configuration.
func NewCutover(cfg CutoverConfig) (*Cutover, error) {
	if cfg.Ledger == nil {
		return nil, errors.New("bills: cutover needs a ledger")
	}
	if cfg.At == "" {
		cfg.At = "00:00"
	}
	t, err := time.Parse("15:04", cfg.At)
	if err != nil {
		return nil, fmt.Errorf("bills: cutover time %q: want HH:MM", cfg.At)
	}
	if cfg.Location == nil {
		if cfg.Location, err = time.LoadLocation("Asia/Baku"); err != nil {
			return nil, fmt.Errorf("bills: time zone: %w", err)
		}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Cutover{cfg: cfg, hh: t.Hour(), mm: t.Minute()}, nil
}

// scheduledDate is the business date a scheduled cutover at local time t opens: the
// local date when the cutover time is before noon (a cutover at 00:00 opens the day that
// begins), else the next day (a cutover at 23:00 closes the local day early).
func (c *Cutover) scheduledDate(t time.Time) ledger.Date {
	t = t.In(c.cfg.Location)
	d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	if c.hh >= 12 {
		d = d.AddDate(0, 0, 1)
	}
	return ledger.DateOf(d)
}

// next returns the next scheduled cutover instant after t.
func (c *Cutover) next(t time.Time) time.Time {
	l := t.In(c.cfg.Location)
	n := time.Date(l.Year(), l.Month(), l.Day(), c.hh, c.mm, 0, 0, c.cfg.Location)
	if !n.After(l) {
		n = time.Date(l.Year(), l.Month(), l.Day()+1, c.hh, c.mm, 0, 0, c.cfg.Location)
	}
	return n
}

// Now runs a cutover on command: the business date moves to the day after the current
// one, and the new date is announced. It returns the new date.
func (c *Cutover) Now(ctx context.Context) (ledger.Date, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cur := c.cfg.Ledger.BusinessDate()
	next := addDays(cur, 1)
	return next, c.move(ctx, next)
}

// To moves the business date to next (which must be after the current one) and
// announces it.
func (c *Cutover) To(ctx context.Context, next ledger.Date) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur := c.cfg.Ledger.BusinessDate(); next <= cur {
		return fmt.Errorf("bills: cutover to %d: business date is already %d", next, cur)
	}
	return c.move(ctx, next)
}

func (c *Cutover) move(ctx context.Context, next ledger.Date) error {
	if err := c.cfg.Ledger.Cutover(ctx, next); err != nil {
		return fmt.Errorf("bills: cutover to %d: %w", next, err)
	}
	c.cfg.Logger.Info().Uint32("business_date", uint32(next)).Msg("cutover")
	var errs []error
	for _, a := range c.cfg.Announcers {
		if err := a.Announce(ctx, next); err != nil {
			c.cfg.Logger.Warn().Err(err).Uint32("business_date", uint32(next)).Msg("cutover announcement incomplete")
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Run performs the scheduled cutover every day at the configured local time until ctx
// ends. A scheduled cutover whose date is not after the current business date (an
// operator already moved it) does nothing. At start it catches up once: when the
// business date is behind the date the last scheduled cutover opened (the host was
// down at cutover time), it cuts over at once.
func (c *Cutover) Run(ctx context.Context) error {
	now := c.cfg.Now()
	last := c.next(now).AddDate(0, 0, -1)
	c.scheduled(ctx, last)
	for {
		now := c.cfg.Now()
		at := c.next(now)
		timer := time.NewTimer(at.Sub(now))
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-timer.C:
		}
		c.scheduled(ctx, at)
	}
}

func (c *Cutover) scheduled(ctx context.Context, at time.Time) {
	next := c.scheduledDate(at)
	c.mu.Lock()
	defer c.mu.Unlock()
	if next <= c.cfg.Ledger.BusinessDate() {
		return
	}
	if err := c.move(ctx, next); err != nil {
		c.cfg.Logger.Error().Err(err).Msg("scheduled cutover")
	}
}

func addDays(d ledger.Date, n int) ledger.Date {
	t := time.Date(int(d)/10000, time.Month(int(d)/100%100), int(d)%100, 0, 0, 0, 0, time.UTC)
	return ledger.DateOf(t.AddDate(0, 0, n))
}
