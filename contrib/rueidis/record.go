package mmrueidis

import (
	"encoding/binary"
	"slices"
)

// A record is what the mapping holds under one Redis key: the cached replies of every command
// read through that key (GET, STRLEN, HGET with its field, ...), back to back, the newest first:
//
//	uvarint len(cmd) | cmd | uvarint len(msg) | msg
//
// msg is rueidis' own serialization of the reply (RedisMessage.CacheMarshal), whose first
// pxatBytes bytes are the time it expires, in Unix milliseconds, little-endian.
//
// One record per Redis key, rather than one entry per key and command, is what lets an
// invalidation, which names keys only, find every reply cached under a key with one Delete and
// no index of its own: the index on the Go heap that rueidis' SimpleCache adapter keeps for
// that purpose is exactly the per-key state this package does without.

// pxatBytes is the size of the expiry that CacheMarshal writes first. rueidis keeps it as 7
// little-endian bytes of Unix milliseconds (RedisMessage.ttl in v1.0.79); TestPXATLayout checks
// the assumption against the version in go.mod, since the format is not a documented one.
const pxatBytes = 7

// msgPXAT returns the expiry of a serialized reply, in Unix milliseconds.
func msgPXAT(msg []byte) int64 {
	var b [8]byte
	copy(b[:], msg[:pxatBytes])
	return int64(binary.LittleEndian.Uint64(b[:]))
}

// setMsgPXAT writes the expiry of a serialized reply: rueidis has no exported way to set it on a
// RedisMessage, and the store must bring the server's PTTL down to the TTL DoCache asked for.
func setMsgPXAT(msg []byte, pxat int64) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(pxat))
	copy(msg[:pxatBytes], b[:pxatBytes])
}

// nextReply parses the reply at the start of rec. ok is false at the end of rec, and on bytes
// that are not a record, which the store treats as the end: a miss, never a wrong reply.
func nextReply(rec []byte) (cmd, msg, rest []byte, ok bool) {
	n, w := binary.Uvarint(rec)
	if w <= 0 || n > uint64(len(rec)-w) {
		return nil, nil, nil, false
	}
	cmd, rec = rec[w:w+int(n)], rec[w+int(n):]
	n, w = binary.Uvarint(rec)
	if w <= 0 || n > uint64(len(rec)-w) || n < pxatBytes {
		return nil, nil, nil, false
	}
	return cmd, rec[w : w+int(n)], rec[w+int(n):], true
}

// findReply returns the serialized reply to cmd in rec, or nil.
func findReply(rec []byte, cmd string) []byte {
	for {
		c, msg, rest, ok := nextReply(rec)
		if !ok {
			return nil
		}
		if string(c) == cmd {
			return msg
		}
		rec = rest
	}
}

// appendHeader appends the framing of a reply to cmd whose serialization takes size bytes.
func appendHeader[S string | []byte](dst []byte, cmd S, size int) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(cmd)))
	dst = append(dst, cmd...)
	return binary.AppendUvarint(dst, uint64(size))
}

// appendOthers appends to dst the replies of old to commands other than cmd that are still
// live at nowMs, and returns the result, the latest expiry among them (0 for none), and whether
// old held a reply to cmd. Expired replies are dropped here, on the next write to their key,
// since a record lives as long as its longest-lived reply.
func appendOthers(dst, old []byte, cmd string, nowMs int64) (out []byte, maxPXAT int64, hadCmd bool) {
	for {
		c, msg, rest, ok := nextReply(old)
		if !ok {
			return dst, maxPXAT, hadCmd
		}
		old = rest
		if string(c) == cmd {
			hadCmd = true
			continue
		}
		if p := msgPXAT(msg); p > nowMs {
			dst = appendHeader(dst, c, len(msg))
			dst = append(dst, msg...)
			maxPXAT = max(maxPXAT, p)
		}
	}
}

// grow returns b with room for n more bytes, never nil: CacheMarshal allocates a buffer of its
// own when given nil.
func grow(b []byte, n int) []byte {
	if b == nil {
		return make([]byte, 0, n)
	}
	return slices.Grow(b, n)
}
