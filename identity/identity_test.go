package identity_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"pier/authz"
	"pier/db"
	"pier/identity"
	"pier/internal/testenv"
	"pier/vpath"
)

// backends runs fn against SQLite and PostgreSQL: the same tests for both.
func backends(t *testing.T, fn func(t *testing.T, s *identity.Store)) {
	backendsDB(t, func(t *testing.T, _ *db.DB, s *identity.Store) { fn(t, s) })
}

// backendsDB is backends for tests that also write to the database
// directly.
func backendsDB(t *testing.T, fn func(t *testing.T, d *db.DB, s *identity.Store)) {
	testenv.Databases(t, func(t *testing.T, d *db.DB) { fn(t, d, identity.New(d)) })
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func wantErr(t *testing.T, what string, err, target error, field string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got %v, want %v", what, err, target)
	}
	if field != "" {
		var fe *identity.FieldError
		if !errors.As(err, &fe) || fe.Field != field {
			t.Fatalf("%s: error %v does not name field %q", what, err, field)
		}
	}
}

// model builds the organisation tree of the product brief.
func model(t *testing.T, s *identity.Store) {
	ctx := context.Background()
	org := must[identity.Org](t)
	org(s.AddOrg(ctx, identity.Org{Slug: "hq", Kind: identity.Internal, Name: "Our Company"}))
	org(s.AddOrg(ctx, identity.Org{Slug: "hq-sales", Kind: identity.Internal, Parent: "hq"}))
	org(s.AddOrg(ctx, identity.Org{Slug: "acme", Kind: identity.Partner}))
	org(s.AddOrg(ctx, identity.Org{Slug: "acme-berlin", Kind: identity.Partner, Parent: "acme"}))
	org(s.AddOrg(ctx, identity.Org{Slug: "globex", Kind: identity.Customer}))
}

func TestOrgs(t *testing.T) {
	backends(t, func(t *testing.T, s *identity.Store) {
		ctx := context.Background()
		model(t, s)
		orgs := must[[]identity.Org](t)(s.ListOrgs(ctx))
		if len(orgs) != 5 || orgs[1].Slug != "acme-berlin" || orgs[1].Parent != "acme" {
			t.Fatalf("orgs %+v", orgs)
		}
		_, err := s.AddOrg(ctx, identity.Org{Slug: "acme"})
		wantErr(t, "duplicate org", err, identity.ErrExists, "")
		_, err = s.AddOrg(ctx, identity.Org{Slug: "x", Parent: "nope"})
		wantErr(t, "unknown parent", err, identity.ErrNotFound, "")
		_, err = s.AddOrg(ctx, identity.Org{Slug: "Bad Slug"})
		wantErr(t, "bad slug", err, identity.ErrInvalid, "slug")
		_, err = s.AddOrg(ctx, identity.Org{Slug: "x", Kind: "vendor"})
		wantErr(t, "bad kind", err, identity.ErrInvalid, "kind")
		wantErr(t, "cycle", s.SetOrgParent(ctx, "acme", "acme-berlin"), identity.ErrInvalid, "parent")
		wantErr(t, "self parent", s.SetOrgParent(ctx, "acme", "acme"), identity.ErrInvalid, "parent")
		if err := s.SetOrgParent(ctx, "globex", "hq"); err != nil {
			t.Fatal(err)
		}
		wantErr(t, "delete org with children", s.DeleteOrg(ctx, "acme"), identity.ErrInvalid, "organisation")
		if err := s.DeleteOrg(ctx, "acme-berlin"); err != nil {
			t.Fatal(err)
		}
	})
}

