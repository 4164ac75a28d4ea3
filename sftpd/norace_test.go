//go:build !race

package sftpd_test

// raceEnabled: the race detector slows every handshake several times.
const raceEnabled = false
