package api

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"pier/admin"
	"pier/audit"
	"pier/authfs"
	"pier/authz"
	"pier/directory"
	"pier/sessions"
	"pier/vpath"
)

// register lists every operation. The OpenAPI document must say the same
// (TestOpenAPIMatchesRoutes).
func (s *Server) register() {
	s.public("GET", "/openapi.json", nil, openAPIDoc{}, serveOpenAPI)
	s.public("POST", "/session", Login{}, SessionStarted{}, s.login)
	s.public("DELETE", "/session", nil, nil, s.logout)

	s.handle("GET", "/session", nil, ActorView{}, s.whoami)
	s.handle("GET", "/orgs", nil, page[admin.OrgView]{}, s.listOrgs)
	s.handle("POST", "/orgs", OrgCreate{}, admin.OrgView{}, s.addOrg)
	s.handle("PATCH", "/orgs/{slug}", OrgUpdate{}, nil, s.updateOrg)
	s.handle("GET", "/users", nil, page[admin.UserView]{}, s.listUsers)
	s.handle("POST", "/users", UserCreate{}, UserCreated{}, s.addUser)
	s.handle("GET", "/users/{login}", nil, admin.UserView{}, s.getUser)
	s.handle("PATCH", "/users/{login}", UserUpdate{}, admin.UserView{}, s.updateUser)
	s.handle("DELETE", "/users/{login}", nil, nil, s.deleteUser)
	s.handle("POST", "/users/{login}/status", StatusChange{}, admin.UserView{}, s.setStatus)
	s.handle("POST", "/users/{login}/password", PasswordChange{}, PasswordChanged{}, s.setPassword)
	s.handle("PUT", "/users/{login}/admin-role", AdminRoleChange{}, nil, s.setAdminRole)
	s.handle("GET", "/users/{login}/app-passwords", nil, page[admin.AppPasswordView]{}, s.listAppPasswords)
	s.handle("POST", "/users/{login}/app-passwords", AppPasswordCreate{}, AppPasswordCreated{}, s.addAppPassword)
	s.handle("DELETE", "/users/{login}/app-passwords/{name}", nil, nil, s.revokeAppPassword)
	s.handle("GET", "/users/{login}/mfa", nil, admin.MFAView{}, s.mfaStatus)
	s.handle("POST", "/users/{login}/mfa", MFAEnrol{}, MFAEnrolled{}, s.enrolMFA)
	s.handle("DELETE", "/users/{login}/mfa", nil, nil, s.removeMFA)
	s.handle("GET", "/users/{login}/keys", nil, page[admin.KeyView]{}, s.listKeys)
	s.handle("POST", "/users/{login}/keys", KeysAdd{}, page[admin.KeyView]{}, s.addKeys)
	s.handle("DELETE", "/users/{login}/keys/{fingerprint}", nil, nil, s.removeKey)
	s.handle("POST", "/users/import", csvBody{}, admin.ImportReport{}, s.importUsers)
	s.handle("GET", "/groups", nil, page[admin.GroupView]{}, s.listGroups)
	s.handle("POST", "/groups", GroupCreate{}, admin.GroupView{}, s.addGroup)
	s.handle("DELETE", "/groups/{name}", nil, nil, s.deleteGroup)
	s.handle("POST", "/groups/{name}/members", MemberAdd{}, nil, s.addMember)
	s.handle("DELETE", "/groups/{name}/members/{member}", nil, nil, s.removeMember)
	s.handle("POST", "/folders", Folder{}, Folder{}, s.makeFolder)
	s.handle("GET", "/grants", nil, page[admin.GrantView]{}, s.listGrants)
	s.handle("POST", "/grants", GrantCreate{}, admin.GrantView{}, s.addGrant)
	s.handle("DELETE", "/grants/{id}", nil, nil, s.removeGrant)
	s.handle("POST", "/access/explain", ExplainRequest{}, ExplainAnswer{}, s.explain)
	s.handle("GET", "/access/view/{login}", nil, admin.AccessView{}, s.view)
	s.handle("GET", "/audit", nil, page[AuditEntry]{}, s.searchAudit)
	s.handle("GET", "/sessions", nil, page[sessions.Session]{}, s.listSessions)
	s.handle("DELETE", "/sessions/{id}", nil, nil, s.endSession)
	s.handle("POST", "/directory/sync", DirectorySync{}, directory.Report{}, s.syncDirectory)
	s.handle("GET", "/defender", nil, admin.DefenderView{}, s.defenderState)
	s.handle("POST", "/defender/bans", BanCreate{}, admin.BanView{}, s.ban)
	s.handle("DELETE", "/defender/bans/{source}", nil, nil, s.unban)
	s.handle("GET", "/tokens", nil, page[admin.TokenView]{}, s.listTokens)
	s.handle("POST", "/tokens", TokenCreate{}, TokenCreated{}, s.addToken)
	s.handle("DELETE", "/tokens/{id}", nil, nil, s.revokeToken)
}

