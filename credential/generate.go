package credential

import (
	"crypto/rand"
	"fmt"
)

// generateAlphabet has no characters that are easily confused when read or
// typed: no 0 O o, no 1 l I. 56 symbols, 5.8 bits each.
const generateAlphabet = "23456789abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ"

// Generated passwords: 4 groups of 6 characters joined by '-', e.g.
// "k7Rmqz-WbH2ex-9TfpcN-s4aUVd": 24 random characters, about 139 bits.
const (
	generateGroups    = 4
	generateGroupSize = 6
)

// Generate returns a new random password that passes the default Policy: 24
// characters from an unambiguous alphabet in groups of 6, with about 139
// bits of entropy, drawn from crypto/rand without bias. pier resets a
// forgotten password by generating a new one, never by revealing the old.
func Generate() (string, error) {
	for {
		pw, err := randomPassword()
		if err != nil {
			return "", err
		}
		// A draw that breaks the policy ("aaaaaa-aaaaaa-…") has a probability
		// near 2^-130; check anyway, so the promise holds.
		if (Policy{}).Check(pw) == nil {
			return pw, nil
		}
	}
}

func randomPassword() (string, error) {
	const n = len(generateAlphabet)
	// Rejection sampling: bytes at or above the largest multiple of n are
	// redrawn, so every symbol is equally likely.
	const limit = 256 - 256%n
	out := make([]byte, 0, generateGroups*(generateGroupSize+1)-1)
	buf := make([]byte, 64)
	for drawn := 0; drawn < generateGroups*generateGroupSize; {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("credential: generate: %w", err)
		}
		for _, b := range buf {
			if int(b) >= limit {
				continue
			}
			if drawn > 0 && drawn%generateGroupSize == 0 {
				out = append(out, '-')
			}
			out = append(out, generateAlphabet[int(b)%n])
			if drawn++; drawn == generateGroups*generateGroupSize {
				break
			}
		}
	}
	return string(out), nil
}
