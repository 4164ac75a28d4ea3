package admin

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"pier/authz"
	"pier/identity"
)

// ImportRow is the outcome of one row, as `user import --json` prints it.
type ImportRow struct {
	Row     int      `json:"row"` // as a spreadsheet numbers it: the header is row 1
	Login   string   `json:"login,omitempty"`
	Result  string   `json:"result"` // created, updated, unchanged or failed
	Status  string   `json:"status,omitempty"`
	Changes []string `json:"changes,omitempty"`
	Field   string   `json:"field,omitempty"`
	Error   string   `json:"error,omitempty"`
}

// ImportReport is the outcome of a whole import.
type ImportReport struct {
	DryRun    bool        `json:"dry_run"`
	Rows      []ImportRow `json:"rows"`
	Created   int         `json:"created"`
	Updated   int         `json:"updated"`
	Unchanged int         `json:"unchanged"`
	Failed    int         `json:"failed"`
	// Pending are created users without a key: they have no credential yet.
	Pending []string `json:"pending"`
}

// ImportRecord is one data row: its number and its values by column.
type ImportRecord struct {
	row    int
	values map[string]string
	err    error // the row has the wrong number of fields
}

// ReadImport reads a whole CSV file of users first: a file that is not
// valid CSV, or whose header is wrong, imports nothing. A row with the
// wrong number of fields is refused on its own.
func ReadImport(r io.Reader) ([]ImportRecord, error) {
	cr := csv.NewReader(io.LimitReader(r, 64<<20))
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("empty file: want a header row %s", strings.Join(importRequired, ","))
	} else if err != nil {
		return nil, err
	}
	cols, err := importColumns(header)
	if err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	var out []ImportRecord
	for row := 2; ; row++ {
		fields, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		} else if err != nil {
			return nil, fmt.Errorf("%w (nothing imported)", err)
		}
		rec := ImportRecord{row: row, values: map[string]string{}}
		if len(fields) != len(cols) {
			rec.err = rowErr("columns", "%d fields, the header has %d", len(fields), len(cols))
		}
		for i, v := range fields {
			if i < len(cols) {
				rec.values[cols[i]] = v
			}
		}
		out = append(out, rec)
	}
}

// importColumns checks the header row and returns the column names.
func importColumns(header []string) ([]string, error) {
	cols := make([]string, len(header))
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		switch {
		case h == "password":
			return nil, errors.New(`column "password" is refused: passwords are never imported in clear; import the users without it and give each one with pier user passwd LOGIN --generate`)
		case !slices.Contains(importRequired, h) && !slices.Contains(importOptional, h):
			return nil, fmt.Errorf("unknown column %q (columns: %s; optional: %s)", clip(h), strings.Join(importRequired, ","), strings.Join(importOptional, ","))
		case slices.Contains(cols[:i], h):
			return nil, fmt.Errorf("column %q appears twice", h)
		}
		cols[i] = h
	}
	for _, want := range importRequired {
		if !slices.Contains(cols, want) {
			return nil, fmt.Errorf("column %q is missing (want %s)", want, strings.Join(importRequired, ","))
		}
	}
	return cols, nil
}

// ImportUsers checks every row and imports the valid ones (none with
// dryRun); invalid rows are reported and skipped. An organisation
// administrator imports into their organisations and groups only.
func (s *Service) ImportUsers(ctx context.Context, a Actor, records []ImportRecord, dryRun bool) (*ImportReport, error) {
	if err := canWrite(a, "import users"); err != nil && !dryRun {
		return nil, err
	} else if err := canRead(a); err != nil {
		return nil, err
	}
	sc, err := s.scopeOf(ctx, a)
	if err != nil {
		return nil, err
	}
	ctx = acting(ctx, a)
	st, err := s.importState(ctx, sc)
	if err != nil {
		return nil, err
	}
	rep := &ImportReport{DryRun: dryRun, Rows: []ImportRow{}, Pending: []string{}}
	for _, rec := range records {
		res := ImportRow{Row: rec.row, Login: strings.TrimSpace(rec.values["login"])}
		var p *plan
		err := rec.err
		if err == nil {
			p, err = s.checkRow(ctx, st, rec.row, rec.values)
		}
		if err == nil && !dryRun {
			err = s.apply(ctx, p)
		}
		rep.add(res, p, err)
	}
	return rep, nil
}

// add records one row's outcome.
func (rep *ImportReport) add(res ImportRow, p *plan, err error) {
	if err != nil {
		re := asRowError("user", err)
		res.Result, res.Field, res.Error = "failed", re.field, re.msg
		rep.Failed++
		rep.Rows = append(rep.Rows, res)
		return
	}
	res.Login, res.Result, res.Status, res.Changes = p.user.Login, p.result, p.user.Status.String(), p.changes
	switch p.result {
	case "created":
		rep.Created++
		if p.key == nil {
			rep.Pending = append(rep.Pending, p.user.Login)
		}
	case "updated":
		rep.Updated++
	default:
		rep.Unchanged++
	}
	rep.Rows = append(rep.Rows, res)
}

