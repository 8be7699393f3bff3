package pcclient

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/billswitch/billswitch/ledger"
	"github.com/billswitch/billswitch/specs"
)

func writeAhead(c *Config) { c.WriteAhead = true }

func isAdvice(m *specs.Message) bool { return m.MTI == "0420" || m.MTI == "0421" }

// A host that crashes while a 0200 is on the wire reverses it after the restart.
func TestWriteAheadCrashMidAuthorization(t *testing.T) {
	pc := newFakePC(t, testDialect(t))
	pc.setBehave(func(_ int, req *specs.Message) reply {
		if req.MTI == "0200" {
			return reply{} // the host "crashes" before any answer
		}
		return reply{resp: defaultAnswer(req, "00")}
	})
	fs := vfs.NewCrashableMem()
	store, err := ledger.Open(ledger.Options{Dir: "db", FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	cl, _ := startClient(t, pc, store, time.Second, time.Hour, writeAhead)
	eventually(t, 5*time.Second, "signed on", func() bool { return cl.Status().SignedOn })
	done := make(chan AuthResult, 1)
	go func() {
		res, _ := cl.Authorize(context.Background(), authReq("5100000000000008"))
		done <- res
	}()
	orig := pc.waitFor(1, 5*time.Second, "0200", isMTI("0200"))[0].msg

	// The crash: only what was synced survives.
	img := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 0})
	store2, err := ledger.Open(ledger.Options{Dir: "db", FS: img})
	if err != nil {
		t.Fatal(err)
	}
	defer store2.Close()
	if n := pendingInStore(t, store2); n != 1 {
		t.Fatalf("%d advice records survive a crash during the authorization, want 1", n)
	}
	cl2, _ := startClient(t, pc, store2, time.Second, time.Hour, writeAhead)
	adv := pc.waitFor(1, 5*time.Second, "advice from the restarted host", func(m *specs.Message) bool {
		return m.MTI == "0420" && m.STAN != "" && m.OriginalData[4:10] == orig.STAN
	})
	if adv[0].conn == 0 {
		t.Error("advice came from the crashed client, not the restarted one")
	}
	checkAdvice(t, &adv[0].msg, &orig)
	eventually(t, 5*time.Second, "advice done", func() bool { return pendingInStore(t, store2) == 0 && cl2.Status().PendingAdvices == 0 })
	if res := <-done; res.ResponseCode != "91" {
		t.Errorf("the first client's authorization ended %s, want 91", res.ResponseCode)
	}
}

func TestWriteAheadLifecycle(t *testing.T) {
	dir := t.TempDir()
	pc := newFakePC(t, testDialect(t))
	codes := map[string]string{"5100000000000008": "00", "5200000000000007": "51"}
	pc.setBehave(func(_ int, req *specs.Message) reply {
		if req.MTI == "0200" {
			return reply{resp: defaultAnswer(req, codes[req.PAN])}
		}
		return reply{resp: defaultAnswer(req, "00")}
	})
	store := openStore(t, dir)
	cl, _ := startClient(t, pc, store, time.Second, time.Hour, writeAhead)
	eventually(t, 5*time.Second, "signed on", func() bool { return cl.Status().SignedOn })
	ctx := context.Background()

	// Declined: the written-ahead record is gone, nothing to complete.
	dec, err := cl.Authorize(ctx, authReq("5200000000000007"))
	if err != nil || dec.ResponseCode != "51" {
		t.Fatalf("%+v, %v", dec, err)
	}
	if _, ok := cl.CompletionWrite(dec); ok {
		t.Error("CompletionWrite for a decline")
	}
	if n := pendingInStore(t, store); n != 0 {
		t.Fatalf("%d records after a decline", n)
	}

	// Approved and posted with the completion write in the same command.
	posted, err := cl.Authorize(ctx, authReq("5100000000000008"))
	if err != nil || !posted.Approved {
		t.Fatalf("%+v, %v", posted, err)
	}
	if n := pendingInStore(t, store); n != 1 {
		t.Fatalf("%d records for an approval in flight, want 1", n)
	}
	if cl.Status().PendingAdvices != 0 {
		t.Fatal("an approval in flight is queued for sending")
	}
	w, ok := cl.CompletionWrite(posted)
	if !ok {
		t.Fatal("no completion write for an approval")
	}
	if _, err := store.Submit(ctx, &ledger.Command{Key: []byte("test/post/1"), Writes: []ledger.Write{w}}); err != nil {
		t.Fatal(err)
	}
	// Approved and completed on its own.
	completed, err := cl.Authorize(ctx, authReq("5100000000000008"))
	if err != nil || !completed.Approved {
		t.Fatalf("%+v, %v", completed, err)
	}
	if err := cl.Complete(ctx, completed); err != nil {
		t.Fatal(err)
	}
	// Approved, never posted: the host goes down.
	lost, err := cl.Authorize(ctx, authReq("5100000000000008"))
	if err != nil || !lost.Approved {
		t.Fatalf("%+v, %v", lost, err)
	}
	if n := pendingInStore(t, store); n != 1 {
		t.Fatalf("%d records, want only the unposted approval's", n)
	}
	time.Sleep(100 * time.Millisecond)
	if n := len(pc.matching(isAdvice)); n != 0 {
		t.Fatalf("%d advices sent before the restart", n)
	}
	cl.Close()
	store.Close()

	store = openStore(t, dir)
	defer store.Close()
	startClient(t, pc, store, time.Second, time.Hour, writeAhead)
	adv := pc.waitFor(1, 5*time.Second, "advice of the unposted approval", isAdvice)
	var orig specs.Message
	for _, g := range pc.matching(isMTI("0200")) {
		if g.msg.STAN == lost.STAN {
			orig = g.msg
		}
	}
	checkAdvice(t, &adv[0].msg, &orig)
	eventually(t, 5*time.Second, "advice done", func() bool { return pendingInStore(t, store) == 0 })
	time.Sleep(100 * time.Millisecond)
	if n := len(pc.matching(isAdvice)); n != 1 {
		t.Errorf("%d advices after restart, want 1 (only the unposted approval)", n)
	}
}

