package sftpd

import (
	"errors"
	"io"
	"io/fs"
	"log/slog"

	"github.com/pkg/sftp"

	"pier/authfs"
	"pier/membudget"
	"pier/storage"
	"pier/vpath"
)

// errUnsupported marks requests pier refuses by design: symlinks, hard
// links, random or resumed writes.
var errUnsupported = errors.New("operation unsupported")

// statusError is what the client sees: a fixed text and an SFTP status
// code. pkg/sftp sends err.Error() to the client, so internal detail (SQL,
// S3, file system paths) must never reach it; it goes to the log instead.
type statusError struct {
	msg  string
	code error // one of sftp.ErrSSHFx*
}

func (e *statusError) Error() string { return e.msg }
func (e *statusError) Unwrap() error { return e.code }

// toStatus translates an error at the edge. Every protocol detail of
// errors lives here.
func toStatus(log *slog.Logger, op string, err error) error {
	if err == nil || errors.Is(err, io.EOF) {
		return err
	}
	var pe *vpath.Error
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &statusError{"no such file", sftp.ErrSSHFxNoSuchFile}
	case errors.Is(err, fs.ErrPermission):
		return &statusError{"permission denied", sftp.ErrSSHFxPermissionDenied}
	case errors.Is(err, errUnsupported):
		return &statusError{err.Error(), sftp.ErrSSHFxOpUnsupported}
	case errors.As(err, &pe):
		return &statusError{pe.Error(), sftp.ErrSSHFxFailure}
	case errors.Is(err, fs.ErrExist):
		return &statusError{"file already exists", sftp.ErrSSHFxFailure}
	case errors.Is(err, storage.ErrNotDir):
		return &statusError{"not a directory", sftp.ErrSSHFxFailure}
	case errors.Is(err, storage.ErrIsDir):
		return &statusError{"is a directory", sftp.ErrSSHFxFailure}
	case errors.Is(err, storage.ErrNotEmpty):
		return &statusError{"directory not empty", sftp.ErrSSHFxFailure}
	case errors.Is(err, storage.ErrInvalidMove):
		return &statusError{"cannot move a folder into itself or move the root", sftp.ErrSSHFxFailure}
	case errors.Is(err, storage.ErrFull):
		// The log says which store and why; the client that it is full.
		log.Error("storage full", "op", op, "err", err)
		return &statusError{"storage full", sftp.ErrSSHFxFailure}
	case errors.Is(err, storage.ErrTooLarge):
		return &statusError{"file too large for this folder", sftp.ErrSSHFxFailure}
	case errors.Is(err, authfs.ErrLocked):
		return &statusError{"file is locked by another user", sftp.ErrSSHFxFailure}
	case errors.Is(err, errTooManyHandles):
		return &statusError{err.Error(), sftp.ErrSSHFxFailure}
	case errors.Is(err, membudget.ErrBusy):
		return &statusError{membudget.ErrBusy.Error(), sftp.ErrSSHFxFailure}
	case errors.Is(err, errOutOfOrder):
		return &statusError{err.Error(), sftp.ErrSSHFxOpUnsupported}
	}
	log.Error("sftp request failed", "op", op, "err", err)
	return &statusError{"internal error, logged on the server", sftp.ErrSSHFxFailure}
}
