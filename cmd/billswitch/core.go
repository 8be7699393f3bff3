package main

import (
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/billswitch/billswitch/billpay"
	"github.com/billswitch/billswitch/ledger"
)

// openCore opens the data directory's ledger store and the bill-pay core on it.
// The caller closes the returned store after it has stopped every user of the core.
func openCore(data, providers string, demo bool, tz *time.Location, log zerolog.Logger) (*ledger.Store, *billpay.Core, error) {
	reg, err := loadProviders(providers, demo)
	if err != nil {
		return nil, nil, err
	}
	clock := time.Now
	store, err := ledger.Open(ledger.Options{
		Dir:         data,
		Logger:      log,
		Clock:       clock,
		InitialDate: dateOf(clock().In(tz)),
	})
	if err != nil {
		return nil, nil, fmt.Errorf("open ledger in %s: %w", data, err)
	}
	core, err := billpay.New(billpay.Options{
		Ledger:   store,
		Registry: reg,
		Logger:   log,
		Clock:    clock,
	})
	if err != nil {
		_ = store.Close()
		return nil, nil, err
	}
	return store, core, nil
}

func loadProviders(path string, demo bool) (*billpay.Registry, error) {
	if path == "" && demo {
		return billpay.DemoRegistry(), nil
	}
	if path == "" {
		return nil, usageErr("a provider registry is required (--providers FILE, or --demo)")
	}
	return billpay.LoadRegistry(path)
}

// dateOf is the business date of a local time.
func dateOf(t time.Time) ledger.Date {
	return ledger.Date(t.Year()*10000 + int(t.Month())*100 + t.Day())
}
