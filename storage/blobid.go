package storage

import (
	"crypto/rand"
	"encoding/hex"
)

// NewBlobID returns a fresh random blob id: 32 lower-case hex digits.
func NewBlobID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ValidBlobID reports whether id has the form NewBlobID makes. Stores use
// it to refuse ids that could name anything but a blob.
func ValidBlobID(id string) bool {
	if len(id) != 32 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
