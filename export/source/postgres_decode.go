package source

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/heraldhq/herald/export/data"
)

// pgDecoder reads one non-NULL column value in the format pgColumn chose.
type pgDecoder func(b []byte) (any, error)

// pgColumn maps a result column's type OID to Herald's type, the format to
// ask the server for and the decoder of that format:
//
//	int2, int4, int8, oid           → Int    (binary)
//	float4, float8                  → Float  (binary)
//	numeric                         → Float  (text, parsed to float64: exact to
//	                                  15 significant digits; NaN and ±Infinity kept)
//	bool                            → Bool   (binary)
//	date                            → Date   (binary)
//	timestamp, timestamptz          → Timestamp, UTC (binary; a timestamp
//	                                  without time zone is taken as UTC)
//	bytea                           → Bytes  (binary)
//	anything else (text, varchar, uuid, json, jsonb, interval, arrays, enums…)
//	                                → String, the server's text form
//
// Binary formats do not depend on session settings such as DateStyle.
func pgColumn(oid uint32) (data.Type, int16, pgDecoder) {
	const bin, txt = pgtype.BinaryFormatCode, pgtype.TextFormatCode
	switch oid {
	case pgtype.Int2OID:
		return data.TypeInt, bin, decodeInt2
	case pgtype.Int4OID:
		return data.TypeInt, bin, decodeInt4
	case pgtype.OIDOID:
		return data.TypeInt, bin, decodeOID
	case pgtype.Int8OID:
		return data.TypeInt, bin, decodeInt8
	case pgtype.Float4OID:
		return data.TypeFloat, bin, decodeFloat4
	case pgtype.Float8OID:
		return data.TypeFloat, bin, decodeFloat8
	case pgtype.NumericOID:
		return data.TypeFloat, txt, decodeNumericText
	case pgtype.BoolOID:
		return data.TypeBool, bin, decodeBool
	case pgtype.DateOID:
		return data.TypeDate, bin, decodeDate
	case pgtype.TimestampOID, pgtype.TimestamptzOID:
		return data.TypeTimestamp, bin, decodeTimestamp
	case pgtype.ByteaOID:
		return data.TypeBytes, bin, decodeBytes
	}
	return data.TypeString, txt, decodeText
}

func wrongSize(b []byte, want int) error {
	return fmt.Errorf("binary value of %d bytes, want %d", len(b), want)
}

func decodeInt2(b []byte) (any, error) {
	if len(b) != 2 {
		return nil, wrongSize(b, 2)
	}
	return int64(int16(binary.BigEndian.Uint16(b))), nil
}

func decodeInt4(b []byte) (any, error) {
	if len(b) != 4 {
		return nil, wrongSize(b, 4)
	}
	return int64(int32(binary.BigEndian.Uint32(b))), nil
}

func decodeOID(b []byte) (any, error) {
	if len(b) != 4 {
		return nil, wrongSize(b, 4)
	}
	return int64(binary.BigEndian.Uint32(b)), nil
}

func decodeInt8(b []byte) (any, error) {
	if len(b) != 8 {
		return nil, wrongSize(b, 8)
	}
	return int64(binary.BigEndian.Uint64(b)), nil
}

func decodeFloat4(b []byte) (any, error) {
	if len(b) != 4 {
		return nil, wrongSize(b, 4)
	}
	// Through the shortest decimal form, as for MySQL's FLOAT.
	return toFloat(math.Float32frombits(binary.BigEndian.Uint32(b)))
}

func decodeFloat8(b []byte) (any, error) {
	if len(b) != 8 {
		return nil, wrongSize(b, 8)
	}
	return math.Float64frombits(binary.BigEndian.Uint64(b)), nil
}

func decodeNumericText(b []byte) (any, error) {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return nil, fmt.Errorf("numeric %q: %w", b, err)
	}
	return f, nil // out of range: ±Inf, as ParseFloat returns it
}

func decodeBool(b []byte) (any, error) {
	if len(b) != 1 {
		return nil, wrongSize(b, 1)
	}
	return b[0] != 0, nil
}

// pgEpoch is day 0 and microsecond 0 of PostgreSQL's binary date and time
// formats.
var pgEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

var errInfinity = errors.New("infinite dates and timestamps cannot be exported")

func decodeDate(b []byte) (any, error) {
	if len(b) != 4 {
		return nil, wrongSize(b, 4)
	}
	days := int32(binary.BigEndian.Uint32(b))
	if days == math.MaxInt32 || days == math.MinInt32 {
		return nil, errInfinity
	}
	return pgEpoch.AddDate(0, 0, int(days)), nil
}

func decodeTimestamp(b []byte) (any, error) {
	if len(b) != 8 {
		return nil, wrongSize(b, 8)
	}
	us := int64(binary.BigEndian.Uint64(b))
	if us == math.MaxInt64 || us == math.MinInt64 {
		return nil, errInfinity
	}
	// Seconds and microseconds apart: µs since 2000 overflow Duration's
	// nanoseconds beyond ±292 years.
	sec, frac := us/1_000_000, us%1_000_000
	return time.Unix(pgEpoch.Unix()+sec, frac*1000).UTC(), nil
}

func decodeBytes(b []byte) (any, error) { return b, nil }

func decodeText(b []byte) (any, error) { return string(b), nil }
