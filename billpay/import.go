package billpay

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"

	"github.com/billswitch/billswitch/billpay/debtfile"
	"github.com/billswitch/billswitch/ledger"
)

// Refusal says why a debt list was not applied.
type Refusal uint8

const (
	RefusedUnknownProvider Refusal = iota + 1
	RefusedDuplicate               // file-id already applied (provider-exchange.md §1)
	RefusedStale                   // created older than the provider's last applied file
	RefusedSignature               // missing or bad signature for a provider with a key
	RefusedBadFile                 // not a well-formed debts file
	RefusedBadRecords              // one or more invalid records (see Report)
	RefusedChanged                 // the file changed between the passes
)

var refusalNames = [...]string{RefusedUnknownProvider: "unknown provider", RefusedDuplicate: "duplicate file-id",
	RefusedStale: "stale file", RefusedSignature: "bad signature", RefusedBadFile: "bad file",
	RefusedBadRecords: "bad records", RefusedChanged: "file changed while importing"}

func (r Refusal) String() string {
	if int(r) < len(refusalNames) && refusalNames[r] != "" {
		return refusalNames[r]
	}
	return fmt.Sprintf("refusal(%d)", uint8(r))
}

// ImportError is a refused debt list: nothing of it was applied.
type ImportError struct {
	Reason Refusal
	Msg    string
	Report debtfile.Report // for RefusedBadRecords: every bad record by line (up to the cap)
}

func (e *ImportError) Error() string {
	s := "billpay: import refused: " + e.Reason.String() + ": " + e.Msg
	for _, re := range e.Report.Errors {
		s += "\n  " + re.Error()
	}
	if e.Report.More > 0 {
		s += fmt.Sprintf("\n  … and %d more", e.Report.More)
	}
	return s
}

// ImportRequest is one debt list to apply.
type ImportRequest struct {
	// Open opens the file from its start; it is called once per pass (the file is read
	// as a stream, never held in memory).
	Open func() (io.ReadCloser, error)
	// Signature is the content of FILE.sig (base64), nil when none came.
	Signature []byte
	// Progress, when set, gets the bytes read of each pass (pass 1 = validate, 2 = apply).
	Progress func(pass int, bytesRead int64)
	// MaxErrors caps the bad records named in a refusal (default 100).
	MaxErrors int
	// Provider, when set, is the provider the caller is authenticated as (an online
	// update): a document naming any other provider is refused before anything is read
	// further.
	Provider string
}

// ImportResult is an applied debt list.
type ImportResult struct {
	Header   debtfile.Header
	Accounts int // accounts in the file
	Debts    int
	Closed   int // accounts the file closed (status="closed")
}

// ImportFile applies the debt list at path, with the signature at sigPath ("" = none).
func (c *Core) ImportFile(ctx context.Context, path, sigPath string, progress func(pass int, n int64)) (*ImportResult, error) {
	req := ImportRequest{Open: func() (io.ReadCloser, error) { return os.Open(path) }, Progress: progress}
	if sigPath != "" {
		sig, err := os.ReadFile(sigPath)
		if err != nil {
			return nil, err
		}
		req.Signature = sig
	}
	return c.Import(ctx, req)
}

// ImportBytes applies a debt list held in memory (tests, the demo's embedded fixture).
func (c *Core) ImportBytes(ctx context.Context, file, sig []byte) (*ImportResult, error) {
	return c.ImportBytesAs(ctx, "", file, sig)
}

// ImportBytesAs is ImportBytes for a caller authenticated as provider (ImportRequest.Provider).
func (c *Core) ImportBytesAs(ctx context.Context, provider string, file, sig []byte) (*ImportResult, error) {
	return c.Import(ctx, ImportRequest{Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(file)), nil },
		Signature: sig, Provider: provider})
}

// hashingReader hashes what is read through it.
type hashingReader struct {
	r io.Reader
	h hash.Hash
}

func (h *hashingReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.h.Write(p[:n])
	return n, err
}

