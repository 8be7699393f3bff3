package billpay

import "encoding/binary"

// Key layout of billpay's records in the ledger's Pebble database (prefixes 0x20–0x3F;
// docs/storage-billpay.md has the table). Provider codes, account numbers and file ids
// never contain 0x00, which separates variable-length parts; numbers are big-endian
// fixed width so that byte order is numeric order.
const (
	// 0x20 | provider → providerRec (committed and full-import versions, last file applied).
	prefixProvider byte = 0x20
	// 0x21 | provider | 0x00 | account | 0x00 | version u32 → accountRec (contact, card,
	// debts, payments since the file). The current record is the highest version the
	// provider record declares committed (and not aborted).
	prefixAccount byte = 0x21
	// 0x22 | provider | 0x00 | file-id → fileRec (a debt list applied).
	prefixFile byte = 0x22
	// 0x23 | regcode (10 digits) → subscriberRec.
	prefixSubscriber byte = 0x23
	// 0x24 | provider | 0x00 | account | 0x00 | regcode → empty (accounts → codes index).
	prefixAccountCode byte = 0x24
	// 0x25 | receipt ("R" YYMMDD seq7) → paymentRec. Byte order = day, then sequence.
	prefixPayment byte = 0x25
	// 0x26 | provider | 0x00 | seq u64 → notice (pending; deleted on acknowledgement):
	// kind, account, receipt, date, time; the rest is read from the payment (outbox.go).
	prefixOutbox byte = 0x26
	// 0x27 | provider → highest acknowledged notice seq u64.
	prefixOutboxAck byte = 0x27
	// 0x28 | name → value: the demo seed marker ("demo" → regcode).
	prefixMeta byte = 0x28
	// 0x29 | caller's key → ver u8 | request hash [32] | regcode: a registration taken
	// under an idempotency key (Register with SubscriberRequest.Key).
	prefixRegKey byte = 0x29
	// 0x2A | business date u32 | receipt → empty: the reversal index. One key per
	// reversed payment or top-up, under the business date its reversal was posted on
	// (the record's ReversalDate): written in the reversal's own ledger command (Reverse)
	// and moved with the record's date by redate when the reversal raced a cutover.
	// Clearing reads a day's late reversals from it (ClearingDay), whatever the age of
	// the payment they reverse.
	prefixRevIndex byte = 0x2A
)

// Ledger command keys of billpay are namespaced "bp/<kind>/..." so that they never meet
// the switch's.
const (
	cmdPay         = "bp/pay/"
	cmdReverse     = "bp/rev/"
	cmdImport      = "bp/imp/"
	cmdImportStage = "bp/imps/"
	cmdRegister    = "bp/sub/"
	cmdSubEdit     = "bp/sube/"
	cmdOutbox      = "bp/ack/"
	cmdDemo        = "bp/demo"
)

func providerKey(p string) []byte { return append([]byte{prefixProvider}, p...) }

func accountPrefix(p, a string) []byte {
	k := make([]byte, 0, 7+len(p)+len(a))
	k = append(k, prefixAccount)
	k = append(k, p...)
	k = append(k, 0)
	k = append(k, a...)
	return append(k, 0)
}

// accountKey is the key of version v of an account's record (see docs/storage-billpay.md:
// a debt list writes new versions, made visible together by one small command).
func accountKey(p, a string, v uint32) []byte {
	return binary.BigEndian.AppendUint32(accountPrefix(p, a), v)
}

func fileKey(p, id string) []byte {
	k := append([]byte{prefixFile}, p...)
	k = append(k, 0)
	return append(k, id...)
}

func subscriberKey(code string) []byte { return append([]byte{prefixSubscriber}, code...) }

func accountCodePrefix(p, a string) []byte {
	k := append([]byte{prefixAccountCode}, p...)
	k = append(k, 0)
	k = append(k, a...)
	return append(k, 0)
}

func accountCodeKey(p, a, code string) []byte { return append(accountCodePrefix(p, a), code...) }

func paymentKey(receipt string) []byte { return append([]byte{prefixPayment}, receipt...) }

func outboxPrefix(p string) []byte {
	k := append([]byte{prefixOutbox}, p...)
	return append(k, 0)
}

func outboxKey(p string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(outboxPrefix(p), seq)
}

func outboxAckKey(p string) []byte { return append([]byte{prefixOutboxAck}, p...) }

func metaKey(name string) []byte { return append([]byte{prefixMeta}, name...) }

func regKeyKey(key []byte) []byte { return append([]byte{prefixRegKey}, key...) }

// revIndexPrefix is the prefix of the reversal index keys of business date d.
func revIndexPrefix(d uint32) []byte { return binary.BigEndian.AppendUint32([]byte{prefixRevIndex}, d) }

func revIndexKey(d uint32, receipt string) []byte { return append(revIndexPrefix(d), receipt...) }

// prefixEnd returns the smallest key above every key starting with p.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}
