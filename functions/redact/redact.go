// Package redact describes values for the function's messages without repeating them. Messages
// end up in CI logs, on terminals and in Argo CD's ComparisonError, so a key or password pasted
// into the wrong field must not travel with them: a message names the field and says what is
// wrong with its value, and shows at most its first few characters, never any of a value that
// looks like key material or a credential, or of a field meant to hold a secret's name.
package redact

import (
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"
)

// A message shows a value of up to whole characters in full, and of a longer one its first shown
// characters: enough to find the value, too little to carry a key or token.
const (
	whole = 15
	shown = 12
)

// Value describes a value of a field that holds no secret: short values in full, longer ones by
// their first characters and length, and values that look like key material or credentials by
// their length alone.
func Value(v any) string {
	switch t := v.(type) {
	case nil:
		return "no value"
	case string:
		return String(t)
	case fmt.Stringer:
		return String(t.String())
	case bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float32, float64:
		return fmt.Sprint(t)
	}
	return fmt.Sprintf("a value of type %T", v)
}

// String describes a string value of a field that holds no secret, as Value does.
func String(s string) string {
	n := utf8.RuneCountInString(s)
	switch {
	case n == 0:
		return "an empty string"
	case LooksSecret(s):
		return fmt.Sprintf("a %d-character value that looks like key material or a credential (not shown)", n)
	case n <= whole:
		return fmt.Sprintf("%q", s)
	}
	i := 0
	for range shown {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return fmt.Sprintf("%q… (%d characters)", s[:i], n)
}

// Secret describes a value of a field that may hold a secret, or its name where a secret is often
// pasted instead: its length only.
func Secret(s string) string {
	return fmt.Sprintf("a %d-character value (not shown)", utf8.RuneCountInString(s))
}

// LooksSecret reports whether s looks like key material or a credential: a long run of hex
// digits (a private key, with or without 0x), a PEM block, a URL with user information, or a
// long token of letters and digits such as an API key.
func LooksSecret(s string) bool {
	if strings.Contains(s, "PRIVATE KEY") || strings.Contains(s, "-----BEGIN") {
		return true
	}
	if hexRun(s) >= 48 || tokenRun(s) >= 32 {
		return true
	}
	return hasUserInfo(s)
}

// hasUserInfo reports whether s has user:password@ before a host, as URLs and endpoints may.
func hasUserInfo(s string) bool {
	if i := strings.Index(s, "://"); i >= 0 {
		if u, err := url.Parse(s); err == nil && u.User != nil {
			return true
		}
		s = s[i+3:]
		if end := strings.IndexAny(s, "/?#"); end >= 0 {
			s = s[:end]
		}
	}
	at := strings.LastIndex(s, "@")
	if at < 0 {
		return false
	}
	user, pass, ok := strings.Cut(s[:at], ":")
	return ok && user != "" && pass != "" && !strings.ContainsAny(s[:at], " \n/")
}

// hexRun is the length of the longest run of hex digits in s.
func hexRun(s string) int {
	return longestRun(s, func(c byte) bool {
		return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
	})
}

// tokenRun is the length of the longest run of letters and digits that mixes both, as API keys
// and base64 do; plain words and names rarely run that long without a separator. Runs of hex
// digits alone are hexRun's: shorter ones are addresses and digests, which are public.
func tokenRun(s string) int {
	best, start := 0, -1
	for i := 0; i <= len(s); i++ {
		in := i < len(s) && isAlnum(s[i])
		if in && start < 0 {
			start = i
		}
		if !in && start >= 0 {
			hex := strings.TrimPrefix(s[start:i], "0x")
			if run := s[start:i]; len(run) > best && strings.ContainsAny(run, "0123456789") && hexRun(hex) < len(hex) {
				best = len(run)
			}
			start = -1
		}
	}
	return best
}

// isAlnum reports whether c may appear in a base64 token: letters, digits, +, / and =.
func isAlnum(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '+' || c == '/' || c == '='
}

// longestRun is the length of the longest run of bytes of s for which in holds.
func longestRun(s string, in func(byte) bool) int {
	best, run := 0, 0
	for i := 0; i < len(s); i++ {
		if in(s[i]) {
			run++
			best = max(best, run)
		} else {
			run = 0
		}
	}
	return best
}

// SecretField reports whether the field at path (as field.Path prints it) holds a secret or the
// name of one, where a secret is often pasted instead: the inline keys of spec.secrets and the
// key names of spec.operator.keys. Messages about these say nothing of the value.
func SecretField(path string) bool {
	return strings.HasPrefix(path, "spec.secrets") || strings.HasPrefix(path, "spec.operator.keys")
}

// Kind describes a value by its kind and size alone, for fields that hold secrets.
func Kind(v any) string {
	switch t := v.(type) {
	case nil:
		return "no value"
	case string:
		return Secret(t)
	case bool:
		return "a boolean"
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	}
	return "a number"
}
