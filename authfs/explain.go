package authfs

import (
	"context"

	"pier/authz"
	"pier/storage"
	"pier/vpath"
)

// Question is what an administrator asks "pier access explain": may this
// user do this action on this path, or move this path to that one?
type Question struct {
	Login string
	// Protocol is the protocol to judge on; "" means the first protocol
	// an account limited to some may use, or none for the others.
	Protocol authz.Protocol
	Action   authz.Action // ignored when Rename is set
	Rename   bool         // move Path to To
	Path, To vpath.Path
	// Size is the size of an upload, 0 when unknown.
	Size int64
	// Exists and Dir describe Path (for a rename, Exists describes To)
	// when the catalog does not have it.
	Exists, Dir bool
}

// Explain decides a question exactly as a session of the servers would,
// with the same code: the same facts, the same view of the catalog
// (existence, kind, own uploads) and, for a folder delete or move, the
// same decision on everything below the folder. The answer's Reason names
// the deciding grants.
func (f *FS) Explain(ctx context.Context, q Question) (authz.Decision, error) {
	s := f.Session(Principal{Login: q.Login, Protocol: q.Protocol})
	facts, grants, err := s.loadAccount(ctx)
	if err != nil {
		return authz.Decision{}, err
	}
	if q.Protocol == "" && len(facts.Protocols) > 0 {
		facts.Protocol = facts.Protocols[0]
	}
	now := f.now()
	e, ok, err := s.lookup(ctx, q.Path)
	if err != nil {
		return authz.Decision{}, err
	}
	t := s.target(e, ok)
	if !ok {
		t.Dir, t.Exists = q.Dir, !q.Rename && q.Exists
	}
	t.Size = max(t.Size, q.Size)
	if q.Rename {
		dst, dstOK, err := s.lookup(ctx, q.To)
		if err != nil {
			return authz.Decision{}, err
		}
		if !dstOK {
			dst.Kind, dstOK = storage.KindFile, q.Exists
		}
		t.Exists = true
		dt := authz.Target{}
		if dstOK && !dst.IsDir() && !t.Dir {
			dt = authz.Target{Exists: true, OwnUpload: s.own(dst)}
		}
		d := authz.DecideRename(facts, grants, q.Path, q.To, now, t, dt)
		if !d.Allowed || !ok || !e.IsDir() {
			return d, nil
		}
		return f.explainTree(ctx, d, facts, grants, authz.TreeMove, q.Path, q.To)
	}
	d := authz.Decide(facts, grants, q.Action, q.Path, now, t)
	if !d.Allowed || q.Action != authz.ActDelete || !ok || !e.IsDir() {
		return d, nil
	}
	return f.explainTree(ctx, d, facts, grants, authz.TreeDelete, q.Path, vpath.Root())
}

// loadAccount is load for an administrator's question: a login that names
// no account is an error to report, not a requester to deny.
func (s *Session) loadAccount(ctx context.Context) (authz.Facts, []authz.Grant, error) {
	if _, _, err := s.fs.facts.Facts(ctx, s.p.Login); err != nil {
		return authz.Facts{}, nil, err
	}
	return s.load(ctx)
}

// explainTree adds the decision on everything below a folder to the
// decision on the folder, as the servers make it.
func (f *FS) explainTree(ctx context.Context, d authz.Decision, facts authz.Facts, grants []authz.Grant, a authz.TreeAction, from, to vpath.Path) (authz.Decision, error) {
	var werr error
	td := authz.DecideTree(facts, grants, a, from, to, f.now(), walk(ctx, f.store, from, &werr))
	if werr != nil {
		return authz.Decision{}, werr
	}
	if !td.Allowed {
		return td, nil
	}
	d.Reason += "; " + td.Reason
	return d, nil
}

// View returns the user's facts, grants and the paths they have rights on,
// loaded as the servers load them, for "pier access view".
func (f *FS) View(ctx context.Context, login string, protocol authz.Protocol) (authz.Facts, []authz.ViewEntry, error) {
	s := f.Session(Principal{Login: login, Protocol: protocol})
	facts, grants, err := s.loadAccount(ctx)
	if err != nil {
		return facts, nil, err
	}
	if protocol == "" && len(facts.Protocols) > 0 {
		facts.Protocol = facts.Protocols[0]
	}
	return facts, authz.View(facts, grants, f.now()), nil
}
