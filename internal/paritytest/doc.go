// Package paritytest holds the test that runs one permission matrix
// through SFTP and through WebDAV and requires the same outcome from both:
// the front ends share one authorising file system and must not drift.
package paritytest