func (s *Server) whoami(w http.ResponseWriter, r *http.Request, a admin.Actor) (int, any, error) {
	return http.StatusOK, actorView(a), nil
}

// ActorView is who the API takes the caller for.
type ActorView struct {
	Login    string `json:"login"`
	Role     string `json:"role"`
	Org      string `json:"org,omitempty"`
	ReadOnly bool   `json:"read_only"`
}

func actorView(a admin.Actor) ActorView {
	return ActorView{Login: a.Name, Role: string(a.Role), Org: a.Org, ReadOnly: a.ReadOnly}
}

func (s *Server) listOrgs(w http.ResponseWriter, r *http.Request, a admin.Actor) (int, any, error) {
	orgs, err := s.ops.ListOrgs(r.Context(), a)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, page[admin.OrgView]{Items: orgs}, nil
}

// OrgCreate is the body of POST /orgs.
type OrgCreate struct {
	Slug   string `json:"slug"`
	Parent string `json:"parent,omitempty"`
	Name   string `json:"name,omitempty"`
	Kind   string `json:"kind,omitempty"`
	// SSHCompat lets its users use the SFTP compatibility listener
	// (super administrators only).
	SSHCompat bool `json:"ssh_compat,omitempty"`
}

func (s *Server) addOrg(w http.ResponseWriter, r *http.Request, a admin.Actor) (int, any, error) {
	var in OrgCreate
	if err := s.decode(w, r, &in); err != nil {
		return 0, nil, err
	}
	o, err := s.ops.AddOrg(r.Context(), a, admin.OrgInput{Slug: in.Slug, Parent: in.Parent, Name: in.Name, Kind: in.Kind, SSHCompat: in.SSHCompat})
	return http.StatusCreated, o, err
}

// OrgUpdate is the body of PATCH /orgs/{slug}: the fields to change.
type OrgUpdate struct {
	Parent    *string `json:"parent,omitempty"` // "" for the top level
	SSHCompat *bool   `json:"ssh_compat,omitempty"`
}

func (s *Server) updateOrg(w http.ResponseWriter, r *http.Request, a admin.Actor) (int, any, error) {
	var in OrgUpdate
	if err := s.decode(w, r, &in); err != nil {
		return 0, nil, err
	}
	if in.Parent == nil && in.SSHCompat == nil {
		return 0, nil, bad("parent", "nothing to change: give parent (\"\" for the top level) or ssh_compat")
	}
	slug := r.PathValue("slug")
	if in.Parent != nil {
		if err := s.ops.MoveOrg(r.Context(), a, slug, *in.Parent); err != nil {
			return 0, nil, err
		}
	}
	if in.SSHCompat != nil {
		if err := s.ops.SetOrgSSHCompat(r.Context(), a, slug, *in.SSHCompat); err != nil {
			return 0, nil, err
		}
	}
	return http.StatusNoContent, nil, nil
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request, a admin.Actor) (int, any, error) {
	users, err := s.ops.ListUsers(r.Context(), a, r.URL.Query().Get("org"))
	if err != nil {
		return 0, nil, err
	}
	p, err := paginate(r, users, func(u admin.UserView) string { return u.Login })
	return http.StatusOK, p, err
}

