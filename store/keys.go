package store

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/retain-crm/retain/core"
)

// Keys are big-endian and composite so that bbolt's byte order is the order
// we read in: ids in creation order, a customer's timeline by time, the
// time index by time bucket.

const (
	idLen   = 8
	timeLen = 12 // seconds (sign-flipped int64) | nanoseconds (uint32)
)

func idKey(id core.ID) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, idLen), uint64(id))
}

func keyID(k []byte) core.ID {
	if len(k) < idLen {
		return 0
	}
	return core.ID(binary.BigEndian.Uint64(k[len(k)-idLen:]))
}

// appendTime encodes t so that byte order is time order, for any year the
// domain accepts (UnixNano would overflow outside 1678..2262).
func appendTime(dst []byte, t time.Time) []byte {
	dst = binary.BigEndian.AppendUint64(dst, uint64(t.Unix())^(1<<63))
	return binary.BigEndian.AppendUint32(dst, uint32(t.Nanosecond()))
}

func decodeTime(b []byte) time.Time {
	sec := int64(binary.BigEndian.Uint64(b) ^ (1 << 63))
	ns := int64(binary.BigEndian.Uint32(b[8:]))
	return time.Unix(sec, ns).UTC()
}

// timelineKey is customer | time | interaction id.
func timelineKey(customer core.ID, t time.Time, id core.ID) []byte {
	k := make([]byte, 0, idLen+timeLen+idLen)
	k = binary.BigEndian.AppendUint64(k, uint64(customer))
	k = appendTime(k, t)
	return binary.BigEndian.AppendUint64(k, uint64(id))
}

// The time index is keyed by a coarse time bucket, not the exact time, so
// that a batch's inserts land together: interaction ids only grow, so within
// a bucket every new entry goes to the end of that bucket's range, and a
// batch dirties about one leaf per bucket it touches instead of one per
// interaction. The exact time is the value; a scan sorts a bucket's entries
// in memory.
const (
	timeBucketLen     = 4
	timeBucketSeconds = 24 * 60 * 60 // a UTC day
	timeIndexKeyLen   = timeBucketLen + idLen
)

// appendTimeBucket encodes t's bucket number (floor(unix/timeBucketSeconds),
// clamped to int32 and sign-flipped) so that byte order is bucket order.
// Clamping keeps the order; times far outside 1900..9999 merely share the
// first or last bucket.
func appendTimeBucket(dst []byte, t time.Time) []byte {
	n := t.Unix() / timeBucketSeconds
	if t.Unix() < 0 && t.Unix()%timeBucketSeconds != 0 {
		n-- // floor, not truncation, for times before 1970
	}
	n = max(min(n, math.MaxInt32), math.MinInt32)
	return binary.BigEndian.AppendUint32(dst, uint32(int32(n))^(1<<31))
}

// timeIndexKey is time bucket | interaction id; its value is appendTime(t).
func timeIndexKey(t time.Time, id core.ID) []byte {
	k := make([]byte, 0, timeIndexKeyLen)
	k = appendTimeBucket(k, t)
	return binary.BigEndian.AppendUint64(k, uint64(id))
}

// valuePrefix is len(2) | value; the length keeps "ab"+id apart from "abc"+id.
func valuePrefix(v string) []byte {
	k := make([]byte, 0, 2+len(v)+idLen)
	k = binary.BigEndian.AppendUint16(k, uint16(len(v)))
	return append(k, v...)
}

// valueKey is len(2) | value | id, the key of the email, phone and tag indexes.
func valueKey(v string, id core.ID) []byte {
	return binary.BigEndian.AppendUint64(valuePrefix(v), uint64(id))
}

// splitValueKey undoes valueKey; ok is false for a malformed key.
func splitValueKey(k []byte) (v string, id core.ID, ok bool) {
	if len(k) < 2+idLen {
		return "", 0, false
	}
	n := int(binary.BigEndian.Uint16(k))
	if len(k) != 2+n+idLen {
		return "", 0, false
	}
	return string(k[2 : 2+n]), keyID(k), true
}

// Cursors are the last key a page returned, base64url-encoded. They are
// opaque to clients; decodeCursor checks the length so that a forged or
// truncated cursor is ErrInvalid, never a panic or a wrong seek.
func encodeCursor(k []byte) string { return base64.RawURLEncoding.EncodeToString(k) }

func decodeCursor(s string, wantLen int) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	if len(s) > base64.RawURLEncoding.EncodedLen(wantLen) {
		return nil, fmt.Errorf("%w: malformed cursor", core.ErrInvalid)
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != wantLen {
		return nil, fmt.Errorf("%w: malformed cursor", core.ErrInvalid)
	}
	return b, nil
}