func TestUsersAndKeys(t *testing.T) {
	backends(t, func(t *testing.T, s *identity.Store) {
		ctx := context.Background()
		model(t, s)
		cidrs, err := identity.ParseCIDRs("192.0.2.0/24, 2001:db8::/32,198.51.100.7")
		if err != nil || len(cidrs) != 3 {
			t.Fatalf("ParseCIDRs: %v %v", cidrs, err)
		}
		u := must[identity.User](t)(s.AddUser(ctx, identity.User{Login: "Acme-EDI", Org: "acme", Role: "edi",
			Email: "edi@acme.example", CIDRs: cidrs, Protocols: []authz.Protocol{authz.SFTP}}))
		if u.Login != "acme-edi" || u.Status != authz.StatusActive {
			t.Fatalf("user %+v", u)
		}
		_, err = s.AddUser(ctx, identity.User{Login: "ACME-edi", Org: "acme"})
		wantErr(t, "login differing in case", err, identity.ErrExists, "")
		for _, bad := range []struct {
			u     identity.User
			field string
		}{
			{identity.User{Login: "-x", Org: "acme"}, "login"},
			{identity.User{Login: "a b", Org: "acme"}, "login"},
			{identity.User{Login: "ok", Org: "acme", Email: "not-an-email"}, "email"},
			{identity.User{Login: "ok", Org: "acme", Role: "Buyer Role"}, "role"},
		} {
			_, err := s.AddUser(ctx, bad.u)
			wantErr(t, "bad user "+bad.u.Login, err, identity.ErrInvalid, bad.field)
		}
		_, err = s.AddUser(ctx, identity.User{Login: "ok", Org: "nope"})
		wantErr(t, "unknown org", err, identity.ErrNotFound, "")
		for _, bad := range []string{"10.0.0.1/8", "300.1.1.1", "10.0.0.0/33", "fe80::/129x"} {
			_, err := identity.ParseCIDRs(bad)
			wantErr(t, "cidr "+bad, err, identity.ErrInvalid, "cidr")
		}
		_, err = identity.ParseProtocols("sftp,ftp")
		wantErr(t, "protocol", err, identity.ErrInvalid, "protocols")

		got := must[identity.User](t)(s.GetUser(ctx, "ACME-EDI"))
		if got.Email != u.Email || len(got.CIDRs) != 3 || !slices.Equal(got.Protocols, u.Protocols) || got.Org != "acme" {
			t.Fatalf("GetUser = %+v", got)
		}
		got = must[identity.User](t)(s.SetStatus(ctx, "acme-edi", authz.StatusSuspended))
		if got.Status != authz.StatusSuspended {
			t.Fatal("suspend")
		}
		_, err = s.UpdateUser(ctx, "acme-edi", func(u *identity.User) error { u.Org = "nope"; return nil })
		wantErr(t, "move to unknown org", err, identity.ErrNotFound, "")
		if got := must[identity.User](t)(s.GetUser(ctx, "acme-edi")); got.Org != "acme" {
			t.Fatal("failed update changed the user")
		}

		k := must[identity.Key](t)(s.AddKey(ctx, "acme-edi", identity.Key{Fingerprint: "SHA256:abc", Type: "ssh-ed25519", PublicKey: "ssh-ed25519 AAAA", Comment: "edi box"}))
		must[identity.User](t)(s.AddUser(ctx, identity.User{Login: "bob", Org: "acme-berlin"}))
		_, err = s.AddKey(ctx, "bob", identity.Key{Fingerprint: "SHA256:abc", Type: "ssh-ed25519", PublicKey: "ssh-ed25519 AAAA"})
		wantErr(t, "one key for two users", err, identity.ErrExists, "")
		if byFP := must[identity.Key](t)(s.KeyByFingerprint(ctx, "SHA256:abc")); byFP.Login != "acme-edi" || byFP.ID != k.ID {
			t.Fatalf("KeyByFingerprint = %+v", byFP)
		}
		if keys := must[[]identity.Key](t)(s.ListKeys(ctx, "acme-edi")); len(keys) != 1 || keys[0].Comment != "edi box" {
			t.Fatalf("ListKeys = %+v", keys)
		}
		wantErr(t, "remove someone else's key", s.RemoveKey(ctx, "bob", "SHA256:abc"), identity.ErrNotFound, "")
		if err := s.RemoveKey(ctx, "acme-edi", "SHA256:abc"); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteUser(ctx, "acme-edi"); err != nil {
			t.Fatal(err)
		}
		_, err = s.GetUser(ctx, "acme-edi")
		wantErr(t, "deleted user", err, identity.ErrNotFound, "")
	})
}