// UserCreate is the body of POST /users.
type UserCreate struct {
	Login            string `json:"login"`
	Org              string `json:"org"`
	Role             string `json:"role,omitempty"`
	Name             string `json:"name,omitempty"`
	Email            string `json:"email,omitempty"`
	Password         string `json:"password,omitempty"`
	GeneratePassword bool   `json:"generate_password,omitempty"`
	Keys             string `json:"keys,omitempty"`
	Expires          string `json:"expires,omitempty"`
	CIDRs            string `json:"cidrs,omitempty"`
	Protocols        string `json:"protocols,omitempty"`
	Pending          bool   `json:"pending,omitempty"`
	SSHCompat        bool   `json:"ssh_compat,omitempty"`
}

// UserCreated is what POST /users answers: the user, and the generated
// password when one was asked for (shown this once).
type UserCreated struct {
	User     admin.UserView `json:"user"`
	Password string         `json:"password,omitempty"`
}

func (s *Server) addUser(w http.ResponseWriter, r *http.Request, a admin.Actor) (int, any, error) {
	var in UserCreate
	if err := s.decode(w, r, &in); err != nil {
		return 0, nil, err
	}
	u, pw, err := s.ops.AddUser(r.Context(), a, admin.UserInput{Login: in.Login, Org: in.Org, Role: in.Role, Name: in.Name,
		Email: in.Email, Password: in.Password, GeneratePassword: in.GeneratePassword, Keys: in.Keys, Expires: in.Expires,
		CIDRs: in.CIDRs, Protocols: in.Protocols, Pending: in.Pending, SSHCompat: in.SSHCompat})
	if err != nil {
		return 0, nil, err
	}
	w.Header().Set("ETag", u.ETag)
	return http.StatusCreated, UserCreated{User: u, Password: pw}, nil
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request, a admin.Actor) (int, any, error) {
	u, err := s.ops.GetUser(r.Context(), a, r.PathValue("login"))
	if err != nil {
		return 0, nil, err
	}
	w.Header().Set("ETag", u.ETag)
	return http.StatusOK, u, nil
}

// UserUpdate is the body of PATCH /users/{login}: the fields to change.
type UserUpdate struct {
	Name      *string `json:"name,omitempty"`
	Email     *string `json:"email,omitempty"`
	Role      *string `json:"role,omitempty"`
	Org       *string `json:"org,omitempty"`
	Expires   *string `json:"expires,omitempty"`
	CIDRs     *string `json:"cidrs,omitempty"`
	Protocols *string `json:"protocols,omitempty"`
	SSHCompat *bool   `json:"ssh_compat,omitempty"`
}

// updateUser needs If-Match: two administrators never overwrite each
// other's changes silently.
func (s *Server) updateUser(w http.ResponseWriter, r *http.Request, a admin.Actor) (int, any, error) {
	match := r.Header.Get("If-Match")
	if match == "" {
		return 0, nil, &badRequest{status: http.StatusPreconditionRequired, code: "if-match-required",
			msg: "changing a user needs If-Match with the ETag of the version you read"}
	}
	var in UserUpdate
	if err := s.decode(w, r, &in); err != nil {
		return 0, nil, err
	}
	u, err := s.ops.UpdateUser(r.Context(), a, r.PathValue("login"), admin.UserPatch{Name: in.Name, Email: in.Email,
		Role: in.Role, Org: in.Org, Expires: in.Expires, CIDRs: in.CIDRs, Protocols: in.Protocols, SSHCompat: in.SSHCompat}, match)
	if err != nil {
		return 0, nil, err
	}
	w.Header().Set("ETag", u.ETag)
	return http.StatusOK, u, nil
}

func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request, a admin.Actor) (int, any, error) {
	return http.StatusNoContent, nil, s.ops.DeleteUser(r.Context(), a, r.PathValue("login"))
}

