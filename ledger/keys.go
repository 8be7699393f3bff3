package ledger

import "encoding/binary"

// Key layout of the payment core's one Pebble database. Every key starts with a
// one-byte prefix naming its record kind; fixed-width fields are big-endian so that
// byte order is numeric order and every scan is bounded by [prefix, prefix+1).
// docs/storage.md has the full table.
//
// Prefix ranges are owned by packages:
//
//	0x01–0x1F  ledger (this package)
//	0x20–0x3F  billpay
//	0x40–0x4F  switch
//
// Submit refuses a Write whose key lies outside [ForeignMin, ForeignMax].
const (
	LedgerPrefixMin  byte = 0x01
	LedgerPrefixMax  byte = 0x1F
	BillpayPrefixMin byte = 0x20
	BillpayPrefixMax byte = 0x3F
	SwitchPrefixMin  byte = 0x40
	SwitchPrefixMax  byte = 0x4F

	// ForeignMin and ForeignMax bound the keys other packages may write through a
	// Command (Writes and WriteFunc).
	ForeignMin = BillpayPrefixMin
	ForeignMax = SwitchPrefixMax
)

// The ledger's own record kinds.
const (
	// prefixMeta: 0x01 | name (ASCII) → meta value (see metaDate, metaFormat).
	prefixMeta byte = 0x01
	// prefixBalance: 0x02 | kind u8 | currency u16 | owner bytes → debits i64 | credits i64.
	prefixBalance byte = 0x02
	// prefixTransfer: 0x03 | transfer id u64 → transfer record (immutable).
	prefixTransfer byte = 0x03
	// prefixIdem: 0x04 | idempotency key bytes → outcome record (immutable).
	prefixIdem byte = 0x04
	// prefixJournal: 0x05 | group seq u64 → journal record (immutable).
	prefixJournal byte = 0x05
	// prefixReversed: 0x06 | original transfer id u64 → reversal transfer id u64.
	prefixReversed byte = 0x06
)

var (
	metaDateKey   = []byte{prefixMeta, 'd', 'a', 't', 'e'}
	metaFormatKey = []byte{prefixMeta, 'f', 'm', 't'}
)

// storeFormat is the version of the ledger's record encodings, kept under metaFormatKey.
const storeFormat uint32 = 1

const (
	maxKeyLen   = 512 // idempotency keys
	maxOwnerLen = 255 // account owner
	maxRefLen   = 255 // each of Refs' fields
	maxPostings = 64
	maxResult   = 64 << 10
)

// balanceKey appends the balance key of (acct, cur) to dst.
func balanceKey(dst []byte, acct AccountID, cur Currency) []byte {
	dst = append(dst, prefixBalance, byte(acct.Kind))
	dst = binary.BigEndian.AppendUint16(dst, uint16(cur))
	return append(dst, acct.Owner...)
}

// parseBalanceKey is the inverse of balanceKey.
func parseBalanceKey(k []byte) (AccountID, Currency, bool) {
	if len(k) < 4 || k[0] != prefixBalance {
		return AccountID{}, 0, false
	}
	return AccountID{Kind: AccountKind(k[1]), Owner: string(k[4:])},
		Currency(binary.BigEndian.Uint16(k[2:4])), true
}

func transferKey(dst []byte, id TransferID) []byte {
	dst = append(dst, prefixTransfer)
	return binary.BigEndian.AppendUint64(dst, uint64(id))
}

func idemKey(dst []byte, key []byte) []byte {
	dst = append(dst, prefixIdem)
	return append(dst, key...)
}

func journalKey(dst []byte, seq uint64) []byte {
	dst = append(dst, prefixJournal)
	return binary.BigEndian.AppendUint64(dst, seq)
}

func reversedKey(dst []byte, id TransferID) []byte {
	dst = append(dst, prefixReversed)
	return binary.BigEndian.AppendUint64(dst, uint64(id))
}

// prefixBounds returns the [lower, upper) bounds of every key with prefix p.
func prefixBounds(p byte) (lower, upper []byte) {
	return []byte{p}, []byte{p + 1}
}

// foreignKeyOK reports whether another package may write key through a Command.
func foreignKeyOK(key []byte) bool {
	return len(key) > 0 && key[0] >= ForeignMin && key[0] <= ForeignMax
}