func TestWriteAheadTimeoutAndReverse(t *testing.T) {
	pc := newFakePC(t, testDialect(t))
	pc.setBehave(func(_ int, req *specs.Message) reply {
		if req.MTI == "0200" && req.PAN == "5200000000000007" {
			return reply{} // times out
		}
		return reply{resp: defaultAnswer(req, "00")}
	})
	store := openStore(t, "")
	defer store.Close()
	cl, _ := startClient(t, pc, store, 100*time.Millisecond, time.Hour, writeAhead)
	eventually(t, 5*time.Second, "signed on", func() bool { return cl.Status().SignedOn })
	ctx := context.Background()
	res, err := cl.Authorize(ctx, authReq("5200000000000007"))
	if err != nil || res.ResponseCode != "91" || !res.Advice {
		t.Fatalf("%+v, %v", res, err)
	}
	if _, ok := cl.CompletionWrite(res); ok {
		t.Error("CompletionWrite for a timed-out authorization")
	}
	pc.waitFor(1, 5*time.Second, "advice of the timeout", isAdvice)
	req := authReq("5100000000000008")
	ok, err := cl.Authorize(ctx, req)
	if err != nil || !ok.Approved {
		t.Fatalf("%+v, %v", ok, err)
	}
	if err := cl.Reverse(ctx, req, ok); err != nil {
		t.Fatal(err)
	}
	adv := pc.waitFor(2, 5*time.Second, "advice of the reversal", isAdvice)
	if got, want := adv[1].msg.OriginalData[4:10], ok.STAN; got != want {
		t.Errorf("second advice reverses STAN %s, want %s", got, want)
	}
	eventually(t, 5*time.Second, "all advices done", func() bool {
		return pendingInStore(t, store) == 0 && cl.Status().PendingAdvices == 0
	})
}

