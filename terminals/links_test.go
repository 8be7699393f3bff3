package terminals

import (
	"reflect"
	"sync"
	"testing"
	"time"
)

func TestLinks(t *testing.T) {
	clock := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	l := NewLinks(func() time.Time { clock = clock.Add(time.Second); return clock })

	if err := l.Up("", 1, "127.0.0.1:5001"); err != nil { // accepted, not yet identified
		t.Fatal(err)
	}
	if err := l.Up("100001", 2, "127.0.0.1:5002"); err != nil { // dialled
		t.Fatal(err)
	}
	if err := l.Up("100001", 2, "x"); err == nil {
		t.Error("same connection brought up twice")
	}
	if got := l.SignedOn("100001"); len(got) != 0 {
		t.Errorf("signed on before any sign-on: %v", got)
	}
	if _, ok := l.Institution(1); ok {
		t.Error("unidentified connection has an institution")
	}

	for _, c := range []ConnID{2, 1} {
		if err := l.SignOn("100001", c); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.SignOn("100001", 1); err != nil {
		t.Errorf("second sign-on on the same connection: %v", err)
	}
	if err := l.SignOn("200002", 1); err == nil {
		t.Error("connection signed on for a second institution")
	}
	if err := l.SignOn("", 9); err == nil {
		t.Error("sign-on without an institution accepted")
	}
	if err := l.SignOn("200002", 3); err != nil { // never brought up: registered by SignOn
		t.Fatal(err)
	}
	if got, want := l.SignedOn("100001"), []ConnID{1, 2}; !reflect.DeepEqual(got, want) {
		t.Errorf("SignedOn = %v, want %v", got, want)
	}
	if inst, ok := l.Institution(1); !ok || inst != "100001" {
		t.Errorf("Institution(1) = %q, %v", inst, ok)
	}
	if !l.IsSignedOn("100001", 1) || l.IsSignedOn("200002", 1) || l.IsSignedOn("100001", 3) {
		t.Error("IsSignedOn wrong")
	}

	l.SignOff(2)
	l.SignOff(99) // unknown: ignored
	if got, want := l.SignedOn("100001"), []ConnID{1}; !reflect.DeepEqual(got, want) {
		t.Errorf("after sign-off SignedOn = %v, want %v", got, want)
	}
	if inst, ok := l.Institution(2); !ok || inst != "100001" {
		t.Error("signed-off connection lost its institution")
	}

	snap := l.Snapshot()
	want := []LinkState{
		{Conn: 1, Institution: "100001", Remote: "127.0.0.1:5001", Up: at(1), SignedOn: true, SignedOnAt: at(4)},
		{Conn: 2, Institution: "100001", Remote: "127.0.0.1:5002", Up: at(2)},
		{Conn: 3, Institution: "200002", Up: at(7), SignedOn: true, SignedOnAt: at(7)},
	}
	if !reflect.DeepEqual(snap, want) {
		t.Errorf("Snapshot =\n%+v\nwant\n%+v", snap, want)
	}

	l.Down(1)
	l.Down(1)
	if got := l.SignedOn("100001"); len(got) != 0 {
		t.Errorf("after Down SignedOn = %v", got)
	}
	if err := l.Up("200002", 1, ""); err != nil {
		t.Errorf("connection id reused after Down: %v", err)
	}
	if got := len(l.Snapshot()); got != 3 {
		t.Errorf("%d links, want 3", got)
	}
}

// at is the time the test clock returns on its n-th reading.
func at(n int) time.Time {
	return time.Date(2026, 11, 21, 10, 0, n, 0, time.UTC)
}

func TestLinksConcurrent(t *testing.T) {
	l := NewLinks(nil)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				c := ConnID(w*1000 + i)
				if err := l.Up("", c, "r"); err != nil {
					t.Error(err)
					return
				}
				if err := l.SignOn("100001", c); err != nil {
					t.Error(err)
					return
				}
				if i%20 == 0 {
					_ = l.SignedOn("100001")
					_ = l.Snapshot()
				}
				if i%2 == 0 {
					l.Down(c)
				}
			}
		}(w)
	}
	wg.Wait()
	if got := len(l.SignedOn("100001")); got != 4*50 {
		t.Errorf("%d signed on, want %d", got, 4*50)
	}
}