// The columns of a user import file: all of importRequired must be in the
// header, importOptional may be. A password column is refused: passwords
// are never imported in clear.
var (
	importRequired = []string{"login", "name", "email", "org", "role", "groups"}
	importOptional = []string{"key", "status"}
)

// rowError is a row refused for one field: "row 4: email: …".
type rowError struct {
	field, msg string
}

func (e *rowError) Error() string { return e.field + ": " + e.msg }

func rowErr(field, format string, args ...any) error {
	return &rowError{field: field, msg: fmt.Sprintf(format, args...)}
}

// asRowError names the field of an error from the store: the field of a
// *identity.FieldError, else the given one.
func asRowError(field string, err error) *rowError {
	var re *rowError
	if errors.As(err, &re) {
		return re
	}
	var fe *identity.FieldError
	if errors.As(err, &fe) {
		return &rowError{field: fe.Field, msg: fe.Msg}
	}
	return &rowError{field: field, msg: err.Error()}
}

// plan is what importing one valid row does.
type plan struct {
	row     int
	user    identity.User
	groups  []string      // the user's direct groups, sorted
	key     *identity.Key // nil: the row has none
	result  string        // "created", "updated" or "unchanged"
	changes []string      // fields an update changes
	addKey  bool          // the key is not yet the user's
	old     []string      // direct groups before an update
}

// importState is what rows are checked against: the store as it was when
// the import began, and the rows already seen.
type importState struct {
	orgs    map[string]bool
	groups  map[string]bool
	users   map[string]identity.User
	member  map[string][]string // login → direct groups, sorted
	logins  map[string]int      // canonical login → first row
	keyRows map[string]int      // fingerprint → first row
	foreign map[string]bool     // users outside the actor's organisations
}

func (s *Service) importState(ctx context.Context, sc scope) (*importState, error) {
	st := &importState{orgs: map[string]bool{}, groups: map[string]bool{}, users: map[string]identity.User{},
		member: map[string][]string{}, logins: map[string]int{}, keyRows: map[string]int{}, foreign: map[string]bool{}}
	orgs, err := s.ids.ListOrgs(ctx)
	if err != nil {
		return nil, err
	}
	for _, o := range orgs {
		st.orgs[o.Slug] = sc.has(o.Slug)
	}
	groups, err := s.ids.ListGroups(ctx)
	if err != nil {
		return nil, err
	}
	for _, g := range groups {
		st.groups[g.Name] = sc.all || sc.has(g.Owner)
		if !st.groups[g.Name] {
			// Memberships of groups the actor does not manage are not the
			// import's to change: the file's groups column cannot name them.
			continue
		}
		for _, m := range g.Members {
			if m.Kind == authz.UserSubject {
				st.member[m.Name] = append(st.member[m.Name], g.Name)
			}
		}
	}
	users, err := s.ids.ListUsers(ctx, "")
	if err != nil {
		return nil, err
	}
	for _, u := range users {
		st.users[u.Login] = u
		st.foreign[u.Login] = !sc.has(u.Org)
		slices.Sort(st.member[u.Login])
	}
	return st, nil
}

// checkRow validates one row (column name → value) and decides what
// importing it does, without writing anything.
func (s *Service) checkRow(ctx context.Context, st *importState, n int, rec map[string]string) (*plan, error) {
	p := &plan{row: n}
	login := strings.TrimSpace(rec["login"])
	if login == "" {
		return nil, rowErr("login", "is empty")
	}
	canon := identity.CanonicalLogin(login)
	if first, dup := st.logins[canon]; dup {
		return nil, rowErr("login", "%q repeats the login of row %d (logins ignore case)", clip(login), first)
	}
	st.logins[canon] = n
	p.user = identity.User{Login: canon, Name: strings.TrimSpace(rec["name"]), Email: strings.TrimSpace(rec["email"]),
		Org: strings.TrimSpace(rec["org"]), Role: strings.TrimSpace(rec["role"]), Status: authz.StatusPending}
	if err := identity.CheckUser(p.user); err != nil {
		return nil, asRowError("user", err)
	}
	if !st.orgs[p.user.Org] {
		return nil, rowErr("org", "organisation %q not found", p.user.Org)
	}
	var err error
	if p.groups, err = st.checkGroups(rec["groups"]); err != nil {
		return nil, err
	}
	status, err := parseImportStatus(rec["status"])
	if err != nil {
		return nil, err
	}
	if err := s.checkRowKey(ctx, st, p, rec["key"]); err != nil {
		return nil, err
	}
	if st.foreign[canon] {
		return nil, rowErr("login", "%q is not available", clip(login))
	}
	if old, ok := st.users[canon]; ok {
		st.diff(p, old, status)
		return p, nil
	}
	return p, p.create(status)
}