func (c *Core) pass(req *ImportRequest, fn func(io.Reader) error) ([32]byte, error) {
	f, err := req.Open()
	if err != nil {
		return [32]byte{}, err
	}
	defer f.Close()
	hr := &hashingReader{r: f, h: sha256.New()}
	if err := fn(hr); err != nil {
		return [32]byte{}, err
	}
	// Hash what the pass left unread (nothing, for a well-formed file).
	if _, err := io.Copy(io.Discard, hr); err != nil {
		return [32]byte{}, err
	}
	return [32]byte(hr.h.Sum(nil)), nil
}

// Import applies a debt list (provider-exchange.md §1) whole or not at all:
//
//  1. the header names a registered provider; the file-id was never applied; created
//     is not older than the provider's last applied file;
//  2. when the provider has a public key, the detached signature verifies;
//  3. pass 1 validates every record (any bad one refuses the file with a report);
//  4. pass 2 streams the records into one ledger command (its WriteFunc), with the
//     provider's payments held off by its import lock, and records the file-id.
//
// Every pass hashes the bytes it read; a file that changed between passes is refused
// and nothing is applied.
func (c *Core) Import(ctx context.Context, req ImportRequest) (*ImportResult, error) {
	var hdr debtfile.Header
	_, err := c.pass(&req, func(r io.Reader) error {
		rd, err := debtfile.NewReader(r, debtfile.Options{})
		if err != nil {
			return err
		}
		hdr = rd.Header()
		return nil
	})
	if err != nil {
		return nil, fileRefusal(err)
	}
	if req.Provider != "" && hdr.Provider != req.Provider {
		return nil, &ImportError{Reason: RefusedUnknownProvider, Msg: fmt.Sprintf("the document names provider %q, not %s", hdr.Provider, req.Provider)}
	}
	prov, ok := c.Registry().Provider(hdr.Provider)
	if !ok {
		return nil, &ImportError{Reason: RefusedUnknownProvider, Msg: fmt.Sprintf("provider %q is not registered", hdr.Provider)}
	}
	var sigHash [32]byte
	if prov.PublicKey != nil {
		if len(req.Signature) == 0 {
			return nil, &ImportError{Reason: RefusedSignature, Msg: fmt.Sprintf("%s has a public key; the file comes without a signature", prov.Code)}
		}
		sigHash, err = c.pass(&req, func(r io.Reader) error { return debtfile.VerifySignature(prov.PublicKey, r, req.Signature) })
		if err != nil {
			return nil, &ImportError{Reason: RefusedSignature, Msg: err.Error()}
		}
	}
	// Payments to this provider wait while the file is checked against the store and
	// applied, so the netting sees every payment and none slips between the passes.
	pl := c.provLock(prov.Code)
	pl.Lock()
	defer pl.Unlock()
	// Whatever happens, the provider's cached state is read again after the import, and
	// no cached account record survives it (acctcache.go).
	defer c.prCache.Delete(prov.Code)
	defer c.acctEpoch.Add(1)
	view, err := c.l.View()
	if err != nil {
		return nil, err
	}
	defer view.Close()
	pr, err := getProviderRec(view, prov.Code)
	if err != nil {
		return nil, err
	}
	if _, dup, err := view.Get(fileKey(prov.Code, hdr.FileID)); err != nil {
		return nil, err
	} else if dup {
		return nil, &ImportError{Reason: RefusedDuplicate, Msg: fmt.Sprintf("file-id %s of %s was already applied", hdr.FileID, prov.Code)}
	}
	if hdr.Created.Unix() < pr.LastCreated {
		return nil, &ImportError{Reason: RefusedStale, Msg: fmt.Sprintf("created %s is older than the last applied file %s of %s",
			hdr.Created.Format("2006-01-02T15:04:05Z07:00"), pr.LastFileID, prov.Code)}
	}
	opts := debtfile.Options{MinorDigits: prov.MinorDigits, MaxErrors: req.MaxErrors,
		Service: func(code string) bool { _, _, ok := prov.Service(code); return ok }}
	if req.Progress != nil {
		opts.Progress = func(n int64) { req.Progress(1, n) }
	}
	var rep debtfile.Report
	h1, err := c.pass(&req, func(r io.Reader) error {
		var err error
		_, rep, err = debtfile.Validate(r, opts)
		return err
	})
	if err != nil {
		return nil, fileRefusal(err)
	}
	if !rep.OK() {
		return nil, &ImportError{Reason: RefusedBadRecords, Msg: fmt.Sprintf("%d bad records", len(rep.Errors)+rep.More), Report: rep}
	}
	if prov.PublicKey != nil && sigHash != h1 {
		return nil, &ImportError{Reason: RefusedChanged, Msg: "the file changed after its signature was checked"}
	}

	through := uint32(hdr.RegistersThrough.Year()*10000 + int(hdr.RegistersThrough.Month())*100 + hdr.RegistersThrough.Day())
	res, err := c.apply(ctx, &req, view, prov, pr, hdr, opts, h1, through)
	if err != nil {
		return nil, err
	}
	c.log.Info().Str("provider", prov.Code).Str("file_id", hdr.FileID).Str("mode", hdr.Mode.String()).
		Int("accounts", res.Accounts).Int("debts", res.Debts).Msg("debt list applied")
	return res, nil
}

