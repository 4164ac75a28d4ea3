// Package credential handles pier's user credentials: passwords and SSH public
// keys. It is pure: no I/O beyond crypto/rand, no storage, no protocol.
//
// Passwords are hashed with argon2id and stored as PHC strings that carry
// their parameters, so the parameters can be raised later (Hasher, Verify's
// needsRehash). Hashing is bounded: each hash costs about 20 MB and 25–30 ms at
// the default parameters, so a Hasher runs at most a fixed number at once.
//
// New passwords are checked by a Policy that follows NIST SP 800-63B rev 4:
// a minimum length (15 by default, in Unicode code points after NFKC), a
// maximum of at least 64, a blocklist of common and breached passwords
// shipped with pier (package blocklist), no context words (login, name,
// email), no composition rules and no forced periodic change. When a password
// is reset, pier generates a new one (Generate); it never reminds.
//
// Both the Hasher and the Policy normalise passwords to Unicode NFKC first,
// so the same password typed on different systems (composed or decomposed
// accents, fullwidth forms) hashes the same.
//
// SSH public keys enter through ParseAuthorizedKey, which accepts one
// authorized_keys line and refuses weak or unsupported keys with a one-line
// reason.
//
// Errors: a refused password is a *PolicyError (errors.Is ErrPolicy); a
// refused key is a *KeyError (errors.Is ErrKey); a stored hash that cannot be
// used is ErrMalformedHash or ErrUnsupportedHash. A wrong password is not an
// error: Verify returns ok == false.
package credential