// TestFacts checks what the decision gets: ancestry, effective groups
// through users, organisations and roles, and the grants that concern the
// user; and that a change is seen at once.
func TestFacts(t *testing.T) {
	backends(t, func(t *testing.T, s *identity.Store) {
		ctx := context.Background()
		model(t, s)
		user := must[identity.User](t)
		user(s.AddUser(ctx, identity.User{Login: "anna", Org: "hq-sales", Role: "sales"}))
		user(s.AddUser(ctx, identity.User{Login: "bob", Org: "acme-berlin", Role: "buyer"}))
		user(s.AddUser(ctx, identity.User{Login: "carl", Org: "globex", Role: "buyer"}))
		must[identity.Group](t)(s.AddGroup(ctx, "staff", "our people"))
		must[identity.Group](t)(s.AddGroup(ctx, "buyers", ""))
		member := func(g, m string) {
			t.Helper()
			sub, err := identity.ParseMember(m)
			if err == nil {
				err = s.AddMember(ctx, g, sub)
			}
			if err != nil {
				t.Fatalf("AddMember(%s, %s): %v", g, m, err)
			}
		}
		member("staff", "org:hq+sub")
		member("buyers", "role:buyer@acme+sub")
		_, err := identity.ParseMember("group:staff")
		wantErr(t, "nested group", err, identity.ErrInvalid, "member")
		sub, _ := identity.ParseMember("org:hq+sub")
		wantErr(t, "duplicate member", s.AddMember(ctx, "staff", sub), identity.ErrExists, "")

		grant := func(subject, path, perms string) authz.Grant {
			t.Helper()
			sub, err := authz.ParseSubject(subject)
			if err != nil {
				t.Fatal(err)
			}
			p, _ := authz.ParsePerms(perms)
			return must[authz.Grant](t)(s.AddGrant(ctx, authz.Grant{Subject: sub, Path: vpath.MustParse(path), Perms: p, Allow: []string{"*.edi"}, MaxSize: 1 << 20}, "test"))
		}
		gStaff := grant("group:staff", "/acme", "list,read,create")
		gBuyers := grant("group:buyers", "/acme/catalog", "list,read")
		gOrg := grant("org:acme+sub", "/acme/shared", "list,read")
		gRole := grant("role:buyer@acme+sub", "/acme/orders", "create")
		grant("user:carl", "/globex", "list")

		f, gs := must2(t)(s.Facts(ctx, "Anna"))
		if f.Login != "anna" || f.Org != "hq-sales" || !slices.Equal(f.OrgAncestors, []string{"hq"}) || !slices.Equal(f.Groups, []string{"staff"}) {
			t.Fatalf("anna's facts %+v", f)
		}
		if ids := grantIDs(gs); !slices.Equal(ids, []int64{gStaff.ID}) {
			t.Fatalf("anna's grants %v, want [%d]", ids, gStaff.ID)
		}
		f, gs = must2(t)(s.Facts(ctx, "bob"))
		if !slices.Equal(f.Groups, []string{"buyers"}) || !slices.Equal(f.OrgAncestors, []string{"acme"}) {
			t.Fatalf("bob's facts %+v", f)
		}
		if ids := grantIDs(gs); !slices.Equal(ids, []int64{gBuyers.ID, gOrg.ID, gRole.ID}) {
			t.Fatalf("bob's grants %v", ids)
		}
		if gs[0].MaxSize != 1<<20 || !slices.Equal(gs[0].Allow, []string{"*.edi"}) {
			t.Fatalf("grant round trip %+v", gs[0])
		}
		f, _ = must2(t)(s.Facts(ctx, "carl"))
		if len(f.Groups) != 0 {
			t.Fatalf("carl (buyer at globex) is in %v", f.Groups)
		}

		// Suspension and new grants are seen at once by this node.
		must[identity.User](t)(s.SetStatus(ctx, "bob", authz.StatusSuspended))
		if f, _ = must2(t)(s.Facts(ctx, "bob")); f.Status != authz.StatusSuspended {
			t.Fatal("suspension not seen")
		}
		if err := s.RemoveGrant(ctx, gOrg.ID); err != nil {
			t.Fatal(err)
		}
		if _, gs = must2(t)(s.Facts(ctx, "bob")); slices.Contains(grantIDs(gs), gOrg.ID) {
			t.Fatal("removed grant still loaded")
		}
		wantErr(t, "remove missing grant", s.RemoveGrant(ctx, gOrg.ID), identity.ErrNotFound, "")
		_, err = s.AddGrant(ctx, authz.Grant{Subject: authz.Subject{Kind: authz.UserSubject, Name: "nobody"}, Path: vpath.MustParse("/x"), Perms: authz.PermList}, "t")
		wantErr(t, "grant to unknown user", err, identity.ErrNotFound, "")
		_, err = s.AddGrant(ctx, authz.Grant{Subject: authz.Subject{Kind: authz.GroupSubject, Name: "staff"}, Path: vpath.MustParse("/x")}, "t")
		wantErr(t, "grant without perms", err, identity.ErrInvalid, "perms")
		_, err = s.AddGrant(ctx, authz.Grant{Subject: authz.Subject{Kind: authz.GroupSubject, Name: "staff"}, Path: vpath.MustParse("/x"), Perms: authz.PermList, Allow: []string{"[a-"}}, "t")
		wantErr(t, "bad pattern", err, identity.ErrInvalid, "grant")

		// Deleting a group removes its grants and memberships.
		if err := s.DeleteGroup(ctx, "staff"); err != nil {
			t.Fatal(err)
		}
		if f, gs = must2(t)(s.Facts(ctx, "anna")); len(f.Groups) != 0 || len(gs) != 0 {
			t.Fatalf("after group deletion: %v %v", f.Groups, grantIDs(gs))
		}
		all := must[[]authz.Grant](t)(s.ListGrants(ctx))
		for _, g := range all {
			if strings.Contains(g.Subject.String(), "staff") {
				t.Fatal("grant of a deleted group survives")
			}
		}
	})
}

