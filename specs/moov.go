package specs

import "github.com/moov-io/iso8583"

// ToMoov builds the moov-io message of m under the dialect's spec, for libraries that
// speak moov messages (iso8583-connection). Errors name the field only.
func (d *Dialect) ToMoov(m *Message) (*iso8583.Message, error) {
	mm := iso8583.NewMessage(d.spec)
	mm.MTI(m.MTI)
	for de := 2; de <= 128; de++ {
		if p := strPtr(m, de); p != nil {
			if *p != "" {
				if err := mm.Field(de, *p); err != nil {
					return nil, &FieldError{Field: de, Reason: "not accepted by the spec"}
				}
			}
		} else if p := binPtr(m, de); p != nil && *p != nil {
			if err := mm.BinaryField(de, append([]byte(nil), *p...)); err != nil {
				return nil, &FieldError{Field: de, Reason: "not accepted by the spec"}
			}
		}
	}
	return mm, nil
}

// FromMoov fills m (reset first) from a moov-io message. Errors name the field only.
func FromMoov(mm *iso8583.Message, m *Message) error {
	m.Reset()
	mti, err := mm.GetMTI()
	if err != nil {
		return &FieldError{Field: 0, Reason: "unreadable"}
	}
	m.MTI = mti
	for de, f := range mm.GetFields() {
		if de < 2 {
			continue
		}
		if p := strPtr(m, de); p != nil {
			s, err := f.String()
			if err != nil {
				return &FieldError{Field: de, Reason: "unreadable"}
			}
			*p = s
			continue
		}
		if p := binPtr(m, de); p != nil {
			b, err := f.Bytes()
			if err != nil {
				return &FieldError{Field: de, Reason: "unreadable"}
			}
			*p = append([]byte(nil), b...)
		}
	}
	return nil
}
