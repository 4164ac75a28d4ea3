package diskblob

import (
	"errors"
	"io/fs"
	"syscall"
	"testing"

	"pier/storage"
)

// TestFullDisk: a full disk or quota is storage.ErrFull, whatever the
// call that met it.
func TestFullDisk(t *testing.T) {
	for _, errno := range []syscall.Errno{syscall.ENOSPC, syscall.EDQUOT} {
		err := full(&fs.PathError{Op: "write", Path: "/blobs/x", Err: errno})
		if !errors.Is(err, storage.ErrFull) || !errors.Is(err, errno) {
			t.Errorf("%v: %v", errno, err)
		}
	}
	if err := full(syscall.EIO); errors.Is(err, storage.ErrFull) {
		t.Errorf("EIO became %v", err)
	}
}
