package directory_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"pier/directory"
	"pier/internal/testenv"
)

// TestSyncScale measures a sync of PIER_TEST_LDAP_USERS users (not run
// without it): the first sync, which creates them all, and the second,
// which finds nothing to do, on SQLite and PostgreSQL.
//
//	PIER_TEST_LDAP_USERS=10000 scripts/testenv go test ./directory -run TestSyncScale -v
func TestSyncScale(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("PIER_TEST_LDAP_USERS"))
	if n <= 0 {
		t.Skip("set PIER_TEST_LDAP_USERS=N to measure a sync of N users")
	}
	start := time.Now()
	s := testenv.StartSlapd(t)
	t.Logf("slapd up in %v", time.Since(start).Round(time.Millisecond))
	var b strings.Builder
	b.WriteString(ou(acmeOU) + ou(groupsOU))
	staff := []attr{{"objectClass", "groupOfNames"}, {"cn", "staff"}}
	for i := range n {
		uid := fmt.Sprintf("user%06d", i)
		b.WriteString(person(uid, acmeOU, "User "+uid, attr{"mail", uid + "@acme.test"}))
		if i%3 == 0 {
			staff = append(staff, attr{"member", dnOf(uid, acmeOU)})
		}
	}
	b.WriteString(ldif(staffDN, staff...))
	start = time.Now()
	s.LDIF(t, b.String())
	t.Logf("%d entries added in %v", n, time.Since(start).Round(time.Millisecond))
	for _, prod := range []bool{false, true} {
		p := newPier(t, prod)
		c := config(s)
		c.PageSize = 500
		sy := directory.New(c, p.ids, p.db, quiet)
		for _, run := range []string{"dry run", "first", "second"} {
			start := time.Now()
			rep, err := sy.Sync(context.Background(), directory.Options{DryRun: run == "dry run"})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("postgres=%v %s sync of %d entries: %v (%s)", prod, run, rep.Entries, time.Since(start).Round(time.Millisecond), rep.Summary())
		}
	}
}