func fileRefusal(err error) error {
	var fe *debtfile.FileError
	if errors.As(err, &fe) {
		return &ImportError{Reason: RefusedBadFile, Msg: fe.Error()}
	}
	return err
}

// mergeAccount builds an account's record from its file record: contact details,
// prepaid card and debts as the file says; the payments accepted on business days after
// registers-through are kept (netting), older ones are dropped (the file counts them).
func mergeAccount(old *accountRec, a *debtfile.Account, gen, through uint32) *accountRec {
	rec := &accountRec{Gen: gen, Closed: a.Closed, Prepaid: a.Prepaid, RegistersThrough: through}
	if old != nil {
		rec.Name, rec.Address, rec.Phone, rec.Email = old.Name, old.Address, old.Phone, old.Email
		rec.CardID, rec.CardSeq, rec.IssuedSeq = old.CardID, old.CardSeq, old.IssuedSeq
		for _, p := range old.Paid {
			if p.Date > through {
				rec.Paid = append(rec.Paid, p)
			}
		}
	}
	if a.Name != "" {
		rec.Name = a.Name
	}
	if a.Address != "" {
		rec.Address = a.Address
	}
	if a.Phone != "" {
		rec.Phone = a.Phone
	}
	if a.Email != "" {
		rec.Email = a.Email
	}
	if a.Card != nil {
		if a.Card.ID != rec.CardID {
			rec.IssuedSeq = 0
		}
		rec.CardID, rec.CardSeq = a.Card.ID, a.Card.Sequence
		if rec.IssuedSeq <= rec.CardSeq {
			rec.IssuedSeq = 0 // the card has moved past the last credential
		}
	}
	if len(a.Debts) > 0 {
		rec.Debts = make([]debtRec, len(a.Debts))
		for i, d := range a.Debts {
			rec.Debts[i] = debtRec{Service: d.Service, Period: d.Period, Amount: d.Amount}
			if d.Meter != nil {
				rec.Debts[i].Meter = &Meter{ID: d.Meter.ID, Previous: d.Meter.Previous, Current: d.Meter.Current, Unit: d.Meter.Unit, Tariff: d.Meter.Tariff}
			}
		}
	}
	return rec
}

// importChunk bounds the records of one staging command (memory stays flat: a chunk is
// committed before the next is read).
const (
	importChunkRecords = 8192 // default of Core.importChunk
	importChunkBytes   = 8 << 20
)

