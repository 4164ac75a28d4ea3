package admin

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"

	"pier/credential"
	"pier/identity"
)

// KeyView is an SSH key as the CLI and the API show it.
type KeyView struct {
	Fingerprint string `json:"fingerprint"`
	Type        string `json:"type"`
	Comment     string `json:"comment"`
	Created     string `json:"created"`
	Expires     string `json:"expires,omitempty"`
	LastUsed    string `json:"last_used,omitempty"`
}

// ParseKeys reads the text of an authorized_keys file. Blank lines and #
// comments are skipped; any other line that is not an acceptable key
// fails the whole text, naming its line number.
func ParseKeys(text string) ([]identity.Key, error) {
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 0, 64<<10), credential.MaxAuthorizedLine+2)
	var keys []identity.Key
	seen := map[string]int{}
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, err := parseKey(line)
		if err != nil {
			return nil, &identity.FieldError{Field: "key", Msg: fmt.Sprintf("line %d: %v", n, err)}
		}
		if first, dup := seen[k.Fingerprint]; dup {
			return nil, &identity.FieldError{Field: "key", Msg: fmt.Sprintf("line %d: the same key as line %d", n, first)}
		}
		seen[k.Fingerprint] = n
		keys = append(keys, k)
	}
	if err := sc.Err(); err != nil {
		return nil, &identity.FieldError{Field: "key", Msg: fmt.Sprintf("after line %d: %v", len(keys), err)}
	}
	if len(keys) == 0 {
		return nil, &identity.FieldError{Field: "key", Msg: "no SSH public key in it"}
	}
	return keys, nil
}

// parseKey reads one authorized_keys line.
func parseKey(line string) (identity.Key, error) {
	k, err := credential.ParseAuthorizedKey(line)
	if err != nil {
		return identity.Key{}, err
	}
	return identity.Key{Fingerprint: k.Fingerprint, Type: k.Type, PublicKey: k.AuthorizedKey, Comment: k.Comment}, nil
}

// keysFree refuses keys that already belong to another user: a key names
// one identity.
func (s *Service) keysFree(ctx context.Context, login string, keys []identity.Key) error {
	for _, k := range keys {
		owner, err := s.ids.KeyByFingerprint(ctx, k.Fingerprint)
		switch {
		case errors.Is(err, identity.ErrNotFound):
		case err != nil:
			return err
		case owner.Login != identity.CanonicalLogin(login):
			return &identity.FieldError{Field: "key", Msg: k.Fingerprint + " already belongs to another user"}
		}
	}
	return nil
}

// addKeys attaches keys to a user; if one is refused, the ones just added
// are taken away again.
func (s *Service) addKeys(ctx context.Context, login string, keys []identity.Key) error {
	for i, k := range keys {
		if _, err := s.ids.AddKey(ctx, login, k); err != nil {
			for _, done := range keys[:i] {
				s.ids.RemoveKey(context.WithoutCancel(ctx), login, done.Fingerprint)
			}
			return fmt.Errorf("key %s: %w", k.Fingerprint, err)
		}
	}
	return nil
}

// AddKeys adds the keys of an authorized_keys text to a user: all or none.
func (s *Service) AddKeys(ctx context.Context, a Actor, login, text string) ([]KeyView, error) {
	return s.AddKeysWith(ctx, a, login, text, KeyOptions{})
}

// ListKeys returns a user's keys, oldest first.
func (s *Service) ListKeys(ctx context.Context, a Actor, login string) ([]KeyView, error) {
	u, err := s.userInScope(ctx, a, login)
	if err != nil {
		return nil, err
	}
	keys, err := s.ids.ListKeys(ctx, u.Login)
	if err != nil {
		return nil, err
	}
	out := []KeyView{}
	for _, k := range keys {
		out = append(out, KeyView{Fingerprint: k.Fingerprint, Type: k.Type, Comment: k.Comment,
			Created: TimeText(k.Created), Expires: TimeText(k.Expires), LastUsed: TimeText(k.LastUsed)})
	}
	return out, nil
}

// RemoveKey takes a key, by fingerprint, from a user.
func (s *Service) RemoveKey(ctx context.Context, a Actor, login, fingerprint string) error {
	u, err := s.changeUser(ctx, a, "remove keys", login)
	if err != nil {
		return err
	}
	return s.ids.RemoveKey(acting(ctx, a), u.Login, fingerprint)
}
