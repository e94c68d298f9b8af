package mmcache

import (
	"encoding"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"unsafe"
)

// Codec turns values into bytes for a [Typed] cache and back.
//
// Append appends the encoding of v to dst and returns the extended slice. Decode decodes a
// value that Append encoded; data is valid only during the call and must not be written to:
// copy what the value keeps. Both may be called from any number of goroutines at once.
type Codec[V any] interface {
	Append(dst []byte, v V) ([]byte, error)
	Decode(data []byte) (V, error)
}

// BytesCodec stores a []byte as it is. Decode returns a copy, the one allocation a read needs.
type BytesCodec struct{}

// Append appends v to dst.
func (BytesCodec) Append(dst []byte, v []byte) ([]byte, error) { return append(dst, v...), nil }

// Decode returns a copy of data (non-nil, even when empty).
func (BytesCodec) Decode(data []byte) ([]byte, error) { return append([]byte{}, data...), nil }

// StringCodec stores a string's bytes. Decode allocates the string, the one allocation a read
// needs.
type StringCodec struct{}

// Append appends v's bytes to dst.
func (StringCodec) Append(dst []byte, v string) ([]byte, error) { return append(dst, v...), nil }

// Decode returns data as a string.
func (StringCodec) Decode(data []byte) (string, error) { return string(data), nil }

// FixedInt is the fixed-width integer types (and types based on them) that [IntCodec] stores.
type FixedInt interface {
	~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~uint64
}

// IntCodec stores a fixed-width integer in its width, little-endian: IntCodec[int64]{} takes 8
// bytes a value. Neither direction allocates.
type IntCodec[T FixedInt] struct{}

// Append appends v's little-endian bytes to dst.
func (IntCodec[T]) Append(dst []byte, v T) ([]byte, error) {
	switch unsafe.Sizeof(v) {
	case 1:
		return append(dst, byte(v)), nil
	case 2:
		return binary.LittleEndian.AppendUint16(dst, uint16(v)), nil
	case 4:
		return binary.LittleEndian.AppendUint32(dst, uint32(v)), nil
	default:
		return binary.LittleEndian.AppendUint64(dst, uint64(v)), nil
	}
}

// Decode reads a value Append wrote; data of another length is an error.
func (IntCodec[T]) Decode(data []byte) (T, error) {
	var v T
	if len(data) != int(unsafe.Sizeof(v)) {
		return 0, fmt.Errorf("%d bytes for a %d-byte integer", len(data), unsafe.Sizeof(v))
	}
	switch len(data) {
	case 1:
		v = T(data[0])
	case 2:
		v = T(binary.LittleEndian.Uint16(data))
	case 4:
		v = T(binary.LittleEndian.Uint32(data))
	default:
		v = T(binary.LittleEndian.Uint64(data))
	}
	return v, nil
}

// Float64Codec stores a float64's IEEE 754 bits, little-endian, in 8 bytes. Neither direction
// allocates.
type Float64Codec struct{}

// Append appends v's 8 bytes to dst.
func (Float64Codec) Append(dst []byte, v float64) ([]byte, error) {
	return binary.LittleEndian.AppendUint64(dst, math.Float64bits(v)), nil
}

// Decode reads a value Append wrote; data of another length is an error.
func (Float64Codec) Decode(data []byte) (float64, error) {
	if len(data) != 8 {
		return 0, fmt.Errorf("%d bytes for a float64", len(data))
	}
	return math.Float64frombits(binary.LittleEndian.Uint64(data)), nil
}

// JSONCodec stores values as JSON, with encoding/json: any type it can marshal and unmarshal.
// It allocates what encoding/json allocates.
type JSONCodec[V any] struct{}

// Append appends v's JSON encoding to dst.
func (JSONCodec[V]) Append(dst []byte, v V) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return dst, err
	}
	return append(dst, b...), nil
}

// Decode unmarshals data into a new V.
func (JSONCodec[V]) Decode(data []byte) (V, error) {
	var v V
	err := json.Unmarshal(data, &v)
	return v, err
}

// BinaryCodec stores values of a type V that appends its own binary encoding
// ([encoding.BinaryAppender]) and whose pointer decodes it ([encoding.BinaryUnmarshaler]):
// BinaryCodec[T, *T]{}. A type whose encoder lives elsewhere (protobuf's proto.MarshalOptions,
// a msgpack library) takes a few lines of its own Codec instead; the package examples show one.
type BinaryCodec[V encoding.BinaryAppender, P interface {
	*V
	encoding.BinaryUnmarshaler
}] struct{}

// Append appends v.AppendBinary's output to dst.
func (BinaryCodec[V, P]) Append(dst []byte, v V) ([]byte, error) { return v.AppendBinary(dst) }

// Decode unmarshals data into a new V. UnmarshalBinary must copy what it keeps of data.
func (BinaryCodec[V, P]) Decode(data []byte) (V, error) {
	var v V
	err := P(&v).UnmarshalBinary(data)
	return v, err
}