// StatusChange is the body of POST /users/{login}/status.
type StatusChange struct {
	Action  string `json:"action"`            // suspend, activate or approve
	Expires string `json:"expires,omitempty"` // with activate: a new last day, or "never"
}

func (s *Server) setStatus(w http.ResponseWriter, r *http.Request, a admin.Actor) (int, any, error) {
	var in StatusChange
	if err := s.decode(w, r, &in); err != nil {
		return 0, nil, err
	}
	u, err := s.ops.SetStatus(r.Context(), a, r.PathValue("login"), in.Action, in.Expires)
	return http.StatusOK, u, err
}

// PasswordChange is the body of POST /users/{login}/password.
type PasswordChange struct {
	Password string `json:"password,omitempty"`
	Generate bool   `json:"generate,omitempty"`
}

// PasswordChanged answers it: the generated password, shown this once.
type PasswordChanged struct {
	Password string `json:"password,omitempty"`
}

func (s *Server) setPassword(w http.ResponseWriter, r *http.Request, a admin.Actor) (int, any, error) {
	var in PasswordChange
	if err := s.decode(w, r, &in); err != nil {
		return 0, nil, err
	}
	pw, err := s.ops.SetPassword(r.Context(), a, r.PathValue("login"), in.Password, in.Generate)
	return http.StatusOK, PasswordChanged{Password: pw}, err
}

// AdminRoleChange is the body of PUT /users/{login}/admin-role.
type AdminRoleChange struct {
	Role string `json:"role"` // super, org-admin, auditor or none
	Org  string `json:"org,omitempty"`
}

func (s *Server) setAdminRole(w http.ResponseWriter, r *http.Request, a admin.Actor) (int, any, error) {
	var in AdminRoleChange
	if err := s.decode(w, r, &in); err != nil {
		return 0, nil, err
	}
	role, err := admin.ParseRole(in.Role)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, s.ops.SetAdminRole(r.Context(), a, r.PathValue("login"), role, in.Org)
}

func (s *Server) listKeys(w http.ResponseWriter, r *http.Request, a admin.Actor) (int, any, error) {
	keys, err := s.ops.ListKeys(r.Context(), a, r.PathValue("login"))
	return http.StatusOK, page[admin.KeyView]{Items: keys}, err
}

// KeysAdd is the body of POST /users/{login}/keys: authorized_keys text.
type KeysAdd struct {
	Keys string `json:"keys"`
}

func (s *Server) addKeys(w http.ResponseWriter, r *http.Request, a admin.Actor) (int, any, error) {
	var in KeysAdd
	if err := s.decode(w, r, &in); err != nil {
		return 0, nil, err
	}
	keys, err := s.ops.AddKeys(r.Context(), a, r.PathValue("login"), in.Keys)
	return http.StatusCreated, page[admin.KeyView]{Items: keys}, err
}

func (s *Server) removeKey(w http.ResponseWriter, r *http.Request, a admin.Actor) (int, any, error) {
	return http.StatusNoContent, nil, s.ops.RemoveKey(r.Context(), a, r.PathValue("login"), r.PathValue("fingerprint"))
}

// importUsers takes a CSV file (text/csv), with ?dry_run=true to check
// only.
func (s *Server) importUsers(w http.ResponseWriter, r *http.Request, a admin.Actor) (int, any, error) {
	dry, err := boolParam(r, "dry_run")
	if err != nil {
		return 0, nil, err
	}
	body, err := s.readBody(w, r, "text/csv")
	if err != nil {
		return 0, nil, err
	}
	records, err := admin.ReadImport(strings.NewReader(string(body)))
	if err != nil {
		return 0, nil, bad("file", "%s", err.Error())
	}
	rep, err := s.ops.ImportUsers(r.Context(), a, records, dry)
	return http.StatusOK, rep, err
}

func boolParam(r *http.Request, name string) (bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, bad(name, "%s must be true or false", name)
	}
	return b, nil
}

