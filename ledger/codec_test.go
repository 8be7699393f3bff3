package ledger

import (
	"reflect"
	"testing"
)

func TestRecordRoundTrip(t *testing.T) {
	tr := payment(12345, 67, "PAY-1")
	tr.ID, tr.BusinessDate, tr.PostedAt, tr.Reverses = 99, 20261121, 1763715600000000000, 42
	got, err := decodeTransfer(99, appendTransfer(nil, tr))
	if err != nil || !reflect.DeepEqual(got, *tr) {
		t.Fatalf("transfer round trip: %v\n got %+v\nwant %+v", err, got, *tr)
	}
	rec := idemRecord{hash: hashOf("x"), status: Declined, reason: reasonAlreadyReversed, transfer: 7, date: 20261121, seq: 3, result: []byte("r")}
	gotRec, err := decodeIdem(appendIdem(nil, &rec))
	if err != nil || !reflect.DeepEqual(gotRec, rec) {
		t.Fatalf("outcome round trip: %v %+v", err, gotRec)
	}
	jr := journalRecord{prev: hashOf("p"), hash: hashOf("h"), committedAt: 5, entries: []journalEntry{
		{typ: entryCommand, key: []byte("k"), writesDigest: hashOf("w")},
		{typ: entryCutover, from: 20261121, to: 20261122},
	}}
	gotJr, err := decodeJournal(appendJournal(nil, &jr))
	if err != nil || !reflect.DeepEqual(gotJr, jr) {
		t.Fatalf("journal round trip: %v %+v", err, gotJr)
	}
	// Truncations are errors, never panics or silent successes.
	for _, v := range [][]byte{appendTransfer(nil, tr), appendIdem(nil, &rec), appendJournal(nil, &jr)} {
		for i := 0; i < len(v); i++ {
			_, e1 := decodeTransfer(1, v[:i])
			_, e2 := decodeIdem(v[:i])
			_, e3 := decodeJournal(v[:i])
			if e1 == nil && e2 == nil && e3 == nil {
				t.Fatalf("truncation to %d bytes decoded", i)
			}
		}
	}
}

// FuzzDecodeRecords feeds arbitrary bytes to every record decoder: they must return an
// error or a record that re-encodes to the same bytes.
func FuzzDecodeRecords(f *testing.F) {
	tr := payment(100, 1, "p")
	f.Add(appendTransfer(nil, tr))
	f.Add(appendIdem(nil, &idemRecord{status: Committed, result: []byte("x")}))
	f.Add(appendJournal(nil, &journalRecord{entries: []journalEntry{{typ: entryCommand, key: []byte("k")}}}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, err := decodeTransfer(1, b); err == nil {
			if re := appendTransfer(nil, &got); string(re) != string(b) {
				t.Fatalf("transfer re-encodes differently")
			}
		}
		_, _, _ = scanTransferPostings(b, func(postingView) {})
		if got, err := decodeIdem(b); err == nil {
			if re := appendIdem(nil, &got); string(re) != string(b) {
				t.Fatalf("outcome re-encodes differently")
			}
		}
		if got, err := decodeJournal(b); err == nil {
			if re := appendJournal(nil, &got); string(re) != string(b) {
				t.Fatalf("journal re-encodes differently")
			}
		}
		_, _ = decodeBalance(b)
		_, _, _ = parseBalanceKey(b)
	})
}
