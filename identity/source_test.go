package identity_test

import (
	"context"
	"errors"
	"testing"

	"pier/authz"
	"pier/identity"
)

// TestBatchIsAllOrNothing: changes made in a batch commit together, and a
// failure in the middle leaves none of them; sources are recorded.
func TestBatchIsAllOrNothing(t *testing.T) {
	backends(t, func(t *testing.T, s *identity.Store) {
		ctx := context.Background()
		must[identity.Org](t)(s.AddOrg(ctx, identity.Org{Slug: "hq"}))
		must[identity.Group](t)(s.AddGroup(ctx, "staff", ""))
		ldap := identity.Source{Kind: identity.SourceLDAP, DN: "uid=anna,ou=people,dc=example,dc=test", State: identity.SourcePresent}
		boom := errors.New("boom")
		err := s.Batch(ctx, func(ctx context.Context) error {
			if _, err := s.AddUser(ctx, identity.User{Login: "anna", Org: "hq"}); err != nil {
				return err
			}
			if err := s.SetSource(ctx, "anna", ldap); err != nil {
				return err
			}
			if err := s.AddMember(ctx, "staff", authz.Subject{Kind: authz.UserSubject, Name: "anna"}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("batch: %v", err)
		}
		if _, err := s.GetUser(ctx, "anna"); !errors.Is(err, identity.ErrNotFound) {
			t.Fatalf("a failed batch left its user: %v", err)
		}
		err = s.Batch(ctx, func(ctx context.Context) error {
			if _, err := s.AddUser(ctx, identity.User{Login: "anna", Org: "hq"}); err != nil {
				return err
			}
			if err := s.SetSource(ctx, "anna", ldap); err != nil {
				return err
			}
			return s.AddMember(ctx, "staff", authz.Subject{Kind: authz.UserSubject, Name: "anna"})
		})
		if err != nil {
			t.Fatal(err)
		}
		u := must[identity.User](t)(s.GetUser(ctx, "anna"))
		if u.Source != identity.SourceLDAP || u.SourceDN != ldap.DN || u.SourceState != identity.SourcePresent {
			t.Errorf("source after the batch: %q %q %q", u.Source, u.SourceDN, u.SourceState)
		}
		f, _, err := s.Facts(ctx, "anna")
		if err != nil || len(f.Groups) != 1 {
			t.Errorf("groups after the batch: %v %v", f.Groups, err)
		}
		// An update keeps the source; a bad source is refused.
		must[identity.User](t)(s.UpdateUser(ctx, "anna", func(u *identity.User) error { u.Name = "Anna"; return nil }))
		if u := must[identity.User](t)(s.GetUser(ctx, "anna")); u.Source != identity.SourceLDAP {
			t.Errorf("an update lost the source: %+v", u)
		}
		wantErr(t, "bad source", s.SetSource(ctx, "anna", identity.Source{Kind: "nis"}), identity.ErrInvalid, "source")
		wantErr(t, "unknown user", s.SetSource(ctx, "nobody", ldap), identity.ErrNotFound, "")
	})
}