func (s *Server) listGroups(w http.ResponseWriter, r *http.Request, a admin.Actor) (int, any, error) {
	groups, err := s.ops.ListGroups(r.Context(), a)
	if err != nil {
		return 0, nil, err
	}
	p, err := paginate(r, groups, func(g admin.GroupView) string { return g.Name })
	return http.StatusOK, p, err
}

// GroupCreate is the body of POST /groups.
type GroupCreate struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Owner       string `json:"owner,omitempty"`
}

func (s *Server) addGroup(w http.ResponseWriter, r *http.Request, a admin.Actor) (int, any, error) {
	var in GroupCreate
	if err := s.decode(w, r, &in); err != nil {
		return 0, nil, err
	}
	g, err := s.ops.AddGroup(r.Context(), a, in.Name, in.Description, in.Owner)
	return http.StatusCreated, g, err
}

func (s *Server) deleteGroup(w http.ResponseWriter, r *http.Request, a admin.Actor) (int, any, error) {
	return http.StatusNoContent, nil, s.ops.DeleteGroup(r.Context(), a, r.PathValue("name"))
}

// MemberAdd is the body of POST /groups/{name}/members.
type MemberAdd struct {
	Member string `json:"member"` // user:LOGIN, org:SLUG[+sub], role:ROLE@SLUG[+sub]
}

func (s *Server) addMember(w http.ResponseWriter, r *http.Request, a admin.Actor) (int, any, error) {
	var in MemberAdd
	if err := s.decode(w, r, &in); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, s.ops.AddMember(r.Context(), a, r.PathValue("name"), in.Member)
}

func (s *Server) removeMember(w http.ResponseWriter, r *http.Request, a admin.Actor) (int, any, error) {
	return http.StatusNoContent, nil, s.ops.RemoveMember(r.Context(), a, r.PathValue("name"), r.PathValue("member"))
}

// Folder names a folder: the body of POST /folders, and its answer.
type Folder struct {
	Path string `json:"path"`
}

func (s *Server) makeFolder(w http.ResponseWriter, r *http.Request, a admin.Actor) (int, any, error) {
	var in Folder
	if err := s.decode(w, r, &in); err != nil {
		return 0, nil, err
	}
	p, err := s.ops.MakeFolder(r.Context(), a, in.Path)
	return http.StatusCreated, Folder{Path: p}, err
}

func (s *Server) listGrants(w http.ResponseWriter, r *http.Request, a admin.Actor) (int, any, error) {
	grants, err := s.ops.ListGrants(r.Context(), a)
	if err != nil {
		return 0, nil, err
	}
	p, err := paginate(r, grants, func(g admin.GrantView) string { return fmt.Sprintf("%020d", g.ID) })
	return http.StatusOK, p, err
}

// GrantCreate is the body of POST /grants.
type GrantCreate struct {
	To      string   `json:"to"`
	Path    string   `json:"path"`
	Perms   string   `json:"perms"`
	Allow   []string `json:"allow,omitempty"`
	Deny    []string `json:"deny,omitempty"`
	MaxSize string   `json:"max_size,omitempty"`
}

func (s *Server) addGrant(w http.ResponseWriter, r *http.Request, a admin.Actor) (int, any, error) {
	var in GrantCreate
	if err := s.decode(w, r, &in); err != nil {
		return 0, nil, err
	}
	g, err := s.ops.AddGrant(r.Context(), a, admin.GrantInput{To: in.To, Path: in.Path, Perms: in.Perms, Allow: in.Allow, Deny: in.Deny, MaxSize: in.MaxSize})
	return http.StatusCreated, g, err
}

func idParam(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, bad("id", "not an ID")
	}
	return id, nil
}

func (s *Server) removeGrant(w http.ResponseWriter, r *http.Request, a admin.Actor) (int, any, error) {
	id, err := idParam(r)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, s.ops.RemoveGrant(r.Context(), a, id)
}

