package core

import (
	"strconv"
)

// ID identifies a stored entity. IDs are assigned by the store from a
// monotonically increasing sequence (a bbolt bucket sequence today, a database
// sequence in a multi-process deployment), so they sort in creation order and
// are compact in composite keys. In JSON they travel as decimal strings so that
// JavaScript clients never lose precision.
type ID uint64

func (id ID) String() string { return strconv.FormatUint(uint64(id), 10) }

// MarshalText encodes the ID as a decimal string.
func (id ID) MarshalText() ([]byte, error) { return strconv.AppendUint(nil, uint64(id), 10), nil }

// UnmarshalText parses a decimal ID.
func (id *ID) UnmarshalText(b []byte) error {
	v, err := ParseID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}

// ParseID parses a decimal ID; zero and garbage are ErrInvalid.
func ParseID(s string) (ID, error) {
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || v == 0 {
		return 0, Invalidf("%q is not a valid id", s)
	}
	return ID(v), nil
}
