package main

import (
	"encoding/binary"
	"errors"
	"math"
	"strconv"
)

// Record is the struct value of the benchmark: ten fields of mixed kinds, the shape of a
// typical cached row (a user profile).
type Record struct {
	ID      int64
	Name    string
	Email   string
	Country string
	Age     int32
	Visits  int64
	Score   float64
	Active  bool
	Created int64 // Unix seconds
	Tags    []string
}

var (
	countries = []string{"DE", "FR", "US", "JP", "BR", "IN", "NG", "AU"}
	tagWords  = []string{"go", "cache", "admin", "beta", "mobile", "eu", "trial"}
)

// newRecord builds the record of index i. Name and Email are strings of their own and Tags a
// slice of its own, as a record decoded from a database row would have; Country and the tags
// come from small fixed vocabularies.
func newRecord(i int) Record {
	name := "user-" + strconv.Itoa(i)
	return Record{
		ID:      int64(i),
		Name:    name,
		Email:   name + "@example.com",
		Country: countries[i%len(countries)],
		Age:     int32(18 + i%60),
		Visits:  int64(i%10_000) * 3,
		Score:   float64(i%1000) / 7,
		Active:  i%3 != 0,
		Created: 1_700_000_000 + int64(i),
		Tags:    []string{tagWords[i%len(tagWords)], tagWords[(i/7)%len(tagWords)]},
	}
}

// The binary encoding of a Record: the fixed-width fields, little-endian (ID, Visits, Created,
// Score's IEEE bits, Age, Active as one byte), then as uvarints the number of tags and the
// lengths of Name, Email, Country and each tag, then the bytes of all those strings one after
// another. Keeping the strings together lets UnmarshalBinary copy them in one allocation.
const recordFixed = 8 + 8 + 8 + 8 + 4 + 1

var errShortRecord = errors.New("record: truncated encoding")

// AppendBinary appends r's binary encoding to b (encoding.BinaryAppender).
func (r Record) AppendBinary(b []byte) ([]byte, error) {
	b = binary.LittleEndian.AppendUint64(b, uint64(r.ID))
	b = binary.LittleEndian.AppendUint64(b, uint64(r.Visits))
	b = binary.LittleEndian.AppendUint64(b, uint64(r.Created))
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(r.Score))
	b = binary.LittleEndian.AppendUint32(b, uint32(r.Age))
	active := byte(0)
	if r.Active {
		active = 1
	}
	b = append(b, active)
	b = binary.AppendUvarint(b, uint64(len(r.Tags)))
	b = binary.AppendUvarint(b, uint64(len(r.Name)))
	b = binary.AppendUvarint(b, uint64(len(r.Email)))
	b = binary.AppendUvarint(b, uint64(len(r.Country)))
	for _, t := range r.Tags {
		b = binary.AppendUvarint(b, uint64(len(t)))
	}
	b = append(b, r.Name...)
	b = append(b, r.Email...)
	b = append(b, r.Country...)
	for _, t := range r.Tags {
		b = append(b, t...)
	}
	return b, nil
}

// UnmarshalBinary decodes what AppendBinary wrote into r (encoding.BinaryUnmarshaler). It
// copies the strings out of data in one allocation, and Tags in a second when there are tags.
func (r *Record) UnmarshalBinary(data []byte) error {
	if len(data) < recordFixed {
		return errShortRecord
	}
	r.ID = int64(binary.LittleEndian.Uint64(data[0:]))
	r.Visits = int64(binary.LittleEndian.Uint64(data[8:]))
	r.Created = int64(binary.LittleEndian.Uint64(data[16:]))
	r.Score = math.Float64frombits(binary.LittleEndian.Uint64(data[24:]))
	r.Age = int32(binary.LittleEndian.Uint32(data[32:]))
	r.Active = data[36] != 0
	rest := data[recordFixed:]
	next := func() (int, bool) {
		v, n := binary.Uvarint(rest)
		if n <= 0 || v > uint64(len(data)) {
			return 0, false
		}
		rest = rest[n:]
		return int(v), true
	}
	nTags, ok := next()
	if !ok {
		return errShortRecord
	}
	var lens [3]int
	for i := range lens {
		if lens[i], ok = next(); !ok {
			return errShortRecord
		}
	}
	total := lens[0] + lens[1] + lens[2]
	// A tag length takes at least one byte, so nTags cannot exceed what is left: no allocation
	// sized by a corrupt count.
	if nTags > len(rest) {
		return errShortRecord
	}
	var tagLens [8]int
	tl := tagLens[:0]
	if nTags > len(tagLens) {
		tl = make([]int, 0, nTags)
	}
	for range nTags {
		n, ok := next()
		if !ok {
			return errShortRecord
		}
		tl = append(tl, n)
		total += n
	}
	if total != len(rest) {
		return errShortRecord
	}
	s := string(rest)
	cut := func(n int) string {
		v := s[:n]
		s = s[n:]
		return v
	}
	r.Name, r.Email, r.Country = cut(lens[0]), cut(lens[1]), cut(lens[2])
	r.Tags = nil
	if nTags > 0 {
		r.Tags = make([]string, nTags)
		for i, n := range tl {
			r.Tags[i] = cut(n)
		}
	}
	return nil
}