// ExplainRequest is the body of POST /access/explain.
type ExplainRequest struct {
	Login    string `json:"login"`
	Action   string `json:"action"` // stat, list, read, create, …, or rename
	Path     string `json:"path"`
	To       string `json:"to,omitempty"` // rename: the new name
	Protocol string `json:"protocol,omitempty"`
	Size     string `json:"size,omitempty"`
	Exists   bool   `json:"exists,omitempty"`
	Dir      bool   `json:"dir,omitempty"`
}

// ExplainAnswer is what it answers.
type ExplainAnswer struct {
	Allowed bool    `json:"allowed"`
	Visible bool    `json:"visible"`
	Reason  string  `json:"reason"`
	Grants  []int64 `json:"grants"`
}

func (s *Server) explain(w http.ResponseWriter, r *http.Request, a admin.Actor) (int, any, error) {
	var in ExplainRequest
	if err := s.decode(w, r, &in); err != nil {
		return 0, nil, err
	}
	q := authfs.Question{Login: in.Login, Protocol: authz.Protocol(in.Protocol), Exists: in.Exists, Dir: in.Dir}
	switch q.Protocol {
	case "", authz.SFTP, authz.WebDAV:
	default:
		return 0, nil, bad("protocol", "want sftp or webdav")
	}
	var err error
	if in.Action == "rename" {
		q.Rename = true
		if q.To, err = vpath.Parse(in.To); err != nil {
			return 0, nil, bad("to", "%s", err.Error())
		}
	} else if q.Action, err = authz.ParseAction(in.Action); err != nil {
		return 0, nil, bad("action", "%s", strings.TrimPrefix(err.Error(), "authz: "))
	}
	if q.Path, err = vpath.Parse(in.Path); err != nil {
		return 0, nil, bad("path", "%s", err.Error())
	}
	if in.Size != "" {
		if q.Size, err = admin.ParseSize(in.Size); err != nil {
			return 0, nil, bad("size", "%s", err.Error())
		}
	}
	d, err := s.ops.Explain(r.Context(), a, q)
	if err != nil {
		return 0, nil, err
	}
	grants := d.Grants
	if grants == nil {
		grants = []int64{}
	}
	return http.StatusOK, ExplainAnswer{Allowed: d.Allowed, Visible: d.Visible, Reason: d.Reason, Grants: grants}, nil
}

func (s *Server) view(w http.ResponseWriter, r *http.Request, a admin.Actor) (int, any, error) {
	proto := authz.Protocol(r.URL.Query().Get("protocol"))
	switch proto {
	case "", authz.SFTP, authz.WebDAV:
	default:
		return 0, nil, bad("protocol", "want sftp or webdav")
	}
	v, err := s.ops.View(r.Context(), a, r.PathValue("login"), proto)
	return http.StatusOK, v, err
}

// AuditEntry is one audit record as GET /audit lists it.
type AuditEntry struct {
	Seq    int64        `json:"seq"`
	Pruned bool         `json:"pruned,omitempty"`
	Record audit.Record `json:"record"`
}

func (s *Server) searchAudit(w http.ResponseWriter, r *http.Request, a admin.Actor) (int, any, error) {
	v := r.URL.Query()
	q := audit.Query{Actor: v.Get("user"), Path: v.Get("path"), Action: v.Get("action"), After: -1}
	if o := v.Get("org"); o != "" {
		q.Orgs = strings.Split(o, ",")
	}
	for name, dst := range map[string]*time.Time{"since": &q.Since, "until": &q.Until} {
		if t := v.Get(name); t != "" {
			var err error
			if *dst, err = time.Parse(time.RFC3339, t); err != nil {
				return 0, nil, bad(name, "%s must be an RFC 3339 time", name)
			}
		}
	}
	var err error
	if q.Limit, err = limitParam(r, 1000); err != nil {
		return 0, nil, err
	}
	if c := v.Get("cursor"); c != "" {
		n, err := strconv.ParseInt(c, 10, 64)
		if err != nil || n < 0 {
			return 0, nil, bad("cursor", "not a cursor this API gave")
		}
		q.After = n
	}
	found, err := s.ops.SearchAudit(r.Context(), a, q)
	if err != nil {
		return 0, nil, err
	}
	p := page[AuditEntry]{Items: []AuditEntry{}}
	for _, f := range found {
		p.Items = append(p.Items, AuditEntry{Seq: f.Seq, Pruned: f.Pruned, Record: f.Record})
	}
	if len(found) == q.Limit {
		p.Next = strconv.FormatInt(found[len(found)-1].Seq, 10)
	}
	return http.StatusOK, p, nil
}

