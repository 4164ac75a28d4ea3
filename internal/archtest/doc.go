// Package archtest holds the tests that keep pier's architecture honest:
// every package is documented, and the layers import only what they may.
package archtest
