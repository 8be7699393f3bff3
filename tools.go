//go:build tools

package tools

import (
	_ "github.com/HdrHistogram/hdrhistogram-go"
	_ "github.com/cockroachdb/pebble/v2"
	_ "github.com/moov-io/iso8583"
	_ "github.com/moov-io/iso8583-connection"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/rs/zerolog"
	_ "github.com/shopspring/decimal"
	_ "go.yaml.in/yaml/v3"
)