func must2(t *testing.T) func(authz.Facts, []authz.Grant, error) (authz.Facts, []authz.Grant) {
	return func(f authz.Facts, g []authz.Grant, err error) (authz.Facts, []authz.Grant) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return f, g
	}
}

func grantIDs(gs []authz.Grant) []int64 {
	var ids []int64
	for _, g := range gs {
		ids = append(ids, g.ID)
	}
	return ids
}

// TestSSHCompat: a user may use the SFTP compatibility listener when they,
// their organisation or one above it is marked; the facts see a change at
// once.
func TestSSHCompat(t *testing.T) {
	backends(t, func(t *testing.T, s *identity.Store) {
		ctx := context.Background()
		model(t, s)
		user := must[identity.User](t)
		user(s.AddUser(ctx, identity.User{Login: "legacy", Org: "hq", SSHCompat: true}))
		user(s.AddUser(ctx, identity.User{Login: "bob", Org: "acme-berlin"}))
		user(s.AddUser(ctx, identity.User{Login: "carl", Org: "globex"}))
		compat := func(login string) bool {
			t.Helper()
			f, _ := must2(t)(s.Facts(ctx, login))
			return f.SSHCompat
		}
		if !compat("legacy") || compat("bob") || compat("carl") {
			t.Fatalf("marks: legacy %v bob %v carl %v", compat("legacy"), compat("bob"), compat("carl"))
		}
		if got := user(s.GetUser(ctx, "legacy")); !got.SSHCompat {
			t.Error("the user's mark was not stored")
		}
		if err := s.SetOrgSSHCompat(ctx, "acme", true); err != nil {
			t.Fatal(err)
		}
		if !compat("bob") || compat("carl") {
			t.Errorf("after marking acme: bob %v carl %v", compat("bob"), compat("carl"))
		}
		if o := must[identity.Org](t)(s.GetOrg(ctx, "acme")); !o.SSHCompat {
			t.Error("the organisation's mark was not stored")
		}
		user(s.UpdateUser(ctx, "legacy", func(u *identity.User) error { u.SSHCompat = false; return nil }))
		if compat("legacy") {
			t.Error("the mark stayed after clearing it")
		}
		wantErr(t, "unknown org", s.SetOrgSSHCompat(ctx, "nope", true), identity.ErrNotFound, "")
	})
}

// DeleteUserIf deletes only what its check, made inside the deleting
// transaction, lets through.
func TestDeleteUserIf(t *testing.T) {
	backends(t, func(t *testing.T, s *identity.Store) {
		ctx := context.Background()
		if _, err := s.AddOrg(ctx, identity.Org{Slug: "acme"}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AddUser(ctx, identity.User{Login: "old", Org: "acme"}); err != nil {
			t.Fatal(err)
		}
		changed := errors.New("changed")
		err := s.DeleteUserIf(ctx, "old", func(u identity.User) error {
			if u.Login != "old" {
				t.Errorf("check saw %+v", u)
			}
			return changed
		})
		if !errors.Is(err, changed) {
			t.Fatalf("refused delete: %v", err)
		}
		if _, err := s.GetUser(ctx, "old"); err != nil {
			t.Fatalf("a refused delete deleted: %v", err)
		}
		if err := s.DeleteUserIf(ctx, "old", func(identity.User) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetUser(ctx, "old"); !errors.Is(err, identity.ErrNotFound) {
			t.Fatalf("after delete: %v", err)
		}
		if err := s.DeleteUserIf(ctx, "old", func(identity.User) error { return nil }); !errors.Is(err, identity.ErrNotFound) {
			t.Fatalf("delete of nobody: %v", err)
		}
	})
}