func (st *importState) checkGroups(field string) ([]string, error) {
	var out []string
	for g := range strings.SplitSeq(field, ";") {
		if g = strings.TrimSpace(g); g == "" {
			continue
		}
		if !st.groups[g] {
			return nil, rowErr("groups", "group %q not found (create it with pier group add)", clip(g))
		}
		out = append(out, g)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

func parseImportStatus(s string) (authz.Status, error) {
	switch s = strings.TrimSpace(s); s {
	case "":
		return authz.StatusUnknown, nil
	case "pending", "active", "suspended":
		st, err := authz.ParseStatus(s)
		return st, err
	}
	return authz.StatusUnknown, rowErr("status", "%q: want pending, active or suspended", clip(s))
}

// checkRowKey parses the row's key and makes sure no other user has it.
func (s *Service) checkRowKey(ctx context.Context, st *importState, p *plan, line string) error {
	if strings.TrimSpace(line) == "" {
		return nil
	}
	k, err := parseKey(line)
	if err != nil {
		return rowErr("key", "%v", err)
	}
	if first, dup := st.keyRows[k.Fingerprint]; dup {
		return rowErr("key", "the same key as row %d", first)
	}
	st.keyRows[k.Fingerprint] = p.row
	p.key, p.addKey = &k, true
	owner, err := s.ids.KeyByFingerprint(ctx, k.Fingerprint)
	switch {
	case errors.Is(err, identity.ErrNotFound):
		return nil
	case err != nil:
		return err
	case owner.Login != p.user.Login:
		return rowErr("key", "%s already belongs to user %s", k.Fingerprint, owner.Login)
	}
	p.addKey = false // the user has it already
	return nil
}

// create plans a new user: active with a key, else pending, since
// passwords are never imported.
func (p *plan) create(status authz.Status) error {
	p.result = "created"
	switch {
	case status == authz.StatusUnknown && p.key != nil:
		p.user.Status = authz.StatusActive
	case status == authz.StatusUnknown:
		p.user.Status = authz.StatusPending
	case status == authz.StatusActive && p.key == nil:
		return rowErr("status", "a new user without a key stays pending: set a password with pier user passwd --generate, then approve")
	default:
		p.user.Status = status
	}
	return nil
}

// diff plans the update of an existing user to the row's fields.
func (st *importState) diff(p *plan, old identity.User, status authz.Status) {
	p.old = st.member[old.Login]
	next := old
	next.Name, next.Email, next.Org, next.Role = p.user.Name, p.user.Email, p.user.Org, p.user.Role
	if status != authz.StatusUnknown {
		next.Status = status
	}
	for _, c := range []struct {
		field    string
		old, new string
	}{
		{"name", old.Name, next.Name}, {"email", old.Email, next.Email}, {"org", old.Org, next.Org},
		{"role", old.Role, next.Role}, {"status", old.Status.String(), next.Status.String()},
		{"groups", strings.Join(p.old, ";"), strings.Join(p.groups, ";")},
	} {
		if c.old != c.new {
			p.changes = append(p.changes, c.field)
		}
	}
	if p.addKey {
		p.changes = append(p.changes, "key")
	}
	p.user, p.result = next, "unchanged"
	if len(p.changes) > 0 {
		p.result = "updated"
	}
}

// apply writes a planned row. A new user that cannot be completed is
// removed again.
func (s *Service) apply(ctx context.Context, p *plan) error {
	switch p.result {
	case "created":
		u, err := s.ids.AddUser(ctx, p.user)
		if err != nil {
			return err
		}
		if err := s.completeUser(ctx, p); err != nil {
			return errors.Join(err, s.ids.DeleteUser(context.WithoutCancel(ctx), u.Login))
		}
	case "updated":
		next := p.user
		if _, err := s.ids.UpdateUser(ctx, p.user.Login, func(u *identity.User) error {
			u.Name, u.Email, u.Org, u.Role, u.Status = next.Name, next.Email, next.Org, next.Role, next.Status
			return nil
		}); err != nil {
			return err
		}
		return s.completeUser(ctx, p)
	}
	return nil
}

// completeUser adds the row's key and makes the user's direct groups the
// row's.
func (s *Service) completeUser(ctx context.Context, p *plan) error {
	if p.addKey {
		if _, err := s.ids.AddKey(ctx, p.user.Login, *p.key); err != nil {
			return asRowError("key", err)
		}
	}
	me := authz.Subject{Kind: authz.UserSubject, Name: p.user.Login}
	for _, g := range p.groups {
		if !slices.Contains(p.old, g) {
			if err := s.ids.AddMember(ctx, g, me); err != nil {
				return asRowError("groups", err)
			}
		}
	}
	for _, g := range p.old {
		if !slices.Contains(p.groups, g) {
			if err := s.ids.RemoveMember(ctx, g, me); err != nil {
				return asRowError("groups", err)
			}
		}
	}
	return nil
}
