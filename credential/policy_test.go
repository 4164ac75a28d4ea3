package credential

import (
	"errors"
	"strings"
	"testing"
)

// TestPolicy reads as the policy: each line is a password and what the
// default Policy says of it.
func TestPolicy(t *testing.T) {
	login := []string{"jsmith", "Jane Doe", "jane.doe@acme.example"}
	for _, c := range []struct {
		name    string
		pw      string
		context []string
		rule    Rule // "" means accepted
	}{
		// Accepted: long enough, not common; no composition rules.
		{"passphrase", "correct horse battery staple", nil, ""},
		{"exactly 15", "tulip-river-owl", nil, ""},
		{"lower case only", "thisisallinlowercase", nil, ""},
		{"digits only", "830274619305728164", nil, ""},
		{"64 characters", strings.Repeat("walrus ", 9) + "and a cat", nil, ""},
		{"256 characters", strings.Repeat("the quick brown fox ", 12) + "jumps over a dog", nil, ""},
		{"german", "Grüße aus Köln am Rhein", nil, ""},
		{"japanese", "日本語のパスフレーズを使います。", nil, ""},
		{"emoji", "🦊🐻🐼🐨 in the forest tonight", nil, ""},
		{"spaces inside", "  two  spaces  between  words  ", nil, ""},
		{"NFD counts once", strings.Repeat("x", 14) + "e\u0301", nil, ""},
		{"short context words ignored", "bob the builder builds", []string{"bob"}, ""},
		{"short name parts ignored", "doe a deer a female deer", login, ""},
		{"common base too short", "monkey1234567890", nil, ""},
		{"common word inside", "my dragonfly sleeps at noon", nil, ""},
		{"context free", "correct horse battery staple", login, ""},

		// Length.
		{"short", "hunter2!!", nil, RuleMinLength},
		{"empty", "", nil, RuleMinLength},
		{"NFD still short", strings.Repeat("x", 13) + "e\u0301", nil, RuleMinLength},
		{"257 characters", strings.Repeat("a quick brown fox ", 14) + "jumps over five", nil, RuleMaxLength},

		// Encoding and control characters.
		{"invalid UTF-8", "correct horse \xff battery", nil, RuleEncoding},
		{"tab", "correct horse\tbattery staple", nil, RuleControl},
		{"newline", "correct horse battery staple\n", nil, RuleControl},
		{"NUL", "correct horse\x00battery staple", nil, RuleControl},
		{"DEL", "correct horse\x7fbattery staple", nil, RuleControl},

		// Repetition.
		{"one character", "aaaaaaaaaaaaaaaaaaaa", nil, RuleRepetitive},
		{"one character any case", "aAaAaAaAaAaAaAaA", nil, RuleRepetitive},
		{"pair", "abababababababab", nil, RuleRepetitive},
		{"four", "Tr0!Tr0!Tr0!Tr0!Tr", nil, RuleRepetitive},
		{"emoji repeated", strings.Repeat("😀", 16), nil, RuleRepetitive},

		// Context words.
		{"login", "jsmith-likes-blue-skies", login, RuleContext},
		{"login any case", "JSMITH likes blue skies", login, RuleContext},
		{"name part", "jane eyre is a fine novel", login, RuleContext},
		{"email local part", "janedoe is my name today", []string{"janedoe@acme.example"}, RuleContext},
		{"email domain", "acme rockets forever and ever", []string{"jane.doe@acme.example"}, RuleContext},

		// Blocklist: the list, case-insensitively, and listed bases with
		// digits or symbols appended.
		{"listed", "qwertyuiopasdfgh", nil, RuleBlocklist},
		{"listed upper", "QWERTYUIOPASDFGH", nil, RuleBlocklist},
		{"listed fullwidth", "ｑｗｅｒｔｙｕｉｏｐａｓｄｆｇｈ", nil, RuleBlocklist},
		{"listed twice", "passwordpassword", nil, RuleBlocklist},
		{"keyboard walk", "1qaz2wsx3edc4rfv", nil, RuleBlocklist},
		{"base and digits", "password123456789", nil, RuleBlocklist},
		{"base and symbols", "iloveyou!!!!!!!!", nil, RuleBlocklist},
		{"base and year", "Sunshine2026!?#@", nil, RuleBlocklist},
		{"base with space", "football 1234567", nil, RuleBlocklist},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := Policy{}.Check(c.pw, c.context...)
			if c.rule == "" {
				if err != nil {
					t.Fatalf("Check(%q) = %v, want accepted", c.pw, err)
				}
				return
			}
			var pe *PolicyError
			if !errors.As(err, &pe) || pe.Rule != c.rule || !errors.Is(err, ErrPolicy) {
				t.Fatalf("Check(%q) = %v, want rule %s", c.pw, err, c.rule)
			}
			if c.pw != "" && strings.Contains(err.Error(), c.pw) {
				t.Fatalf("error %q contains the password", err)
			}
		})
	}
}

func TestPolicyMessages(t *testing.T) {
	for _, c := range []struct {
		p    Policy
		pw   string
		want string
	}{
		{Policy{}, "iloveyou!", "password must be at least 15 characters (got 9)"},
		{Policy{MinLength: 20}, "correct horse battery", ""},
		{Policy{MinLength: 22}, "correct horse battery", "password must be at least 22 characters (got 21)"},
		{Policy{MaxLength: 64}, strings.Repeat("walrus ", 10), "password must be at most 64 characters (got 70)"},
		{Policy{}, "qwertyuiopasdfgh", "password is in the list of common or breached passwords"},
		{Policy{}, "password123456789", "password is a common or breached password with digits or symbols added"},
		{Policy{}, "jsmith and the sea", "password must not contain the user's login, name or email address"},
	} {
		err := c.p.Check(c.pw, "jsmith")
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != c.want {
			t.Errorf("%+v.Check(%q) = %q, want %q", c.p, c.pw, got, c.want)
		}
	}
}

func TestPolicyLowerMinimum(t *testing.T) {
	p := Policy{MinLength: 8} // allowed by NIST with a second factor
	if err := p.Check("sunshine"); err == nil || err.(*PolicyError).Rule != RuleBlocklist {
		t.Errorf("Check(sunshine) = %v, want blocklist", err)
	}
	if err := p.Check("tulip-owl"); err != nil {
		t.Errorf("Check(tulip-owl) = %v", err)
	}
}

func TestPolicyValidate(t *testing.T) {
	for _, c := range []struct {
		p  Policy
		ok bool
	}{
		{Policy{}, true},
		{Policy{MinLength: 8}, true},
		{Policy{MinLength: 64, MaxLength: 64}, true},
		{Policy{MaxLength: MaxMaxLength}, true},
		{Policy{MinLength: 7}, false},
		{Policy{MaxLength: 63}, false},
		{Policy{MaxLength: MaxMaxLength + 1}, false},
		{Policy{MinLength: 100, MaxLength: 80}, false},
		{Policy{MinLength: -1}, false},
	} {
		err := c.p.Validate()
		if (err == nil) != c.ok {
			t.Errorf("%+v.Validate() = %v, want ok=%v", c.p, err, c.ok)
		}
		if !c.ok {
			if cerr := c.p.Check("correct horse battery staple"); cerr == nil || errors.Is(cerr, ErrPolicy) {
				t.Errorf("%+v.Check = %v, want the configuration error", c.p, cerr)
			}
		}
	}
}