// A posted payment's reversal: the advice's record commits in the caller's command
// (ReversalWrite), is sent once QueueReversal is called (once, however often it is
// called), and is sent after a restart when the host died before QueueReversal.
func TestReversalWriteCommittedWithCaller(t *testing.T) {
	dir := t.TempDir()
	pc := newFakePC(t, testDialect(t))
	store := openStore(t, dir)
	cl, _ := startClient(t, pc, store, time.Second, time.Hour, writeAhead)
	eventually(t, 5*time.Second, "signed on", func() bool { return cl.Status().SignedOn })
	ctx := context.Background()
	origOf := func(stan string) specs.Message {
		for _, g := range pc.matching(isMTI("0200")) {
			if g.msg.STAN == stan {
				return g.msg
			}
		}
		t.Fatalf("no 0200 with STAN %s", stan)
		return specs.Message{}
	}
	advicesFor := func(stan string) int {
		return len(pc.matching(func(m *specs.Message) bool { return isAdvice(m) && m.OriginalData[4:10] == stan }))
	}
	// post authorizes, posts (completion write) and reverses (the advice's write) in two
	// commands, as the switch does.
	post := func(n int) (AuthRequest, PendingReversal, AuthResult) {
		t.Helper()
		req := authReq("5100000000000008")
		res, err := cl.Authorize(ctx, req)
		if err != nil || !res.Approved {
			t.Fatalf("%+v, %v", res, err)
		}
		w, _ := cl.CompletionWrite(res)
		if _, err := store.Submit(ctx, &ledger.Command{Key: fmt.Appendf(nil, "test/post/%d", n), Writes: []ledger.Write{w}}); err != nil {
			t.Fatal(err)
		}
		if _, err := cl.ReversalWrite(ctx, req, AuthResult{ResponseCode: "51", STAN: res.STAN}); !errors.Is(err, ErrNotApproved) {
			t.Fatalf("ReversalWrite of a decline: %v", err)
		}
		p, err := cl.ReversalWrite(ctx, req, res)
		if err != nil {
			t.Fatal(err)
		}
		if p.Write().Key[0] != PrefixAdvice || p.Write().Delete {
			t.Fatalf("advice write %x", p.Write().Key)
		}
		if _, err := store.Submit(ctx, &ledger.Command{Key: fmt.Appendf(nil, "test/reverse/%d", n), Writes: []ledger.Write{p.Write()}}); err != nil {
			t.Fatal(err)
		}
		if n := cl.Status().PendingAdvices; n != 0 {
			t.Fatalf("%d advices queued before QueueReversal", n)
		}
		return req, p, res
	}

	_, live, liveRes := post(1)
	cl.QueueReversal(live)
	cl.QueueReversal(live)
	adv := pc.waitFor(1, 5*time.Second, "advice of the reversed payment", isAdvice)
	if adv[0].msg.MTI != "0420" {
		t.Errorf("first transmission %s, want 0420", adv[0].msg.MTI)
	}
	orig := origOf(liveRes.STAN)
	checkAdvice(t, &adv[0].msg, &orig)
	eventually(t, 5*time.Second, "advice done", func() bool { return pendingInStore(t, store) == 0 && cl.Status().PendingAdvices == 0 })
	cl.QueueReversal(live) // after its 0430: still nothing more
	cl.QueueReversal(PendingReversal{})

	// The host dies after the reversal's command, before QueueReversal.
	_, _, lostRes := post(2)
	time.Sleep(100 * time.Millisecond)
	if n := advicesFor(lostRes.STAN); n != 0 {
		t.Fatalf("%d advices sent without QueueReversal", n)
	}
	if n := pendingInStore(t, store); n != 1 {
		t.Fatalf("%d advice records after the reversal's command, want 1", n)
	}
	cl.Close()
	store.Close()
	store = openStore(t, dir)
	defer store.Close()
	startClient(t, pc, store, time.Second, time.Hour, writeAhead)
	adv = pc.waitFor(1, 5*time.Second, "advice after the restart", func(m *specs.Message) bool {
		return isAdvice(m) && m.OriginalData[4:10] == lostRes.STAN
	})
	orig = origOf(lostRes.STAN)
	checkAdvice(t, &adv[0].msg, &orig)
	eventually(t, 5*time.Second, "advice done", func() bool { return pendingInStore(t, store) == 0 })
	time.Sleep(100 * time.Millisecond)
	if a, b := advicesFor(liveRes.STAN), advicesFor(lostRes.STAN); a != 1 || b != 1 {
		t.Errorf("advices %d and %d, want one per reversed authorization", a, b)
	}
}

func TestReversalWriteBeforeStart(t *testing.T) {
	pc := newFakePC(t, testDialect(t))
	store := openStore(t, "")
	defer store.Close()
	in, _ := registry(t, time.Second, time.Hour, pc.addr).Institution("200002")
	cl, err := NewClient(testConfig(t, &syncBuffer{}), in, store)
	if err != nil {
		t.Fatal(err)
	}
	res := AuthResult{ResponseCode: "00", Approved: true, STAN: "000001", RRN: "512340000001", TransmissionDateTime: "0101120000"}
	if _, err := cl.ReversalWrite(context.Background(), authReq("5100000000000008"), res); !errors.Is(err, ErrNotStarted) {
		t.Fatalf("ReversalWrite before Start: %v, want ErrNotStarted", err)
	}
}