// apply stages the file's records under a fresh version in chunk commands, then makes
// them visible with one small command keyed by the file-id (the atomic step). An
// attempt that stops before that step leaves only invisible records; its version is
// listed as aborted by the next import.
func (c *Core) apply(ctx context.Context, req *ImportRequest, view ledger.Reader, prov *Provider, pr *providerRec,
	hdr debtfile.Header, opts debtfile.Options, h1 [32]byte, through uint32) (*ImportResult, error) {
	npr := *pr
	npr.Aborted = append([]uint32(nil), pr.Aborted...)
	if npr.Pending != 0 {
		npr.Aborted = append(npr.Aborted, npr.Pending)
	}
	v := max(npr.NextVersion, npr.Committed) + 1
	npr.NextVersion, npr.Pending = v, v
	attempt := fmt.Sprintf("%s%s/%s/v%d", cmdImportStage, prov.Code, hdr.FileID, v)
	if _, err := c.l.Submit(ctx, &ledger.Command{Key: []byte(attempt + "/begin"), Writes: []ledger.Write{{Key: providerKey(prov.Code), Value: npr.encode()}}}); err != nil {
		return nil, err
	}
	abort := func(cause error) error {
		// Best effort: a failed abort is repaired by the next import (Pending → Aborted).
		apr := npr
		apr.Pending = 0
		apr.Aborted = append(append([]uint32(nil), npr.Aborted...), v)
		_, _ = c.l.Submit(context.WithoutCancel(ctx), &ledger.Command{Key: []byte(attempt + "/abort"),
			Writes: []ledger.Write{{Key: providerKey(prov.Code), Value: apr.encode()}}})
		return cause
	}
	res := &ImportResult{Header: hdr}
	if req.Progress != nil {
		opts.Progress = func(n int64) { req.Progress(2, n) }
	}
	var writes []ledger.Write
	size, chunk := 0, 0
	flush := func() error {
		if len(writes) == 0 {
			return nil
		}
		chunk++
		_, err := c.l.Submit(ctx, &ledger.Command{Key: []byte(fmt.Sprintf("%s/%d", attempt, chunk)), Writes: writes})
		writes, size = writes[:0], 0
		return err
	}
	errChanged := errors.New("file changed")
	h2, err := c.pass(req, func(r io.Reader) error {
		rd, err := debtfile.NewReader(r, opts)
		if err != nil {
			return err
		}
		for {
			a, err := rd.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return err
			}
			old, stale, err := scanAccount(view, pr, prov.Code, a.Number, true)
			if err != nil {
				return err
			}
			rec := mergeAccount(old, a, v, through)
			res.Accounts++
			res.Debts += len(a.Debts)
			if a.Closed {
				res.Closed++
			}
			val := rec.encode(nil)
			writes = append(writes, ledger.Write{Key: accountKey(prov.Code, a.Number, v), Value: val})
			size += len(val)
			for _, k := range stale {
				writes = append(writes, ledger.Write{Key: k, Delete: true})
			}
			if len(writes) >= c.importChunk || size >= importChunkBytes {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		if !rd.Valid() {
			return errChanged
		}
		return flush()
	})
	if err == nil && h2 != h1 {
		err = errChanged
	}
	if err != nil {
		var fe *debtfile.FileError
		if errors.Is(err, errChanged) || errors.As(err, &fe) {
			return nil, abort(&ImportError{Reason: RefusedChanged, Msg: "the file changed between the passes"})
		}
		return nil, abort(err)
	}
	// The atomic step: every staged record becomes visible, the file-id is recorded.
	fpr := npr
	fpr.Committed, fpr.Pending = v, 0
	if hdr.Mode == debtfile.ModeFull {
		fpr.FullVersion = v
	}
	fpr.LastCreated, fpr.LastFileID = hdr.Created.Unix(), hdr.FileID
	e := enc{b: []byte{recFormat, byte(hdr.Mode)}}
	e.i(hdr.Created.Unix())
	e.u(uint64(res.Accounts))
	e.u(uint64(res.Debts))
	e.u(uint64(v))
	e.by(h1[:])
	out, err := c.l.Submit(ctx, &ledger.Command{Key: []byte(cmdImport + prov.Code + "/" + hdr.FileID), RequestHash: h1,
		Writes: []ledger.Write{{Key: providerKey(prov.Code), Value: fpr.encode()}, {Key: fileKey(prov.Code, hdr.FileID), Value: e.b}}})
	switch {
	case errors.Is(err, ledger.ErrConflict):
		return nil, abort(&ImportError{Reason: RefusedDuplicate, Msg: fmt.Sprintf("file-id %s of %s was already applied with other content", hdr.FileID, prov.Code)})
	case err != nil:
		return nil, abort(err)
	case out.Duplicate:
		return nil, abort(&ImportError{Reason: RefusedDuplicate, Msg: fmt.Sprintf("file-id %s of %s was already applied", hdr.FileID, prov.Code)})
	}
	return res, nil
}
