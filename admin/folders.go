package admin

import (
	"context"
	"errors"
	"fmt"
	"time"

	"pier/audit"
	"pier/identity"
	"pier/storage"
	"pier/vpath"
)

// MakeFolder makes a folder and the folders above it that are missing,
// as "pier files mkdir" does. An organisation administrator makes folders
// only in the folders of the organisations of their subtree (/SLUG/…).
// It answers the folder's path as stored.
func (s *Service) MakeFolder(ctx context.Context, a Actor, path string) (string, error) {
	if err := canWrite(a, "make folders"); err != nil {
		return "", err
	}
	p, err := vpath.Parse(path)
	if err != nil {
		return "", &identity.FieldError{Field: "path", Msg: err.Error()}
	}
	if p.IsRoot() {
		return "", &identity.FieldError{Field: "path", Msg: "the root folder exists"}
	}
	if a.Role != RoleSuper {
		if err := s.inScope(ctx, a, p.Elems()[0]); err != nil {
			return "", fmt.Errorf("folder %s: %w", p, ErrNotFound)
		}
	}
	existed := false
	if e, err := s.store.Stat(ctx, p); err == nil {
		if !e.IsDir() {
			return "", &identity.FieldError{Field: "path", Msg: p.String() + " exists and is not a folder"}
		}
		existed = true
	} else if !errors.Is(err, storage.ErrNotExist) {
		return "", err
	}
	if err := s.store.MkdirAll(ctx, p, a.Name); err != nil {
		if errors.Is(err, storage.ErrNotDir) || errors.Is(err, storage.ErrExist) {
			return "", &identity.FieldError{Field: "path", Msg: fmt.Sprintf("%s: a file is in the way", p)}
		}
		return "", err
	}
	if !existed && s.audit != nil {
		if err := s.audit.Record(ctx, audit.Record{Time: time.Now(), Actor: a.Name, Action: audit.Mkdir, Path: p.String()}); err != nil {
			return "", err
		}
	}
	return p.String(), nil
}
