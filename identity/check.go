package identity

import "pier/authz"

// CheckUser reports, as a *FieldError, what AddUser would refuse in u's own
// fields (login, organisation slug, role, e-mail, name, status) without
// touching the database, so that a caller can validate everything before
// it writes anything. Whether the organisation exists is not checked.
func CheckUser(u User) error {
	u.Login = CanonicalLogin(u.Login)
	if u.Status == authz.StatusUnknown {
		u.Status = authz.StatusActive
	}
	return u.validate()
}