func (s *Server) listSessions(w http.ResponseWriter, r *http.Request, a admin.Actor) (int, any, error) {
	list, err := s.ops.ListSessions(r.Context(), a, r.URL.Query().Get("user"))
	if err != nil {
		return 0, nil, err
	}
	p, err := paginate(r, list, func(ss sessions.Session) string { return ss.Started.UTC().Format(time.RFC3339Nano) + " " + ss.ID })
	return http.StatusOK, p, err
}

func (s *Server) endSession(w http.ResponseWriter, r *http.Request, a admin.Actor) (int, any, error) {
	return http.StatusNoContent, nil, s.ops.EndSession(r.Context(), a, r.PathValue("id"))
}

// DirectorySync is the body of POST /directory/sync.
type DirectorySync struct {
	DryRun bool `json:"dry_run,omitempty"` // report, write nothing
	Force  bool `json:"force,omitempty"`   // allow more suspensions than the configured limit
}

func (s *Server) syncDirectory(w http.ResponseWriter, r *http.Request, a admin.Actor) (int, any, error) {
	var in DirectorySync
	if err := s.decode(w, r, &in); err != nil {
		return 0, nil, err
	}
	rep, err := s.ops.SyncDirectory(r.Context(), a, directory.Options{DryRun: in.DryRun, Force: in.Force})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, rep, nil
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request, a admin.Actor) (int, any, error) {
	tokens, err := s.ops.ListTokens(r.Context(), a)
	if err != nil {
		return 0, nil, err
	}
	p, err := paginate(r, tokens, func(t admin.TokenView) string { return fmt.Sprintf("%020d", t.ID) })
	return http.StatusOK, p, err
}

// TokenCreate is the body of POST /tokens.
type TokenCreate struct {
	Login    string `json:"login,omitempty"` // default: the caller
	Name     string `json:"name"`
	ReadOnly bool   `json:"read_only,omitempty"`
	Org      string `json:"org,omitempty"`
	Expires  string `json:"expires,omitempty"` // a Go duration, 2160h
}

// TokenCreated answers it, with the token's text shown this once.
type TokenCreated struct {
	Token admin.TokenView `json:"token"`
	Text  string          `json:"text"`
}

func (s *Server) addToken(w http.ResponseWriter, r *http.Request, a admin.Actor) (int, any, error) {
	var in TokenCreate
	if err := s.decode(w, r, &in); err != nil {
		return 0, nil, err
	}
	ti := admin.TokenInput{Login: in.Login, Name: in.Name, ReadOnly: in.ReadOnly, Org: in.Org}
	if in.Expires != "" {
		d, err := time.ParseDuration(in.Expires)
		if err != nil || d <= 0 {
			return 0, nil, bad("expires", "expires must be a duration, 2160h")
		}
		ti.Expires = d
	}
	t, text, err := s.ops.AddToken(r.Context(), a, ti)
	return http.StatusCreated, TokenCreated{Token: t, Text: text}, err
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request, a admin.Actor) (int, any, error) {
	id, err := idParam(r)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, s.ops.RevokeToken(r.Context(), a, id)
}

func (s *Server) listAppPasswords(w http.ResponseWriter, r *http.Request, a admin.Actor) (int, any, error) {
	aps, err := s.ops.ListAppPasswords(r.Context(), a, r.PathValue("login"))
	if err != nil {
		return 0, nil, err
	}
	p, err := paginate(r, aps, func(v admin.AppPasswordView) string { return v.Name })
	return http.StatusOK, p, err
}

