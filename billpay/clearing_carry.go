package billpay

// The balance a provider carries from one clearing to the next (billpay/clearing): a
// day whose register pays out less than nothing (late reversals of payments already
// paid out) leaves that debt on the provider payable, and the provider's next payouts
// are netted against it. Clearing records the carried balance here, in the same ledger
// command as the provider's payout, so that a later day (and a re-run of any day) reads
// the same figure.

import (
	"encoding/binary"

	"github.com/billswitch/billswitch/ledger"
)

// prefixCarry: 0x30 | provider | 0x00 | currency u16 | date u32 → carryRec (format 1,
// zig-zag varint: the provider's balance after the payout of that business date; ≤ 0,
// 0 once the debt is netted). Written only by the clearing of a day on which the
// balance changed, so the record of the latest earlier date is the balance a day
// starts with. Kept apart from 0x20–0x29 (0x2A… left for billpay's own indexes).
const prefixCarry byte = 0x30

const carryFormat = 1

func carryPrefix(provider string, currency uint16) []byte {
	k := make([]byte, 0, len(provider)+8)
	k = append(k, prefixCarry)
	k = append(k, provider...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint16(k, currency)
}

func carryKey(provider string, currency uint16, date ledger.Date) []byte {
	return binary.BigEndian.AppendUint32(carryPrefix(provider, currency), uint32(date))
}

// ClearingCarryWrite is the write that records provider's carried balance (minor
// units, ≤ 0: what it owes the hub) after the clearing of date. Clearing puts it in the
// command of the provider's payout for date.
func ClearingCarryWrite(provider string, currency uint16, date ledger.Date, carry int64) ledger.Write {
	e := newEnc(12, carryFormat)
	e.i(carry)
	return ledger.Write{Key: carryKey(provider, currency, date), Value: e.b}
}

// ClearingCarry returns the balance provider carries into the clearing of before: the
// balance recorded by the clearing of the latest earlier date (0 when none). It reads
// the durable state; records of before itself and of later dates are not seen, so a
// re-run of a day reads what its first run read.
func (c *Core) ClearingCarry(provider string, currency uint16, before ledger.Date) (int64, error) {
	view, err := c.l.View()
	if err != nil {
		return 0, err
	}
	defer view.Close()
	var carry int64
	var ferr error
	err = view.Scan(carryPrefix(provider, currency), carryKey(provider, currency, before), func(k, v []byte) bool {
		if len(v) == 0 || v[0] != carryFormat {
			ferr = errCorrupt
			return false
		}
		d := dec{b: v[1:]}
		carry = d.i()
		ferr = d.err
		return ferr == nil
	})
	if err == nil {
		err = ferr
	}
	return carry, err
}