// AppPasswordCreate is the body of POST /users/{login}/app-passwords.
type AppPasswordCreate struct {
	Name string `json:"name"` // what it is for: "outlook", "laptop"
}

// AppPasswordCreated answers it, with the password shown this once.
type AppPasswordCreated struct {
	Name     string `json:"name"`
	Password string `json:"password"`
}

func (s *Server) addAppPassword(w http.ResponseWriter, r *http.Request, a admin.Actor) (int, any, error) {
	var in AppPasswordCreate
	if err := s.decode(w, r, &in); err != nil {
		return 0, nil, err
	}
	pw, err := s.ops.AddAppPassword(r.Context(), a, r.PathValue("login"), in.Name)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, AppPasswordCreated{Name: in.Name, Password: pw}, nil
}

func (s *Server) revokeAppPassword(w http.ResponseWriter, r *http.Request, a admin.Actor) (int, any, error) {
	return http.StatusNoContent, nil, s.ops.RevokeAppPassword(r.Context(), a, r.PathValue("login"), r.PathValue("name"))
}

func (s *Server) mfaStatus(w http.ResponseWriter, r *http.Request, a admin.Actor) (int, any, error) {
	v, err := s.ops.MFAStatus(r.Context(), a, r.PathValue("login"))
	return http.StatusOK, v, err
}

// MFAEnrol is the body of POST /users/{login}/mfa.
type MFAEnrol struct {
	Issuer string `json:"issuer,omitempty"` // what the authenticator app shows; default "pier"
}

// MFAEnrolled answers it: the new TOTP secret as an otpauth URI and the
// recovery codes, shown this once. An earlier enrolment is replaced.
type MFAEnrolled struct {
	Login         string   `json:"login"`
	URI           string   `json:"uri"`
	RecoveryCodes []string `json:"recovery_codes"`
}

func (s *Server) enrolMFA(w http.ResponseWriter, r *http.Request, a admin.Actor) (int, any, error) {
	var in MFAEnrol
	if err := s.decode(w, r, &in); err != nil {
		return 0, nil, err
	}
	if in.Issuer == "" {
		in.Issuer = "pier"
	}
	e, err := s.ops.EnrolMFA(r.Context(), a, r.PathValue("login"), in.Issuer, s.mfa)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, MFAEnrolled{Login: e.Login, URI: e.URI, RecoveryCodes: e.Recovery}, nil
}

func (s *Server) removeMFA(w http.ResponseWriter, r *http.Request, a admin.Actor) (int, any, error) {
	return http.StatusNoContent, nil, s.ops.RemoveMFA(r.Context(), a, r.PathValue("login"))
}

func (s *Server) defenderState(w http.ResponseWriter, r *http.Request, a admin.Actor) (int, any, error) {
	limit, err := limitParam(r, 100)
	if err != nil {
		return 0, nil, err
	}
	v, err := s.ops.Defender(r.Context(), a, limit)
	return http.StatusOK, v, err
}

// BanCreate is the body of POST /defender/bans.
type BanCreate struct {
	Source string `json:"source"`           // an address; an IPv6 address bans its /64
	For    string `json:"for,omitempty"`    // a Go duration, 1h; default: the next ban's usual length
	Reason string `json:"reason,omitempty"` // for the log and the list
}

func (s *Server) ban(w http.ResponseWriter, r *http.Request, a admin.Actor) (int, any, error) {
	var in BanCreate
	if err := s.decode(w, r, &in); err != nil {
		return 0, nil, err
	}
	var length time.Duration
	if in.For != "" {
		d, err := time.ParseDuration(in.For)
		if err != nil || d <= 0 {
			return 0, nil, bad("for", "for must be a positive duration, 1h")
		}
		length = d
	}
	b, err := s.ops.Ban(r.Context(), a, in.Source, length, in.Reason)
	return http.StatusCreated, b, err
}

func (s *Server) unban(w http.ResponseWriter, r *http.Request, a admin.Actor) (int, any, error) {
	return http.StatusNoContent, nil, s.ops.Unban(r.Context(), a, r.PathValue("source"))
}
